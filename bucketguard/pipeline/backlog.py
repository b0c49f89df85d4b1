"""Backlog scans: `python -m bucketguard scan s3://bucket[/prefix]` over objects already in a bucket.

Objects are scanned from this machine (each version streamed to a temporary file, removed afterwards), or,
with `--enqueue QUEUE_URL`, handed to a deployed scanner queue as ordinary scan requests. `--apply` tags,
quarantines and promotes exactly as the post-scan function would (same code: `PostScan.apply`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bucketguard.pipeline.messages import ScanRequest, ScanResultEvent, utc_now_iso
from bucketguard.pipeline.tagging import TAG_RULESET, TAG_SCAN_INFO, from_tagset
from bucketguard.scanning.output import NO_ACTIONS, ObjectActions
from bucketguard.scanning.result import Reason, ScanResult, Verdict

if TYPE_CHECKING:
    from bucketguard.pipeline.postscan import PostScan, PostScanOutcome
    from bucketguard.pipeline.settings import PostScanSettings
    from bucketguard.scanning.engine import Engine


def add_s3_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3 targets (s3://bucket[/prefix])")
    group.add_argument("--endpoint-url", metavar="URL", help="S3/SQS endpoint (e.g. the embedded AWS)")
    group.add_argument(
        "--apply", action="store_true", help="tag, quarantine and promote as the post-scan function would"
    )
    group.add_argument(
        "--quarantine-bucket", metavar="BUCKET", help="with --apply: where malicious objects go"
    )
    group.add_argument(
        "--promote-bucket", metavar="BUCKET", help="with --apply: where clean objects are copied"
    )
    group.add_argument(
        "--enqueue",
        metavar="QUEUE_URL",
        help="send a scan request per object to a deployed scanner queue instead of scanning here",
    )
    group.add_argument(
        "--result-topic", metavar="ARN", help="with --enqueue: the storage stack's result topic"
    )
    group.add_argument(
        "--rescan-older-rulesets",
        action="store_true",
        help="only objects never scanned or scanned with another ruleset version than the current one",
    )


def check_s3_options(args: argparse.Namespace) -> None:
    """A ValueError (one line) for S3 options that would be ignored or would turn the protection on itself."""
    buckets = {parse_s3_url(t)[0].lower(): t for t in args.targets if t.startswith("s3://")}
    local = next((t for t in args.targets if not t.startswith("s3://")), None)
    used = {
        "--apply": args.apply,
        "--enqueue": args.enqueue,
        "--endpoint-url": args.endpoint_url,
        "--rescan-older-rulesets": args.rescan_older_rulesets,
    }
    for flag in (flag for flag, value in used.items() if value):
        if local is not None and flag in ("--apply", "--enqueue"):
            raise ValueError(f"{flag} acts on s3:// targets only; {local} is a local path")
        if not buckets:
            raise ValueError(f"{flag} is for s3:// targets; no target is one")
    if args.apply and args.enqueue:
        raise ValueError("--apply with --enqueue: the deployed post-scan function applies what is enqueued")
    if args.enqueue and not args.result_topic:
        raise ValueError("--enqueue needs --result-topic (the storage stack's result topic ARN)")
    if args.result_topic and not args.enqueue:
        raise ValueError("--result-topic is only used with --enqueue")
    for flag, bucket in (
        ("--quarantine-bucket", args.quarantine_bucket),
        ("--promote-bucket", args.promote_bucket),
    ):
        if bucket and not args.apply:
            raise ValueError(f"{flag} is only used with --apply")
        if bucket and bucket.lower() in buckets:
            raise ValueError(f"{flag} {bucket} is the bucket being scanned ({buckets[bucket.lower()]})")
    if args.quarantine_bucket and args.quarantine_bucket == args.promote_bucket:
        raise ValueError("--promote-bucket must differ from --quarantine-bucket")


def parse_s3_url(url: str) -> tuple[str, str]:
    """('bucket', 'prefix') from s3://bucket[/prefix]; a ValueError naming the URL otherwise."""
    rest = url[len("s3://") :] if url.startswith("s3://") else ""
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"{url}: expected s3://bucket[/prefix]")
    return bucket, prefix


def s3_client(endpoint_url: str | None, service: str = "s3") -> Any:
    import boto3
    from botocore.config import Config

    client = boto3.client(service, endpoint_url=endpoint_url, config=Config(signature_version="s3v4"))
    if endpoint_url and service == "sqs":
        # a private endpoint such as the embedded AWS: route cross-account queue URLs the way SQS does
        from bucketguard.sandbox.aws import route_sqs_by_queue_url

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
                    vid = v.get("VersionId")
                    yield S3Version(
                        bucket,
                        v["Key"],
                        None if vid in (None, "null") else vid,
                        v["ETag"].strip('"'),
                        v["Size"],
                    )
        return
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            yield S3Version(bucket, o["Key"], None, o["ETag"].strip('"'), o["Size"])


