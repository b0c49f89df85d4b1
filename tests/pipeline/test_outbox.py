"""Outbox: a batch's verdicts go out in PublishBatch calls within SNS's limits (10 entries, 256 KiB), and
the records whose verdicts SNS did not take are named, alone. Real boto3 against moto's server; the calls
are counted by a boto3 event hook on the client that makes them."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bucketguard.demo import pranks
from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.outbox import Outbox, PendingVerdict
from bucketguard.sandbox.aws import SCANNER_ACCOUNT, STORAGE_ACCOUNT, EmbeddedAws
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.result import Finding, FindingSource, ScanResult, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from bucketguard.severity import Severity
from tests.pipeline.events import api_calls


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


def _tapped_topic(aws: EmbeddedAws, name: str) -> tuple[str, Any, str]:
    """A storage account's result topic with a queue receiving what is published to it."""
    storage = aws.account(STORAGE_ACCOUNT)
    sns, sqs = storage.client("sns"), storage.client("sqs")
    arn = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return arn, sqs, queue


def _received_keys(sqs: Any, queue: str) -> list[str]:
    keys = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        keys += [json.loads(m["Body"])["key"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return sorted(keys)


def _verdict(key: str, topic_arn: str, findings: int = 0) -> PendingVerdict:
    result = (
        ScanResult(
            target=key,
            verdict=Verdict.MALICIOUS,
            findings=tuple(
                Finding(
                    "EICAR_test_file", FindingSource.YARA, Severity.HIGH, f"archive.zip!member-{i:05d}.com"
                )
                for i in range(findings)
            ),
        )
        if findings
        else ScanResult(target=key, verdict=Verdict.CLEAN, sha256="0" * 64, size=1)
    )
    event = ScanResultEvent(
        scan_id=f"scan-{key}",
        request_id=f"req-{key}",
        storage_stack_id="camp",
        bucket="camp",
        key=key,
        version_id="v1",
        etag="e",
        result=result,
        scanner_id="scanner",
        scanned_at="2026-07-01T09:30:00.000Z",
    )
    return PendingVerdict(event, topic_arn)


def test_verdicts_go_out_ten_a_call_and_a_verdict_over_the_size_limit_fails_alone(aws: EmbeddedAws) -> None:
    topic_arn, sqs, queue = _tapped_topic(aws, "results")
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")  # cross-account, as deployed
    calls = api_calls(sns)
    outbox = Outbox(sns)
    for i in range(15):
        # m3's event carries 3,000 findings: over the 256 KiB SNS takes in one message or one call
        outbox.add(f"m{i}", _verdict(f"k{i:02d}", topic_arn, findings=3000 if i == 3 else 0))
    outbox.publish()
    assert calls == [("PublishBatch", 3), ("PublishBatch", 1), ("PublishBatch", 10), ("PublishBatch", 1)]
    assert outbox.undelivered == ["m3"]
    assert _received_keys(sqs, queue) == [f"k{i:02d}" for i in range(15) if i != 3]


def test_a_topic_sns_refuses_fails_only_the_records_answering_to_it(aws: EmbeddedAws) -> None:
    results, sqs, queue = _tapped_topic(aws, "results")
    gone, _, _ = _tapped_topic(aws, "gone")
    aws.account(STORAGE_ACCOUNT).client("sns").delete_topic(TopicArn=gone)
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")
    outbox = Outbox(sns)
    for i, topic_arn in enumerate([results, gone, results, gone, results]):
        outbox.add(f"m{i}", _verdict(f"k{i}", topic_arn))
    outbox.publish()
    assert outbox.undelivered == ["m1", "m3"]
    assert _received_keys(sqs, queue) == ["k0", "k2", "k4"]
    outbox.publish()  # nothing waits any more: nothing is sent twice
    assert _received_keys(sqs, queue) == []


def test_a_member_name_that_is_not_utf8_fails_no_verdict(aws: EmbeddedAws, tmp_path: Path) -> None:
    # A tar's member names are bytes, kept as surrogate escapes where they are not UTF-8: the verdict
    # naming one must still go out (SNS takes UTF-8 only), and the others of the batch with it.
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tar:
        member = tarfile.TarInfo("payload-\udcff.com")
        member.size = len(pranks.eicar())
        tar.addfile(member, io.BytesIO(pranks.eicar()))
    (tmp_path / "upload.tar").write_bytes(archive.getvalue())
    result = Engine(load_ruleset()).scan_file(tmp_path / "upload.tar", name="upload.tar")
    topic_arn, sqs, queue = _tapped_topic(aws, "results")
    outbox = Outbox(aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns"))
    outbox.add("m0", _verdict("clean-before", topic_arn))
    bad = _verdict("upload.tar", topic_arn)
    outbox.add("m1", PendingVerdict(replace(bad.event, result=result), topic_arn))
    outbox.add("m2", _verdict("clean-after", topic_arn))
    outbox.publish()
    assert outbox.undelivered == []
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    events = {event.key: event for event in (ScanResultEvent.from_json(m["Body"]) for m in messages)}
    assert sorted(events) == ["clean-after", "clean-before", "upload.tar"]
    (finding,) = events["upload.tar"].result.findings
    assert (events["upload.tar"].verdict, finding.path) == (
        Verdict.MALICIOUS,
        "upload.tar!payload-\ufffd.com",
    )


def test_an_event_the_schema_refuses_fails_its_record_alone(aws: EmbeddedAws) -> None:
    # Building a verdict's message validates it: one refused must not take the batch's others with it.
    topic_arn, sqs, queue = _tapped_topic(aws, "results")
    outbox = Outbox(aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns"))
    for i in range(3):
        verdict = _verdict(f"k{i}", topic_arn)
        if i == 1:  # a bucket name of one letter: no bucket is called that
            verdict = PendingVerdict(replace(verdict.event, bucket="b"), topic_arn)
        outbox.add(f"m{i}", verdict)
    outbox.publish()
    assert outbox.undelivered == ["m1"]
    assert _received_keys(sqs, queue) == ["k0", "k2"]
