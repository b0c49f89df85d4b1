"""The deployed audit's run on moto: settings from its environment, the account audited in its regions, the
DynamoDB history recording the runs, Security Hub import when enabled, bad settings refused in one line."""

from __future__ import annotations

import json

import pytest

from bucketguard.audit.history import DynamoDbHistory
from bucketguard.pipeline import env
from bucketguard.pipeline.settings import SettingsError
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session
from bucketguard.scheduled_audit import ScheduledAuditSettings, scheduled_audit
from tests.audit.conftest import REGION, client


def settings(**extra: str) -> ScheduledAuditSettings:
    return ScheduledAuditSettings.resolve(
        {env.AUDIT_TABLE: "audit-history", env.AUDIT_REGIONS: REGION, **extra}
    )


def test_a_scheduled_run_records_the_history_and_imports_findings(aws: EmbeddedAws) -> None:
    table = DynamoDbHistory.create_table(
        bootstrap_session().resource("dynamodb", endpoint_url=aws.endpoint_url), "audit-history"
    )
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="camp-site")
    s3.put_bucket_acl(Bucket="camp-site", ACL="public-read")
    configured = settings(
        **{
            env.AUDIT_SECURITY_HUB: "true",
            env.AUDIT_POLICY_CONFIG: json.dumps({"s3_bucket_mfa_delete_enabled": "disabled"}),
        }
    )

    first = scheduled_audit(configured, bootstrap_session(), aws.endpoint_url)

    public = [v for v in first.violations if v.finding.rule_id == "s3_bucket_public_read_prohibited"]
    assert [v.status for v in public] == ["new"]
    assert not [v for v in first.violations if v.finding.rule_id == "s3_bucket_mfa_delete_enabled"]
    stored = DynamoDbHistory(table).changes(None)
    assert {c.rule_id for c in stored} >= {"s3_bucket_public_read_prohibited"}
    hub = client(aws, "securityhub")
    imported = [f for page in hub.get_paginator("get_findings").paginate() for f in page["Findings"]]
    assert sorted(f["Id"] for f in imported) == sorted(v.finding.finding_id for v in first.violations)

    s3.put_bucket_acl(Bucket="camp-site", ACL="private")
    second = scheduled_audit(configured, bootstrap_session(), aws.endpoint_url)

    assert [r.rule_id for r in second.resolved] == ["s3_bucket_public_read_prohibited"]
    assert {v.status for v in second.violations} == {"still_failing"}


def test_bad_settings_are_one_line() -> None:
    with pytest.raises(SettingsError, match=env.AUDIT_REGIONS):
        ScheduledAuditSettings.resolve({env.AUDIT_TABLE: "t"})
    with pytest.raises(SettingsError, match=f"{env.AUDIT_POLICY_CONFIG}: "):
        scheduled_audit(settings(**{env.AUDIT_POLICY_CONFIG: '{"no_such_rule": "mandatory"}'}))
