"""Scanner: streaming download under a cap, S3's refusals turned into verdicts, temp files always removed,
rules compiled once, partial batch failure. The storage side is a local HTTP server answering the way S3
answers presigned GETs (moto does not expire presigned URLs); the result topic is moto's SNS."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from bucketguard.demo import pranks
from bucketguard.pipeline.download import TransientDownloadError
from bucketguard.pipeline.lambda_functions import ScannerFunction
from bucketguard.pipeline.messages import InvalidMessage, ScanRequest, scan_result_event_schema
from bucketguard.pipeline.scanner import Scanner, engine_for
from bucketguard.pipeline.settings import ScannerSettings
from bucketguard.sandbox.aws import SCANNER_ACCOUNT, STORAGE_ACCOUNT, EmbeddedAws
from tests.pipeline.events import sqs_event

EXPIRED = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
DENIED = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"


class FakeS3Handler(http.server.BaseHTTPRequestHandler):
    objects: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        path = self.path.split("?")[0].removeprefix("/camp/uploads")  # path-style: /<bucket>/<key>
        if path == "/expired":
            self._reply(403, EXPIRED)
        elif path == "/denied":
            self._reply(403, DENIED)
        elif path == "/flaky":
            self._reply(503, b"<Error><Code>SlowDown</Code></Error>")
        elif path == "/gone":
            self._reply(404, b"<Error><Code>NoSuchVersion</Code></Error>")
        elif path == "/redirect":  # to a URL nobody checked against the scan request
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/lying":  # declares no length and sends more than the cap
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"A" * 5000)
        elif path in self.objects:
            self._reply(200, self.objects[path])
        else:
            self._reply(404, b"")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def storage() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeS3Handler)
    FakeS3Handler.objects = {"/eicar.zip": pranks.eicar_nested_zip(), "/clean.pdf": pranks.clean_pdf()}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


@pytest.fixture
def topic(aws: EmbeddedAws) -> tuple[str, Any, str]:
    storage = aws.account(STORAGE_ACCOUNT)
    sns, sqs = storage.client("sns"), storage.client("sqs")
    arn = sns.create_topic(Name="results")["TopicArn"]
    queue = sqs.create_queue(QueueName="tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return arn, sqs, queue


def _request(
    storage: str, path: str, size: int, topic_arn: str = "arn:aws:sns:us-east-1:222222222222:results"
) -> ScanRequest:
    return ScanRequest(
        request_id="req-1",
        bucket="camp",
        key=f"uploads{path}",
        version_id="v1",
        etag="etag",
        size=size,
        url=f"{storage}/camp/uploads{path}?versionId=v1&X-Amz-Signature=secret",
        result_topic_arn=topic_arn,
        storage_stack_id="camp",
        requested_at="2026-07-01T09:30:00.000Z",
    )


def _scanner(storage: str, tmp_path: Path, sns: Any = None, **overrides: Any) -> Scanner:
    settings = ScannerSettings.resolve({}, tmp_dir=tmp_path, download_origins=(storage,), **overrides)
    return Scanner(settings, sns)


def test_refusals_become_error_verdicts_with_reasons_and_temp_files_are_removed(
    storage: str, tmp_path: Path
) -> None:
    scanner = _scanner(storage, tmp_path)
    expired = scanner.scan(_request(storage, "/expired", 10))
    assert (expired.verdict.value, expired.reason and expired.reason.value) == ("error", "url_expired")
    denied = scanner.scan(_request(storage, "/denied", 10))
    assert (denied.verdict.value, denied.reason and denied.reason.value) == ("error", "access_denied")
    gone = scanner.scan(_request(storage, "/gone", 10))
    assert gone.verdict.value == "error" and "no longer exists" in gone.detail
    with pytest.raises(TransientDownloadError):
        scanner.scan(_request(storage, "/flaky", 10))
    assert all("secret" not in r.detail for r in (expired, denied, gone))
    assert list(tmp_path.iterdir()) == []


def test_over_the_cap_is_unscannable_never_clean_even_when_the_size_lied(
    storage: str, tmp_path: Path
) -> None:
    scanner = _scanner(storage, tmp_path, max_object_bytes=1000)
    announced = scanner.scan(_request(storage, "/clean.pdf", 5000))  # refused before downloading
    streamed = scanner.scan(_request(storage, "/lying", 10))  # cut off while streaming
    for result in (announced, streamed):
        assert (result.verdict.value, result.reason and result.reason.value) == ("unscannable", "too_large")
    assert list(tmp_path.iterdir()) == []


def test_scans_with_real_rules_and_compiles_them_once(storage: str, tmp_path: Path) -> None:
    scanner = _scanner(storage, tmp_path)
    bad = scanner.scan(_request(storage, "/eicar.zip", len(pranks.eicar_nested_zip())))
    good = scanner.scan(_request(storage, "/clean.pdf", len(pranks.clean_pdf())))
    assert bad.verdict.value == "malicious" and good.verdict.value == "clean"
    assert engine_for(scanner.settings) is scanner.engine  # one engine per container
    assert list(tmp_path.iterdir()) == []


def test_requests_for_unknown_origins_or_topics_are_refused(storage: str, tmp_path: Path) -> None:
    scanner = _scanner(
        storage, tmp_path, allowed_result_topic_arns=("arn:aws:sns:us-east-1:222222222222:results",)
    )
    with pytest.raises(InvalidMessage, match="not an S3 endpoint"):
        scanner.check_request(_request("http://169.254.169.254", "/latest/meta-data", 10))
    with pytest.raises(InvalidMessage, match="not registered"):
        scanner.check_request(
            _request(storage, "/clean.pdf", 10, topic_arn="arn:aws:sns:us-east-1:333333333333:x")
        )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        # a listener signing for an object of its own while naming another storage's object
        ("https://other-bucket.s3.eu-west-1.amazonaws.com/uploads/clean.pdf?versionId=v1", "bucket"),
        ("https://s3.eu-west-1.amazonaws.com/other-bucket/uploads/clean.pdf?versionId=v1", "bucket"),
        ("https://camp.s3.eu-west-1.amazonaws.com/uploads/other.pdf?versionId=v1", "key"),
        ("https://camp.s3.eu-west-1.amazonaws.com/uploads/clean.pdf?versionId=v0", "version"),
        ("https://camp.s3.eu-west-1.amazonaws.com/uploads/clean.pdf", "version"),
        # S3 serves bucket `camp.s3.foo` here, which anyone can create
        ("https://camp.s3.foo.s3.amazonaws.com/uploads/clean.pdf?versionId=v1", "bucket"),
        ("https://s3.amazonaws.com/camp.s3.foo/uploads/clean.pdf?versionId=v1", "bucket"),
        (
            "https://camp-123456789012.s3-accesspoint.us-east-1.amazonaws.com/uploads/clean.pdf?versionId=v1",
            "bucket",
        ),
    ],
)
def test_a_url_for_another_object_than_the_request_names_is_refused(
    storage: str, tmp_path: Path, url: str, why: str
) -> None:
    """Otherwise a compromised listener could have a clean object's verdict tagged on someone's malware."""
    request = dataclasses.replace(_request(storage, "/clean.pdf", 10), url=url)
    with pytest.raises(InvalidMessage, match=f"presigned URL reads another {why}"):
        _scanner(storage, tmp_path).check_request(request)


@pytest.mark.parametrize(
    "url",
    [
        "https://camp.s3.eu-west-1.amazonaws.com/uploads/clean.pdf?versionId=v1&X-Amz-Signature=s",
        "https://camp.s3.amazonaws.com/uploads/clean.pdf?versionId=v1",
        "https://s3.eu-west-1.amazonaws.com/camp/uploads/clean.pdf?versionId=v1",
        "https://camp.s3.dualstack.eu-west-1.amazonaws.com/uploads/clean.pdf?versionId=v1",
    ],
)
def test_urls_for_the_requested_version_are_accepted(storage: str, tmp_path: Path, url: str) -> None:
    request = dataclasses.replace(_request(storage, "/clean.pdf", 10), url=url)
    _scanner(storage, tmp_path).check_request(request)


def test_a_request_whose_url_is_refused_fails_and_publishes_no_verdict(
    storage: str, tmp_path: Path, aws: EmbeddedAws, topic: tuple[str, Any, str]
) -> None:
    """Not even an error verdict: the URL proves nothing about the object the request names, so the
    message goes to the DLQ and the object stays untagged (blocked by the bucket policy)."""
    topic_arn, sqs, queue = topic
    scanner = _scanner(storage, tmp_path, aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns"))
    honest = _request(storage, "/clean.pdf", len(pranks.clean_pdf()), topic_arn)
    for url, why in (
        ("https://camp.s3.foo.s3.amazonaws.com/uploads/clean.pdf?versionId=v1", "reads another bucket"),
        ("https://ec2-1-2-3-4.compute-1.amazonaws.com/camp/uploads/clean.pdf?versionId=v1", "not an S3"),
    ):
        with pytest.raises(InvalidMessage, match=why):
            scanner.handle_request(dataclasses.replace(honest, url=url).to_json())
    assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []
    scanner.handle_request(honest.to_json())
    published = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["verdict"] for m in published] == ["clean"]
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_is_an_answer_not_a_new_url_to_follow(storage: str, tmp_path: Path) -> None:
    result = _scanner(storage, tmp_path).scan(_request(storage, "/redirect", 10))
    assert (result.verdict.value, result.detail) == ("error", "the storage bucket answered HTTP 307")


def test_handler_publishes_schema_valid_events_and_fails_only_the_bad_message(
    storage: str, tmp_path: Path, aws: EmbeddedAws, topic: tuple[str, Any, str]
) -> None:
    topic_arn, sqs, queue = topic
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")  # cross-account publish
    function = ScannerFunction(_scanner(storage, tmp_path, sns))
    event = sqs_event(
        _request(storage, "/eicar.zip", len(pranks.eicar_nested_zip()), topic_arn).to_json(),
        "{broken",
        _request(storage, "/expired", 10, topic_arn).to_json(),
        _request(storage, "/flaky", 10, topic_arn).to_json(),
    )
    response = function.handle(event)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}
    published = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    validator = jsonschema.Draft202012Validator(scan_result_event_schema())
    for body in published:
        validator.validate(body)
    assert sorted(e["verdict"] for e in published) == ["error", "malicious"]
    assert "secret" not in json.dumps(published)  # the presigned URL never leaves the scanner
    assert list(tmp_path.iterdir()) == []


def test_rules_come_from_the_ruleset_artifact_when_configured(storage: str, tmp_path: Path) -> None:
    from bucketguard.scanning.ruleset import load_ruleset, write_artifact

    artifact = tmp_path / "rules.bgr"
    ruleset = load_ruleset()
    write_artifact(ruleset, artifact)
    work = tmp_path / "work"
    scanner = _scanner(storage, work, ruleset_path=artifact)
    result = scanner.scan(_request(storage, "/eicar.zip", len(pranks.eicar_nested_zip())))
    assert result.verdict.value == "malicious"
    assert scanner.engine.ruleset_version == ruleset.version
    assert list(work.iterdir()) == []
