"""Bucket listener (storage account): S3 ObjectCreated notifications in, scan requests out.

For each created object: decode the key, pin the exact version, take off any `bucketguard-*` tag it arrived
with (an upload's own tags or tags copied by CopyObject: only post-scan writes verdicts, after this), skip
what is configured to be skipped, presign a short GET of that version and send the request to the scanner
queue. An object already deleted is dropped (logged), never retried: retrying cannot bring it back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from bucketguard.aws import object_location, real_version_id
from bucketguard.pipeline.aws import is_gone
from bucketguard.pipeline.messages import ScanRequest, utc_now_iso
from bucketguard.pipeline.notifications import parse_s3_notification, sns_message
from bucketguard.pipeline.rescan import Sweep, Verify, list_batch, needs_rescan, rescan_message, utc_now
from bucketguard.pipeline.settings import ListenerSettings
from bucketguard.pipeline.tagging import from_tagset, neutralise_platform_tags

log = logging.getLogger("bucketguard.listener")


@dataclass(frozen=True)
class CreatedObject:
    bucket: str
    key: str  # decoded
    size: int
    etag: str
    version_id: str | None  # None when the notification did not carry one


@dataclass(frozen=True)
class ListenerOutcome:
    bucket: str
    key: str
    action: str  # "requested" | "skipped" | "gone"
    why: str = ""
    version_id: str | None = None


def parse_object_created(body: str) -> list[CreatedObject]:
    """The created objects named in one SQS message body (S3 notification, maybe inside an SNS envelope)."""
    notification = parse_s3_notification(body)
    if notification is None:
        return []
    created = []
    for record in notification.Records:
        obj = record.s3.object
        if obj is None or not record.eventName.startswith("ObjectCreated"):
            continue
        created.append(
            CreatedObject(
                bucket=record.s3.bucket.name,
                # S3 URL-encodes keys in notifications, with '+' for spaces
                key=unquote_plus(obj.key),
                size=int(obj.size or 0),
                etag=(obj.eTag or "").strip('"'),
                version_id=obj.versionId or None,
            )
        )
    return created


def skip_reason(obj: CreatedObject, settings: ListenerSettings) -> str | None:
    """Why this object is not scanned, or None to scan it. 0-byte objects are scanned like any other."""
    for prefix in settings.platform_prefixes:
        if obj.key.startswith(prefix):
            return f"platform copy (prefix {prefix!r})"
    for prefix in settings.skip_prefixes:
        if obj.key.startswith(prefix):
            return f"skipped prefix {prefix!r}"
    for suffix in settings.skip_suffixes:
        if obj.key.endswith(suffix):
            return f"skipped suffix {suffix!r}"
    if settings.skip_larger_than_bytes is not None and obj.size > settings.skip_larger_than_bytes:
        return f"larger than {settings.skip_larger_than_bytes} bytes"
    return None


def _head(s3: Any, bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
    head: dict[str, Any] = s3.head_object(**object_location(bucket, key, real_version_id(version_id)))
    return head


def pin_version(s3: Any, obj: CreatedObject) -> tuple[str | None, str, int] | None:
    """(version id, etag, size) of exactly the object the notification announced, or None if it is gone.

    Real S3 notifications of versioned buckets carry versionId. When one does not (unversioned bucket, or
    moto), the version is found by the notification's ETag so an overwrite racing us is not mistaken for it.
    """
    try:
        if obj.version_id:
            head = _head(s3, obj.bucket, obj.key, obj.version_id)
            return obj.version_id, str(head["ETag"]).strip('"'), int(head["ContentLength"])
        head = _head(s3, obj.bucket, obj.key, None)
    except ClientError as exc:
        if is_gone(exc):
            return None
        raise
    etag = str(head["ETag"]).strip('"')
    if not obj.etag or etag == obj.etag:
        return head.get("VersionId"), etag, int(head["ContentLength"])
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=obj.bucket, Prefix=obj.key):
        for version in page.get("Versions", []):  # newest first
            if version["Key"] == obj.key and str(version["ETag"]).strip('"') == obj.etag:
                return str(version["VersionId"]), obj.etag, int(version["Size"])
    return None  # overwritten in an unversioned bucket: the newer object has its own notification


def presign_version_get(s3: Any, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str:
    params = object_location(bucket, key, real_version_id(version_id))
    url: str = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_seconds)
    return url


def _skipped(obj: CreatedObject, reason: str) -> ListenerOutcome:
    log.info("not scanned", extra={"bucket": obj.bucket, "key": obj.key, "why": reason})
    return ListenerOutcome(obj.bucket, obj.key, "skipped", reason, obj.version_id)


def _gone(obj: CreatedObject) -> ListenerOutcome:
    log.warning("object gone before its scan was requested", extra={"bucket": obj.bucket, "key": obj.key})
    return ListenerOutcome(obj.bucket, obj.key, "gone", "deleted or overwritten", obj.version_id)


def request_scan(s3: Any, sqs: Any, obj: CreatedObject, settings: ListenerSettings) -> ListenerOutcome:
    if settings.quarantine_bucket and obj.bucket == settings.quarantine_bucket:
        return _skipped(obj, "platform copy (quarantine bucket)")
    pinned = pin_version(s3, obj)
    if pinned is None:
        return _gone(obj)
    version_id, etag, size = pinned
    location = object_location(obj.bucket, obj.key, real_version_id(version_id))
    try:
        # Skipped objects too: under a skipped prefix a copied "clean" tag would otherwise stay forever.
        if neutralise_platform_tags(s3, location):
            log.warning("platform tags removed from an upload", extra={"bucket": obj.bucket, "key": obj.key})
    except ClientError as exc:
        if is_gone(exc):
            return _gone(obj)
        raise
    reason = skip_reason(obj, settings)
    if reason:
        return _skipped(obj, reason)
    send_scan_request(sqs, s3, settings, obj.bucket, obj.key, version_id, etag, size)
    return ListenerOutcome(obj.bucket, obj.key, "requested", "", version_id if version_id != "null" else None)


def send_scan_request(
    sqs: Any,
    s3: Any,
    settings: ListenerSettings,
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str,
    size: int,
) -> str:
    """Sends the scanner a presigned GET of one object version; returns the request id."""
    request = ScanRequest(
        request_id=str(uuid.uuid4()),
        bucket=bucket,
        key=key,
        version_id=version_id if version_id != "null" else None,
        etag=etag,
        size=size,
        url=presign_version_get(s3, bucket, key, version_id, settings.presign_ttl_seconds),
        result_topic_arn=settings.result_topic_arn,
        storage_stack_id=settings.storage_stack_id,
        requested_at=utc_now_iso(),
    )
    sqs.send_message(QueueUrl=settings.scanner_queue_url, MessageBody=request.to_json())
    log.info(
        "scan requested",
        extra={"bucket": bucket, "key": key, "version_id": version_id, "request_id": request.request_id},
    )
    return request.request_id


def rescan_batch(
    s3: Any,
    sqs: Any,
    own_sqs: Any,
    verify: Verify,
    sweep: Sweep,
    settings: ListenerSettings,
    now: datetime | None = None,
) -> list[ListenerOutcome]:
    """One batch of a sweep (see bucketguard.pipeline.rescan): requests the rescans it selects, then queues
    the next batch. A retried batch may request a version twice: the newer result wins at post-scan."""
    policy = settings.rescan_on_update
    listed, following = list_batch(s3, settings.protected_bucket, sweep, settings.rescan_batch_size)
    outcomes = []
    now = now or utc_now()
    for version in listed:
        obj = CreatedObject(
            settings.protected_bucket, version.key, version.size, version.etag, version.version_id
        )
        if skip_reason(obj, settings):
            continue
        location = object_location(obj.bucket, obj.key, version.version_id)
        try:
            tags = from_tagset(s3.get_object_tagging(**location)["TagSet"])
        except ClientError as exc:
            if is_gone(exc):
                continue  # deleted since the listing
            raise
        if needs_rescan(tags, version, obj.bucket, sweep, policy, verify, now):
            send_scan_request(
                sqs, s3, settings, obj.bucket, obj.key, version.version_id, version.etag, version.size
            )
            outcomes.append(ListenerOutcome(obj.bucket, obj.key, "requested", "rescan", version.version_id))
    checked, requested = sweep.checked + len(listed), sweep.requested + len(outcomes)
    progress = {"ruleset": sweep.ruleset_version, "checked": checked, "requested": requested}
    if following is None:
        log.info("rescan finished", extra=progress)
        return outcomes
    own_sqs.send_message(
        QueueUrl=settings.listener_queue_url,
        MessageBody=replace(following, checked=checked, requested=requested).to_json(),
        DelaySeconds=settings.rescan_interval_seconds,
    )
    log.info("rescan batch done", extra={**progress, "next_key": following.key_marker})
    return outcomes


def handle_notification(
    s3: Any,
    sqs: Any,
    body: str,
    settings: ListenerSettings,
    *,
    own_sqs: Any = None,
    verify: Verify | None = None,
) -> list[ListenerOutcome]:
    """Everything one SQS message asks for. Raises on a transient failure so the message is retried."""
    sweep = rescan_message(sns_message(body))
    if sweep is None:
        return [request_scan(s3, sqs, obj, settings) for obj in parse_object_created(body)]
    if settings.rescan_on_update.mode == "none" or own_sqs is None or verify is None:
        log.warning(
            "rescan message ignored: rescan on update is off", extra={"ruleset": sweep.ruleset_version}
        )
        return []
    if sweep.announced:
        # The scanner loads a new ruleset within its check interval: the sweep starts after that.
        own_sqs.send_message(
            QueueUrl=settings.listener_queue_url,
            MessageBody=replace(sweep, announced=False).to_json(),
            DelaySeconds=settings.rescan_start_delay_seconds,
        )
        log.info(
            "rescan scheduled",
            extra={"ruleset": sweep.ruleset_version, "policy": str(settings.rescan_on_update)},
        )
        return []
    return rescan_batch(s3, sqs, own_sqs, verify, sweep, settings)
