"""AuditStack under the SDK's mocks: `bucketguard:audit` deploys the schedule starting the fan-out, the unit
queue feeding the audit function (one message per invocation, partial batch failures), the history table,
report bucket, queues and summary topic encrypted with the audit key, each role with only its part (the
collectors' read-only actions, Security Hub and assume-role grants only when configured); a bad config is
one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bucketguard.audit.permissions import UNSCOPED_ACTIONS, read_statements
from bucketguard.audit.run import required_actions
from bucketguard.packaging import HANDLERS
from bucketguard.pipeline import env
from infra.config import ConfigError, parse_config
from tests.infra.conftest import run_program, stack_config
from tests.infra.test_program import Graph, as_list

AUDIT: dict[str, Any] = {
    "region": "eu-west-1",
    "regions": ["eu-west-1", "us-east-1"],
    "schedule": "cron(0 3 * * ? *)",
    "roleArns": ["arn:aws:iam::222222222222:role/bucketguard-audit"],
    "securityHub": True,
    "notifyEmails": ["secops@camp.example"],
    "reportReaderArns": ["arn:aws:iam::123456789012:role/secops"],
    "concurrency": 4,
    "policyConfig": {"aws_resource_region_allowed": {"allowedRegions": ["eu-west-1"]}},
}


@pytest.fixture(scope="module")
def audited(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Graph:
    config = {**stack_config("dev"), "bucketguard:audit": AUDIT}
    return Graph(run_program(config, lambda_artifacts, tmp_path_factory.mktemp("audit")))


def test_the_schedule_starts_the_fan_out_and_the_queue_feeds_the_audit_function(audited: Graph) -> None:
    schedule = audited.named("audit-schedule")["inputs"]
    assert schedule["scheduleExpression"] == "cron(0 3 * * ? *)"
    invoke = audited.named("audit-invoke")["inputs"]
    assert invoke["principal"] == "events.amazonaws.com" and invoke["sourceArn"].endswith(
        "audit-schedule-0a1b2c"
    )
    assert invoke["function"].startswith("audit-fanout-function")
    assert "audit-fanout-function" in audited.named("audit-target")["inputs"]["arn"]
    fan_out = audited.named("audit-fanout-function")["inputs"]
    assert fan_out["handler"] == HANDLERS["audit_fanout"] and fan_out["reservedConcurrentExecutions"] == 1
    variables = fan_out["environment"]["variables"]
    assert variables[env.AUDIT_REGIONS] == "eu-west-1,us-east-1"
    assert variables[env.AUDIT_ROLE_ARNS] == AUDIT["roleArns"][0]
    assert variables[env.AUDIT_QUEUE_URL].endswith("audit-units-queue-0a1b2c")

    function = audited.named("audit-run-function")["inputs"]
    assert function["handler"] == HANDLERS["audit"] and function["timeout"] == 900
    assert function["reservedConcurrentExecutions"] == 4
    variables = function["environment"]["variables"]
    assert variables[env.AUDIT_SECURITY_HUB] == "true"
    assert json.loads(variables[env.AUDIT_POLICY_CONFIG]) == AUDIT["policyConfig"]
    assert variables[env.AUDIT_REPORT_BUCKET] == "bucketguard-dev-audit-123456789012-eu-west-1"
    assert variables[env.AUDIT_SUMMARY_TOPIC_ARN].endswith("audit-summary-0a1b2c")
    trigger = audited.named("audit-run-trigger")["inputs"]
    assert trigger["eventSourceArn"].endswith("audit-units-queue-0a1b2c") and trigger["batchSize"] == 1
    assert trigger["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert trigger["scalingConfig"]["maximumConcurrency"] == 4


def test_queue_bucket_topic_and_table_are_encrypted_with_the_audit_key(audited: Graph) -> None:
    key = "audit-key-0a1b2c"
    assert audited.named("audit-key")["inputs"]["enableKeyRotation"] is True
    table = audited.named("audit-history")["inputs"]
    assert table["serverSideEncryption"] == {
        "enabled": True,
        "kmsKeyArn": table["serverSideEncryption"]["kmsKeyArn"],
    }
    assert table["serverSideEncryption"]["kmsKeyArn"].endswith(key)
    assert table["pointInTimeRecovery"] == {"enabled": True} and table["deletionProtectionEnabled"] is True
    for queue in ("audit-units-queue", "audit-units-dlq"):
        assert audited.named(queue)["inputs"]["kmsMasterKeyId"].endswith(key)
    redrive = json.loads(audited.named("audit-units-queue")["inputs"]["redrivePolicy"])
    assert (
        redrive["deadLetterTargetArn"].endswith("audit-units-dlq-0a1b2c") and redrive["maxReceiveCount"] == 3
    )
    assert audited.named("audit-summary")["inputs"]["kmsMasterKeyId"].endswith(key)
    emails = [
        r["inputs"]
        for r in audited.of_type("aws:sns/topicSubscription:TopicSubscription")
        if r["name"].startswith("audit-summary-email")
    ]
    assert [(e["protocol"], e["endpoint"]) for e in emails] == [("email", "secops@camp.example")]

    encryption = audited.named("audit-reports-encryption")["inputs"]["rules"][0]
    assert encryption["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert encryption["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].endswith(key)
    assert (
        audited.named("audit-reports-versioning")["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    )
    block = audited.named("audit-reports-public-access-block")["inputs"]
    assert all(
        block[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    tls = {s["Sid"]: s for s in audited.policy("audit-reports-policy")}["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert "audit-reports-policy" in audited.retained  # the reports outlive the stack
    logging = audited.named("audit-reports-access-logging")["inputs"]
    assert logging["targetBucket"] == "bucketguard-dev-audit-123456789012-eu-west-1-logs"

    statements = {s["Sid"]: s for s in audited.policy("audit-key-policy")}
    use = statements["AuditFunctionsUseKey"]
    # data keys only: S3, SQS, SNS and DynamoDB never ask KMS to Encrypt for the caller
    assert use["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert sorted(use["Principal"]["AWS"]) == sorted(
        [f"arn:aws:iam::123456789012:role/{n}-role-0a1b2c" for n in ("audit-fanout", "audit-run")]
    )
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == [
        f"{s}.eu-west-1.amazonaws.com" for s in ("sqs", "s3", "sns", "dynamodb")
    ]
    readers = statements["ReportReadersDecrypt"]
    assert readers["Principal"]["AWS"] == ["arn:aws:iam::123456789012:role/secops"]
    assert readers["Action"] == ["kms:Decrypt"]
    assert readers["Condition"]["StringEquals"]["kms:ViaService"] == ["s3.eu-west-1.amazonaws.com"]
    assert statements["DynamoDbEncryptsTheTable"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "dynamodb.eu-west-1.amazonaws.com",
        "kms:CallerAccount": "123456789012",
    }
    dlq_alarm = audited.named("audit-alarms-audit-dlq-not-empty")["inputs"]
    assert dlq_alarm["alarmActions"] == [
        audited.named("audit-run-function")["inputs"]["environment"]["variables"][env.AUDIT_SUMMARY_TOPIC_ARN]
    ]


def test_each_audit_role_may_do_only_its_part(audited: Graph) -> None:
    policy = audited.policy("audit-run-policy")
    # the collectors' reads on this account's resources ("*" only for actions that support none)
    assert [s for s in policy if "Sid" not in s] == read_statements("123456789012")
    grants = {s["Sid"]: s for s in policy if "Sid" in s}
    assert set(grants) == {
        "ConsumeUnits",
        "KeepTheFindingsHistory",
        "WriteReports",
        "PublishSummary",
        "UseTheAuditKey",
        "AuditOtherAccounts",
        "ImportFindings",
        "WriteOwnLogs",
    }
    assert all("*" not in a and (":Get" in a or ":List" in a or ":Describe" in a) for a in required_actions())
    assert grants["KeepTheFindingsHistory"]["Action"] == [
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
        "dynamodb:UpdateItem",
    ]
    assert as_list(grants["KeepTheFindingsHistory"]["Resource"])[0].endswith("audit-history-0a1b2c")
    assert grants["ConsumeUnits"]["Resource"].endswith("audit-units-queue-0a1b2c")
    assert (
        grants["WriteReports"]["Resource"]
        == "arn:aws:s3:::bucketguard-dev-audit-123456789012-eu-west-1/audits/*"
    )
    assert grants["PublishSummary"]["Resource"].endswith("audit-summary-0a1b2c")
    assert grants["AuditOtherAccounts"]["Resource"] == AUDIT["roleArns"]
    assert grants["ImportFindings"]["Resource"] == [
        f"arn:aws:securityhub:{region}:123456789012:product/123456789012/default"
        for region in AUDIT["regions"]
    ]
    fan_out = {s["Sid"]: s for s in audited.policy("audit-fanout-policy")}
    assert set(fan_out) == {"SendUnits", "StartRuns", "UseTheAuditKey", "WriteOwnLogs"}
    assert fan_out["SendUnits"]["Action"] == ["sqs:SendMessage"]
    assert fan_out["StartRuns"]["Action"] == ["dynamodb:PutItem", "dynamodb:GetItem"]
    for name in ("audit-run-policy", "audit-fanout-policy"):
        for statement in audited.policy(name):
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in statement["Action"]), statement
            if not set(statement["Action"]) <= UNSCOPED_ACTIONS:
                assert "*" not in as_list(statement["Resource"]), statement


def test_without_role_arns_or_security_hub_no_such_grant(lambda_artifacts: Path, tmp_path: Path) -> None:
    plain = {"region": "eu-west-1", "regions": ["eu-west-1"]}
    graph = Graph(
        run_program({**stack_config("dev"), "bucketguard:audit": plain}, lambda_artifacts, tmp_path)
    )
    assert {s.get("Sid") for s in graph.policy("audit-run-policy")} == {
        None,  # the reads
        "ConsumeUnits",
        "KeepTheFindingsHistory",
        "WriteReports",
        "PublishSummary",
        "UseTheAuditKey",
        "WriteOwnLogs",
    }
    assert "ReportReadersDecrypt" not in {s["Sid"] for s in graph.policy("audit-key-policy")}
    assert graph.named("audit-schedule")["inputs"]["scheduleExpression"] == "rate(1 day)"
    assert graph.named("audit-run-function")["inputs"]["reservedConcurrentExecutions"] == 10
    assert not [
        r for r in graph.of_type("aws:sns/topicSubscription:TopicSubscription") if "audit" in r["name"]
    ]


def test_a_report_reader_outside_the_audit_account_fails_the_deployment(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    """The config names no account here: the one the audit deploys into is checked (the report bucket's
    key would name a role whose own account's policies can never let it read)."""
    foreign = "arn:aws:iam::999999999999:role/secops"
    config = {**stack_config("dev"), "bucketguard:audit": {**AUDIT, "reportReaderArns": [foreign]}}
    result = run_program(config, lambda_artifacts, tmp_path)
    assert (
        f"bucketguard:audit.reportReaderArns[0]: {foreign!r} is not in the audit's account 123456789012"
        in str(result["error"])
    )


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ({"region": "eu-west-1", "regions": []}, "bucketguard:audit.regions"),
        (
            {"region": "eu-west-1", "regions": ["eu-west-1"], "schedule": "daily"},
            "bucketguard:audit.schedule",
        ),
        (
            {"region": "eu-west-1", "regions": ["eu-west-1"], "roleArns": ["admin"]},
            "bucketguard:audit.roleArns",
        ),
        (
            {"region": "eu-west-1", "regions": ["eu-west-1"], "policyConfig": {"no_such_rule": "advisory"}},
            "bucketguard:audit.policyConfig: names unknown policies: no_such_rule",
        ),
        ({"region": "eu-west-1", "regions": ["eu-west-1"], "securityhub": True}, "did you mean"),
        (
            {"region": "eu-west-1", "regions": ["eu-west-1"], "concurrency": 1},
            "bucketguard:audit.concurrency",
        ),
        (
            {"region": "eu-west-1", "regions": ["eu-west-1"], "notifyEmails": ["ops"]},
            "bucketguard:audit.notifyEmails",
        ),
        (
            {
                "region": "eu-west-1",
                "regions": ["eu-west-1"],
                "accountId": "111111111111",
                "reportReaderArns": ["arn:aws:iam::222222222222:role/secops"],
            },
            "bucketguard:audit.reportReaderArns",
        ),
        (
            {"region": "eu-west-1", "regions": ["eu-west-1"], "reportReaderArns": ["secops"]},
            "bucketguard:audit.reportReaderArns",
        ),
    ],
)
def test_a_bad_audit_config_is_one_line(audit: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as refused:
        parse_config({"scanner": {"region": "eu-west-1"}, "audit": audit})
    assert "\n" not in str(refused.value)
