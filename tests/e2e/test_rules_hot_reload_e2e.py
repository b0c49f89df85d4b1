"""Hot reload on the embedded AWS: a ruleset published to the deployed rules bucket is picked up by the
running scanner function between batches, without restarting it; a tampered upload is rejected and the
ruleset in use stays."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bucketguard.pipeline import env
from bucketguard.pipeline.rules_bucket import publish_artifact
from bucketguard.scanning.feeds import FeedContent, FeedSource, FeedState
from bucketguard.scanning.ruleset import load_ruleset
from bucketguard.scanning.update import FeedInput, UpdateLimits, UpdateReport, build
from tests.e2e.conftest import Deploy, camp_config, validated_events

pytestmark = pytest.mark.e2e

MARKER = b"bucketguard-hot-reload-5e1c"  # harmless: no bundled rule knows it
RULE = f"""
rule Camp_Hot_Reload_Test_String
{{
    meta:
        description = "the hot reload test string"
        severity = "high"
    strings:
        $s = "{MARKER.decode()}"
    condition:
        $s
}}
"""


def marker_ruleset(tmp_path: Path) -> tuple[Path, UpdateReport]:
    """The bundled rules and one for MARKER, built with every gate (no timing gate: tests never time)."""
    feed = FeedInput(
        FeedSource("camp", str(tmp_path / "camp.yar")),
        FeedContent("yara-file", (("camp.yar", RULE),)),
        FeedState(),
        "fetched",
    )
    artifact = tmp_path / "ruleset.zip"
    report = build([feed], artifact, limits=UpdateLimits(sample_bytes=1 << 20, max_slowdown=1e9))
    assert report.refused == []
    return artifact, report


def test_published_ruleset_turns_clean_into_malicious_without_a_restart(
    deploy: Deploy, tmp_path: Path
) -> None:
    pipeline = deploy(camp_config())
    # the stack config allows 30 s at least; 0 makes the scanner look for a new ruleset before every batch
    pipeline.set_environment("scanner", **{env.RULES_CHECK_SECONDS: "0"})
    rules_bucket = pipeline.deployment.outputs["rulesBucket"]
    admin_s3 = pipeline.scanner.account.client("s3")
    body = b"camp newsletter, week 2: " + MARKER
    bucket = pipeline.storage.bucket

    pipeline.s3.put_object(Bucket=bucket, Key="news/before.txt", Body=body)
    pipeline.drain()
    [before] = validated_events(pipeline)
    assert (before["verdict"], before["ruleset_version"]) == ("clean", load_ruleset().version)

    artifact, report = marker_ruleset(tmp_path)
    publish_artifact(admin_s3, artifact, f"s3://{rules_bucket}")

    pipeline.s3.put_object(Bucket=bucket, Key="news/after.txt", Body=body)
    pipeline.drain()
    [after] = validated_events(pipeline)
    assert (after["verdict"], after["ruleset_version"]) == ("malicious", report.ruleset.version)
    assert [f["rule"] for f in after["findings"]] == ["Camp_Hot_Reload_Test_String"]

    garbage = b"not a ruleset"
    admin_s3.put_object(
        Bucket=rules_bucket, Key="ruleset.zip", Body=garbage,
        Metadata={"sha256": hashlib.sha256(garbage).hexdigest()},
    )  # fmt: skip
    pipeline.s3.put_object(Bucket=bucket, Key="news/again.txt", Body=body)
    pipeline.drain()
    [again] = validated_events(pipeline)
    assert (again["verdict"], again["ruleset_version"]) == ("malicious", report.ruleset.version)
