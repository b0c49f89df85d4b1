"""`python -m bucketguard scan s3://bucket[/prefix]`: the scan command's options and path for S3 targets
(the backlog scan itself is bucketguard/pipeline/backlog.py)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bucketguard.aws import parse_s3_url
from bucketguard.cli import EXIT_FINDINGS, EXIT_OK, UsageError, aws_problem, checked, endpoint_url
from bucketguard.scanning.output import all_clean

if TYPE_CHECKING:
    from bucketguard.scanning.engine import Engine

# Every `scan` builds these options and checks them; only a scan of s3:// targets imports the pipeline and
# pydantic (0.17 s of CPU, a third of a local scan's start-up), in run_s3_scan and _topic_arn.


def _topic_arn(text: str) -> Any:
    from bucketguard.validation import TopicArn

    return checked(TopicArn)(text)


def add_s3_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3 targets (s3://bucket[/prefix])")
    group.add_argument(
        "--endpoint-url", type=endpoint_url, metavar="URL", help="S3/SQS endpoint (e.g. the embedded AWS)"
    )
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
        "--result-topic",
        type=_topic_arn,
        metavar="ARN",
        help="with --enqueue: the storage stack's result topic",
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


def run_s3_scan(args: argparse.Namespace, engine: Engine, expand: Any, scan_all: Any, emit: Any) -> int:
    """The scan command's path for s3:// targets (called by bucketguard.cli.scan.run)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from bucketguard.pipeline.backlog import (
        S3ObjectTarget,
        backlog_versions,
        enqueue_backlog,
        postscan_applying,
        s3_client,
    )

    try:
        s3 = s3_client(args.endpoint_url)

        def versions(url: str) -> Any:
            return backlog_versions(s3, url, engine.ruleset_version, only_stale=args.rescan_older_rulesets)

        if args.enqueue:
            sqs = s3_client(args.endpoint_url, "sqs")
            sent = sum(
                enqueue_backlog(s3, sqs, versions(t), args.enqueue, args.result_topic) for t in args.targets
            )
            print(f"{sent} scan request(s) sent to {args.enqueue}")
            return EXIT_OK
        postscan = postscan_applying(s3, args.quarantine_bucket, args.promote_bucket) if args.apply else None
        targets = expand(args.targets, lambda url: [S3ObjectTarget(v, s3, postscan) for v in versions(url)])
        results = scan_all(engine, targets)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except (ClientError, BotoCoreError) as exc:
        raise UsageError(f"S3: {aws_problem(exc)}") from None
    emit(results, args.format, [target.actions for target in targets])
    return EXIT_OK if all_clean(results) else EXIT_FINDINGS
