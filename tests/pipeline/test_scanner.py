"""Scanner: ranged reads under a cap, S3's refusals turned into verdicts, an overwrite mid-scan detected,
temp files always removed, rules compiled once, partial batch failure. The storage side is a local HTTP
server answering the way S3 answers presigned GETs (ranges, If-Match; moto does not expire presigned URLs);
the result topic is moto's SNS."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from bucketguard.demo import pranks
from bucketguard.pipeline.download import RANGE_BYTES, TransientDownloadError
from bucketguard.pipeline.lambda_functions import ScannerFunction
from bucketguard.pipeline.messages import InvalidMessage, ScanRequest, scan_result_event_schema
from bucketguard.pipeline.scanner import Scanner, engine_for
from bucketguard.pipeline.settings import ScannerSettings
from bucketguard.sandbox.aws import SCANNER_ACCOUNT, STORAGE_ACCOUNT, EmbeddedAws
from bucketguard.scanning.engine import WINDOW_BYTES
from tests.pipeline.events import api_calls, sqs_event
from tests.range_server import Overwritten, Pieces, RangeHandler, Stored, StoredBytes, serve

EXPIRED = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
DENIED = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"


class FakeS3Handler(RangeHandler):
    objects: ClassVar[dict[str, Stored | Overwritten]] = {}
    requests: ClassVar[list[tuple[str, str]]] = []
    next_requested: ClassVar[threading.Event] = threading.Event()
    verdicts_published: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        path = self.path.split("?")[0].removeprefix("/camp/uploads")  # path-style: /<bucket>/<key>
        if path == "/first" and not self.next_requested.wait(timeout=30):
            # answered only once /next is asked for: when the two reads overlap
            self._reply(503, b"<Error><Code>SlowDown</Code></Error>")
        elif path == "/held" and not self.verdicts_published.wait(timeout=30):
            # answered only once a verdict was published: when the verdicts before it did not wait for it
            self._reply(503, b"<Error><Code>SlowDown</Code></Error>")
        elif path == "/next":
            self.next_requested.set()
            super().do_GET()
        elif path == "/expired":
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
        elif path == "/lying":  # the version is larger than the scan request says
            self.send_response(206)
            self.send_header("Content-Range", "bytes 0-9/5000")
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"A" * 10)
        elif path == "/odd-headers":  # a header line without a colon: urllib3 warns, naming the URL
            self.send_response(206)
            self.send_header("Content-Range", "bytes 0-9/10")
            self.send_header("Content-Length", "10")
            self._headers_buffer.append(b"Not a header line\r\n")
            self.end_headers()
            self.wfile.write(b"A" * 10)
        elif path == "/whole":  # ignores the range: the whole object in a 200
            self._reply(200, b"A" * 10)
        else:
            super().do_GET()

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def storage() -> Iterator[str]:
    FakeS3Handler.objects = {
        "/camp/uploads/eicar.zip": StoredBytes(pranks.eicar_nested_zip()),
        "/camp/uploads/clean.pdf": StoredBytes(pranks.clean_pdf()),
        "/camp/uploads/first": StoredBytes(b"first object"),
        "/camp/uploads/next": StoredBytes(b"next object"),
    }
    yield from serve(FakeS3Handler)


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
    storage: str,
    path: str,
    size: int,
    topic_arn: str = "arn:aws:sns:us-east-1:222222222222:results",
    etag: str = "",
) -> ScanRequest:
    return ScanRequest(
        request_id="req-1",
        bucket="camp",
        key=f"uploads{path}",
        version_id="v1",
        etag=etag,
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


def test_the_presigned_url_never_reaches_the_logs_urllib3_s_included(
    storage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = _scanner(storage, tmp_path).scan(_request(storage, "/odd-headers", 10))
    assert result.verdict.value == "clean"
    warned = [r for r in caplog.records if r.name.startswith("urllib3") and r.levelno == logging.WARNING]
    assert warned and "/odd-headers?" in warned[0].getMessage()
    assert "secret" not in caplog.text


def test_over_the_cap_is_unscannable_never_clean_even_when_the_size_lied(
    storage: str, tmp_path: Path
) -> None:
    scanner = _scanner(storage, tmp_path, max_object_bytes=1000)
    announced = scanner.scan(_request(storage, "/clean.pdf", 5000))  # refused before downloading
    assert (announced.verdict.value, announced.reason and announced.reason.value) == (
        "unscannable",
        "too_large",
    )
    lying = scanner.scan(_request(storage, "/lying", 10))  # only 10 bytes are ever asked for
    assert (lying.verdict.value, lying.detail) == (
        "error",
        "the version has 5000 bytes, the scan request said 10",
    )
    whole = scanner.scan(_request(storage, "/whole", 10))
    assert (whole.verdict.value, whole.detail) == ("error", "the storage ignored the range")
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


def _serve(path: str, stored: Stored | Overwritten) -> None:
    FakeS3Handler.objects[f"/camp/uploads{path}"] = stored
    FakeS3Handler.requests.clear()


MARKER = b"camp-marker-4f1c9"


@pytest.fixture(scope="module")
def marker_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled rules plus one that matches MARKER anywhere in an object, as a ruleset artifact."""
    from bucketguard.scanning.ruleset import load_ruleset, write_artifact

    work = tmp_path_factory.mktemp("marker")
    (work / "rules").mkdir()
    (work / "rules" / "marker.yar").write_text(
        f'rule Camp_Marker {{ strings: $m = "{MARKER.decode()}" condition: $m }}'
    )
    write_artifact(load_ruleset([work / "rules"]), work / "ruleset.zip")
    return work / "ruleset.zip"


