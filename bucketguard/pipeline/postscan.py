"""Post-scan actions (storage account): tag the scanned version, then quarantine, promote and notify.

Every step acts on exactly the scanned version and is safe to repeat: a result delivered twice changes
nothing the second time, and a retry after a failure finishes what the first attempt started.
Nothing is deleted before its copy is verified (size and SHA-256). In an unversioned bucket every step is
pinned to the scanned ETag, so an object written over the scanned one is never copied, tagged or deleted
in its place. Only tags sealed by post-scan are believed (`tagging.trusted_tags`); the alert for a version
and verdict is sent until SNS accepts it, and recorded in the sealed tags so it goes out once.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from bucketguard.aws import object_location
from bucketguard.pipeline.aws import error_code, is_gone
from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.notify import AlertNotSent, WebhookNotifier, alert_text, publish_alert
from bucketguard.pipeline.settings import PostScanSettings
from bucketguard.pipeline.tagging import (
    TAG_ALERTED,
    TAG_DATE,
    TAG_RESULT,
    TAG_SEAL,
    Mac,
    from_tagset,
    merge_tags,
    neutralise_platform_tags,
    object_identity,
    scan_date_of,
    sealed,
    tagset,
    trusted_tags,
    verdict_tags,
)
from bucketguard.scanning.result import Reason, Verdict

log = logging.getLogger("bucketguard.postscan")

SINGLE_COPY_LIMIT = 5 * 1024**3  # CopyObject's limit; larger objects go through a multipart copy
MAC_ALGORITHM = "HMAC_SHA_256"
# The scanner could not read the object through the URL it was sent (refused, expired, gone): a statement
# about that request, not about the version's bytes, and a scan request anyone allowed on the scanner queue
# can make fail (a URL signed without access to this bucket).
NOT_READ = frozenset({Reason.ACCESS_DENIED, Reason.URL_EXPIRED, Reason.DOWNLOAD_FAILED})


class CopyNotVerified(Exception):
    """The copy does not match the original: the original is kept and the message retried."""


@dataclass
class PostScanOutcome:
    bucket: str
    key: str
    version_id: str | None
    verdict: Verdict
    status: str  # applied | gone | superseded | stale | kept | already-applied
    actions: list[str] = field(
        default_factory=list
    )  # tagged, quarantined, promoted, source-removed, notified


S3_KEY_BYTES = 1024


def quarantine_key(event: ScanResultEvent) -> str:
    """`<source-bucket>/<key>`: one quarantine bucket serves many sources without collisions. Past S3's
    1,024 bytes (S3 would refuse the copy, and the object would never leave its bucket), the key is cut and
    the SHA-256 of the whole key follows: `<source-bucket>/<start of key>~<sha256>`."""
    whole = f"{event.bucket}/{event.key}"
    if len(whole.encode()) <= S3_KEY_BYTES:
        return whole
    digest = hashlib.sha256(event.key.encode()).hexdigest()
    start = whole.encode()[: S3_KEY_BYTES - len(digest) - 1].decode(errors="ignore")  # no half character
    return f"{start}~{digest}"


def _scanned(event: ScanResultEvent) -> dict[str, str]:
    """Where the scanned version is: its version id (versions never change)."""
    return object_location(event.bucket, event.key, event.version_id)


def _pinned(event: ScanResultEvent) -> dict[str, str]:
    """The scanned object and nothing else: its version, or in an unversioned bucket the key if its ETag still
    is the scanned one (`If-Match`, honoured by GET, HEAD and DeleteObject)."""
    if event.version_id or not event.etag:
        return _scanned(event)
    return {**_scanned(event), "IfMatch": event.etag}


def kms_mac(kms: Any, key_id: str) -> Mac:
    """The seal's HMAC, computed by KMS: the key never leaves it and only post-scan may use it."""

    def mac(message: bytes) -> bytes:
        return bytes(kms.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=MAC_ALGORITHM)["Mac"])

    return mac


def kms_verifier(kms: Any, key_id: str) -> Callable[[bytes, bytes], bool]:
    """Whether a seal was made by the seal key (kms:VerifyMac: checks seals, cannot make one)."""

    def verify(message: bytes, mac: bytes) -> bool:
        try:
            response = kms.verify_mac(KeyId=key_id, Message=message, MacAlgorithm=MAC_ALGORITHM, Mac=mac)
        except kms.exceptions.KMSInvalidMacException:
            return False
        return bool(response["MacValid"])

    return verify


