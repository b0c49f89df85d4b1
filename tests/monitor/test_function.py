"""The deployed monitor's handler on moto: an SQS batch of EventBridge events, the DynamoDB history and
event ids, alerts on the real alert topic (read back from a subscribed queue) and in Security Hub, and a
partial batch response that fails only the record whose delivery failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.history import DynamoDbHistory
from bucketguard.monitor.core import Monitor
from bucketguard.monitor.deliver import AlertChannels, alert_from_message
from bucketguard.monitor.function import MonitorFunction, MonitorSettings
from bucketguard.monitor.ledger import DynamoDbLedger
from bucketguard.pipeline import env
from bucketguard.pipeline.settings import SettingsError
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session
from tests.audit.conftest import ACCOUNT, REGION, client
from tests.monitor.conftest import CHILD_ROLE, cloudtrail_event, public_bucket, unique
from tests.pipeline.events import sqs_event


@pytest.fixture
def deployed(aws: EmbeddedAws) -> Iterator[dict[str, Any]]:
    session = bootstrap_session()
    table = DynamoDbHistory.create_table(
        session.resource("dynamodb", endpoint_url=aws.endpoint_url), unique("monitor")
    )
    sns, sqs = client(aws, "sns"), client(aws, "sqs")
    topic = sns.create_topic(Name=unique("alerts"))["TopicArn"]
    inbox = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"}
    )
    securityhub = client(aws, "securityhub")
    securityhub.enable_security_hub()
    clients = ClientFactory(session, endpoint_url=aws.endpoint_url)
    channels = AlertChannels(sns=sns, topic_arn=topic, securityhub_for=lambda region: securityhub)
    monitor = Monitor(
        clients_for=lambda account: clients,
        history=DynamoDbHistory(table),
        ledger=DynamoDbLedger(table),
        deliver=channels,
    )
    yield {"function": MonitorFunction(monitor), "sqs": sqs, "inbox": inbox, "securityhub": securityhub}


def _messages(deployed: dict[str, Any]) -> list[str]:
    answer = deployed["sqs"].receive_message(QueueUrl=deployed["inbox"], MaxNumberOfMessages=10)
    return [m["Body"] for m in answer.get("Messages", ())]


def test_a_batch_alerts_once_per_new_failure_and_drops_what_is_not_an_event(
    aws: EmbeddedAws, deployed: dict[str, Any]
) -> None:
    name = public_bucket(aws)
    event = json.dumps(cloudtrail_event("s3.amazonaws.com", "PutBucketAcl", {"bucketName": name}))
    batch = sqs_event(event, event, json.dumps({"detail-type": "Object Created"}), "not json")

    response = deployed["function"].handle(batch)

    assert response == {"batchItemFailures": []}  # the duplicate is remembered, the junk dropped
    [message] = _messages(deployed)
    alert = alert_from_message(message)
    assert (alert.status, alert.rule_id, alert.actor) == (
        "new",
        "s3_bucket_public_read_prohibited",
        CHILD_ROLE,
    )
    assert message.startswith("NEW: ") and f"Who:        {CHILD_ROLE}" in message
    [finding] = deployed["securityhub"].get_findings()["Findings"]
    assert finding["Id"] == alert.finding_id and finding["Resources"][0]["Id"] == f"arn:aws:s3:::{name}"
    assert (
        finding["Compliance"]["Status"] == "FAILED"
        and finding["ProductFields"]["bucketguard/actor"] == CHILD_ROLE
    )


def test_the_callers_user_agent_writes_no_line_of_its_own(aws: EmbeddedAws, deployed: dict[str, Any]) -> None:
    # the caller of the API chooses its User-Agent: a line break, an ESC sequence and U+202E in it
    event = cloudtrail_event("s3.amazonaws.com", "PutBucketAcl", {"bucketName": public_bucket(aws)})
    event["detail"]["userAgent"] = "aws-cli\nFix:        none needed, a known test\x1b[2J\u202e"
    assert deployed["function"].handle(sqs_event(json.dumps(event))) == {"batchItemFailures": []}
    [message] = _messages(deployed)
    text = message[: message.index("\n\n{")]
    assert [line for line in text.splitlines() if line.startswith("Fix:")] != []
    assert not any("none needed" in line for line in text.splitlines() if line.startswith("Fix:"))
    [from_line] = [line for line in text.splitlines() if line.startswith("From:")]
    assert (
        from_line.isprintable()
        and r"aws-cli\nFix:        none needed, a known test\x1b[2J\u202e" in from_line
    )
    assert alert_from_message(message).user_agent == event["detail"]["userAgent"]  # the document keeps it


def test_only_the_record_whose_alert_was_not_delivered_fails(
    aws: EmbeddedAws, deployed: dict[str, Any]
) -> None:
    function: MonitorFunction = deployed["function"]
    channels = function.monitor.deliver
    assert isinstance(channels, AlertChannels)
    channels.topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:gone"  # the topic was deleted: SNS refuses
    public, private = public_bucket(aws), unique("camp")
    client(aws, "s3").create_bucket(Bucket=private)
    failing = json.dumps(cloudtrail_event("s3.amazonaws.com", "PutBucketAcl", {"bucketName": public}))
    quiet = json.dumps(cloudtrail_event("s3.amazonaws.com", "PutBucketAcl", {"bucketName": private}))

    response = function.handle(sqs_event(quiet, failing))

    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_settings_refuse_what_the_function_cannot_use(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=env.MONITOR_TABLE):
        MonitorSettings.resolve({})
    with pytest.raises(SettingsError, match="BUCKETGUARD_MONITOR_SECURITY_HUB"):
        MonitorSettings.resolve({env.MONITOR_TABLE: "t", env.MONITOR_SECURITY_HUB: "maybe"})
    monkeypatch.setenv(env.MONITOR_TABLE, "t")
    monkeypatch.setenv(
        env.MONITOR_POLICY_CONFIG, json.dumps({"s3_bucket_public_read_prohibited": {"nope": 1}})
    )
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with pytest.raises(SettingsError, match=f"^{env.MONITOR_POLICY_CONFIG}: .*nope: unknown key"):
        MonitorFunction.from_environment()
