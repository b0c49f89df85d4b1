"""Outbox: a batch's verdicts go out in PublishBatch calls within SNS's limits (10 entries, 256 KiB), and
the records whose verdicts SNS did not take are named, alone. Real boto3 against moto's server; the calls
are counted by a boto3 event hook on the client that makes them."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bucketguard.demo import pranks
from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.notify import ALERT_FINDINGS, alert_text
from bucketguard.pipeline.outbox import MAX_ENTRY_BYTES, Outbox, PendingVerdict, _entry, _entry_bytes
from bucketguard.sandbox.aws import SCANNER_ACCOUNT, STORAGE_ACCOUNT, EmbeddedAws
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.result import Finding, FindingSource, ScanResult, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from bucketguard.severity import Severity
from tests.pipeline.events import api_calls
from tests.pipeline.test_postscan import _postscan


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


def _verdict(key: str, topic_arn: str, findings: int = 0, result: ScanResult | None = None) -> PendingVerdict:
    result = result or (
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


def test_verdicts_go_out_ten_a_call_within_the_byte_limit_and_none_is_too_big(aws: EmbeddedAws) -> None:
    topic_arn, sqs, queue = _tapped_topic(aws, "results")
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")  # cross-account, as deployed
    calls = api_calls(sns)
    outbox = Outbox(sns)
    for i in range(15):
        # m3's and m7's events carry 3,000 findings each: cut to fit one message, not two in a call
        outbox.add(f"m{i}", _verdict(f"k{i:02d}", topic_arn, findings=3000 if i in (3, 7) else 0))
    outbox.publish()
    assert calls == [("PublishBatch", 7), ("PublishBatch", 8)]
    assert outbox.undelivered == []
    assert _received_keys(sqs, queue) == [f"k{i:02d}" for i in range(15)]


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


def _published(sqs: Any, queue: str) -> list[str]:
    return [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]


def test_a_zip_of_thousands_of_infected_members_is_announced_and_quarantined(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    # An uploader chooses how many findings a file makes: its verdict must still fit in one SNS message.
    with zipfile.ZipFile(tmp_path / "upload.zip", "w") as archive:
        for i in range(4000):
            archive.writestr(f"payload-{i:04d}.com", pranks.eicar())
    result = Engine(load_ruleset()).scan_file(tmp_path / "upload.zip", name="upload.zip")
    assert (result.verdict, len(result.findings)) == (Verdict.MALICIOUS, 4000)
    topic_arn, sqs, queue = _tapped_topic(aws, "results")
    storage = aws.account(STORAGE_ACCOUNT)
    for bucket in ("camp", "camp-quarantine"):
        storage.shared("s3").create_bucket(Bucket=bucket)
        storage.shared("s3").put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    upload = (tmp_path / "upload.zip").read_bytes()
    version = storage.shared("s3").put_object(Bucket="camp", Key="upload.zip", Body=upload)["VersionId"]
    sent = _verdict("upload.zip", topic_arn, result=result).event
    outbox = Outbox(aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns"))
    outbox.add("m0", PendingVerdict(replace(sent, version_id=version, etag=""), topic_arn))
    outbox.publish()

    assert outbox.undelivered == []
    (body,) = _published(sqs, queue)
    assert len(body.encode()) < 256 * 1024
    event = ScanResultEvent.from_json(body)
    assert event.verdict is Verdict.MALICIOUS
    assert event.findings_omitted > 0
    assert len(event.result.findings) + event.findings_omitted == 4000
    assert event.result.sha256 == result.sha256
    alerts = storage.shared("sns").create_topic(Name="camp-alerts")["TopicArn"]
    inbox = storage.shared("sqs").create_queue(QueueName="camp-inbox")["QueueUrl"]
    inbox_arn = storage.shared("sqs").get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    storage.shared("sns").subscribe(
        TopicArn=alerts, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"]
    )
    postscan = _postscan(storage, actions=frozenset({"tag", "quarantine", "notify"}), alert_topic_arn=alerts)
    outcome = postscan.apply(event)
    assert (outcome.status, outcome.actions) == ("applied", ["tagged", "quarantined", "notified"])
    s3 = storage.shared("s3")
    assert s3.list_object_versions(Bucket="camp").get("Versions", []) == []
    tags = s3.get_object_tagging(Bucket="camp-quarantine", Key="camp/upload.zip")["TagSet"]
    assert {"Key": "bucketguard-scan-result", "Value": "malicious"} in tags
    (alert,) = _published(storage.shared("sqs"), inbox)
    unlisted = 4000 - ALERT_FINDINGS
    assert f"Findings: {unlisted} more not listed" in json.loads(alert)["Message"]
    # the backlog CLI applies post-scan to the whole result, not to a published event
    assert len(alert_text(sent, ["quarantined"]).encode()) < 4 * 1024


def test_the_most_severe_findings_are_kept_and_an_event_just_within_the_limit_is_not_cut(
    aws: EmbeddedAws,
) -> None:
    topic_arn, sqs, queue = _tapped_topic(aws, "results")
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")
    low, high = 0, 4000  # the most findings whose event is within the limit as it is: `within`
    while low < high:
        middle = (low + high + 1) // 2
        fits = _entry_bytes(_entry(_verdict("k1", topic_arn, findings=middle).event)) <= MAX_ENTRY_BYTES
        low, high = (middle, high) if fits else (low, middle - 1)
    within = low
    outbox = Outbox(sns)
    outbox.add("m0", _verdict("k0", topic_arn, findings=within))
    base = _verdict("k1", topic_arn, findings=within + 1)
    critical = Finding("Hash_blocklist", FindingSource.HASH, Severity.CRITICAL, "archive.zip!zz.com")
    findings = (*base.event.result.findings, critical)
    outbox.add(
        "m1",
        PendingVerdict(replace(base.event, result=replace(base.event.result, findings=findings)), topic_arn),
    )
    outbox.publish()
    events = {e.key: e for e in map(ScanResultEvent.from_json, _published(sqs, queue))}
    assert (len(events["k0"].result.findings), events["k0"].findings_omitted) == (within, 0)
    cut = events["k1"]
    assert len(cut.result.findings) + cut.findings_omitted == within + 2
    assert cut.findings_omitted >= 2
    assert cut.result.findings[0] == critical  # the most severe first, then by path
    assert [f.path for f in cut.result.findings[1:]] == sorted(f.path for f in cut.result.findings[1:])


def test_a_finding_too_big_on_its_own_is_shortened_and_the_verdict_kept(aws: EmbeddedAws) -> None:
    # a member nested in archives whose names are 64 KiB each: one finding's path over the limit
    topic_arn, sqs, queue = _tapped_topic(aws, "results")
    path = "!".join(f"{'n' * 65_000}-{depth}.zip" for depth in range(5)) + "!payload.com"
    finding = Finding("EICAR_test_file", FindingSource.YARA, Severity.HIGH, path, "EICAR test file")
    result = ScanResult(target="k0", verdict=Verdict.MALICIOUS, findings=(finding,), detail="d" * 300_000)
    outbox = Outbox(aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns"))
    outbox.add("m0", _verdict("k0", topic_arn, result=result))
    outbox.publish()
    assert outbox.undelivered == []
    (event,) = map(ScanResultEvent.from_json, _published(sqs, queue))
    (kept,) = event.result.findings
    assert (event.verdict, event.findings_omitted, kept.rule, kept.detail) == (
        Verdict.MALICIOUS,
        0,
        "EICAR_test_file",
        "EICAR test file",
    )
    assert kept.path == path[:1023] + "\u2026"
    assert event.result.detail == "d" * 1023 + "\u2026"