def _large(marker_at: int | None = None, size: int = WINDOW_BYTES + (9 << 20)) -> Pieces:
    """An object of several windows (random filler), MARKER at `marker_at` when given."""
    pieces = {} if marker_at is None else {marker_at: MARKER}
    return Pieces(size, os.urandom(1 << 20) + b"\n", pieces, etag=f"e{marker_at}")


def test_a_large_object_is_read_in_ranges_and_scanned_window_by_window_with_nothing_on_disk(
    storage: str, tmp_path: Path, marker_rules: Path
) -> None:
    stored = _large(marker_at=WINDOW_BYTES + (5 << 20))  # in the second window only
    _serve("/poster.bin", stored)
    scanner = _scanner(storage, tmp_path, ruleset_path=marker_rules)
    result = scanner.scan(_request(storage, "/poster.bin", stored.size, etag=stored.etag))
    assert result.verdict.value == "malicious", result
    assert result.sha256 == hashlib.sha256(stored.read(0, stored.size)).hexdigest()
    assert result.size == stored.size
    ranges = [asked for _, asked in FakeS3Handler.requests]
    assert ranges and all(asked.startswith("bytes=") for asked in ranges)
    lengths = [int(b) - int(a) + 1 for a, b in (r.removeprefix("bytes=").split("-") for r in ranges)]
    assert max(lengths) <= RANGE_BYTES
    assert list(tmp_path.iterdir()) == []  # no copy was written


@pytest.mark.parametrize("malware_first", [True, False])
def test_an_object_overwritten_mid_scan_is_an_error_never_a_verdict_on_mixed_bytes(
    storage: str, tmp_path: Path, malware_first: bool, marker_rules: Path
) -> None:
    """An unversioned bucket: the object is replaced after the first ranges were read. Neither the old
    bytes' nor the new bytes' verdict may be published for a mix of the two."""
    dirty, clean = _large(marker_at=WINDOW_BYTES + (5 << 20)), _large()
    before, after = (dirty, clean) if malware_first else (clean, dirty)
    _serve("/site.js", Overwritten(before, after, after_ranges=2))
    scanner = _scanner(storage, tmp_path, ruleset_path=marker_rules)
    result = scanner.scan(_request(storage, "/site.js", before.size, etag=before.etag))
    assert (result.verdict.value, result.detail) == (
        "error",
        "the object changed since the scan request (412)",
    )
    assert list(tmp_path.iterdir()) == []


def test_an_archive_read_in_ranges_is_opened_with_no_copy(storage: str, tmp_path: Path) -> None:
    data = pranks.eicar_nested_zip()
    _serve("/nested.zip", StoredBytes(data))
    result = _scanner(storage, tmp_path).scan(
        _request(storage, "/nested.zip", len(data), etag=StoredBytes(data).etag)
    )
    assert result.verdict.value == "malicious"
    assert [f.path for f in result.findings] == ["uploads/nested.zip!docs/inner.zip!eicar.com"]
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert list(tmp_path.iterdir()) == []


