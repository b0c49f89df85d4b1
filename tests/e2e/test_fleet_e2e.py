"""examples/stacks/Pulumi.fleet.yaml deployed by infra/ into the embedded AWS: two scanners (europe in
eu-west-1, americas in us-east-1), each storage's uploads scanned by the scanner the assignment gave it."""

from __future__ import annotations

import pytest

from bucketguard.demo import pranks
from bucketguard.sandbox.sandbox import Sandbox
from tests.e2e.conftest import Deploy

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(deploy_for_module: Deploy) -> Sandbox:
    return deploy_for_module("fleet")


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
