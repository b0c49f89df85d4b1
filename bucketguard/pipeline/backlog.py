"""Backlog scans over objects already in a bucket (`python -m bucketguard scan s3://bucket[/prefix]`,
whose options are in bucketguard/cli/scan_s3.py).

Objects are scanned from this machine (each version read through a presigned GET in ranges, as the scanner
reads it: no local copy unless it is an archive), or,
with `--enqueue QUEUE_URL`, handed to a deployed scanner queue as ordinary scan requests. `--apply` tags,
quarantines and promotes exactly as the post-scan function would (same code: `PostScan.apply`).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bucketguard.aws import object_location, parse_s3_url, real_version_id, route_sqs_by_queue_url
from bucketguard.pipeline.download import RangedObject, ReadFailed
from bucketguard.pipeline.messages import ScanRequest, ScanResultEvent, utc_now_iso
from bucketguard.pipeline.tagging import from_tagset, ruleset_of
from bucketguard.scanning.output import NO_ACTIONS, ObjectActions
from bucketguard.scanning.result import Reason, ScanResult, Verdict

if TYPE_CHECKING:
    from bucketguard.pipeline.postscan import PostScan, PostScanOutcome
    from bucketguard.pipeline.settings import PostScanSettings
    from bucketguard.scanning.engine import Engine


def s3_client(endpoint_url: str | None, service: str = "s3") -> Any:
    import boto3
    from botocore.config import Config

    client = boto3.client(service, endpoint_url=endpoint_url, config=Config(signature_version="s3v4"))
    if endpoint_url and service == "sqs":
        # a private endpoint such as the embedded AWS: route cross-account queue URLs the way SQS does
        client.meta.events.register("before-call.sqs.*", route_sqs_by_queue_url)
    return client


@dataclass(frozen=True)
class S3Version:
    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def list_latest_versions(s3: Any, bucket: str, prefix: str) -> Iterator[S3Version]:
    """The current version of every object under the prefix (delete markers skipped)."""
    versioned = s3.get_bucket_versioning(Bucket=bucket).get("Status") in ("Enabled", "Suspended")
    if versioned:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for v in page.get("Versions", []):
                if v.get("IsLatest"):
                    yield S3Version(
                        bucket,
                        v["Key"],
                        real_version_id(v.get("VersionId")),
                        v["ETag"].strip('"'),
                        v["Size"],
                    )
        return
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            yield S3Version(bucket, o["Key"], None, o["ETag"].strip('"'), o["Size"])


def scanned_with(s3: Any, version: S3Version) -> str | None:
    location = object_location(version.bucket, version.key, version.version_id)
    return ruleset_of(from_tagset(s3.get_object_tagging(**location)["TagSet"]))


def actions_taken(outcome: PostScanOutcome, settings: PostScanSettings) -> ObjectActions:
    """What post-scan did to one object version, named by where things went."""
    done = set(outcome.actions)
    source_deleted = bool(done & {"quarantined", "source-removed"})
    return ObjectActions(
        tagged="tagged" in done,
        quarantined_to=f"s3://{settings.quarantine_bucket}/{outcome.bucket}/{outcome.key}"
        if "quarantined" in done
        else None,
        promoted_to=f"s3://{settings.promote_bucket}/{outcome.key}" if "promoted" in done else None,
        deleted_version=(outcome.version_id or "null") if source_deleted else None,
    )


@dataclass
class S3ObjectTarget:
    """A ScanTarget (bucketguard.cli.scan) for one object version; applies the post-scan actions if asked."""

    version: S3Version
    s3: Any = field(repr=False)
    postscan: PostScan | None = field(default=None, repr=False)
    actions: ObjectActions = NO_ACTIONS

    @property
    def name(self) -> str:
        return self.version.url

    def scan(self, engine: Engine) -> ScanResult:
        """Read through a presigned GET with ranges pinned to the listed version and ETag, as the
        scanner Lambda reads: no local copy unless the object is an archive."""
        from bucketguard.pipeline.listener import presign_version_get

        version = self.version
        url = presign_version_get(self.s3, version.bucket, version.key, version.version_id, 3600)
        with RangedObject(url, size=version.size, etag=version.etag) as source:
            try:
                result = engine.scan_source(source, name=version.key)
            except ReadFailed as exc:
                result = ScanResult(
                    self.name,
                    Verdict.ERROR,
                    reason=getattr(exc.cause, "reason", Reason.DOWNLOAD_FAILED),
                    detail=f"download failed: {exc.cause}",
                    backend=engine.backend,
                    ruleset_version=engine.ruleset_version,
                )
        result = ScanResult(**{**result.__dict__, "target": self.name})
        if self.postscan is not None:
            event = ScanResultEvent(
                scan_id=str(uuid.uuid4()),
                request_id="backlog",
                storage_stack_id="",
                bucket=self.version.bucket,
                key=self.version.key,
                version_id=self.version.version_id,
                etag=self.version.etag,
                result=result,
                scanner_id="bucketguard-cli",
                scanned_at=utc_now_iso(),
            )
            self.actions = actions_taken(self.postscan.apply(event), self.postscan.settings)
        return result


def postscan_applying(s3: Any, quarantine_bucket: str | None, promote_bucket: str | None) -> PostScan:
    """The post-scan actions a backlog scan applies: tag, and quarantine/promote where a bucket is given."""
    from bucketguard.pipeline.postscan import PostScan
    from bucketguard.pipeline.settings import PostScanSettings

    actions = {"tag"}
    if quarantine_bucket:
        actions.add("quarantine")
    if promote_bucket:
        actions.add("promote")
    settings = PostScanSettings.resolve(
        {},
        actions=frozenset(actions),
        quarantine_bucket=quarantine_bucket or "",
        promote_bucket=promote_bucket or "",
    )
    return PostScan(settings, s3)


def backlog_versions(s3: Any, url: str, ruleset_version: str, *, only_stale: bool) -> Iterator[S3Version]:
    """The versions a backlog scan of `url` covers; `only_stale`: those not scanned with this ruleset."""
    bucket, prefix = parse_s3_url(url)
    versions = list_latest_versions(s3, bucket, prefix)
    if only_stale:
        versions = (v for v in versions if scanned_with(s3, v) != ruleset_version)
    return versions


def enqueue_backlog(
    s3: Any, sqs: Any, versions: Iterable[S3Version], queue_url: str, result_topic: str, ttl: int = 3600
) -> int:
    """Send one scan request per version to a deployed scanner queue, ten a SendMessageBatch call; returns
    how many were sent. A request the queue refuses stops the backlog: a ValueError says how many went."""
    from bucketguard.pipeline.listener import presign_version_get

    sent = 0
    listed = iter(versions)  # listed lazily: a backlog may hold millions
    while batch := list(itertools.islice(listed, 10)):
        requests = [
            ScanRequest(
                request_id=str(uuid.uuid4()),
                bucket=v.bucket,
                key=v.key,
                version_id=v.version_id,
                etag=v.etag,
                size=v.size,
                url=presign_version_get(s3, v.bucket, v.key, v.version_id, ttl),
                result_topic_arn=result_topic,
                storage_stack_id="backlog",
                requested_at=utc_now_iso(),
            )
            for v in batch
        ]
        entries = [{"Id": str(i), "MessageBody": r.to_json()} for i, r in enumerate(requests)]
        failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        sent += len(batch) - len(failed)
        if failed:
            refused = ", ".join(batch[int(f["Id"])].url for f in failed)
            code = failed[0].get("Code", "no code")
            raise ValueError(
                f"{queue_url}: {sent} scan request(s) sent, then the queue refused {refused} ({code})"
            )
    return sent
