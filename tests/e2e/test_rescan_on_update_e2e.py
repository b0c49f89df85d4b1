"""Rescan on rule updates on the embedded AWS: the camp deployed with scanner.rescanOnUpdate; a ruleset
published to the rules bucket and announced on the deployed topic (by the rule update's role, as the
function does after publishing) reaches the listener through its subscription; the listener sweeps the
bucket in batches through its own queue, the scanner judges each object again with the new rules, and
post-scan acts on the new verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketguard.pipeline import env
from bucketguard.pipeline.rescan import ruleset_published_message
from bucketguard.pipeline.rules_bucket import publish_artifact
from bucketguard.scanning.ruleset import load_ruleset
from tests.e2e.conftest import Deploy, camp_config, validated_events
from tests.e2e.test_rules_hot_reload_e2e import MARKER, marker_ruleset

pytestmark = pytest.mark.e2e


def test_a_published_ruleset_rescans_what_the_older_one_judged(deploy: Deploy, tmp_path: Path) -> None:
    config = camp_config()
    config["bucketguard:scanner"] = {**config["bucketguard:scanner"], "rescanOnUpdate": "all-since: 30"}
    pipeline = deploy(config)
    pipeline.set_environment("scanner", **{env.RULES_CHECK_SECONDS: "0"})
    # No waiting in a test: the sweep starts at once and queues its batches of 2 without a delay.
    pipeline.set_environment(
        "listener",
        **{
            env.RESCAN_START_DELAY_SECONDS: "0",
            env.RESCAN_INTERVAL_SECONDS: "0",
            env.RESCAN_BATCH_SIZE: "2",
        },
    )
    bucket = pipeline.storage.bucket
    keys = ["news/week-1.txt", "news/week-2.txt", "news/prank.txt", "news/week-3.txt"]
    for key in keys:
        body = b"camp newsletter " + (MARKER if key == "news/prank.txt" else key.encode())
        pipeline.s3.put_object(Bucket=bucket, Key=key, Body=body)
    pipeline.drain()
    bundled = load_ruleset().version
    judged = {e["key"]: (e["verdict"], e["ruleset_version"]) for e in validated_events(pipeline)}
    assert judged == dict.fromkeys(keys, ("clean", bundled))

    artifact, report = marker_ruleset(tmp_path)
    scanner_admin = pipeline.scanner.account
    publish_artifact(
        scanner_admin.client("s3"), artifact, f"s3://{pipeline.deployment.outputs['rulesBucket']}"
    )
    (topic,) = [
        r for r in pipeline.deployment.of_type("aws:sns/topic:Topic") if r.name == "scanner-ruleset-published"
    ]
    (update,) = [f for f in pipeline.runner.functions if f.kind == "rules_update"]
    announcer = pipeline.aws.assume(update.role_arn, update.region).client("sns", region_name=update.region)
    announcer.publish(
        TopicArn=topic.outputs["arn"],
        Message=ruleset_published_message(report.ruleset.version, "2026-07-02T00:00:00Z"),
    )
    pipeline.drain()

    rescanned = {e["key"]: (e["verdict"], e["ruleset_version"]) for e in validated_events(pipeline)}
    new = report.ruleset.version
    assert rescanned == {key: ("malicious" if key == "news/prank.txt" else "clean", new) for key in keys}
    assert pipeline.tags("news/week-1.txt")["bucketguard-ruleset"] == new
    # The prank is quarantined now: its version left the bucket.
    assert "news/prank.txt" not in {v["Key"] for v in pipeline.versions()}

    # Announcing the same ruleset again finds nothing left to rescan.
    announcer.publish(
        TopicArn=topic.outputs["arn"], Message=ruleset_published_message(new, "2026-07-02T00:05:00Z")
    )
    pipeline.drain()
    assert validated_events(pipeline) == []
