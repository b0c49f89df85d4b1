"""The three Lambda functions as objects: clients and settings injected, one `handle(event, context)` each.

`functions/<name>/app.py` builds one from the environment per container; the embedded AWS builds them with
its own clients. Per-record processing with partial batch failure (lambda_runtime.SqsFunction): one bad
message fails alone and is retried, then goes to the queue's DLQ.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bucketguard.aws import LAMBDA_MB_PER_VCPU, LAMBDA_MEMORY_VARIABLE
from bucketguard.pipeline import env
from bucketguard.pipeline.aws import RegionalPublisher
from bucketguard.pipeline.lambda_runtime import SqsFunction, function_metrics
from bucketguard.pipeline.messages import InvalidMessage, ScanRequest, ScanResultEvent
from bucketguard.pipeline.outbox import Outbox, PendingVerdict
from bucketguard.pipeline.overlap import Record, RecordsAhead
from bucketguard.pipeline.settings import ListenerSettings, PostScanSettings, ScannerSettings, SettingsError

# Each function imports what only it needs when it is built: a container runs one function, and each
# function's cold start would otherwise pay for the others' libraries.
if TYPE_CHECKING:
    from bucketguard.pipeline.listener import ListenerOutcome
    from bucketguard.pipeline.postscan import PostScan, PostScanOutcome
    from bucketguard.pipeline.scanner import Scanner

log = logging.getLogger("bucketguard.lambda")


class ListenerFunction(SqsFunction):
    name = "listener"

    def __init__(
        self,
        settings: ListenerSettings,
        s3: Any,
        sqs: Any,
        *,
        own_sqs: Any = None,
        kms: Any = None,
        metrics: Any = None,
    ) -> None:
        from bucketguard.pipeline.postscan import kms_verifier

        super().__init__(metrics)
        self.settings = settings
        self.s3 = s3
        self.sqs = sqs
        self.own_sqs = own_sqs  # the listener's own queue (rescan batches), in the function's region
        self.verify = kms_verifier(kms, settings.seal_key_id) if kms and settings.seal_key_id else None

    def process(self, record: SQSRecord) -> list[ListenerOutcome]:
        from bucketguard.pipeline.listener import handle_notification

        outcomes = handle_notification(
            self.s3, self.sqs, record.body, self.settings, own_sqs=self.own_sqs, verify=self.verify
        )
        for outcome in outcomes:
            self.count(
                {"requested": "ScanRequested", "skipped": "ObjectSkipped", "gone": "ObjectGone"}[
                    outcome.action
                ]
            )
        return outcomes

    @classmethod
    def from_environment(cls) -> ListenerFunction:
        import boto3
        from botocore.config import Config

        # SigV4 presigning: the URL names the exact version and expires after the configured TTL.
        s3 = boto3.client("s3", config=Config(signature_version="s3v4"))
        settings = ListenerSettings.resolve()
        sqs = boto3.client("sqs", region_name=settings.scanner_queue_region or None)
        rescans = settings.rescan_on_update.mode != "none"
        return cls(
            settings,
            s3,
            sqs,
            own_sqs=boto3.client("sqs") if rescans else None,
            kms=boto3.client("kms") if rescans else None,
            metrics=function_metrics("listener"),
        )


# The objects of the records running ahead of the current one total at most this: /tmp and memory hold one
# large object (the current record's) and this much besides.
AHEAD_MAX_BYTES = 64 * 1024 * 1024
# What a record is given before it starts: a fixed cost (publish, a slow first byte) and a download + scan
# rate well below the measured ones at one vCPU (72 MiB/s on minified JavaScript, the slowest: README,
# Performance), scaled by the function's share of a vCPU, so a batch ends before the function's timeout.
RECORD_SECONDS = 5.0
RECORD_BYTES_PER_SECOND = 25 * 1024 * 1024


def record_bytes_per_second(environ: Mapping[str, str] = os.environ) -> float:
    """RECORD_BYTES_PER_SECOND at this function's share of a vCPU (Lambda's memory, one vCPU at most)."""
    memory = environ.get(LAMBDA_MEMORY_VARIABLE, "")
    share = min(int(memory) / LAMBDA_MB_PER_VCPU, 1.0) if memory.isdigit() and int(memory) else 1.0
    return RECORD_BYTES_PER_SECOND * share


# A batch's verdicts are published together at its end, unless a record of more than this is still being
# scanned when it is reached: the verdicts before it are published first rather than wait for it.
PUBLISH_BEFORE = 8 * 1024 * 1024


def _declared_size(body: str) -> int:
    try:
        return ScanRequest.from_json(body).size
    except InvalidMessage:
        return 0  # refused by its own record before anything is downloaded


class ScannerFunction(SqsFunction):
    """Each record's download overlaps the scans of the records before it (bucketguard.pipeline.overlap);
    the batch's verdicts are published together (bucketguard.pipeline.outbox), and a record whose verdict
    SNS did not take is a batch item failure like one whose scan failed."""

    name = "scanner"

    def __init__(self, scanner: Scanner, *, metrics: Any = None, records_ahead: int = 2) -> None:
        super().__init__(metrics)
        self.scanner = scanner
        self.records_ahead = records_ahead
        self._ahead: RecordsAhead[PendingVerdict] | None = None
        self._outbox: Outbox | None = None

    def process(self, record: SQSRecord) -> ScanResultEvent:
        assert self._ahead is not None and self._outbox is not None  # set by handle for the batch
        if (
            not self._ahead.finished(record.message_id)
            and self._ahead.size(record.message_id) > PUBLISH_BEFORE
        ):
            self._outbox.publish()  # the verdicts so far do not wait for a long scan
        verdict = self._ahead.result(record.message_id)
        self._outbox.add(record.message_id, verdict)
        self.count(f"Verdict_{verdict.event.verdict.value}")
        return verdict.event

    def refresh_ruleset(self) -> None:
        outcome = self.scanner.refresh_ruleset()
        if outcome is not None:
            self.count("RulesetLoaded" if outcome == "loaded" else "RulesetRejected")

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        # A newer ruleset is swapped in between batches, never while one is being scanned.
        self.refresh_ruleset()
        # Between batches no other thread runs (the last batch's are joined): match workers are forked
        # here, once the rules are loaded, and replaced if one failed; never while records are in flight.
        self.scanner.engine.start_workers()
        records = [
            Record(r["messageId"], r["body"], _declared_size(r["body"])) for r in event.get("Records", [])
        ]
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        rate = record_bytes_per_second()
        self._outbox = outbox = Outbox(self.scanner.sns)
        with RecordsAhead(
            self.scanner.judge,
            records,
            ahead=self.records_ahead,
            ahead_max_bytes=AHEAD_MAX_BYTES,
            time_left=(lambda: remaining() / 1000) if remaining else None,
            seconds_needed=lambda size: RECORD_SECONDS + size / rate,
        ) as self._ahead:
            try:
                response = super().handle(event, context)
                outbox.publish()
            finally:
                self._ahead = self._outbox = None
        if outbox.undelivered:
            self.count("MessagesFailed", len(outbox.undelivered))
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]} | set(outbox.undelivered)
        response["batchItemFailures"] = [
            {"itemIdentifier": r.message_id} for r in records if r.message_id in failed
        ]
        return response

    @classmethod
    def from_environment(cls) -> ScannerFunction:
        import boto3

        from bucketguard.pipeline.rules_bucket import RulesetWatcher
        from bucketguard.pipeline.scanner import Scanner

        settings = ScannerSettings.resolve()
        watcher = (
            RulesetWatcher(
                boto3.client("s3"),
                settings.rules_bucket,
                settings.rules_key,
                interval_seconds=settings.rules_check_seconds,
                work_dir=settings.tmp_dir,
                engine=settings.engine,
            )
            if settings.rules_bucket
            else None
        )
        sns = RegionalPublisher(lambda region: boto3.client("sns", region_name=region))
        function = cls(Scanner(settings, sns, watcher=watcher), metrics=function_metrics("scanner"))
        # During init, once per container: a newer ruleset in the rules bucket first, so that the shipped
        # one is not loaded only for the first batch to replace it; then the rules in use, ready.
        function.refresh_ruleset()
        function.scanner.engine  # noqa: B018
        return function


class PostScanFunction(SqsFunction):
    """Fed by an SQS queue subscribed to the result topic (raw delivery or SNS envelope both accepted)."""

    name = "postscan"

    def __init__(self, postscan: PostScan, *, metrics: Any = None) -> None:
        super().__init__(metrics)
        self.postscan = postscan

    def process(self, record: SQSRecord) -> PostScanOutcome:
        from bucketguard.pipeline.notifications import sns_message

        event = ScanResultEvent.from_json(sns_message(record.body))
        served = self.postscan.settings.protected_bucket
        if served and event.bucket != served:
            # Its role should not reach another bucket either; a result misrouted there never gets that far.
            raise InvalidMessage(f"scan-result event: s3://{event.bucket} is not this storage's bucket")
        outcome = self.postscan.apply(event)
        for action in outcome.actions:
            self.count(f"Action_{action}")
        log.info(
            "post-scan done",
            extra={
                "bucket": event.bucket,
                "key": event.key,
                "version_id": event.version_id,
                "verdict": event.verdict.value,
                "status": outcome.status,
                "actions": outcome.actions,
            },
        )
        return outcome

    @classmethod
    def from_environment(cls) -> PostScanFunction:
        import boto3

        from bucketguard.pipeline.notify import WebhookNotifier
        from bucketguard.pipeline.postscan import PostScan

        settings = PostScanSettings.resolve()
        webhook = (
            WebhookNotifier(boto3.client("secretsmanager"), settings.webhook_secret_arn)
            if settings.webhook_secret_arn
            else None
        )
        if not settings.seal_key_id:
            raise SettingsError(
                f"{env.SEAL_KEY_ID} is not set: post-scan cannot tell its verdict tags from forged ones"
            )
        postscan = PostScan(
            settings, boto3.client("s3"), sns=boto3.client("sns"), kms=boto3.client("kms"), webhook=webhook
        )
        return cls(postscan, metrics=function_metrics("postscan"))
