"""What every deployed function shares: the JSON logger, the SQS batch plumbing and the metric sink.

A module of its own so each `functions/<name>/app.py` imports only this and its own function's code: the
monitor's, audit's and rule update's cold starts do not pay for the scanner's modules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from bucketguard.pipeline import env

log = logging.getLogger("bucketguard.lambda")
METRICS_NAMESPACE = "BucketGuard"


def _receive_count(record: SQSRecord) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError):
        return 1


class SqsFunction:
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


def function_metrics(service: str) -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=METRICS_NAMESPACE, service=f"bucketguard-{service}")


def sqs_handler(build: Callable[[], SqsFunction]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of a function `build` makes on the first event (once per container: clients,
    settings, compiled rules), each invocation under the JSON logger's Lambda context."""
    logger = lambda_logger()
    built: list[SqsFunction] = []

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
