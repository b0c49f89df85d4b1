"""Post-scan actions (storage account): tag the scanned version, then quarantine, promote and notify.

Every step acts on exactly the scanned version and is safe to repeat: a result delivered twice changes
nothing the second time, and a retry after a failure finishes what the first attempt started.
Nothing is deleted before its copy is verified (size and SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from bucketguard.pipeline.aws import error_code, is_gone
from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.notify import WebhookNotifier, alert_text, publish_alert
from bucketguard.pipeline.settings import PostScanSettings
from bucketguard.pipeline.tagging import from_tagset, merge_tags, scan_date_of, tagset, verdict_tags
from bucketguard.scanning.result import Verdict

log = logging.getLogger("bucketguard.postscan")

SINGLE_COPY_LIMIT = 5 * 1024**3  # CopyObject's limit; larger objects go through a multipart copy


class CopyNotVerified(Exception):
    """The copy does not match the original: the original is kept and the message retried."""


@dataclass
class PostScanOutcome:
    bucket: str
    key: str
    version_id: str | None
    verdict: Verdict
    status: str  # applied | gone | superseded | stale | already-applied
    actions: list[str] = field(
        default_factory=list
    )  # tagged, quarantined, promoted, source-removed, notified
    lost_tags: tuple[str, ...] = ()


def quarantine_key(event: ScanResultEvent) -> str:
    """`<source-bucket>/<key>`: one quarantine bucket serves many sources without collisions."""
    return f"{event.bucket}/{event.key}"


def _version_args(event: ScanResultEvent) -> dict[str, str]:
    return {"VersionId": event.version_id} if event.version_id else {}


def _sha256_of_object(s3: Any, bucket: str, key: str, version_id: str | None) -> str:
    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        args["VersionId"] = version_id
    body = s3.get_object(**args)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


class PostScan:
    def __init__(
        self,
        settings: PostScanSettings,
        s3: Any,
        *,
        sns: Any = None,
        webhook: WebhookNotifier | None = None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.sns = sns
        self.webhook = webhook

    # --- the steps -------------------------------------------------------------------------------------

    def copy_verified(self, event: ScanResultEvent, size: int, dest_bucket: str, dest_key: str) -> str | None:
        """Copy the scanned version with its metadata and tags, verify it, return the copy's version."""
        source = {"Bucket": event.bucket, "Key": event.key, **_version_args(event)}
        if size <= SINGLE_COPY_LIMIT:
            response = self.s3.copy_object(
                CopySource=source,
                Bucket=dest_bucket,
                Key=dest_key,
                MetadataDirective="COPY",
                TaggingDirective="COPY",
                ChecksumAlgorithm="SHA256",
            )
            dest_version = response.get("VersionId")
        else:
            head = self.s3.head_object(**source)
            tags = from_tagset(self.s3.get_object_tagging(**source)["TagSet"])
            extra = {"Metadata": head.get("Metadata", {}), "ContentType": head.get("ContentType", "")}
            if tags:
                extra["Tagging"] = "&".join(f"{k}={v}" for k, v in tags.items())
            self.s3.copy(source, dest_bucket, dest_key, ExtraArgs=extra)
            dest_version = None
        self.verify_copy(event, size, dest_bucket, dest_key, dest_version)
        return str(dest_version) if dest_version else None

    def verify_copy(
        self, event: ScanResultEvent, size: int, dest_bucket: str, dest_key: str, dest_version: str | None
    ) -> None:
        args: dict[str, Any] = {"Bucket": dest_bucket, "Key": dest_key, "ChecksumMode": "ENABLED"}
        if dest_version:
            args["VersionId"] = dest_version
        head = self.s3.head_object(**args)
        if int(head["ContentLength"]) != size:
            raise CopyNotVerified(f"copy is {head['ContentLength']} bytes, the original {size}")
        expected = event.result.sha256
        if expected is None:  # the scanner did not read every byte: hash the original now
            expected = _sha256_of_object(self.s3, event.bucket, event.key, event.version_id)
        checksum = head.get("ChecksumSHA256")
        if checksum and "-" not in str(checksum):
            actual = base64.b64decode(str(checksum)).hex()
        else:  # composite (multipart) or absent checksum: hash the copy's bytes
            actual = _sha256_of_object(self.s3, dest_bucket, dest_key, dest_version)
        if actual != expected:
            raise CopyNotVerified("copy's SHA-256 differs from the scanned version's")

    def tag_version(self, event: ScanResultEvent, current: dict[str, str]) -> tuple[bool, tuple[str, ...]]:
        merged = merge_tags(current.items(), verdict_tags(event))
        if merged.tags == current:
            return False, merged.lost
        self.s3.put_object_tagging(
            Bucket=event.bucket,
            Key=event.key,
            **_version_args(event),
            Tagging={"TagSet": tagset(merged.tags)},
        )
        return True, merged.lost

    def quarantine_object_version(self, event: ScanResultEvent, size: int) -> None:
        dest = self.settings.quarantine_bucket
        self.copy_verified(event, size, dest, quarantine_key(event))
        # Only now, with a verified copy, the scanned version leaves the source (no infected noncurrent
        # version stays behind in a versioned bucket; other versions are not touched).
        self.s3.delete_object(Bucket=event.bucket, Key=event.key, **_version_args(event))
        log.warning(
            "quarantined",
            extra={"bucket": event.bucket, "key": event.key, "version_id": event.version_id, "to": dest},
        )

    def _copy_done(self, event: ScanResultEvent, bucket: str, key: str) -> bool:
        """True when `bucket/key` already holds this scan's copy (a redelivered or retried result)."""
        try:
            tags = from_tagset(self.s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"])
        except ClientError as exc:
            # Without s3:ListBucket S3 answers 403 for a missing key: copying again is harmless, so
            # "unknown" counts as "not done" here.
            if is_gone(exc) or error_code(exc) in ("AccessDenied", "403"):
                return False
            raise
        return scan_date_of(tags) == verdict_tags(event)["bucketguard-scan-date"]

    def promote_object_version(self, event: ScanResultEvent, size: int) -> bool:
        dest = self.settings.promote_bucket
        copied = False
        if not self._copy_done(event, dest, event.key):
            self.copy_verified(event, size, dest, event.key)
            copied = True
        if self.settings.promote_delete_source:
            if not copied:  # made by an earlier attempt: verified again before the source goes
                self.verify_copy(event, size, dest, event.key, None)
            self.s3.delete_object(Bucket=event.bucket, Key=event.key, **_version_args(event))
        return copied

    def notify(self, event: ScanResultEvent, actions: list[str]) -> bool:
        text = alert_text(event, actions)
        sent = False
        if self.settings.alert_topic_arn and self.sns is not None:
            publish_alert(self.sns, self.settings.alert_topic_arn, event, text)
            sent = True
        if self.webhook is not None:
            sent = self.webhook.send(text) or sent
        return sent

    # --- the whole ---------------------------------------------------------------------------------------

    def _wants(self, action: str) -> bool:
        return action in self.settings.actions

    def apply(self, event: ScanResultEvent, *, is_retry: bool = False) -> PostScanOutcome:
        """Act on one scan-result event. Raises when a retry may help (the original is always kept)."""
        outcome = PostScanOutcome(event.bucket, event.key, event.version_id, event.verdict, "applied")
        quarantine = self._wants("quarantine") and event.verdict in self.settings.quarantine_verdicts
        promote = self._wants("promote") and event.verdict is Verdict.CLEAN
        try:
            head = self.s3.head_object(Bucket=event.bucket, Key=event.key, **_version_args(event))
        except ClientError as exc:
            if not is_gone(exc):
                raise
            done_in_quarantine = quarantine and self._copy_done(
                event, self.settings.quarantine_bucket, quarantine_key(event)
            )
            if done_in_quarantine or (
                promote and self._copy_done(event, self.settings.promote_bucket, event.key)
            ):
                outcome.status = "already-applied"
            else:
                outcome.status = "gone"
                log.warning(
                    "scanned version is gone: nothing to act on",
                    extra={"bucket": event.bucket, "key": event.key},
                )
            return outcome
        if event.version_id is None and str(head["ETag"]).strip('"') != event.etag.strip('"'):
            outcome.status = "superseded"  # unversioned bucket overwritten: the new object has its own scan
            return outcome
        current = from_tagset(
            self.s3.get_object_tagging(Bucket=event.bucket, Key=event.key, **_version_args(event))["TagSet"]
        )
        recorded = scan_date_of(current)
        if recorded is not None and recorded > verdict_tags(event)["bucketguard-scan-date"]:
            outcome.status = "stale"  # a newer scan of this version already decided
            return outcome
        changed = False
        if self._wants("tag"):
            tagged, outcome.lost_tags = self.tag_version(event, current)
            if tagged:
                outcome.actions.append("tagged")
                changed = True
            if outcome.lost_tags:
                log.error("tags did not fit next to the verdict", extra={"lost": list(outcome.lost_tags)})
        size = int(head["ContentLength"])
        if quarantine:
            self.quarantine_object_version(event, size)
            outcome.actions.append("quarantined")
            changed = True
        elif promote:
            if self.promote_object_version(event, size):
                outcome.actions.append("promoted")
                changed = True
            if self.settings.promote_delete_source:
                outcome.actions.append("source-removed")
        # A duplicate delivery changes nothing and alerts nobody; a retry may have failed after tagging,
        # so it alerts again rather than risk no alert at all.
        wants_alert = self._wants("notify") and event.verdict in self.settings.notify_verdicts
        if wants_alert and (changed or is_retry) and self.notify(event, outcome.actions):
            outcome.actions.append("notified")
        if not changed:
            outcome.status = "already-applied"
        return outcome
