"""The deployed monitor (examples/stacks/Pulumi.dev.yaml's bucketguard:monitor, remediation on for three
rules) end to end in the embedded AWS: a child's real change made in moto through boto3, the record
CloudTrail writes for it (moto has none: bucketguard.sandbox.cloudtrail builds it from the call made) put on
the default bus, the deployed rule's pattern evaluated by moto's EventBridge, the deployed monitor function
run from the queue by the local runner, the alert read from the alert topic through a subscribed queue, and
the change reverted in moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketguard.monitor.core import Alert
from bucketguard.monitor.deliver import alert_from_message
from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.cloudtrail import TrailedCalls, cloudtrail_record, deliver, signed_in_role
from bucketguard.sandbox.deployer import EXAMPLE_STACKS, read_stack_config
from bucketguard.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.e2e

REMEDIATE = [
    "s3_bucket_public_access_block_enabled",
    "s3_bucket_public_read_prohibited",
    "ec2_security_group_rdp_restricted",
]
CHILD = "camp-child-helper"
PUBLIC_READ_SID = "EveryoneMayRead"


@pytest.fixture(scope="module")
def camp(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    config = read_stack_config(EXAMPLE_STACKS / "Pulumi.dev.yaml")
    assert set(config["bucketguard:monitor"]["remediate"]) >= set(REMEDIATE)  # the example turns them on
    config["bucketguard:monitor"] = {**config["bucketguard:monitor"], "createTrail": True}
    with EmbeddedAws() as aws:
        sandbox = Sandbox.up(
            aws, config, stack="dev", artifact_dir=lambda_artifacts, workdir=tmp_path_factory.mktemp("watch")
        )
        yield sandbox
        sandbox.stop()


@pytest.fixture
def watched(camp: Sandbox) -> Sandbox:
    camp.empty()
    return camp


def _alerts(camp: Sandbox) -> list[Alert]:
    return [alert_from_message(envelope["Message"]) for envelope in camp.monitor_alerts()]


def _public_read(bucket: str) -> dict[str, Any]:
    return {
        "Sid": PUBLIC_READ_SID,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }


def test_the_deployed_rule_routes_succeeded_watched_calls_only(watched: Sandbox) -> None:
    monitor = watched.monitor
    assert monitor is not None
    events = monitor.account.client("events", region_name=monitor.region)
    (target,) = events.list_targets_by_rule(Rule=monitor.rule_name)["Targets"]
    queue_arn = monitor.account.shared("sqs").get_queue_attributes(
        QueueUrl=monitor.queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert target["Arn"] == queue_arn

    identity = monitor.account.client("sts").get_caller_identity()
    bucket = watched.storage.bucket

    def record(name: str, **more: Any) -> dict[str, Any]:
        request = {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com"}
        base = cloudtrail_record(
            identity,
            source="s3.amazonaws.com",
            name=name,
            region=monitor.region,
            request=request,
            response=None,
            request_id="R1",
            user_agent="aws-cli/2",
        )
        return {**base, **more}

    refused = record("PutBucketPolicy", errorCode="AccessDenied", errorMessage="Access Denied")
    unwatched = record("GetBucketPolicy", readOnly=True)
    watched_call = record("PutBucketPolicy")
    # routed by moto's own evaluation of the deployed pattern (moto has no TestEventPattern)
    deliver(monitor.account, [refused, unwatched])
    assert watched.queue_depth(monitor.queue_url, monitor.account) == 0
    deliver(monitor.account, [watched_call])
    sqs = monitor.account.shared("sqs")
    (message,) = sqs.receive_message(QueueUrl=monitor.queue_url)["Messages"]
    sqs.delete_message(QueueUrl=monitor.queue_url, ReceiptHandle=message["ReceiptHandle"])
    body = json.loads(message["Body"])
    assert body["detail-type"] == "AWS API Call via CloudTrail" and body["source"] == "aws.s3"
    assert (body["account"], body["region"]) == (monitor.account.account_id, monitor.region)
    assert body["detail"]["eventID"] == watched_call["eventID"]


def test_a_bucket_made_public_is_alerted_naming_the_child_and_put_back(watched: Sandbox) -> None:
    assert watched.monitor is not None
    st = watched.storage
    s3 = st.account.shared("s3")
    before = json.loads(s3.get_bucket_policy(Bucket=st.bucket)["Policy"])
    child = TrailedCalls(signed_in_role(watched.aws, st.account, CHILD, st.region), st.region)
    # what Block Public Access would refuse in AWS comes off first (moto does not enforce it)
    child.delete_bucket_public_access_block(st.bucket)
    child.put_bucket_policy(
        st.bucket, {**before, "Statement": [*before["Statement"], _public_read(st.bucket)]}
    )
    assert PUBLIC_READ_SID in s3.get_bucket_policy(Bucket=st.bucket)["Policy"]  # the change is real

    deliver(watched.monitor.account, child.records)
    watched.drain()

    # the first event already finds the policy public (the monitor reads the bucket as it is now): both
    # failures are alerted and fixed there, and the second event finds nothing new
    alerts = _alerts(watched)
    assert sorted(a.rule_id for a in alerts) == [
        "s3_bucket_public_access_block_enabled",
        "s3_bucket_public_read_prohibited",
    ]
    for alert in alerts:
        assert (alert.status, alert.event_name) == ("remediated", "DeleteBucketPublicAccessBlock")
        assert alert.actor == f"arn:aws:iam::{st.account.account_id}:role/{CHILD}"
        assert alert.actor_type == "AssumedRole"
        assert alert.resource_arn == f"arn:aws:s3:::{st.bucket}"
    # reverted in moto: the public statement gone, the deployed ones kept; Block Public Access back on
    after = json.loads(s3.get_bucket_policy(Bucket=st.bucket)["Policy"])
    assert after["Statement"] == before["Statement"]
    block = s3.get_public_access_block(Bucket=st.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert watched.queue_depth(watched.monitor.dlq_url, watched.monitor.account) == 0


def test_rdp_opened_to_the_world_is_revoked(watched: Sandbox) -> None:
    assert watched.monitor is not None
    st = watched.storage
    ec2 = st.account.client("ec2", region_name=st.region)
    group = ec2.create_security_group(GroupName="camp-maintenance", Description="maintenance")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
        ],
    )
    child = TrailedCalls(signed_in_role(watched.aws, st.account, CHILD, st.region), st.region)
    child.authorize_ingress(group, 3389, "0.0.0.0/0")

    deliver(watched.monitor.account, child.records)
    watched.drain()

    (alert,) = _alerts(watched)
    assert (alert.rule_id, alert.status, alert.event_name) == (
        "ec2_security_group_rdp_restricted",
        "remediated",
        "AuthorizeSecurityGroupIngress",
    )
    assert alert.actor.endswith(f":role/{CHILD}")
    # only the world's RDP rule is revoked; the group and its other rule stay
    (described,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert [(p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in described["IpPermissions"]] == [
        (443, ["10.0.0.0/8"])
    ]


def test_the_trail_asked_for_is_deployed_logging_management_events(camp: Sandbox) -> None:
    assert camp.monitor is not None
    cloudtrail = camp.monitor.account.client("cloudtrail", region_name=camp.monitor.region)
    (trail,) = cloudtrail.describe_trails()["trailList"]
    assert trail["TrailARN"] == camp.deployment.outputs["monitorTrailArn"]
    assert trail["IsMultiRegionTrail"] and trail["IncludeGlobalServiceEvents"]
    assert trail["LogFileValidationEnabled"]
    assert trail["KmsKeyId"].startswith(f"arn:aws:kms:{camp.monitor.region}:")
    assert cloudtrail.get_trail_status(Name=trail["Name"])["IsLogging"]
    (selector,) = cloudtrail.get_event_selectors(TrailName=trail["Name"])["EventSelectors"]
    assert (selector["ReadWriteType"], selector["IncludeManagementEvents"]) == ("All", True)
    s3 = camp.monitor.account.shared("s3")
    bucket = trail["S3BucketName"]
    sids = {s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]}
    assert {"DenyInsecureTransport", "CloudTrailChecksAcl", "CloudTrailWritesLogs"} <= sids
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == trail["KmsKeyId"]