def _sha256_of_object(s3: Any, location: dict[str, str]) -> str:
    body = s3.get_object(**location)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _alerted(event: ScanResultEvent, trusted: dict[str, str]) -> bool:
    """Was the alert for this version and verdict sent? (From sealed tags only.)"""
    return trusted.get(TAG_ALERTED) == event.verdict.value


class PostScan:
    def __init__(
        self,
        settings: PostScanSettings,
        s3: Any,
        *,
        sns: Any = None,
        kms: Any = None,
        webhook: WebhookNotifier | None = None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.sns = sns
        self.webhook = webhook
        if settings.seal_key_id and kms is None:
            raise ValueError("a seal key is configured but no KMS client was given")
        self.mac: Mac | None = kms_mac(kms, settings.seal_key_id) if settings.seal_key_id else None

    # --- the steps -------------------------------------------------------------------------------------

    def copy_verified(self, event: ScanResultEvent, size: int, dest_bucket: str, dest_key: str) -> str | None:
        """Copy the scanned version with its metadata and tags, verify it, return the copy's version.

        A copy that does not verify is removed before CopyNotVerified is raised: nothing unscanned is left in
        a promote bucket because the source changed under us.
        """
        source = _scanned(event)
        if_match = {"CopySourceIfMatch": event.etag} if event.etag else {}
        if size <= SINGLE_COPY_LIMIT:
            response = self.s3.copy_object(
                CopySource=source,
                Bucket=dest_bucket,
                Key=dest_key,
                MetadataDirective="COPY",
                TaggingDirective="COPY",
                ChecksumAlgorithm="SHA256",
                **if_match,
            )
            dest_version = response.get("VersionId")
        else:
            head = self.s3.head_object(**_pinned(event))
            extra = {
                "Metadata": head.get("Metadata", {}),
                "ContentType": head.get("ContentType", ""),
                # A multipart copy drops a Tagging argument: with this directive s3transfer copies the
                # scanned version's tags onto the copy once it is complete.
                "TaggingDirective": "COPY",
                **if_match,
            }
            self.s3.copy(source, dest_bucket, dest_key, ExtraArgs=extra)
            dest_version = self.s3.head_object(Bucket=dest_bucket, Key=dest_key).get("VersionId")
        try:
            self.verify_copy(event, size, dest_bucket, dest_key, dest_version)
        except CopyNotVerified:
            self.s3.delete_object(**object_location(dest_bucket, dest_key, dest_version))
            raise
        return str(dest_version) if dest_version else None

    def verify_copy(
        self, event: ScanResultEvent, size: int, dest_bucket: str, dest_key: str, dest_version: str | None
    ) -> None:
        copy = object_location(dest_bucket, dest_key, dest_version)
        head = self.s3.head_object(**copy, ChecksumMode="ENABLED")
        if int(head["ContentLength"]) != size:
            raise CopyNotVerified(f"copy is {head['ContentLength']} bytes, the original {size}")
        expected = event.result.sha256
        if expected is None:  # the scanner did not read every byte: hash the scanned original now
            try:
                expected = _sha256_of_object(self.s3, _pinned(event))
            except ClientError as exc:
                if error_code(exc) in ("PreconditionFailed", "412"):
                    raise CopyNotVerified("the original changed since its scan") from None
                raise
        checksum = head.get("ChecksumSHA256")
        if checksum and "-" not in str(checksum):
            actual = base64.b64decode(str(checksum)).hex()
        else:  # composite (multipart) or absent checksum: hash the copy's bytes
            actual = _sha256_of_object(self.s3, copy)
        if actual != expected:
            raise CopyNotVerified("copy's SHA-256 differs from the scanned version's")

    def identity(self, event: ScanResultEvent) -> dict[str, str]:
        return object_identity(event.bucket, event.key, event.version_id, event.etag)

    def tags_for(self, event: ScanResultEvent, trusted: dict[str, str], *, alerted: bool) -> dict[str, str]:
        """The sealed tag set recording this result (and, once sent, its alert) next to the object's own."""
        ours = verdict_tags(event)
        if alerted:
            ours[TAG_ALERTED] = event.verdict.value
        if self.mac is not None:
            ours[TAG_SEAL] = ""  # keeps room for the seal, computed over the merged tags
        merged = merge_tags(trusted.items(), ours)
        if merged.lost:
            log.error("tags did not fit next to the verdict", extra={"lost": list(merged.lost)})
        return sealed(merged.tags, self.identity(event), self.mac)

    def tag_version(self, event: ScanResultEvent, current: dict[str, str], wanted: dict[str, str]) -> bool:
        if wanted == current:
            return False
        self.s3.put_object_tagging(**_scanned(event), Tagging={"TagSet": tagset(wanted)})
        return True

    def overwritten_since_scan(self, event: ScanResultEvent) -> bool:
        """Unversioned bucket: is the object at the key still the scanned one? (Versions never change.)"""
        if event.version_id:
            return False
        try:
            head = self.s3.head_object(Bucket=event.bucket, Key=event.key)
        except ClientError as exc:
            if is_gone(exc):
                return True
            raise
        return str(head["ETag"]).strip('"') != event.etag.strip('"')

    def quarantine_object_version(self, event: ScanResultEvent, size: int) -> dict[str, str]:
        """Move the scanned version to quarantine; returns where the copy is."""
        dest = self.settings.quarantine_bucket
        dest_version = self.copy_verified(event, size, dest, quarantine_key(event))
        # Only now, with a verified copy, the scanned version leaves the source (no infected noncurrent
        # version stays behind in a versioned bucket; other versions are not touched).
        try:
            self.s3.delete_object(**_pinned(event))
        except ClientError as exc:
            if error_code(exc) not in ("PreconditionFailed", "412"):
                raise
            # Unversioned bucket written over since the copy: the new object is not ours to delete.
            log.warning(
                "source overwritten before its removal", extra={"bucket": event.bucket, "key": event.key}
            )
        log.warning(
            "quarantined",
            extra={"bucket": event.bucket, "key": event.key, "version_id": event.version_id, "to": dest},
        )
        return object_location(dest, quarantine_key(event), dest_version)

    def recorded_copy(
        self, event: ScanResultEvent, bucket: str, key: str
    ) -> tuple[dict[str, str], dict[str, str]] | None:
        """(location, trusted tags) of this scan's copy at `bucket/key` (a redelivered or retried result)."""
        try:
            response = self.s3.get_object_tagging(Bucket=bucket, Key=key)
        except ClientError as exc:
            # Without s3:ListBucket S3 answers 403 for a missing key: copying again is harmless, so
            # "unknown" counts as "not done" here.
            if is_gone(exc) or error_code(exc) in ("AccessDenied", "403"):
                return None
            raise
        tags = trusted_tags(from_tagset(response["TagSet"]), self.identity(event), self.mac)
        if scan_date_of(tags) != verdict_tags(event)[TAG_DATE]:
            return None
        return object_location(bucket, key, response.get("VersionId")), tags

    def promote_object_version(self, event: ScanResultEvent, size: int) -> tuple[dict[str, str], bool]:
        """Copy a clean version to the promote bucket; returns where the copy is and whether it is new."""
        dest = self.settings.promote_bucket
        done = self.recorded_copy(event, dest, event.key)
        if done is None:
            location, copied = (
                object_location(dest, event.key, self.copy_verified(event, size, dest, event.key)),
                True,
            )
        else:
            location, copied = done[0], False
        if self.settings.promote_delete_source:
            if not copied:  # made by an earlier attempt: verified again before the source goes
                self.verify_copy(event, size, dest, event.key, location.get("VersionId"))
            self.s3.delete_object(**_pinned(event))
        return location, copied

    def notify(self, event: ScanResultEvent, actions: list[str]) -> None:
        """Send the alert; raises when no channel took it, so the message is retried (then the DLQ)."""
        text = alert_text(event, actions)
        if self.settings.alert_topic_arn and self.sns is not None:
            publish_alert(self.sns, self.settings.alert_topic_arn, event, text)  # raises on failure
            if self.webhook is not None:
                self.webhook.send(text)  # best effort next to the e-mail alert
            return
        if self.webhook is None or not self.webhook.send(text):
            raise AlertNotSent(f"no alert channel accepted the {event.verdict.value} alert")

    def record_alert(self, event: ScanResultEvent, location: dict[str, str], trusted: dict[str, str]) -> None:
        """Mark the alert as sent on wherever the object now is (source version or its copy)."""
        if not self._wants("tag"):
            return  # nothing to record it in: a redelivery alerts again
        wanted = self.tags_for(event, trusted, alerted=True)
        self.s3.put_object_tagging(**location, Tagging={"TagSet": tagset(wanted)})

    # --- the whole ---------------------------------------------------------------------------------------

    def _wants(self, action: str) -> bool:
        return action in self.settings.actions

    def _wants_alert(self, event: ScanResultEvent, trusted: dict[str, str]) -> bool:
        wanted = self._wants("notify") and event.verdict in self.settings.notify_verdicts
        return wanted and not _alerted(event, trusted)

    def _alert_once(
        self,
        event: ScanResultEvent,
        outcome: PostScanOutcome,
        location: dict[str, str],
        trusted: dict[str, str],
    ) -> None:
        if self._wants_alert(event, trusted):
            self.notify(event, outcome.actions)
            self.record_alert(event, location, trusted)
            outcome.actions.append("notified")

    def _apply_to_gone_version(
        self, event: ScanResultEvent, outcome: PostScanOutcome, quarantine: bool, promote: bool
    ) -> PostScanOutcome:
        """The scanned version is no longer in the source: moved by an earlier attempt, or deleted."""
        done = None
        if quarantine:
            done = self.recorded_copy(event, self.settings.quarantine_bucket, quarantine_key(event))
            moved = ["quarantined"]
        elif promote:
            done = self.recorded_copy(event, self.settings.promote_bucket, event.key)
            moved = ["promoted", "source-removed"]
        if done is None:
            outcome.status = "gone"
            log.warning(
                "scanned version is gone: nothing to act on", extra={"bucket": event.bucket, "key": event.key}
            )
            return outcome
        outcome.status = "already-applied"
        location, trusted = done
        if self._wants_alert(event, trusted):  # an earlier attempt moved it but its alert did not go out
            outcome.actions.extend(moved)
            self._alert_once(event, outcome, location, trusted)
        return outcome

    def apply(self, event: ScanResultEvent) -> PostScanOutcome:
        """Act on one scan-result event. Raises when a retry may help (the original is always kept)."""
        outcome = PostScanOutcome(event.bucket, event.key, event.version_id, event.verdict, "applied")
        quarantine = self._wants("quarantine") and event.verdict in self.settings.quarantine_verdicts
        promote = self._wants("promote") and event.verdict is Verdict.CLEAN
        source = _scanned(event)
        try:
            head = self.s3.head_object(**source)
        except ClientError as exc:
            if not is_gone(exc):
                raise
            return self._apply_to_gone_version(event, outcome, quarantine, promote)
        if event.version_id is None and str(head["ETag"]).strip('"') != event.etag.strip('"'):
            outcome.status = "superseded"  # unversioned bucket overwritten: the new object has its own scan
            return outcome
        current = from_tagset(self.s3.get_object_tagging(**source)["TagSet"])
        trusted = trusted_tags(current, self.identity(event), self.mac)
        recorded = scan_date_of(trusted)
        if recorded is not None and recorded > verdict_tags(event)[TAG_DATE]:
            outcome.status = "stale"  # a newer scan of this version already decided
            return outcome
        if event.verdict is Verdict.ERROR and event.result.reason in NOT_READ and TAG_RESULT in trusted:
            outcome.status = "kept"  # the verdict its bytes were given stands: they were not read this time
            log.warning(
                "scan could not read the object: its verdict kept",
                extra={"bucket": event.bucket, "key": event.key, "reason": str(event.result.reason)},
            )
            return outcome
        changed = False
        if self._wants("tag"):
            wanted = self.tags_for(event, trusted, alerted=_alerted(event, trusted))
            if self.tag_version(event, current, wanted):
                outcome.actions.append("tagged")
                changed = True
            if self.overwritten_since_scan(event):
                # Our tags may have landed on the object written over the scanned one: take them off again.
                new = self.s3.head_object(Bucket=event.bucket, Key=event.key)
                new_identity = object_identity(event.bucket, event.key, None, str(new["ETag"]))
                neutralise_platform_tags(self.s3, source, identity=new_identity, mac=self.mac)
                outcome.status = "superseded"
                return outcome
            current, trusted = wanted, wanted
        size = int(head["ContentLength"])
        location = source
        if quarantine:
            location = self.quarantine_object_version(event, size)
            outcome.actions.append("quarantined")
            changed = True
        elif promote:
            promoted_to, copied = self.promote_object_version(event, size)
            if copied:
                outcome.actions.append("promoted")
                changed = True
            if self.settings.promote_delete_source:
                outcome.actions.append("source-removed")
                location = promoted_to
        self._alert_once(event, outcome, location, trusted)
        if not changed:
            outcome.status = "already-applied"
        return outcome
