"""Backlog scans of objects already in a bucket: `python -m bucketguard scan s3://...` on the embedded AWS."""

from __future__ import annotations

import json

import pytest

from bucketguard.cli import main
from bucketguard.demo import pranks
from bucketguard.sandbox.stacks import LocalPipeline
from tests.e2e.conftest import validated_events

pytestmark = pytest.mark.e2e


@pytest.fixture
def storage_credentials(pipeline: LocalPipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = pipeline.storage.account.session.get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds.token)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _seed(pipeline: LocalPipeline) -> None:
    """Objects that were in the bucket before bucketguard: their notifications are thrown away."""
    s3, bucket = pipeline.s3, pipeline.storage.bucket
    s3.put_object(Bucket=bucket, Key="old/handout.zip", Body=pranks.eicar_nested_zip())
    s3.put_object(Bucket=bucket, Key="old/intro.pdf", Body=pranks.clean_pdf())
    s3.put_object(Bucket=bucket, Key="old/notes v2+final.txt", Body=b"plain notes")
    s3.put_object(Bucket=bucket, Key="elsewhere/skip.pdf", Body=pranks.clean_pdf())
    pipeline.storage.account.shared("sqs").purge_queue(QueueUrl=pipeline.storage.listener_queue_url)


def test_backlog_scan_with_apply(
    pipeline: LocalPipeline, storage_credentials: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(pipeline)
    st = pipeline.storage
    argv = ["scan", f"s3://{st.bucket}/old/", "--endpoint-url", pipeline.aws.endpoint_url, "--format", "json"]
    apply = ["--apply", "--quarantine-bucket", st.quarantine_bucket, "--promote-bucket", st.promote_bucket]
    assert main([*argv, *apply]) == 1
    document = json.loads(capsys.readouterr().out)
    verdicts = {r["target"]: r["verdict"] for r in document["results"]}
    assert verdicts == {
        f"s3://{st.bucket}/old/handout.zip": "malicious",
        f"s3://{st.bucket}/old/intro.pdf": "clean",
        f"s3://{st.bucket}/old/notes v2+final.txt": "clean",
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


def test_backlog_enqueue_feeds_the_deployed_scanner(
    pipeline: LocalPipeline, storage_credentials: None, capsys: pytest.CaptureFixture[str]
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
            pipeline.scanner_stack.queue_url,
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
