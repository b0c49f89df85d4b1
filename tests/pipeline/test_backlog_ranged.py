"""`bucketguard scan s3://bucket/key` reads through the same ranged reader as the scanner Lambda: against
moto's server (presigned GETs with Range and If-Match), no local copy, archives included."""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketguard.cli import main
from bucketguard.demo import pranks
from bucketguard.pipeline.backlog import S3ObjectTarget, S3Version
from bucketguard.pipeline.download import RangedObject, ReadFailed
from bucketguard.pipeline.listener import presign_version_get
from bucketguard.sandbox.aws import STORAGE_ACCOUNT, AccountSession, EmbeddedAws
from bucketguard.scanning.engine import WINDOW_BYTES, Engine
from bucketguard.scanning.ruleset import load_ruleset
from tests.pipeline.events import api_calls
from tests.scanning.engine_support import EICAR

MARKER = b"camp-marker-77ab2"


@pytest.fixture(scope="module")
def storage() -> Iterator[AccountSession]:
    with EmbeddedAws() as aws:
        yield aws.account(STORAGE_ACCOUNT)


@pytest.fixture
def bucket(storage: AccountSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[str, object]:
    creds = storage.session.get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds.token)
    monkeypatch.setenv("AWS_DEFAULT_REGION", storage.session.region_name)
    # No temporary space at all: what needs a local copy cannot have one.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    s3 = storage.client("s3")
    name = f"camp-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name, s3


@pytest.fixture(scope="module")
def marker_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rules = tmp_path_factory.mktemp("rules")
    (rules / "marker.yar").write_text(
        f'rule Camp_Marker {{ strings: $m = "{MARKER.decode()}" condition: $m }}'
    )
    return rules


def _scan(storage: AccountSession, url: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict:
    main(["scan", url, "--endpoint-url", storage.endpoint_url, "--format", "json", *extra])
    return json.loads(capsys.readouterr().out)


def test_objects_and_archives_are_scanned_in_ranges_with_no_temporary_space_at_all(
    storage: AccountSession, bucket: tuple[str, object], marker_rules: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    name, s3 = bucket
    body = bytearray(os.urandom(WINDOW_BYTES + (6 << 20)))
    body[WINDOW_BYTES + (3 << 20) : WINDOW_BYTES + (3 << 20) + len(MARKER)] = MARKER  # second window only
    s3.put_object(Bucket=name, Key="videos/intro.mp4", Body=bytes(body))  # type: ignore[attr-defined]
    # a zip of 1 MiB members (each expanded in memory) with the one that matters at the end
    handout = io.BytesIO()
    with zipfile.ZipFile(handout, "w", compression=zipfile.ZIP_STORED) as archive:
        for index in range(40):
            archive.writestr(f"slides/{index:02}.png", os.urandom(1 << 20))
        archive.writestr("zz/readme.txt", b"see you at camp " + MARKER)
    s3.put_object(Bucket=name, Key="videos/handout.zip", Body=handout.getvalue())  # type: ignore[attr-defined]
    document = _scan(storage, f"s3://{name}/videos/", "--rules", str(marker_rules), capsys=capsys)
    found = {r["target"]: (r["verdict"], [f["path"] for f in r["findings"]]) for r in document["results"]}
    assert found == {
        f"s3://{name}/videos/intro.mp4": ("malicious", [""]),  # "": the object itself
        f"s3://{name}/videos/handout.zip": ("malicious", ["", "videos/handout.zip!zz/readme.txt"]),
    }


def test_a_version_overwritten_after_listing_is_an_error_not_a_verdict(
    storage: AccountSession, bucket: tuple[str, object], marker_rules: Path
) -> None:
    """An unversioned bucket: the object listed is replaced before (or while) it is read."""
    name, s3 = bucket
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})  # type: ignore[attr-defined]
    first = s3.put_object(Bucket=name, Key="site/app.js", Body=b"console.log('hello camp')\n" * 1000)  # type: ignore[attr-defined]
    listed = S3Version(name, "site/app.js", None, first["ETag"].strip('"'), 26000)
    s3.put_object(Bucket=name, Key="site/app.js", Body=MARKER + b"\n" * 25983)  # type: ignore[attr-defined]
    engine = Engine(load_ruleset([marker_rules]))
    result = S3ObjectTarget(listed, s3).scan(engine)
    assert result.verdict.value == "error", result
    assert "changed since the scan request (412)" in result.detail
    url = presign_version_get(s3, name, "site/app.js", None, 60)
    with RangedObject(url, size=26000, etag=listed.etag) as source, pytest.raises(ReadFailed):
        engine.scan_source(source, name="site/app.js")  # raises: no verdict is built from it


