"""Post-scan actions against moto (functional tier): verification before deletion, webhook secrets,
stale and superseded results, the deployed handlers' wiring from environment variables."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.notify import WebhookNotifier
from bucketguard.pipeline.postscan import CopyNotVerified, PostScan
from bucketguard.pipeline.settings import PostScanSettings
from bucketguard.sandbox.aws import STORAGE_ACCOUNT, AccountSession, EmbeddedAws
from bucketguard.scanning.result import Finding, FindingSource, ScanResult, Severity, Verdict
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
    wanted: dict[str, Any] = {
        "actions": frozenset({"tag", "quarantine", "promote"}),
        "quarantine_bucket": "camp-quarantine",
        "promote_bucket": "camp-promoted",
        **overrides,
    }
    settings = PostScanSettings.resolve({}, **wanted)
    return PostScan(settings, account.client("s3"))


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
    outcome = postscan.apply(_event(version), is_retry=True)
    assert outcome.actions == ["quarantined"]  # already tagged by the first attempt
    assert s3.list_object_versions(Bucket="camp").get("Versions", []) == []


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
    tags = {
        t["Key"]: t["Value"]
        for t in s3.get_object_tagging(Bucket="camp", Key="a.pdf", VersionId=version)["TagSet"]
    }
    assert tags["bucketguard-scan-result"] == "clean"


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
        assert WebhookNotifier(secrets, arn).send("malicious: s3://camp/a.zip")
        assert WebhookCatcher.received[-1] == {"text": "malicious: s3://camp/a.zip"}
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
    app = _load_app("listener")
    from bucketguard.sandbox.runner import FakeLambdaContext

    assert app.handler(sqs_event(json.dumps(event)), FakeLambdaContext("listener")) == {
        "batchItemFailures": []
    }
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    request = json.loads(message["Body"])
    assert (request["key"], request["version_id"], request["size"]) == (key, version, 8)
    assert "X-Amz-Expires=300" in request["url"]  # the default short TTL, SigV4
