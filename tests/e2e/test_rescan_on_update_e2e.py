"""Rescan on rule updates on the embedded AWS: the camp deployed with scanner.rescanOnUpdate (in one stack,
or as a scanner stack and a storage-only stack); a ruleset published to the rules bucket and announced on the
deployed topic (by the rule update's role, as the function does after publishing) reaches the listener
through its subscription; the listener sweeps the bucket in batches through its own queue, the scanner
judges each object again with the new rules, and post-scan acts on the new verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketguard.pipeline import env
from bucketguard.pipeline.rescan import ruleset_published_message
from bucketguard.pipeline.rules_bucket import publish_artifact
from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.deployer import Deployment, deploy
from bucketguard.sandbox.sandbox import Sandbox
from bucketguard.scanning.ruleset import load_ruleset
from tests.e2e.conftest import Deploy, camp_config, validated_events
from tests.e2e.test_rules_hot_reload_e2e import MARKER, marker_ruleset

pytestmark = pytest.mark.e2e
RESCAN = "all-since: 30"
SCANNER_STACK = "camp/bucketguard/security"


def test_a_published_ruleset_rescans_what_the_older_one_judged(deploy: Deploy, tmp_path: Path) -> None:
    config = camp_config()
    config["bucketguard:scanner"] = {**config["bucketguard:scanner"], "rescanOnUpdate": RESCAN}
    published_ruleset_rescans(deploy(config), tmp_path)


@pytest.fixture
def split_rollout(lambda_artifacts: Path, tmp_path: Path) -> Iterator[Sandbox]:
    """The camp as a scanner stack and, deployed after it into the same AWS, a storage-only stack reading
    the scanner stack's outputs (scannerStack); its functions run with the scanner's."""
    camp = camp_config()
    scanner_config = {k: v for k, v in camp.items() if k != "bucketguard:storages"}
    scanner_config["bucketguard:scanner"] = {**camp["bucketguard:scanner"], "rescanOnUpdate": RESCAN}
    storage_config = {
        "aws:region": camp["aws:region"],
        "bucketguard:scannerStack": SCANNER_STACK,
        "bucketguard:storages": camp["bucketguard:storages"],
    }
    with EmbeddedAws() as aws:
        scanner = deploy(aws, scanner_config, stack="security", artifact_dir=lambda_artifacts)
        storage = deploy(
            aws,
            storage_config,
            stack="teaching",
            artifact_dir=lambda_artifacts,
            stack_outputs={SCANNER_STACK: scanner.outputs},
        )
        assert not [r for r in storage.resources if r.name.startswith("scanner-")]
        joined = Deployment(
            stack="security+teaching",
            resources=scanner.resources + storage.resources,
            outputs={**scanner.outputs, **storage.outputs},
            seconds=scanner.seconds + storage.seconds,
        )
        sandbox = Sandbox(aws, joined, tmp_path)
        yield sandbox
        sandbox.stop()


def test_a_storage_only_stack_rescans_on_the_scanner_stacks_announcements(
    split_rollout: Sandbox, tmp_path: Path
) -> None:
    (subscription,) = [
        r
        for r in split_rollout.deployment.of_type("aws:sns/topicSubscription:TopicSubscription")
        if r.name.endswith("-ruleset-subscription")
    ]
    # A subscription's ARN is its topic's followed by its own id.
    assert subscription.id.rsplit(":", 1)[0] == split_rollout.deployment.outputs["rulesetTopicArn"]
    published_ruleset_rescans(split_rollout, tmp_path)


def published_ruleset_rescans(pipeline: Sandbox, tmp_path: Path) -> None:
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
    topic_arn = pipeline.deployment.outputs["rulesetTopicArn"]  # what `rules publish --announce` names
    (update,) = [f for f in pipeline.runner.functions if f.kind == "rules_update"]
    announcer = pipeline.aws.assume(update.role_arn, update.region).client("sns", region_name=update.region)
    announcer.publish(
        TopicArn=topic_arn, Message=ruleset_published_message(report.ruleset.version, "2026-07-02T00:00:00Z")
    )
    pipeline.drain()

    rescanned = {e["key"]: (e["verdict"], e["ruleset_version"]) for e in validated_events(pipeline)}
    new = report.ruleset.version
    assert rescanned == {key: ("malicious" if key == "news/prank.txt" else "clean", new) for key in keys}
    assert pipeline.tags("news/week-1.txt")["bucketguard-ruleset"] == new
    # The prank is quarantined now: its version left the bucket.
    assert "news/prank.txt" not in {v["Key"] for v in pipeline.versions()}

    # Announcing the same ruleset again finds nothing left to rescan.
    announcer.publish(TopicArn=topic_arn, Message=ruleset_published_message(new, "2026-07-02T00:05:00Z"))
    pipeline.drain()
    assert validated_events(pipeline) == []
