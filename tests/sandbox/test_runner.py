"""The runner's SQS event source against moto's server: redrive by receive counts, never by the clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.runner import SqsEventSource, drain

pytestmark = pytest.mark.e2e


@pytest.fixture
def sqs() -> Iterator[Any]:
    with EmbeddedAws() as aws:
        yield aws.deployer("eu-west-1").client("sqs", region_name="eu-west-1")


def _queue_with_dlq(sqs: Any) -> tuple[str, str, str]:
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # a deployed queue's visibility timeout: waiting it out would take an hour per retry
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    url = sqs.create_queue(
        QueueName="jobs", Attributes={"VisibilityTimeout": "3600", "RedrivePolicy": redrive}
    )
    arn = sqs.get_queue_attributes(QueueUrl=url["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]
    return url["QueueUrl"], arn["QueueArn"], dlq


def _dlq_bodies(sqs: Any, dlq: str) -> list[str]:
    return [m["Body"] for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])]


def test_a_failing_message_reaches_the_dlq_after_exactly_max_receive_count_invocations(sqs: Any) -> None:
    url, arn, dlq = _queue_with_dlq(sqs)
    calls: list[int] = []

    def failing(event: dict[str, Any], context: Any) -> Any:
        calls.append(len(event["Records"]))
        raise RuntimeError("poison")

    sqs.send_message(QueueUrl=url, MessageBody="poison")
    drain([SqsEventSource(sqs, url, arn, failing, function_name="f", region="eu-west-1")])
    assert calls == [1, 1, 1]
    assert _dlq_bodies(sqs, dlq) == ["poison"]


@pytest.mark.parametrize(("report", "retried"), [(True, True), (False, False)])
def test_partial_batch_responses_count_only_when_the_mapping_reports_them(
    sqs: Any, report: bool, retried: bool
) -> None:
    url, arn, dlq = _queue_with_dlq(sqs)

    def reports_the_bad_one(event: dict[str, Any], context: Any) -> Any:
        bad = [r["messageId"] for r in event["Records"] if r["body"] == "bad"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}

    sqs.send_message(QueueUrl=url, MessageBody="good")
    sqs.send_message(QueueUrl=url, MessageBody="bad")
    source = SqsEventSource(
        sqs, url, arn, reports_the_bad_one, function_name="f", report_batch_item_failures=report
    )
    drain([source])
    # without ReportBatchItemFailures Lambda ignores the list: the whole batch succeeded
    assert _dlq_bodies(sqs, dlq) == (["bad"] if retried else [])
    assert source.pending() == 0