def test_an_empty_object_is_checked_not_assumed(storage: str, tmp_path: Path) -> None:
    scanner = _scanner(storage, tmp_path)
    _serve("/empty.txt", StoredBytes(b""))
    assert (
        scanner.scan(_request(storage, "/empty.txt", 0, etag=StoredBytes(b"").etag)).verdict.value == "clean"
    )
    # a request claiming 0 bytes for an object that has some
    assert scanner.scan(_request(storage, "/clean.pdf", 0)).verdict.value == "error"
    assert scanner.scan(_request(storage, "/expired", 0)).verdict.value == "error"


def test_the_next_objects_download_overlaps_the_current_one(
    storage: str, tmp_path: Path, aws: EmbeddedAws, topic: tuple[str, Any, str]
) -> None:
    # /first is answered only after /next was requested: one object after the other, /first fails (503).
    topic_arn, sqs, queue = topic
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")
    function = ScannerFunction(_scanner(storage, tmp_path, sns))
    event = sqs_event(
        _request(storage, "/first", 12, topic_arn).to_json(),
        _request(storage, "/next", 11, topic_arn).to_json(),
    )
    assert function.handle(event) == {"batchItemFailures": []}
    published = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    assert sorted((e["key"], e["verdict"]) for e in published) == [
        ("uploads/first", "clean"),
        ("uploads/next", "clean"),
    ]


def test_each_record_gets_its_own_verdict_and_only_failed_records_are_retried(
    storage: str, tmp_path: Path, aws: EmbeddedAws, topic: tuple[str, Any, str]
) -> None:
    topic_arn, sqs, queue = topic
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")
    function = ScannerFunction(_scanner(storage, tmp_path, sns))
    eicar, clean = len(pranks.eicar_nested_zip()), len(pranks.clean_pdf())
    bodies = [
        _request(storage, "/flaky", 10, topic_arn),  # m0: transient, retried
        _request(storage, "/eicar.zip", eicar, topic_arn),
        _request(storage, "/clean.pdf", clean, topic_arn),
        _request(storage, "/flaky", 10, topic_arn),  # m3
        _request(storage, "/expired", 10, topic_arn),
        _request(storage, "/eicar.zip", eicar, topic_arn),
        _request(storage, "/clean.pdf", clean, topic_arn),
    ]
    # distinct versions, so each published verdict names the one record it answers
    requests = [
        dataclasses.replace(r, version_id=f"v{i}", url=r.url.replace("versionId=v1", f"versionId=v{i}"))
        for i, r in enumerate(bodies)
    ]
    response = function.handle(sqs_event(*(r.to_json() for r in requests)))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m3"}]}
    published = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        published += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    assert sorted((e["version_id"], e["key"], e["verdict"]) for e in published) == [
        ("v1", "uploads/eicar.zip", "malicious"),
        ("v2", "uploads/clean.pdf", "clean"),
        ("v4", "uploads/expired", "error"),
        ("v5", "uploads/eicar.zip", "malicious"),
        ("v6", "uploads/clean.pdf", "clean"),
    ]
    assert list(tmp_path.iterdir()) == []


class _NoTimeLeft:
    """A Lambda context with 20 s left, whatever the clock says."""

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def test_records_the_invocation_has_no_time_for_are_deferred_not_scanned(
    storage: str, tmp_path: Path, aws: EmbeddedAws, topic: tuple[str, Any, str]
) -> None:
    topic_arn, sqs, queue = topic
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")
    function = ScannerFunction(_scanner(storage, tmp_path, sns))
    size = len(pranks.clean_pdf())
    big = 2 * 1024**3  # declared: 5 s + 2 GiB at 25 MiB/s does not fit in 20 s
    event = sqs_event(
        _request(storage, "/clean.pdf", size, topic_arn).to_json(),
        _request(storage, "/eicar.zip", big, topic_arn).to_json(),
        _request(storage, "/clean.pdf", size, topic_arn).to_json(),
    )
    response = function.handle(event, _NoTimeLeft())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    published = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["verdict"] for m in published] == ["clean", "clean"]