def test_an_archive_is_opened_with_nothing_left_in_temporary_space(
    storage: AccountSession, bucket: tuple[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    name, s3 = bucket
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    s3.put_object(Bucket=name, Key="handout.zip", Body=pranks.eicar_nested_zip())  # type: ignore[attr-defined]
    (result,) = _scan(storage, f"s3://{name}/handout.zip", capsys=capsys)["results"]
    assert (result["verdict"], [f["path"] for f in result["findings"]]) == (
        "malicious",
        ["handout.zip!docs/inner.zip!eicar.com"],
    )
    assert list(tmp_path.iterdir()) == []


def test_keys_with_dot_segments_and_trailing_spaces_are_read_as_named(
    storage: AccountSession, bucket: tuple[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    """S3 keys are literal: `homework/../notes.txt` is not `notes.txt`. The reader sends the presigned path as
    it is (urllib3's request() would resolve the dot segments and ask for another object, or none)."""
    name, s3 = bucket
    keys = ["homework/../notes.txt", "homework/./e.com", "../e.com ", "homework/caf\u00e9 \u2603.txt"]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=EICAR)  # type: ignore[attr-defined]
    s3.put_object(Bucket=name, Key="notes.txt", Body=b"camp notes\n")  # type: ignore[attr-defined]
    document = _scan(storage, f"s3://{name}/", capsys=capsys)
    verdicts = {r["target"].removeprefix(f"s3://{name}/"): r["verdict"] for r in document["results"]}
    assert verdicts == {**dict.fromkeys(keys, "malicious"), "notes.txt": "clean"}


@pytest.mark.parametrize(
    ("encoding", "body", "judged"),
    [
        ("gzip", gzip.compress(EICAR, mtime=0), ("malicious", None)),  # the engine opens gzip wherever it is
        ("deflate", zlib.compress(EICAR), ("error", "unsupported")),
        ("br", b"\x1b\x43\x00\xf8camp", ("error", "unsupported")),  # no magic: never recognised
    ],
    ids=["gzip", "deflate", "br"],
)
def test_an_object_stored_content_encoded_is_read_as_stored_and_never_clean(
    storage: AccountSession, bucket: tuple[str, object], capsys: pytest.CaptureFixture[str],
    encoding: str, body: bytes, judged: tuple[str, str | None],
) -> None:  # fmt: skip
    """Ranges are of the stored bytes (an HTTP client decoding the Content-Encoding the uploader set returned
    other bytes: a short read, and the object was never judged). What browsers decode and the engine does
    not recognise by its bytes (deflate, br) is never clean: its readers would get other bytes than those."""
    name, s3 = bucket
    s3.put_object(Bucket=name, Key="site/app.js", Body=body, ContentEncoding=encoding)  # type: ignore[attr-defined]
    (result,) = _scan(storage, f"s3://{name}/site/app.js", capsys=capsys)["results"]
    assert (result["verdict"], result["reason"]) == judged, result


def test_a_backlog_is_enqueued_ten_requests_a_call(
    storage: AccountSession, bucket: tuple[str, object]
) -> None:
    from bucketguard.pipeline.backlog import enqueue_backlog
    from bucketguard.pipeline.messages import ScanRequest

    name, s3 = bucket
    sqs = storage.client("sqs")
    queue = sqs.create_queue(QueueName=f"scanner-{os.urandom(4).hex()}")["QueueUrl"]
    calls = api_calls(sqs)
    versions = [
        S3Version(name, f"old/{i:02d}.txt", f"v{i}", "e", 10)
        for i in range(23)  # listed, not read
    ]
    topic = "arn:aws:sns:us-east-1:222222222222:results"
    assert enqueue_backlog(s3, sqs, iter(versions), queue, topic) == 23
    assert calls == [("SendMessageBatch", 10), ("SendMessageBatch", 10), ("SendMessageBatch", 3)]
    keys = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        keys += [ScanRequest.from_json(m["Body"]).key for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    assert sorted(keys) == [v.key for v in versions]
