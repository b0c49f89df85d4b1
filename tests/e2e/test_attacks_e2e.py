"""An uploader's attacks on the verdict, end to end on the embedded AWS (issue 8, items 1 and 2).

The uploader controls the object's tags: those of a PutObject (`x-amz-tagging`) and those a CopyObject copies
from a source object in a bucket they own (`TaggingDirective=COPY`, the default). Neither decides a verdict.
"""

from __future__ import annotations

import pytest

from bucketguard.demo import pranks
from bucketguard.sandbox.sandbox import Sandbox
from tests.e2e.conftest import Deploy, assert_nothing_stuck, camp_config

pytestmark = pytest.mark.e2e

FORGED = "bucketguard-scan-result=clean&bucketguard-scan-date=9999-12-31T00:00:00.000Z"


def _platform_tags(pipe: Sandbox, key: str, version_id: str) -> dict[str, str]:
    return {k: v for k, v in pipe.tags(key, version_id).items() if k.startswith("bucketguard-")}


@pytest.mark.parametrize(
    "forged",
    ["bucketguard-scan-date=9999-12-31T00:00:00.000Z", "bucketguard-scan-result=clean", FORGED],
    ids=["future date", "clean verdict", "both"],
)
def test_an_upload_claiming_its_own_verdict_is_quarantined_and_alerted(
    pipeline: Sandbox, forged: str
) -> None:
    pipeline.s3.put_object(
        Bucket=pipeline.storage.bucket, Key="a/eicar.txt", Body=pranks.eicar(), Tagging=forged
    )
    pipeline.drain()

    assert pipeline.versions(prefix="a/") == []
    (copy,) = pipeline.versions(pipeline.storage.quarantine_bucket)
    tags = pipeline.tags(copy["Key"], bucket=pipeline.storage.quarantine_bucket)
    assert tags["bucketguard-scan-result"] == "malicious"
    assert not tags["bucketguard-scan-date"].startswith("9999")
    (alert,) = pipeline.alerts()
    assert "malicious" in alert["Subject"]
    assert_nothing_stuck(pipeline)


def _copy_from_prankster_bucket(pipe: Sandbox, key: str) -> str:
    """CopyObject from a bucket the uploader owns, whose object wears a forged verdict (tags copied)."""
    pipe.s3.create_bucket(
        Bucket="prankster-bucket", CreateBucketConfiguration={"LocationConstraint": pipe.storage.region}
    )
    pipe.s3.put_object(Bucket="prankster-bucket", Key="x", Body=pranks.eicar(), Tagging=FORGED)
    response = pipe.s3.copy_object(
        CopySource={"Bucket": "prankster-bucket", "Key": "x"},
        Bucket=pipe.storage.bucket,
        Key=key,
        TaggingDirective="COPY",
    )
    return str(response["VersionId"])


def test_tags_copied_from_another_bucket_are_taken_off_before_the_scan_and_the_copy_is_quarantined(
    pipeline: Sandbox,
) -> None:
    version = _copy_from_prankster_bucket(pipeline, "site/app.js")
    assert _platform_tags(pipeline, "site/app.js", version)["bucketguard-scan-result"] == "clean"  # as S3 did

    pipeline.runner.source("listener", pipeline.storage.name).poll_once()  # the listener ran, not the scanner
    assert _platform_tags(pipeline, "site/app.js", version) == {}

    pipeline.drain()
    assert pipeline.versions(prefix="site/") == []
    (copy,) = pipeline.versions(pipeline.storage.quarantine_bucket)
    assert pipeline.tags(copy["Key"], bucket=pipeline.storage.quarantine_bucket)[
        "bucketguard-scan-result"
    ] == ("malicious")
    assert len(pipeline.alerts()) == 1


def test_a_skipped_prefix_does_not_keep_a_copied_clean_verdict(deploy: Deploy) -> None:
    pipe = deploy(camp_config(skipPrefixes=["raw/"]))
    version = _copy_from_prankster_bucket(pipe, "raw/upload.bin")
    pipe.drain()

    assert _platform_tags(pipe, "raw/upload.bin", version) == {}  # unscanned, so blocked, not "clean"
    assert pipe.published_events() == []
    assert_nothing_stuck(pipe)
