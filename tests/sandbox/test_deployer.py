"""The deployer plays the real infra/ program into the embedded AWS: every assertion reads moto back through
boto3 (what exists there), never the deployer's own records alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketguard.sandbox.aws import DEPLOYER_ACCOUNT, EmbeddedAws
from bucketguard.sandbox.deployer import EXAMPLE_STACKS, Deployment, deploy, read_stack_config
from bucketguard.sandbox.resources import DeployError, Place, create

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dev(lambda_artifacts: Path) -> Iterator[tuple[EmbeddedAws, Deployment]]:
    with EmbeddedAws() as aws:
        config = read_stack_config(EXAMPLE_STACKS / "Pulumi.dev.yaml")
        yield aws, deploy(aws, config, stack="dev", artifact_dir=lambda_artifacts)


@pytest.fixture(scope="module")
def multiaccount(lambda_artifacts: Path) -> Iterator[tuple[EmbeddedAws, Deployment]]:
    with EmbeddedAws() as aws:
        config = read_stack_config(EXAMPLE_STACKS / "Pulumi.multiaccount.yaml")
        yield aws, deploy(aws, config, stack="multiaccount", artifact_dir=lambda_artifacts)


def _statements(policy: str) -> dict[str, dict[str, Any]]:
    return {s.get("Sid", ""): s for s in json.loads(policy)["Statement"]}


def test_dev_stack_resources_exist_in_moto_with_real_values(dev: tuple[EmbeddedAws, Deployment]) -> None:
    aws, deployment = dev
    session = aws.deployer("eu-west-1")
    s3, sqs, lam, iam = (session.client(s) for s in ("s3", "sqs", "lambda", "iam"))
    storage = deployment.outputs["storages"]["teaching"]
    bucket = storage["bucket"]

    # the protected bucket carries the program's policy: TLS only and the access-blocking statements
    policy = _statements(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert {"DenyInsecureTransport", "BucketGuardDenyReadUnlessScannedClean"} <= set(policy)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"

    # its notifications go to a queue that exists, which a deployed function consumes
    (notification,) = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    queue_name = notification["QueueArn"].rsplit(":", 1)[1]
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]["RedrivePolicy"]
    )
    assert redrive["maxReceiveCount"] == 3
    (mapping,) = lam.list_event_source_mappings(EventSourceArn=notification["QueueArn"])[
        "EventSourceMappings"
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["State"] == "Disabled"  # moto would invoke an enabled one through Docker
    declared = {
        r.id: r.outputs["enabled"]
        for r in deployment.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    }
    assert declared[mapping["UUID"]] is True

    listener = lam.get_function_configuration(FunctionName=mapping["FunctionArn"])
    assert listener["Handler"] == "functions.listener.app.handler"
    variables = listener["Environment"]["Variables"]
    assert variables["BUCKETGUARD_SCANNER_QUEUE_URL"] == deployment.outputs["scannerQueueUrl"]
    assert sqs.get_queue_attributes(
        QueueUrl=variables["BUCKETGUARD_SCANNER_QUEUE_URL"], AttributeNames=["QueueArn"]
    )
    role_name = listener["Role"].rsplit("/", 1)[1]
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    assert {s["Sid"] for s in document["Statement"]} >= {"ConsumeBucketEvents", "SendScanRequests"}

    # the scanner queue admits exactly the deployed listener role
    scanner_queue = deployment.outputs["scannerQueueUrl"]
    queue_policy = _statements(
        sqs.get_queue_attributes(QueueUrl=scanner_queue, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    assert queue_policy["RegisteredListenersSendScanRequests"]["Principal"]["AWS"] == [listener["Role"]]
    assert {r.account for r in deployment.resources} == {DEPLOYER_ACCOUNT}


def test_multiaccount_stack_lands_in_three_accounts_and_two_regions(
    multiaccount: tuple[EmbeddedAws, Deployment],
) -> None:
    aws, deployment = multiaccount
    assert {(r.account, r.region) for r in deployment.of_type("aws:lambda/function:Function")} == {
        ("111111111111", "eu-west-1"),
        ("222222222222", "eu-west-1"),
        ("222222222222", "eu-central-1"),
        ("333333333333", "eu-central-1"),
    }
    media = deployment.outputs["storages"]["media"]
    s3 = aws.assume("arn:aws:iam::333333333333:role/bucketguard-deployer", "eu-central-1").client("s3")
    assert s3.get_bucket_location(Bucket=media["bucket"])["LocationConstraint"] == "eu-central-1"
    assert "DenyInsecureTransport" in _statements(s3.get_bucket_policy(Bucket=media["bucket"])["Policy"])
    # the scanner (account 111111111111) publishes to the media storage's result topic in 333333333333
    sns = aws.assume("arn:aws:iam::333333333333:role/bucketguard-deployer", "eu-central-1").client("sns")
    topic_policy = _statements(
        sns.get_topic_attributes(TopicArn=media["resultTopicArn"])["Attributes"]["Policy"]
    )
    assert (
        topic_policy["OnlyTheScannerPublishesResults"]["Principal"]["AWS"]
        == deployment.outputs["scannerRoleArn"]
    )
    assert deployment.outputs["scannerRoleArn"].startswith("arn:aws:iam::111111111111:role/")


def test_a_provider_for_another_account_is_refused(lambda_artifacts: Path) -> None:
    config = read_stack_config(EXAMPLE_STACKS / "Pulumi.dev.yaml")
    # the config says account 999999999999; the deployer's credentials are for 123456789012
    config["bucketguard:scanner"] = {**config["bucketguard:scanner"], "accountId": "999999999999"}
    config["bucketguard:storages"] = [
        {**s, "accountId": "999999999999"} for s in config["bucketguard:storages"]
    ]
    with (
        EmbeddedAws() as aws,
        pytest.raises(
            DeployError,
            match=r"aws aws-eu-west-1: .*account 123456789012, allowedAccountIds is 999999999999",
        ),
    ):
        deploy(aws, config, stack="dev", artifact_dir=lambda_artifacts)


@pytest.fixture
def place() -> Iterator[Place]:
    with EmbeddedAws() as aws:
        yield Place(aws.deployer("eu-west-1"), "eu-west-1")


def test_unknown_resource_type_is_an_error_naming_it(place: Place) -> None:
    with pytest.raises(DeployError, match=r"aws:ec2/instance:Instance web: the sandbox cannot deploy"):
        create("aws:ec2/instance:Instance", place, "web", {"instanceType": "t3.micro"})


def test_an_input_the_sandbox_would_drop_is_an_error(place: Place) -> None:
    with pytest.raises(
        DeployError, match=r"aws:sqs/queue:Queue jobs: input\(s\) deduplicationScope not deployed"
    ):
        create("aws:sqs/queue:Queue", place, "jobs", {"deduplicationScope": "messageGroup"})


def test_botocore_validates_the_translated_request(place: Place) -> None:
    with pytest.raises(
        DeployError, match=r"aws:sns/topicSubscription:TopicSubscription alerts: ParamValidationError"
    ):
        create(
            "aws:sns/topicSubscription:TopicSubscription",
            place,
            "alerts",
            {"topic": "arn:aws:sns:eu-west-1:123456789012:t", "protocol": 7, "endpoint": "x"},
        )


def test_the_sandboxs_code_bucket_is_no_finding_of_an_audit_that_matters(tmp_path: Path) -> None:
    # The demo audits the account the sandbox deployed into: the bucket that stands in for Pulumi's code
    # upload must not show up as a public, unscanned bucket of the platform's own.
    from tests.audit.conftest import audit

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text("handler = None\n")
    with EmbeddedAws() as aws:
        place = Place(aws.deployer("eu-west-1"), "eu-west-1")
        bucket = place.code_location(str(tmp_path / "code"))["S3Bucket"]
        result = audit(aws, regions=["eu-west-1"], services=["s3"])
    found = {f.rule_id for f in result.findings if f.resource_name == bucket}
    assert found, "the bucket was audited"
    assert not found & {
        "s3_bucket_public_access_block_enabled",
        "s3_bucket_acls_disabled",
        "s3_bucket_versioning_enabled",
        "s3_bucket_malware_scanning_enabled",
    }