def scanned_with(s3: Any, version: S3Version) -> str | None:
    args: dict[str, Any] = {"Bucket": version.bucket, "Key": version.key}
    if version.version_id:
        args["VersionId"] = version.version_id
    tags = from_tagset(s3.get_object_tagging(**args)["TagSet"])
    if TAG_RULESET in tags:
        return tags[TAG_RULESET]
    if TAG_SCAN_INFO in tags:
        parts = tags[TAG_SCAN_INFO].split(" ")
        return parts[1] if len(parts) > 1 else None
    return None


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

    def _download(self, out: Any) -> None:
        args: dict[str, Any] = {"Bucket": self.version.bucket, "Key": self.version.key}
        if self.version.version_id:
            args["VersionId"] = self.version.version_id
        body = self.s3.get_object(**args)["Body"]
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            out.write(chunk)

    def scan(self, engine: Engine) -> ScanResult:
        from botocore.exceptions import BotoCoreError, ClientError

        fd, name = tempfile.mkstemp(prefix="bucketguard-backlog-")
        path = Path(name)
        try:
            try:
                with os.fdopen(fd, "wb") as out:
                    self._download(out)
            except (ClientError, BotoCoreError) as exc:
                return ScanResult(
                    self.name,
                    Verdict.ERROR,
                    reason=Reason.DOWNLOAD_FAILED,
                    detail=f"download failed: {type(exc).__name__}",
                    backend=engine.backend,
                    ruleset_version=engine.ruleset_version,
                )
            result = engine.scan_file(path, name=self.version.key)
        finally:
            path.unlink(missing_ok=True)
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


def s3_targets(url: str, args: argparse.Namespace, ruleset_version: str) -> list[S3ObjectTarget]:
    """Every object version a backlog scan of `url` covers, with the post-scan actions bound if --apply."""
    from bucketguard.pipeline.postscan import PostScan
    from bucketguard.pipeline.settings import PostScanSettings

    bucket, prefix = parse_s3_url(url)
    s3 = s3_client(args.endpoint_url)
    postscan = None
    if args.apply:
        actions = {"tag"}
        if args.quarantine_bucket:
            actions.add("quarantine")
        if args.promote_bucket:
            actions.add("promote")
        settings = PostScanSettings.resolve(
            {},
            actions=frozenset(actions),
            quarantine_bucket=args.quarantine_bucket or "",
            promote_bucket=args.promote_bucket or "",
        )
        postscan = PostScan(settings, s3)
    versions = list_latest_versions(s3, bucket, prefix)
    if args.rescan_older_rulesets:
        versions = (v for v in versions if scanned_with(s3, v) != ruleset_version)
    return [S3ObjectTarget(v, s3, postscan) for v in versions]


def enqueue_backlog(url: str, args: argparse.Namespace, ruleset_version: str, ttl_seconds: int = 3600) -> int:
    """Send one scan request per object to a deployed scanner queue; returns how many were sent."""
    from bucketguard.pipeline.listener import presign_version_get

    bucket, prefix = parse_s3_url(url)
    s3 = s3_client(args.endpoint_url)
    sqs = s3_client(args.endpoint_url, "sqs")
    versions = list_latest_versions(s3, bucket, prefix)
    if args.rescan_older_rulesets:
        versions = (v for v in versions if scanned_with(s3, v) != ruleset_version)
    sent = 0
    for v in versions:
        request = ScanRequest(
            request_id=str(uuid.uuid4()),
            bucket=v.bucket,
            key=v.key,
            version_id=v.version_id,
            etag=v.etag,
            size=v.size,
            url=presign_version_get(s3, v.bucket, v.key, v.version_id, ttl_seconds),
            result_topic_arn=args.result_topic,
            storage_stack_id="backlog",
            requested_at=utc_now_iso(),
        )
        sqs.send_message(QueueUrl=args.enqueue, MessageBody=request.to_json())
        sent += 1
    return sent


def run_s3_scan(args: argparse.Namespace, engine: Engine, expand: Any, scan_all: Any, emit: Any) -> int:
    """The scan command's path for s3:// targets (called by bucketguard.cli.scan.run)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from bucketguard.cli import EXIT_FINDINGS, EXIT_OK, UsageError
    from bucketguard.scanning.output import all_clean

    try:
        if args.enqueue:
            sent = sum(enqueue_backlog(t, args, engine.ruleset_version) for t in args.targets)
            print(f"{sent} scan request(s) sent to {args.enqueue}")
            return EXIT_OK
        targets = expand(args.targets, lambda url: s3_targets(url, args, engine.ruleset_version))
        results = scan_all(engine, targets)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except (ClientError, BotoCoreError) as exc:
        raise UsageError(f"S3: {exc}") from None
    emit(results, args.format, [target.actions for target in targets])
    return EXIT_OK if all_clean(results) else EXIT_FINDINGS