def test_a_function_with_less_memory_is_given_less_of_the_rate(
    storage: str,
    tmp_path: Path,
    aws: EmbeddedAws,
    topic: tuple[str, Any, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """150 MiB declared: 5 s + 150 MiB at 25 MiB/s fits in the 20 s left at one vCPU (the record starts, and
    is judged on what it finds); at 512 MB, 0.29 of a vCPU, it does not: deferred, never started."""
    topic_arn, _, _ = topic
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")
    size = len(pranks.clean_pdf())
    event = sqs_event(
        _request(storage, "/clean.pdf", size, topic_arn).to_json(),
        _request(storage, "/clean.pdf", 150 << 20, topic_arn).to_json(),
    )
    for memory, failures in (("2048", []), ("512", [{"itemIdentifier": "m1"}])):
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
        function = ScannerFunction(_scanner(storage, tmp_path, sns))
        assert function.handle(event, _NoTimeLeft()) == {"batchItemFailures": failures}, memory


def test_a_small_object_is_read_in_one_get(storage: str, tmp_path: Path) -> None:
    # its head, its tail and its window would be three round trips
    body = b"%PDF-1.4 " + os.urandom(50_000)
    _serve("/small.pdf", StoredBytes(body))
    result = _scanner(storage, tmp_path).scan(_request(storage, "/small.pdf", len(body)))
    assert result.verdict.value == "clean" and result.size == len(body)
    assert FakeS3Handler.requests == [("/camp/uploads/small.pdf", f"bytes=0-{len(body) - 1}")]


def test_a_batchs_verdicts_go_out_in_one_call_per_topic_and_an_undelivered_one_is_retried_alone(
    storage: str, tmp_path: Path, aws: EmbeddedAws, topic: tuple[str, Any, str]
) -> None:
    topic_arn, sqs, queue = topic
    gone = aws.account(STORAGE_ACCOUNT).client("sns").create_topic(Name="gone")["TopicArn"]
    aws.account(STORAGE_ACCOUNT).client("sns").delete_topic(TopicArn=gone)  # the storage stack was removed
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")
    calls = api_calls(sns)
    function = ScannerFunction(_scanner(storage, tmp_path, sns))
    eicar, clean = len(pranks.eicar_nested_zip()), len(pranks.clean_pdf())
    requests = [
        _request(storage, "/clean.pdf", clean, topic_arn),
        _request(storage, "/eicar.zip", eicar, gone),  # m1: its verdict cannot be delivered
        _request(storage, "/eicar.zip", eicar, topic_arn),
        _request(storage, "/clean.pdf", clean, topic_arn),
    ]
    FakeS3Handler.requests.clear()
    response = function.handle(sqs_event(*(r.to_json() for r in requests)))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert calls == [("PublishBatch", 3), ("PublishBatch", 1)]
    assert len(FakeS3Handler.requests) == len(requests)  # one GET an object
    published = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["verdict"] for m in published) == ["clean", "clean", "malicious"]


def test_the_verdicts_before_a_large_object_do_not_wait_for_its_scan(
    storage: str, tmp_path: Path, aws: EmbeddedAws, topic: tuple[str, Any, str]
) -> None:
    # /held is answered only once a verdict was published: were the first verdict kept for the batch's end,
    # the large object's download would fail (503) and its record be retried.
    topic_arn, _, _ = topic
    stored = _large()
    _serve("/held", stored)
    sns = aws.account(SCANNER_ACCOUNT, "bucketguard-scanner").client("sns")
    calls = api_calls(sns)
    sns.meta.events.register(
        "after-call.sns.PublishBatch", lambda **_: FakeS3Handler.verdicts_published.set()
    )
    FakeS3Handler.verdicts_published.clear()
    function = ScannerFunction(_scanner(storage, tmp_path, sns))
    event = sqs_event(
        _request(storage, "/clean.pdf", len(pranks.clean_pdf()), topic_arn).to_json(),
        _request(storage, "/held", stored.size, topic_arn, etag=stored.etag).to_json(),
    )
    assert function.handle(event) == {"batchItemFailures": []}
    assert calls == [("PublishBatch", 1), ("PublishBatch", 1)]
