"""The deployed audit's functions on moto: the fan-out sends one message per account and region, the unit
function judges each (a message delivered twice counts once), the run's last message writes the reports to
the report bucket and publishes the new critical/high failures to the summary topic; a second run reports
only what changed; messages the settings would not send are refused; a finisher that fails is replaced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from bucketguard.audit.history import DynamoDbHistory
from bucketguard.pipeline import env
from bucketguard.pipeline.settings import SettingsError
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session
from bucketguard.sandbox.runner import FakeLambdaContext, lambda_sqs_event
from bucketguard.scheduled_audit import (
    AuditUnitFunction,
    AuditUnitSettings,
    FanOutSettings,
    Unit,
    report_keys,
    start_run,
)
from tests.audit.conftest import ACCOUNT, REGION, client

OTHER = "222222222222"
OTHER_ROLE = f"arn:aws:iam::{OTHER}:role/bucketguard-audit"
REGIONS = f"{REGION},eu-west-1"
RUN, NEXT_RUN = "2026-12-01T03:00:00Z", "2026-12-02T03:00:00Z"


@dataclass
class Deployed:
    """The AuditStack's resources, made by hand in moto, and an inbox subscribed to the summary topic."""

    aws: EmbeddedAws
    session: boto3.Session
    queue_url: str
    bucket: str
    topic_arn: str
    inbox_url: str
    environ: dict[str, str]

    def fan_out(self, run: str) -> list[Unit]:
        return start_run(run, FanOutSettings.resolve(self.environ), self.session)

    def function(self, **overrides: str) -> AuditUnitFunction:
        settings = AuditUnitSettings.resolve({**self.environ, **overrides})
        return AuditUnitFunction(settings, self.session, self.aws.endpoint_url)

    def receive(self) -> list[dict[str, Any]]:
        sqs = client(self.aws, "sqs")
        messages: list[dict[str, Any]] = []
        while batch := sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages"):
            messages += batch
        return messages

    def deliver(self, function: AuditUnitFunction, messages: list[dict[str, Any]]) -> list[str]:
        """One invocation per message (as a batch size of 1 would); the message ids that failed."""
        failed = []
        for message in messages:
            event = lambda_sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:audit", REGION)
            try:
                response = function.handle(event, FakeLambdaContext("audit"))
            except Exception:  # the invocation failed: its whole batch is retried, as Lambda does
                response = {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
            failed += [f["itemIdentifier"] for f in response["batchItemFailures"]]
        return failed

    def summaries(self) -> list[dict[str, Any]]:
        sqs = client(self.aws, "sqs")
        out = []
        while batch := sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages"):
            for m in batch:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=m["ReceiptHandle"])
        return out

    def report(self, run: str) -> dict[str, Any]:
        body = client(self.aws, "s3").get_object(Bucket=self.bucket, Key=report_keys(run)["json"])["Body"]
        document: dict[str, Any] = json.loads(body.read())
        return document


@pytest.fixture
def deployed(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)  # the functions' own clients, as in the sandbox
    session = bootstrap_session()
    DynamoDbHistory.create_table(session.resource("dynamodb", endpoint_url=aws.endpoint_url), "audit-history")
    sqs, sns, s3 = client(aws, "sqs"), client(aws, "sns"), client(aws, "s3")
    queue_url = sqs.create_queue(QueueName="audit-units")["QueueUrl"]
    s3.create_bucket(Bucket="audit-reports")
    topic_arn = sns.create_topic(Name="audit-summary")["TopicArn"]
    inbox_url = sqs.create_queue(QueueName="audit-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    environ = {
        env.AUDIT_TABLE: "audit-history",
        env.AUDIT_REGIONS: REGIONS,
        env.AUDIT_ROLE_ARNS: OTHER_ROLE,
        env.AUDIT_QUEUE_URL: queue_url,
        env.AUDIT_REPORT_BUCKET: "audit-reports",
        env.AUDIT_SUMMARY_TOPIC_ARN: topic_arn,
        env.AUDIT_POLICY_CONFIG: json.dumps({"s3_bucket_mfa_delete_enabled": "disabled"}),
    }
    # The pranks: a public-read bucket here, RDP open to the world in the other account's second region.
    s3.create_bucket(Bucket="camp-site")
    s3.put_bucket_acl(Bucket="camp-site", ACL="public-read")
    other = boto3.Session(**_credentials(aws), region_name="eu-west-1")
    ec2 = other.client("ec2", endpoint_url=aws.endpoint_url)
    group = ec2.create_security_group(GroupName="camp-rdp", Description="rdp")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    yield Deployed(aws, session, queue_url, "audit-reports", topic_arn, inbox_url, environ)


def _credentials(aws: EmbeddedAws) -> dict[str, str]:
    sts = client(aws, "sts")
    c = sts.assume_role(RoleArn=OTHER_ROLE, RoleSessionName="seed")["Credentials"]
    return {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }


def _new_failures(summary: dict[str, Any]) -> list[str]:
    return sorted(line for line in summary["Message"].splitlines() if line.startswith("- "))


