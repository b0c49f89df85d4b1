"""A local stand-in for Lambda's SQS event source mapping.

Receives batches from a queue with a visibility timeout, calls the handler with the same event Lambda would
build, deletes what succeeded, leaves failed messages to reappear after the visibility timeout (SQS's
redrive policy then moves them to the DLQ after maxReceiveCount receives), and honours partial batch
responses (`batchItemFailures`). A handler that raises fails the whole batch, as on Lambda.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("bucketguard.sandbox.runner")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: float = 900.0
    aws_request_id: str = ""
    invoked_function_arn: str = ""
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = (
            self.invoked_function_arn
            or f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class BatchReport:
    received: int = 0
    succeeded: int = 0
    failed: int = 0


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType", "String"),
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class SqsEventSource:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        *,
        function_name: str,
        batch_size: int = 10,
        visibility_timeout: int = 30,
        region: str = "us-east-1",
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handler = handler
        self.function_name = function_name
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        self.region = region
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.invocations = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> BatchReport:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            VisibilityTimeout=self.visibility_timeout,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        report = BatchReport(received=len(messages))
        if not messages:
            return report
        event = lambda_sqs_event(messages, self.queue_arn, self.region)
        self.invocations += 1
        failed_ids: set[str]
        try:
            response = self.handler(event, FakeLambdaContext(self.function_name))
            failures = (response or {}).get("batchItemFailures", []) if isinstance(response, dict) else []
            failed_ids = {f["itemIdentifier"] for f in failures}
        except Exception as exc:  # the whole batch failed, as when a Lambda function raises
            log.info("%s: batch failed (%s)", self.function_name, type(exc).__name__)
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        report.succeeded = len(done)
        report.failed = len(messages) - len(done)
        return report

    def pending(self) -> int:
        """Messages visible or in flight on the queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    # --- background mode (the demo, --keep) --------------------------------------------------------

    def start(self, idle_sleep: float = 0.05) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    report = self.poll_once()
                except Exception:  # the embedded AWS shutting down, or a transient error
                    log.debug("poll failed", exc_info=True)
                    report = BatchReport()
                if not report.received:
                    self._stop.wait(idle_sleep)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name=f"sqs-{self.function_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def drain(sources: list[SqsEventSource], *, timeout: float = 120.0, idle_sleep: float = 0.05) -> None:
    """Run every source until all their queues are empty (including messages waiting out a visibility
    timeout). Raises TimeoutError instead of hanging when something keeps a queue busy."""
    deadline = time.monotonic() + timeout
    while True:
        received = sum(source.poll_once().received for source in sources)
        if received:
            continue
        if not any(source.pending() for source in sources):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"queues still busy after {timeout:.0f} s")
        time.sleep(idle_sleep)
