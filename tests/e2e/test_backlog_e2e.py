"""Backlog scans of objects already in a bucket: `python -m bucketguard scan s3://...` on the embedded AWS."""

from __future__ import annotations

import json

import pytest

from bucketguard.cli import main
from bucketguard.demo import pranks
from bucketguard.sandbox.sandbox import Sandbox
from tests.e2e.conftest import validated_events

pytestmark = pytest.mark.e2e


@pytest.fixture
def storage_credentials(pipeline: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = pipeline.storage.account.session.get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds.token)
    monkeypatch.setenv("AWS_DEFAULT_REGION", pipeline.storage.region)


def _seed(pipeline: Sandbox) -> None:
    """Objects that were in the bucket before bucketguard: their notifications are thrown away."""
    s3, bucket = pipeline.s3, pipeline.storage.bucket
    s3.put_object(Bucket=bucket, Key="old/handout.zip", Body=pranks.eicar_nested_zip())
    s3.put_object(Bucket=bucket, Key="old/intro.pdf", Body=pranks.clean_pdf())
    s3.put_object(Bucket=bucket, Key="old/notes v2+final.txt", Body=b"plain notes")
    s3.put_object(Bucket=bucket, Key="elsewhere/skip.pdf", Body=pranks.clean_pdf())
    pipeline.discard(pipeline.storage.listener_queue_url)


def test_backlog_scan_with_apply(
    pipeline: Sandbox, storage_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(pipeline)
    st = pipeline.storage
    (handout,) = pipeline.versions(prefix="old/handout")
    argv = ["scan", f"s3://{st.bucket}/old/", "--endpoint-url", pipeline.aws.endpoint_url, "--format", "json"]
    apply = ["--apply", "--quarantine-bucket", st.quarantine_bucket, "--promote-bucket", st.promote_bucket]
    assert main([*argv, *apply]) == 1
    document = json.loads(capsys.readouterr().out)
    done = {r["target"]: (r["verdict"], r["actions"]) for r in document["results"]}
    promoted = {"tagged": True, "quarantined_to": None, "deleted_version": None}
    assert done == {
        f"s3://{st.bucket}/old/handout.zip": (
            "malicious",
            {
                "tagged": True,
                "quarantined_to": f"s3://{st.quarantine_bucket}/{st.bucket}/old/handout.zip",
                "promoted_to": None,
                "deleted_version": handout["VersionId"],
            },
        ),
        f"s3://{st.bucket}/old/intro.pdf": (
            "clean",
            {**promoted, "promoted_to": f"s3://{st.promote_bucket}/old/intro.pdf"},
        ),
        f"s3://{st.bucket}/old/notes v2+final.txt": (
            "clean",
            {**promoted, "promoted_to": f"s3://{st.promote_bucket}/old/notes v2+final.txt"},
        ),
    }
    assert [v["Key"] for v in pipeline.versions(prefix="old/handout")] == []
    assert [v["Key"] for v in pipeline.versions(st.quarantine_bucket)] == [f"{st.bucket}/old/handout.zip"]
    assert pipeline.tags("old/intro.pdf")["bucketguard-scan-result"] == "clean"
    assert sorted(v["Key"] for v in pipeline.versions(st.promote_bucket)) == [
        "old/intro.pdf",
        "old/notes v2+final.txt",
    ]
    assert pipeline.tags("elsewhere/skip.pdf") == {}  # outside the prefix

    # a rescan with the same rules has nothing to do
    assert main([*argv, "--rescan-older-rulesets"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == []


def test_sarif_says_what_apply_did_to_each_object(
    pipeline: Sandbox, storage_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(pipeline)
    st = pipeline.storage
    target = f"s3://{st.bucket}/old/handout.zip"
    argv = ["scan", target, "--endpoint-url", pipeline.aws.endpoint_url, "--format", "sarif"]
    assert main([*argv, "--apply", "--quarantine-bucket", st.quarantine_bucket]) == 1
    (result,) = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    actions = result["properties"]["actions"]
    assert actions["quarantined_to"] == f"s3://{st.quarantine_bucket}/{st.bucket}/old/handout.zip"
    assert actions["tagged"] is True and actions["deleted_version"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--apply", "--quarantine-bucket", "{bucket}"],
            "--quarantine-bucket {bucket} is the bucket being scanned",
        ),
        (
            ["--apply", "--promote-bucket", "{bucket}"],
            "--promote-bucket {bucket} is the bucket being scanned",
        ),
        (
            ["--apply", "--quarantine-bucket", "{upper}"],
            "--quarantine-bucket {upper} is the bucket being scanned",
        ),
        (
            ["--apply", "--quarantine-bucket", "{quarantine}", "--promote-bucket", "{quarantine}"],
            "--promote-bucket must differ from --quarantine-bucket",
        ),
        (["--apply", "--enqueue", "{queue}", "--result-topic", "{topic}"], "--apply with --enqueue"),
        (["--enqueue", "{queue}"], "--enqueue needs --result-topic"),
        (["--result-topic", "{topic}"], "--result-topic is only used with --enqueue"),
    ],
)
def test_apply_never_turns_on_the_bucket_it_protects(
    pipeline: Sandbox,
    storage_credentials: None,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    message: str,
) -> None:
    """Refused with one line before anything is read or moved: the EICAR stays where it was, untouched."""
    _seed(pipeline)
    st = pipeline.storage
    names = {
        "bucket": st.bucket,
        "upper": st.bucket.upper(),
        "quarantine": st.quarantine_bucket,
        "queue": pipeline.scanner.queue_url,
        "topic": st.result_topic_arn,
    }
    before = pipeline.versions(prefix="old/")
    argv = ["scan", f"s3://{st.bucket}/old/", "--endpoint-url", pipeline.aws.endpoint_url]
    assert main([*argv, *(o.format(**names) for o in options)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"bucketguard: {message.format(**names)}")
    assert pipeline.versions(prefix="old/") == before
    assert pipeline.tags("old/handout.zip") == {}
    assert pipeline.queue_depth(pipeline.scanner.queue_url, pipeline.scanner.account) == 0


def test_backlog_enqueue_feeds_the_deployed_scanner(
    pipeline: Sandbox, storage_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(pipeline)
    st = pipeline.storage
    code = main(
        [
            "scan",
            f"s3://{st.bucket}/old/",
            "--endpoint-url",
            pipeline.aws.endpoint_url,
            "--enqueue",
            pipeline.scanner.queue_url,
            "--result-topic",
            st.result_topic_arn,
        ]
    )
    assert code == 0
    assert "3 scan request(s) sent" in capsys.readouterr().out
    pipeline.drain()
    assert sorted((e["key"], e["verdict"]) for e in validated_events(pipeline)) == [
        ("old/handout.zip", "malicious"),
        ("old/intro.pdf", "clean"),
        ("old/notes v2+final.txt", "clean"),
    ]
    assert pipeline.tags("old/intro.pdf")["bucketguard-scan-result"] == "clean"