def test_a_run_fans_out_and_its_last_message_reports_once(deployed: Deployed) -> None:
    units = deployed.fan_out(RUN)

    assert sorted(u.key for u in units) == sorted(
        f"{account}/{region}" for account in (ACCOUNT, OTHER) for region in REGIONS.split(",")
    )
    messages = deployed.receive()
    assert len(messages) == 4
    function = deployed.function()
    # the first message delivered twice (at least once): it must count once
    assert deployed.deliver(function, [messages[0], *messages]) == []

    report = deployed.report(RUN)
    found = {(v["rule_id"], v["account"], v["region"], v["resource_name"]) for v in report["violations"]}
    assert ("s3_bucket_public_read_prohibited", ACCOUNT, REGION, "camp-site") in found
    assert any(
        rule == "ec2_security_group_rdp_restricted" and account == OTHER and region == "eu-west-1"
        for rule, account, region, _ in found
    )
    assert len(found) == len(report["violations"])  # no finding twice
    assert {v["status"] for v in report["violations"]} == {"new"}
    assert not any(v["rule_id"] == "s3_bucket_mfa_delete_enabled" for v in report["violations"])
    assert report["summary"]["accounts"] == [ACCOUNT, OTHER] or sorted(report["summary"]["accounts"]) == [
        ACCOUNT,
        OTHER,
    ]
    html = client(deployed.aws, "s3").get_object(Bucket=deployed.bucket, Key=report_keys(RUN)["html"])
    assert b"camp-site" in html["Body"].read()

    [summary] = deployed.summaries()
    expected = sorted(
        f"- {v['severity'].upper()} {v['rule_id']}: {v['resource_name']} ({v['account']}/{v['region']})"
        for v in report["violations"]
        if v["severity"] in ("critical", "high")
    )
    assert _new_failures(summary) == expected and len(expected) >= 2
    assert f"{len(expected)} new critical/high" in summary["Subject"]
    assert f"s3://audit-reports/{report_keys(RUN)['html']}" in summary["Message"]

    # a redelivery after the run was reported changes nothing and sends nothing
    assert deployed.deliver(function, messages[:1]) == []
    assert deployed.summaries() == []
    assert deployed.report(RUN) == report


def test_the_next_run_reports_only_what_changed(deployed: Deployed) -> None:
    deployed.environ[env.AUDIT_REGIONS] = REGION  # two units: one per account
    function = deployed.function()
    deployed.fan_out(RUN)
    deployed.deliver(function, deployed.receive())
    deployed.summaries()
    client(deployed.aws, "s3").put_bucket_acl(Bucket="camp-site", ACL="private")

    deployed.fan_out(NEXT_RUN)
    deployed.deliver(function, deployed.receive())

    report = deployed.report(NEXT_RUN)
    assert {v["status"] for v in report["violations"]} == {"still_failing"}
    assert [r["resource_name"] for r in report["resolved"]] == ["camp-site"]
    [summary] = deployed.summaries()
    assert _new_failures(summary) == [] and "0 new critical/high" in summary["Subject"]


def test_a_retried_schedule_sends_only_the_pending_units(deployed: Deployed) -> None:
    deployed.environ[env.AUDIT_REGIONS] = REGION  # two units: one per account
    deployed.fan_out(RUN)
    first = deployed.receive()
    deployed.deliver(deployed.function(), first[:1])

    again = deployed.fan_out(RUN)  # EventBridge retried the invocation: the same event time

    assert len(again) == 1 and Unit.parse(
        first[0]["Body"], FanOutSettings.resolve(deployed.environ)
    ).key not in {u.key for u in again}


def test_messages_the_settings_would_not_send_are_refused(deployed: Deployed) -> None:
    deployed.fan_out(RUN)
    function = deployed.function()
    forged = [
        Unit(RUN, "333333333333", REGION, "arn:aws:iam::333333333333:role/admin").to_json(),  # not a roleArn
        Unit(RUN, OTHER, "ap-south-1", OTHER_ROLE).to_json(),  # not an audited region
        Unit(RUN, ACCOUNT, REGION, OTHER_ROLE).to_json(),  # the role is another account's
        Unit("2026-01-01T00:00:00Z", ACCOUNT, REGION).to_json(),  # no such run
        "not json",
    ]
    messages = [
        {
            "MessageId": str(i),
            "ReceiptHandle": str(i),
            "Body": body,
            "Attributes": {"ApproximateReceiveCount": "1"},
        }
        for i, body in enumerate(forged)
    ]

    assert deployed.deliver(function, messages) == [str(i) for i in range(len(forged))]


def test_a_finisher_that_fails_is_replaced_by_its_retry(deployed: Deployed) -> None:
    deployed.environ[env.AUDIT_REGIONS] = REGION  # two units: one per account
    deployed.fan_out(RUN)
    messages = deployed.receive()
    missing_topic = deployed.topic_arn.replace("audit-summary", "no-such-topic")
    broken = deployed.function(**{env.AUDIT_SUMMARY_TOPIC_ARN: missing_topic})

    assert deployed.deliver(broken, messages) == [messages[-1]["MessageId"]]
    assert deployed.summaries() == []

    assert deployed.deliver(deployed.function(), messages[-1:]) == []
    assert len(deployed.summaries()) == 1


def test_bad_settings_are_one_line() -> None:
    with pytest.raises(SettingsError, match=env.AUDIT_REGIONS):
        FanOutSettings.resolve({env.AUDIT_TABLE: "t", env.AUDIT_QUEUE_URL: "q"})
    settings = AuditUnitSettings.resolve(
        {
            env.AUDIT_TABLE: "t",
            env.AUDIT_REGIONS: REGION,
            env.AUDIT_REPORT_BUCKET: "b",
            env.AUDIT_SUMMARY_TOPIC_ARN: "t",
            env.AUDIT_POLICY_CONFIG: '{"no_such_rule": "mandatory"}',
        }
    )
    with pytest.raises(SettingsError, match=f"{env.AUDIT_POLICY_CONFIG}: "):
        settings.policy()
