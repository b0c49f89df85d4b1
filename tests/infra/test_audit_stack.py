"""AuditStack under the SDK's mocks: `bucketguard:audit` deploys the schedule, the function with exactly the
collectors' read-only actions, the encrypted history table, and Security Hub and assume-role grants only
when configured; a bad config is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bucketguard.audit.run import required_actions
from bucketguard.packaging import HANDLERS
from bucketguard.pipeline import env
from infra.config import ConfigError, parse_config
from tests.infra.conftest import run_program, stack_config
from tests.infra.test_program import Graph, as_list

AUDIT = {
    "region": "eu-west-1",
    "regions": ["eu-west-1", "us-east-1"],
    "schedule": "cron(0 3 * * ? *)",
    "roleArns": ["arn:aws:iam::222222222222:role/bucketguard-audit"],
    "securityHub": True,
    "policyConfig": {"aws_resource_region_allowed": {"allowedRegions": ["eu-west-1"]}},
}


@pytest.fixture(scope="module")
def audited(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Graph:
    config = {**stack_config("dev"), "bucketguard:audit": AUDIT}
    return Graph(run_program(config, lambda_artifacts, tmp_path_factory.mktemp("audit")))


def test_the_schedule_starts_the_audit_function(audited: Graph) -> None:
    schedule = audited.named("audit-schedule")["inputs"]
    assert schedule["scheduleExpression"] == "cron(0 3 * * ? *)"
    invoke = audited.named("audit-invoke")["inputs"]
    assert invoke["principal"] == "events.amazonaws.com" and invoke["sourceArn"].endswith(
        "audit-schedule-0a1b2c"
    )
    function = audited.named("audit-run-function")["inputs"]
    assert function["handler"] == HANDLERS["audit"] and function["reservedConcurrentExecutions"] == 1
    variables = function["environment"]["variables"]
    assert variables[env.AUDIT_REGIONS] == "eu-west-1,us-east-1"
    assert (
        variables[env.AUDIT_ROLE_ARNS] == AUDIT["roleArns"][0] and variables[env.AUDIT_SECURITY_HUB] == "true"
    )
    assert json.loads(variables[env.AUDIT_POLICY_CONFIG]) == AUDIT["policyConfig"]
    target = audited.named("audit-target")["inputs"]
    assert target["arn"].endswith("audit-run-function-0a1b2c") or "audit-run-function" in target["arn"]


def test_the_history_table_is_encrypted_with_its_own_key(audited: Graph) -> None:
    table = audited.named("audit-history")["inputs"]
    assert table["serverSideEncryption"]["enabled"] is True
    assert table["serverSideEncryption"]["kmsKeyArn"].endswith("audit-key-0a1b2c")
    assert table["pointInTimeRecovery"] == {"enabled": True} and table["deletionProtectionEnabled"] is True
    assert audited.named("audit-key")["inputs"]["enableKeyRotation"] is True


def test_the_audit_role_may_read_only_what_the_collectors_read(audited: Graph) -> None:
    grants = {s["Sid"]: s for s in audited.policy("audit-run-policy")}
    assert set(grants) == {
        "ReadWhatTheCollectorsRead",
        "KeepTheFindingsHistory",
        "UseTheHistoryKey",
        "AuditOtherAccounts",
        "ImportFindings",
        "WriteOwnLogs",
    }
    assert grants["ReadWhatTheCollectorsRead"]["Action"] == required_actions()
    assert all("*" not in a and (":Get" in a or ":List" in a or ":Describe" in a) for a in required_actions())
    assert grants["KeepTheFindingsHistory"]["Action"] == ["dynamodb:Query", "dynamodb:BatchWriteItem"]
    assert as_list(grants["KeepTheFindingsHistory"]["Resource"])[0].endswith("audit-history-0a1b2c")
    assert grants["AuditOtherAccounts"]["Resource"] == AUDIT["roleArns"]
    assert grants["ImportFindings"]["Resource"] == [
        f"arn:aws:securityhub:{region}:123456789012:product/123456789012/default"
        for region in AUDIT["regions"]
    ]


def test_without_role_arns_or_security_hub_no_such_grant(lambda_artifacts: Path, tmp_path: Path) -> None:
    plain = {"region": "eu-west-1", "regions": ["eu-west-1"]}
    graph = Graph(
        run_program({**stack_config("dev"), "bucketguard:audit": plain}, lambda_artifacts, tmp_path)
    )
    assert {s["Sid"] for s in graph.policy("audit-run-policy")} == {
        "ReadWhatTheCollectorsRead",
        "KeepTheFindingsHistory",
        "UseTheHistoryKey",
        "WriteOwnLogs",
    }
    assert graph.named("audit-schedule")["inputs"]["scheduleExpression"] == "rate(1 day)"


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
    ],
)
def test_a_bad_audit_config_is_one_line(audit: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as refused:
        parse_config({"scanner": {"region": "eu-west-1"}, "audit": audit})
    assert "\n" not in str(refused.value)
