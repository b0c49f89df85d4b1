"""Post-scan actions against moto (functional tier): verification before deletion, webhook secrets,
stale and superseded results, forged verdict tags, races in unversioned buckets, alerts that fail once,
the deployed handlers' wiring from environment variables."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from bucketguard.pipeline.lambda_functions import PostScanFunction
from bucketguard.pipeline.listener import CreatedObject, request_scan
from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.notify import WebhookNotifier
from bucketguard.pipeline.postscan import CopyNotVerified, PostScan, quarantine_key
from bucketguard.pipeline.settings import ListenerSettings, PostScanSettings
from bucketguard.sandbox.aws import STORAGE_ACCOUNT, AccountSession, EmbeddedAws
from bucketguard.scanning.result import Finding, FindingSource, Reason, ScanResult, Severity, Verdict
from tests.pipeline.events import load_event, sqs_event

ROOT = Path(__file__).resolve().parents[2]
EICARISH = b"pretend this is the EICAR string"


@pytest.fixture
def account() -> Iterator[AccountSession]:
    with EmbeddedAws() as aws:
        session = aws.account(STORAGE_ACCOUNT)
        s3 = session.shared("s3")
        for bucket in ("camp", "camp-quarantine", "camp-promoted", "flat"):
            s3.create_bucket(Bucket=bucket)
            if bucket != "flat":
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield session


@dataclass
class AlertInbox:
    """An SNS alert topic with an SQS queue subscribed, standing in for the e-mail inbox."""

    topic_arn: str
    queue_url: str
    sqs: Any

    def received(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        for m in messages:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def inbox(account: AccountSession) -> AlertInbox:
    sns, sqs = account.shared("sns"), account.shared("sqs")
    topic = sns.create_topic(Name="camp-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="camp-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return AlertInbox(topic, queue, sqs)


def _event(
    version_id: str | None,
    verdict: Verdict = Verdict.MALICIOUS,
    *,
    key: str = "a.zip",
    body: bytes = EICARISH,
    scanned_at: str = "2026-07-01T09:30:00.000Z",
    bucket: str = "camp",
    etag: str = "",
) -> ScanResultEvent:
    findings = (
        (Finding("EICAR_Test_File", FindingSource.YARA, Severity.HIGH, ""),)
        if verdict is Verdict.MALICIOUS
        else ()
    )
    result = ScanResult(
        key,
        verdict,
        findings,
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        ruleset_version="sha256:1",
    )
    return ScanResultEvent(
        "scan-1", "req-1", "camp", bucket, key, version_id, etag, result, "scanner", scanned_at
    )


def _postscan(account: AccountSession, **overrides: Any) -> PostScan:
    kms = account.client("kms")
    key = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")["KeyMetadata"]["Arn"]
    wanted: dict[str, Any] = {
        "actions": frozenset({"tag", "quarantine", "promote"}),
        "quarantine_bucket": "camp-quarantine",
        "promote_bucket": "camp-promoted",
        "seal_key_id": key,
        **overrides,
    }
    settings = PostScanSettings.resolve({}, **wanted)
    return PostScan(settings, account.client("s3"), sns=account.client("sns"), kms=kms)


def _tags(s3: Any, bucket: str, key: str, version_id: str | None = None) -> dict[str, str]:
    extra = {"VersionId": version_id} if version_id else {}
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **extra)["TagSet"]}


def test_a_copy_that_does_not_match_is_never_followed_by_a_delete(account: AccountSession) -> None:
    s3 = account.shared("s3")
    version = s3.put_object(Bucket="camp", Key="a.zip", Body=EICARISH)["VersionId"]
    postscan = _postscan(account, quarantine_bucket="flat")  # an unversioned quarantine bucket

    def corrupt_the_copy(**kwargs: Any) -> None:  # something overwrites the copy before it is verified
        s3.put_object(Bucket="flat", Key="camp/a.zip", Body=EICARISH[:10])

    postscan.s3.meta.events.register("after-call.s3.CopyObject", corrupt_the_copy)
    with pytest.raises(CopyNotVerified):
        postscan.apply(_event(version))
    assert s3.get_object(Bucket="camp", Key="a.zip", VersionId=version)["Body"].read() == EICARISH

    postscan.s3.meta.events.unregister("after-call.s3.CopyObject", corrupt_the_copy)
    outcome = postscan.apply(_event(version))
    assert outcome.actions == ["quarantined"]  # already tagged by the first attempt
    assert s3.list_object_versions(Bucket="camp").get("Versions", []) == []


def test_an_object_copied_in_parts_keeps_its_verdict_and_its_own_tags_in_quarantine(
    account: AccountSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Objects over 5 GiB are copied in parts (here past boto3's 8 MiB multipart threshold): the copy must
    # carry the sealed verdict (a redelivery recognises the copy by it) and the uploader's tags as written.
    monkeypatch.setattr("bucketguard.pipeline.postscan.SINGLE_COPY_LIMIT", 0)
    s3 = account.shared("s3")
    body = EICARISH * (9 << 15)
    own = {"owner": "cabin 4 + co", "note": "1+1=2", "by": "lead@camp:/x"}
    tagging = "&".join(f"{k}={quote(v)}" for k, v in own.items())
    version = s3.put_object(Bucket="camp", Key="a.zip", Body=body, Tagging=tagging)["VersionId"]
    assert _tags(s3, "camp", "a.zip", version) == own

    postscan = _postscan(account)
    event = _event(version, body=body)

    assert postscan.apply(event).actions == ["tagged", "quarantined"]
    copied = _tags(s3, "camp-quarantine", "camp/a.zip")
    assert {k: copied[k] for k in own} == own
    assert copied["bucketguard-scan-result"] == "malicious"
    assert postscan.apply(event).status == "already-applied"  # the redelivery finds the sealed copy


def test_an_older_result_does_not_overwrite_a_newer_verdict(account: AccountSession) -> None:
    s3 = account.shared("s3")
    version = s3.put_object(Bucket="camp", Key="a.pdf", Body=b"%PDF")["VersionId"]
    postscan = _postscan(account, actions=frozenset({"tag"}))
    clean = _event(version, Verdict.CLEAN, key="a.pdf", body=b"%PDF", scanned_at="2026-07-02T00:00:00.000Z")
    assert postscan.apply(clean).actions == ["tagged"]
    older = _event(
        version, Verdict.MALICIOUS, key="a.pdf", body=b"%PDF", scanned_at="2026-07-01T00:00:00.000Z"
    )
    assert postscan.apply(older).status == "stale"
    assert _tags(s3, "camp", "a.pdf", version)["bucketguard-scan-result"] == "clean"


def test_a_scan_that_could_not_read_the_object_does_not_take_its_clean_verdict_away(
    account: AccountSession,
) -> None:
    # A scan request for this bucket's object with a URL signed by someone without access to it (another
    # storage's listener may send requests to the shared scanner queue), or one whose URL expired in a
    # backlog, answers error: the object's bytes were not read, so the verdict they were given stands.
    s3 = account.shared("s3")
    version = s3.put_object(Bucket="camp", Key="a.pdf", Body=b"%PDF")["VersionId"]
    postscan = _postscan(account, actions=frozenset({"tag"}))
    clean = _event(version, Verdict.CLEAN, key="a.pdf", body=b"%PDF", scanned_at="2026-07-01T00:00:00.000Z")
    assert postscan.apply(clean).actions == ["tagged"]

    def failed(reason: Reason, scanned_at: str) -> ScanResultEvent:
        result = ScanResult(
            "a.pdf", Verdict.ERROR, reason=reason, detail="403", size=4, ruleset_version="sha256:1"
        )
        return replace(_event(version, key="a.pdf", scanned_at=scanned_at), result=result)

    for reason in (Reason.ACCESS_DENIED, Reason.URL_EXPIRED):
        assert postscan.apply(failed(reason, "2026-07-02T00:00:00.000Z")).status == "kept"
        assert _tags(s3, "camp", "a.pdf", version)["bucketguard-scan-result"] == "clean"
    # A scan that read the bytes and failed on them still replaces it (fail closed).
    assert postscan.apply(failed(Reason.INTERNAL_ERROR, "2026-07-03T00:00:00.000Z")).status == "applied"
    assert _tags(s3, "camp", "a.pdf", version)["bucketguard-scan-result"] == "error"


def test_unversioned_bucket_overwritten_after_the_scan_is_left_to_its_own_scan(
    account: AccountSession,
) -> None:
    s3 = account.shared("s3")
    old_etag = s3.put_object(Bucket="flat", Key="a.js", Body=b"old")["ETag"].strip('"')
    s3.put_object(Bucket="flat", Key="a.js", Body=b"new and different")
    outcome = _postscan(account).apply(_event(None, bucket="flat", key="a.js", body=b"old", etag=old_etag))
    assert outcome.status == "superseded"
    assert s3.get_object(Bucket="flat", Key="a.js")["Body"].read() == b"new and different"
    assert s3.get_object_tagging(Bucket="flat", Key="a.js")["TagSet"] == []


FORGERIES = {
    "a scan date in the future": "bucketguard-scan-date=9999-12-31T00:00:00.000Z",
    "a clean verdict": "bucketguard-scan-result=clean",
    "both": "bucketguard-scan-result=clean&bucketguard-scan-date=9999-12-31T00:00:00.000Z",
    "a forged seal and alert record": "bucketguard-scan-result=clean&bucketguard-alerted=malicious"
    "&bucketguard-scan-date=9999-12-31T00:00:00.000Z&bucketguard-seal=AAAA",
}


@pytest.mark.parametrize("forged", FORGERIES.values(), ids=FORGERIES.keys())
def test_an_upload_wearing_forged_verdict_tags_is_still_quarantined_and_alerted(
    account: AccountSession, inbox: AlertInbox, forged: str
) -> None:
    s3 = account.shared("s3")
    version = s3.put_object(Bucket="camp", Key="a.zip", Body=EICARISH, Tagging=f"{forged}&course=python")[
        "VersionId"
    ]
    postscan = _postscan(
        account, actions=frozenset({"tag", "quarantine", "notify"}), alert_topic_arn=inbox.topic_arn
    )

    outcome = postscan.apply(_event(version))

    assert (outcome.status, outcome.actions) == ("applied", ["tagged", "quarantined", "notified"])
    assert s3.list_object_versions(Bucket="camp").get("Versions", []) == []
    copy = _tags(s3, "camp-quarantine", "camp/a.zip")
    assert copy["bucketguard-scan-result"] == "malicious"
    assert copy["bucketguard-scan-date"] == "2026-07-01T09:30:00.000Z"
    assert copy["course"] == "python"  # the uploader's own tags are kept
    (alert,) = inbox.received()
    assert "malicious" in alert["Subject"]


# Other tags to S3, the verdict to IAM (condition key names are read whatever their case); the Kelvin sign
# folds to 'k'.
IN_ANOTHER_CASE = {"BucketGuard-Scan-Result": "clean", "BUCKETGUARD-SEAL": "x", "buc\u212aetguard-x": "y"}


def test_verdict_tags_in_another_case_are_taken_off_by_the_listener_and_never_kept_by_post_scan(
    account: AccountSession,
) -> None:
    s3, sqs = account.shared("s3"), account.shared("sqs")
    queue = sqs.create_queue(QueueName="scanner-requests")["QueueUrl"]
    tagging = "&".join(f"{quote(k)}={v}" for k, v in {**IN_ANOTHER_CASE, "course": "python"}.items())
    put = s3.put_object(Bucket="camp", Key="homework.zip", Body=EICARISH, Tagging=tagging)
    settings = ListenerSettings.resolve({}, scanner_queue_url=queue, result_topic_arn="arn:aws:sns:r")
    created = CreatedObject("camp", "homework.zip", len(EICARISH), put["ETag"].strip('"'), put["VersionId"])

    assert request_scan(s3, sqs, created, settings).action == "requested"
    assert _tags(s3, "camp", "homework.zip", put["VersionId"]) == {"course": "python"}

    # Put back (as if the listener had not run yet): post-scan's verdict does not keep them beside its own.
    s3.put_object_tagging(
        Bucket="camp",
        Key="homework.zip",
        VersionId=put["VersionId"],
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in IN_ANOTHER_CASE.items()]},
    )
    unscannable = replace(
        _event(put["VersionId"], Verdict.CLEAN, key="homework.zip"),
        result=ScanResult("homework.zip", Verdict.UNSCANNABLE, reason=Reason.ENCRYPTED),
    )
    _postscan(account, actions=frozenset({"tag"})).apply(unscannable)
    tags = _tags(s3, "camp", "homework.zip", put["VersionId"])
    assert tags["bucketguard-scan-result"] == "unscannable"
    assert not set(IN_ANOTHER_CASE) & set(tags)


def test_a_key_with_line_breaks_neither_writes_lines_of_its_alert_nor_stops_it(
    account: AccountSession, inbox: AlertInbox
) -> None:
    # U+2028 and NEL break lines in mail readers and in str.splitlines (moto's server refuses CR and LF).
    key = "homework\u2028Verdict:  clean\x85Actions:  none\x07.exe"
    version = account.shared("s3").put_object(Bucket="camp", Key=key, Body=EICARISH)["VersionId"]
    postscan = _postscan(
        account, actions=frozenset({"tag", "quarantine", "notify"}), alert_topic_arn=inbox.topic_arn
    )

    assert postscan.apply(_event(version, key=key)).actions == ["tagged", "quarantined", "notified"]

    (alert,) = inbox.received()
    # SNS's documented rule for a subject (moto checks only its length): no line break, no control character.
    assert alert["Subject"].isprintable() and len(alert["Subject"]) < 100
    lines = alert["Message"].splitlines()
    assert [line for line in lines if line.startswith(("Verdict:", "Actions:"))] == [
        "Verdict:  malicious",
        "Actions:  tagged, quarantined",
    ]
    assert "Object:   s3://camp/homework\\u2028Verdict:  clean\\x85Actions:  none\\x07.exe" in lines


def test_a_result_naming_another_bucket_fails_alone_and_touches_nothing(account: AccountSession) -> None:
    s3 = account.shared("s3")
    other = s3.put_object(Bucket="flat", Key="a.zip", Body=EICARISH)["ETag"].strip('"')
    version = s3.put_object(Bucket="camp", Key="a.zip", Body=EICARISH)["VersionId"]
    postscan = _postscan(account, actions=frozenset({"tag", "quarantine"}), protected_bucket="camp")
    misrouted, ours = _event(None, bucket="flat", etag=other), _event(version)

    response = PostScanFunction(postscan).handle(sqs_event(misrouted.to_json(), ours.to_json()))

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert _tags(s3, "flat", "a.zip") == {} and s3.head_object(Bucket="flat", Key="a.zip")["ETag"]
    assert s3.list_object_versions(Bucket="camp").get("Versions", []) == []  # ours quarantined


def test_a_seal_copied_from_another_object_does_not_verify(account: AccountSession) -> None:
    s3 = account.shared("s3")
    postscan = _postscan(account, actions=frozenset({"tag"}))
    clean_version = s3.put_object(Bucket="camp", Key="ok.pdf", Body=b"%PDF")["VersionId"]
    postscan.apply(
        _event(
            clean_version, Verdict.CLEAN, key="ok.pdf", body=b"%PDF", scanned_at="2026-07-02T00:00:00.000Z"
        )
    )
    sealed_clean = _tags(s3, "camp", "ok.pdf", clean_version)
    # The uploader reads the genuine tags of a clean object and puts them on new malware.
    forged = "&".join(f"{k}={quote(v, safe='')}" for k, v in sealed_clean.items())
    version = s3.put_object(Bucket="camp", Key="a.zip", Body=EICARISH, Tagging=forged)["VersionId"]

    assert postscan.apply(_event(version)).actions == ["tagged"]
    assert _tags(s3, "camp", "a.zip", version)["bucketguard-scan-result"] == "malicious"


def test_a_newer_sealed_verdict_still_wins_over_an_older_result(account: AccountSession) -> None:
    s3 = account.shared("s3")
    version = s3.put_object(Bucket="camp", Key="a.pdf", Body=b"%PDF")["VersionId"]
    postscan = _postscan(account, actions=frozenset({"tag"}))
    newer = _event(
        version, Verdict.MALICIOUS, key="a.pdf", body=b"%PDF", scanned_at="2026-07-02T00:00:00.000Z"
    )
    older = _event(version, Verdict.CLEAN, key="a.pdf", body=b"%PDF", scanned_at="2026-07-01T00:00:00.000Z")
    postscan.apply(newer)
    assert postscan.apply(older).status == "stale"
    assert postscan.apply(newer).status == "already-applied"  # a redelivery changes nothing
    assert _tags(s3, "camp", "a.pdf", version)["bucketguard-scan-result"] == "malicious"


def _fail_first_publish(sns: Any) -> list[str]:
    """The topic refuses the first alert (as SNS does when throttled or denied); returns the calls seen."""
    calls: list[str] = []

    def refuse_once(params: Any, **_: Any) -> None:
        calls.append("publish")
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish")

    sns.meta.events.register("before-call.sns.Publish", refuse_once)
    return calls


def test_an_alert_that_fails_once_is_sent_on_the_retry_after_the_quarantine_and_only_once(
    account: AccountSession, inbox: AlertInbox
) -> None:
    s3 = account.shared("s3")
    version = s3.put_object(Bucket="camp", Key="a.zip", Body=EICARISH)["VersionId"]
    postscan = _postscan(
        account, actions=frozenset({"tag", "quarantine", "notify"}), alert_topic_arn=inbox.topic_arn
    )
    _fail_first_publish(postscan.sns)

    with pytest.raises(ClientError, match="Throttling"):
        postscan.apply(_event(version))  # quarantined, then the alert failed: the message is retried
    assert s3.list_object_versions(Bucket="camp").get("Versions", []) == []
    assert inbox.received() == []

    retried = postscan.apply(_event(version))
    assert (retried.status, retried.actions) == ("already-applied", ["quarantined", "notified"])
    (alert,) = inbox.received()
    assert "quarantined" in alert["Message"]
    assert postscan.apply(_event(version)).actions == []  # a third delivery: no second alert
    assert inbox.received() == []


def test_a_failed_alert_fails_the_record_so_sqs_retries_it(
    account: AccountSession, inbox: AlertInbox
) -> None:
    s3 = account.shared("s3")
    version = s3.put_object(Bucket="camp", Key="a.zip", Body=EICARISH)["VersionId"]
    postscan = _postscan(account, actions=frozenset({"tag", "notify"}), alert_topic_arn=inbox.topic_arn)
    _fail_first_publish(postscan.sns)
    function = PostScanFunction(postscan)
    event = _event(version).to_json()  # tagged and left in place (no quarantine configured)

    with pytest.raises(BatchProcessingError):  # a batch whose every record failed is retried whole
        function.handle(sqs_event(event))
    assert function.handle(sqs_event(event))["batchItemFailures"] == []
    assert function.handle(sqs_event(event))["batchItemFailures"] == []
    assert len(inbox.received()) == 1


def _overwrite_when(client: Any, operation: str, s3: Any, body: bytes, bucket: str = "flat") -> None:
    """Another uploader writes over the key just when `client` is about to call `operation`."""

    def overwrite(params: Any, **_: Any) -> None:
        client.meta.events.unregister(f"before-call.s3.{operation}", overwrite)
        s3.put_object(Bucket=bucket, Key="a.js", Body=body)

    client.meta.events.register(f"before-call.s3.{operation}", overwrite)


def _flat_event(s3: Any, body: bytes, verdict: Verdict) -> ScanResultEvent:
    etag = s3.put_object(Bucket="flat", Key="a.js", Body=body)["ETag"].strip('"')
    return _event(None, verdict, bucket="flat", key="a.js", body=body, etag=etag)


def test_unversioned_a_clean_file_written_between_quarantine_copy_and_delete_is_kept(
    account: AccountSession,
) -> None:
    s3 = account.shared("s3")
    event = _flat_event(s3, EICARISH, Verdict.MALICIOUS)
    postscan = _postscan(account, actions=frozenset({"quarantine"}))
    _overwrite_when(postscan.s3, "DeleteObject", s3, b"the teacher's fixed file")

    outcome = postscan.apply(event)

    assert s3.get_object(Bucket="flat", Key="a.js")["Body"].read() == b"the teacher's fixed file"
    assert s3.get_object(Bucket="camp-quarantine", Key="flat/a.js")["Body"].read() == EICARISH
    assert outcome.actions == ["quarantined"]


def test_unversioned_malware_written_just_before_the_promote_copy_never_stays_in_the_promote_bucket(
    account: AccountSession,
) -> None:
    s3 = account.shared("s3")
    event = _flat_event(s3, b"console.log('hello')", Verdict.CLEAN)
    postscan = _postscan(account, actions=frozenset({"promote"}))
    _overwrite_when(postscan.s3, "CopyObject", s3, EICARISH)

    with pytest.raises(CopyNotVerified):
        postscan.apply(event)

    assert s3.list_object_versions(Bucket="camp-promoted").get("Versions", []) == []
    assert postscan.apply(event).status == "superseded"  # the retry: the new object has its own scan


def test_unversioned_malware_written_just_before_tagging_does_not_keep_the_clean_verdict(
    account: AccountSession,
) -> None:
    s3 = account.shared("s3")
    event = _flat_event(s3, b"console.log('hello')", Verdict.CLEAN)
    postscan = _postscan(account, actions=frozenset({"tag", "promote"}))
    _overwrite_when(postscan.s3, "PutObjectTagging", s3, EICARISH)

    assert postscan.apply(event).status == "superseded"

    assert s3.get_object(Bucket="flat", Key="a.js")["Body"].read() == EICARISH
    assert "bucketguard-scan-result" not in _tags(s3, "flat", "a.js")
    assert s3.list_object_versions(Bucket="camp-promoted").get("Versions", []) == []


class WebhookCatcher(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_url_comes_from_secrets_manager_and_is_never_logged(
    account: AccountSession, caplog: pytest.LogCaptureFixture
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WebhookCatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/very-secret-token"
    secrets = account.client("secretsmanager")
    arn = secrets.create_secret(Name="camp-slack", SecretString=json.dumps({"url": url, "kind": "slack"}))[
        "ARN"
    ]
    try:
        caplog.set_level(logging.DEBUG, logger="bucketguard")  # (botocore's own DEBUG log prints bodies)
        reads: list[str] = []
        secrets.meta.events.register(
            "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read")
        )
        notifier = WebhookNotifier(secrets, arn)
        assert notifier.send("malicious: s3://camp/a.zip")
        assert notifier.send("malicious: s3://camp/b.zip")
        assert WebhookCatcher.received[-1] == {"text": "malicious: s3://camp/b.zip"}
        # A key is the uploader's: Slack would make <https://...|text> a link and <!channel> a mention.
        assert notifier.send("s3://camp/<https://evil.example|lesson.pdf> & <!channel>")
        assert WebhookCatcher.received[-1] == {
            "text": "s3://camp/&lt;https://evil.example|lesson.pdf&gt; &amp; &lt;!channel&gt;"
        }
        assert reads == ["read"]  # cached for the container (Powertools parameters), not read per alert
        # Teams reads markdown: a key would make [text](url) a link and <b> markup
        teams = secrets.create_secret(
            Name="camp-teams", SecretString=json.dumps({"url": url, "kind": "teams"})
        )
        assert WebhookNotifier(secrets, teams["ARN"]).send(
            "s3://camp/[lesson.pdf](https://evil.example) <b>_x_"
        )
        assert WebhookCatcher.received[-1] == {
            "text": r"s3://camp/\[lesson.pdf\](https://evil.example) \<b\>\_x\_"
        }
        server.shutdown()
        assert not WebhookNotifier(secrets, arn, timeout=1).send("again")  # unreachable: logged, not raised
        ours = [r for r in caplog.records if r.name.startswith("bucketguard")]
        assert ours and not any("very-secret-token" in f"{r.getMessage()} {r.__dict__}" for r in ours)
    finally:
        server.server_close()


def _load_app(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"app_{name}", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deployed_listener_handler_reads_its_settings_from_the_environment(
    account: AccountSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, sqs = account.shared("s3"), account.shared("sqs")
    queue = sqs.create_queue(QueueName="scanner-requests")["QueueUrl"]
    event = load_event("s3-object-created.json")
    key = "week 1/résumé + notes.pdf"
    version = s3.put_object(Bucket="camp", Key=key, Body=b"%PDF-1.4")["VersionId"]
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = "camp"
    record["object"].update(versionId=version, eTag=s3.head_object(Bucket="camp", Key=key)["ETag"].strip('"'))
    creds = account.session.get_credentials()
    for name, value in {
        "AWS_ENDPOINT_URL": account.endpoint_url,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.token,
        "AWS_DEFAULT_REGION": "us-east-1",
        "BUCKETGUARD_SCANNER_QUEUE_URL": queue,
        "BUCKETGUARD_RESULT_TOPIC_ARN": "arn:aws:sns:us-east-1:222222222222:r",
        "BUCKETGUARD_STORAGE_STACK_ID": "camp",
        "POWERTOOLS_METRICS_NAMESPACE": "BucketGuard",
    }.items():
        monkeypatch.setenv(name, value)
    # The handler's clients come from boto3's default session, which caches these credentials: drop it after.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    app = _load_app("listener")
    from bucketguard.sandbox.runner import FakeLambdaContext

    assert app.handler(sqs_event(json.dumps(event)), FakeLambdaContext("listener")) == {
        "batchItemFailures": []
    }
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    request = json.loads(message["Body"])
    assert (request["key"], request["version_id"], request["size"]) == (key, version, 8)
    assert "X-Amz-Expires=300" in request["url"]  # the default short TTL, SigV4


def test_a_quarantine_key_stays_within_s3s_limit_and_apart_from_others() -> None:
    """`<bucket>/<key>` of a key near S3's 1,024 bytes would be refused by the copy: the malware stays."""
    assert (
        quarantine_key(_event("v1", key="site/app.js", bucket="camp-teaching")) == "camp-teaching/site/app.js"
    )
    long_keys = ["h/" + "\u00e9" * 509 + end for end in ("a", "b")]  # 1,021 bytes each
    quarantined = [quarantine_key(_event("v1", key=key, bucket="camp-teaching")) for key in long_keys]
    assert all(len(key.encode()) <= 1024 for key in quarantined)
    assert all(key.startswith("camp-teaching/h/\u00e9") for key in quarantined)
    assert quarantined[0] != quarantined[1]
