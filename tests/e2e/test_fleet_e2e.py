"""examples/stacks/Pulumi.fleet.yaml deployed by infra/ into the embedded AWS: two scanners (europe in
eu-west-1, americas in us-east-1), each storage's uploads scanned by the scanner the assignment gave it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.deployer import EXAMPLE_STACKS, read_stack_config
from bucketguard.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with EmbeddedAws() as aws:
        sandbox = Sandbox.up(
            aws,
            read_stack_config(EXAMPLE_STACKS / "Pulumi.fleet.yaml"),
            stack="fleet",
            artifact_dir=lambda_artifacts,
            workdir=tmp_path_factory.mktemp("fleet"),
        )
        yield sandbox
        sandbox.stop()


def test_each_storage_is_scanned_by_its_own_scanner(fleet: Sandbox) -> None:
    outputs = fleet.deployment.outputs
    assert outputs["scannerAssignment"] == {
        "teaching": "europe",
        "uploads": "europe",
        "summer-camp": "americas",
        "archive": "americas",
    }
    queues = {
        name: view.account.client("sqs").get_queue_attributes(
            QueueUrl=view.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for name, view in fleet.scanners.items()
    }
    assert {name: arn.split(":")[3:5] for name, arn in queues.items()} == {
        "europe": ["eu-west-1", "111111111111"],
        "americas": ["us-east-1", "111111111111"],
    }
    for name, scanner in outputs["scannerAssignment"].items():
        st = fleet.storages[name]
        fleet.empty()
        st.account.client("s3", region_name=st.region).put_object(
            Bucket=st.bucket, Key="lessons/handout.zip", Body=pranks.eicar_nested_zip()
        )
        fleet.drain()
        (event,) = fleet.published_events(st)
        # the scanner's id names it: project/stack/scanner
        assert (event["scanner_id"], event["verdict"]) == (f"bucketguard/fleet/{scanner}", "malicious")
        for view in fleet.scanners.values():
            assert fleet.queue_depth(view.dlq_url, view.account) == 0
