"""The scheduled audit of examples/stacks/Pulumi.multiaccount.yaml deployed by infra/ into the embedded AWS:
the schedule's time comes (the runner plays the deployed rule's target), the fan-out sends one message per
account and region, the local runner drains the deployed queue through the deployed audit function, and the
run's reports land in the report bucket and its summary reaches a queue subscribed to the summary topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.deployer import EXAMPLE_STACKS, read_stack_config
from bucketguard.sandbox.sandbox import Sandbox, _dead_letter_queue_url
from bucketguard.scheduled_audit import report_keys

pytestmark = pytest.mark.e2e
REGION = "eu-west-1"
SECURITY = "arn:aws:iam::111111111111:role/bucketguard-deployer"  # where the audit is deployed


@pytest.fixture(scope="module")
def camp(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with EmbeddedAws() as aws:
        sandbox = Sandbox.up(
            aws,
            read_stack_config(EXAMPLE_STACKS / "Pulumi.multiaccount.yaml"),
            stack="multiaccount",
            artifact_dir=lambda_artifacts,
            workdir=tmp_path_factory.mktemp("audit"),
        )
        yield sandbox
        sandbox.stop()


def _inbox(camp: Sandbox, topic_arn: str) -> tuple[Any, str]:
    sqs = camp.aws.assume(SECURITY, REGION).client("sqs")
    url = sqs.create_queue(QueueName="audit-summary-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    camp.aws.assume(SECURITY, REGION).client("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn
    )
    return sqs, url


def test_the_scheduled_audit_fans_out_and_reports(camp: Sandbox) -> None:
    outputs = camp.deployment.outputs
    sqs, inbox = _inbox(camp, outputs["auditSummaryTopicArn"])
    # a prank in a storage account: the audit reaches it through the audit role named in roleArns
    teaching = camp.aws.assume("arn:aws:iam::222222222222:role/bucketguard-deployer", REGION).client("s3")
    teaching.create_bucket(Bucket="camp-prank", CreateBucketConfiguration={"LocationConstraint": REGION})
    teaching.put_bucket_acl(Bucket="camp-prank", ACL="public-read")

    [started] = camp.runner.run_schedules("audit_fanout")
    camp.drain()

    accounts = ("111111111111", "222222222222", "333333333333")
    assert sorted(started["units"]) == sorted(
        f"{a}/{r}" for a in accounts for r in ("eu-west-1", "eu-central-1")
    )
    s3 = camp.aws.assume(SECURITY, REGION).client("s3")
    keys = report_keys(started["run"])
    report = json.loads(s3.get_object(Bucket=outputs["auditReportBucket"], Key=keys["json"])["Body"].read())
    assert sorted(report["summary"]["accounts"]) == sorted(accounts)
    prank = [v for v in report["violations"] if v["resource_name"] == "camp-prank"]
    assert ("s3_bucket_public_read_prohibited", "222222222222", REGION, "new") in {
        (v["rule_id"], v["account"], v["region"], v["status"]) for v in prank
    }
    # The buckets the stack protects are known to be scanned (their listener queue's tag), not reported.
    protected = {"camp-teaching-material", "camp-student-uploads", "camp-media-archive"}
    assert not [
        v["resource_name"]
        for v in report["violations"]
        if v["rule_id"] == "s3_bucket_malware_scanning_enabled" and v["resource_name"] in protected
    ]
    html = s3.get_object(Bucket=outputs["auditReportBucket"], Key=keys["html"])["Body"].read()
    assert b"camp-prank" in html and html.startswith(b"<!DOCTYPE html>")

    messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
    [summary] = [json.loads(m["Body"]) for m in messages]
    assert (
        "- HIGH s3_bucket_public_read_prohibited: camp-prank (222222222222/eu-west-1)" in summary["Message"]
    )
    new_high = [
        v for v in report["violations"] if v["status"] == "new" and v["severity"] in ("critical", "high")
    ]
    assert f"{len(new_high)} new critical/high" in summary["Subject"]
    [units] = [s for s in camp.runner.sources if s.function_name.startswith("audit-run")]
    assert (
        camp.queue_depth(_dead_letter_queue_url(units), camp.aws.assume(SECURITY, REGION)) == 0
    )  # no unit failed
