"""The three Lambda functions as objects: clients and settings injected, one `handle(event, context)` each.

`functions/<name>/app.py` builds one from the environment per container; the embedded AWS builds them with
its own clients. Per-record processing with partial batch failure (Powertools' BatchProcessor): one bad
message fails alone and is retried, then goes to the queue's DLQ.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bucketguard.pipeline import env
from bucketguard.pipeline.aws import RegionalPublisher
from bucketguard.pipeline.messages import InvalidMessage, ScanRequest, ScanResultEvent
from bucketguard.pipeline.outbox import Outbox, PendingVerdict
from bucketguard.pipeline.overlap import Record, RecordsAhead
from bucketguard.pipeline.scanner import Scanner
from bucketguard.pipeline.settings import ListenerSettings, PostScanSettings, ScannerSettings, SettingsError

# Each function imports what only it needs when it is built: a container runs one function, and the
# scanner's cold start would otherwise pay for the listener's and post-scan's libraries.
if TYPE_CHECKING:
    from bucketguard.pipeline.listener import ListenerOutcome
    from bucketguard.pipeline.postscan import PostScan, PostScanOutcome

log = logging.getLogger("bucketguard.lambda")
METRICS_NAMESPACE = "BucketGuard"


def _receive_count(record: SQSRecord) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError):
        return 1


class _SqsFunction:
    """Shared plumbing: partial batch response, a metric sink, failures logged without message bodies."""

    name = "function"

    def __init__(self, metrics: Any = None) -> None:
        self.metrics = metrics  # an aws_lambda_powertools Metrics, or None (tests, the embedded AWS)

    def count(self, metric: str, value: float = 1) -> None:
        if self.metrics is None:
            return
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)

    def _guarded(self, process: Callable[[SQSRecord], Any]) -> Callable[[SQSRecord], Any]:
        def record_handler(record: SQSRecord) -> Any:
            try:
                return process(record)
            except Exception as exc:
                # The message body may hold a presigned URL: log its id and the error type only.
                log.error(
                    "message failed: it will be retried, then sent to the DLQ",
                    extra={
                        "function": self.name,
                        "message_id": record.message_id,
                        "error": type(exc).__name__,
                        "receive_count": _receive_count(record),
                    },
                )
                self.count("MessagesFailed")
                raise

        return record_handler

    def process(self, record: SQSRecord) -> Any:
        raise NotImplementedError

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        processor = BatchProcessor(event_type=EventType.SQS)
        try:
            response: dict[str, Any] = dict(
                process_partial_response(
                    event=event,
                    record_handler=self._guarded(self.process),
                    processor=processor,
                    context=context,
                )
            )
        finally:
            if self.metrics is not None:
                self.metrics.flush_metrics()
        return response


class ListenerFunction(_SqsFunction):
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
            metrics=_metrics("listener"),
        )


# The objects of the records running ahead of the current one total at most this: /tmp and memory hold one
# large object (the current record's) and this much besides.
AHEAD_MAX_BYTES = 64 * 1024 * 1024
# What a record is given before it starts: a fixed cost (publish, a slow first byte) and a download + scan
# rate well below the measured ones, so a batch ends before the function's timeout.
RECORD_SECONDS = 5.0
RECORD_BYTES_PER_SECOND = 25 * 1024 * 1024
# A batch's verdicts are published together at its end, unless a record of more than this is still being
# scanned when it is reached: the verdicts before it are published first rather than wait for it.
PUBLISH_BEFORE = 8 * 1024 * 1024


def _declared_size(body: str) -> int:
    try:
        return ScanRequest.from_json(body).size
    except InvalidMessage:
        return 0  # refused by its own record before anything is downloaded


class ScannerFunction(_SqsFunction):
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

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        # A newer ruleset is swapped in between batches, never while one is being scanned.
        outcome = self.scanner.refresh_ruleset()
        if outcome is not None:
            self.count("RulesetLoaded" if outcome == "loaded" else "RulesetRejected")
        records = [
            Record(r["messageId"], r["body"], _declared_size(r["body"])) for r in event.get("Records", [])
        ]
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self._outbox = outbox = Outbox(self.scanner.sns)
        with RecordsAhead(
            self.scanner.judge,
            records,
            ahead=self.records_ahead,
            ahead_max_bytes=AHEAD_MAX_BYTES,
            time_left=(lambda: remaining() / 1000) if remaining else None,
            seconds_needed=lambda size: RECORD_SECONDS + size / RECORD_BYTES_PER_SECOND,
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

        settings = ScannerSettings.resolve()
        watcher = (
            RulesetWatcher(
                boto3.client("s3"),
                settings.rules_bucket,
                settings.rules_key,
                interval_seconds=settings.rules_check_seconds,
                work_dir=settings.tmp_dir,
            )
            if settings.rules_bucket
            else None
        )
        sns = RegionalPublisher(lambda region: boto3.client("sns", region_name=region))
        scanner = Scanner(settings, sns, watcher=watcher)
        scanner.engine  # noqa: B018 - compile the rules during init, once per container
        return cls(scanner, metrics=_metrics("scanner"))


class PostScanFunction(_SqsFunction):
    """Fed by an SQS queue subscribed to the result topic (raw delivery or SNS envelope both accepted)."""

    name = "postscan"

    def __init__(self, postscan: PostScan, *, metrics: Any = None) -> None:
        super().__init__(metrics)
        self.postscan = postscan

    def process(self, record: SQSRecord) -> PostScanOutcome:
        from bucketguard.pipeline.notifications import sns_message

        event = ScanResultEvent.from_json(sns_message(record.body))
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
        return cls(postscan, metrics=_metrics("postscan"))


def _metrics(service: str) -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=METRICS_NAMESPACE, service=f"bucketguard-{service}")


def sqs_handler(build: Callable[[], _SqsFunction]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of a function `build` makes on the first event (once per container: clients,
    settings, compiled rules), each invocation under the JSON logger's Lambda context."""
    logger = lambda_logger()
    built: list[_SqsFunction] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not built:
            built.append(build())
        return built[0].handle(event, context)

    logged: Callable[[dict[str, Any], Any], dict[str, Any]] = logger.inject_lambda_context(clear_state=True)(
        handler
    )
    return logged


def lambda_logger() -> Any:
    """The JSON logger of the deployed functions; `bucketguard.*` loggers propagate into it."""
    from aws_lambda_powertools import Logger

    return Logger(service="bucketguard", level=os.environ.get(env.LOG_LEVEL, "INFO"))
