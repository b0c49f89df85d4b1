"""The deployed scheduled audit (AuditStack): on each EventBridge schedule, its own account and the account of
each role it may assume, in the configured regions, judged with the policy config, recorded in the DynamoDB
findings history, and imported into Security Hub when enabled. Returns the run's summary."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import boto3
from pydantic import Field

from bucketguard.audit.history import DynamoDbHistory
from bucketguard.audit.report import AuditReport, build_report, import_into_security_hub
from bucketguard.audit.run import account_of, assume_role, audit_accounts
from bucketguard.audit.settings import settings_from
from bucketguard.pipeline import env
from bucketguard.pipeline.settings import EnvSettings, Names, SettingsError
from bucketguard.policy.pack_config import parse_policy_config
from bucketguard.validation import ConfigError, Flag

log = logging.getLogger("bucketguard.audit")


class ScheduledAuditSettings(EnvSettings):
    table: str = Field(validation_alias=env.AUDIT_TABLE)
    regions: Names = Field(validation_alias=env.AUDIT_REGIONS)
    role_arns: Names = Field((), validation_alias=env.AUDIT_ROLE_ARNS)
    security_hub: Flag = Field(False, validation_alias=env.AUDIT_SECURITY_HUB)
    policy_config: Annotated[str, Field(max_length=65536)] = Field(
        "{}", validation_alias=env.AUDIT_POLICY_CONFIG
    )


def scheduled_audit(
    settings: ScheduledAuditSettings, session: boto3.Session | None = None, endpoint_url: str | None = None
) -> AuditReport:
    """One scheduled run (``endpoint_url``: every client there, for moto)."""
    try:
        policy = settings_from(
            parse_policy_config(json.loads(settings.policy_config)), env.AUDIT_POLICY_CONFIG
        )
    except (json.JSONDecodeError, ConfigError) as exc:
        raise SettingsError(f"{env.AUDIT_POLICY_CONFIG}: {str(exc).splitlines()[0]}") from None
    session = session or boto3.Session()
    sessions = [session, *(assume_role(session, arn, endpoint_url) for arn in settings.role_arns)]
    accounts = [account_of(s, endpoint_url) for s in sessions]
    for account in accounts:
        account.regions = tuple(settings.regions)
    results = audit_accounts(accounts, rule_configs=policy.judged)
    table = session.resource("dynamodb", endpoint_url=endpoint_url).Table(settings.table)
    report = build_report(results, policy, history=DynamoDbHistory(table))
    report.home_regions = {a.account_id: settings.regions[0] for a in accounts}
    report.api_calls = sum(a.clients.calls for a in accounts)
    if settings.security_hub:
        import_into_security_hub(report, {a.account_id: a.clients for a in accounts})
    return report


def handle_schedule(event: Any, settings: ScheduledAuditSettings | None = None) -> dict[str, Any]:
    """The Lambda's work for one EventBridge scheduled event: the run's summary (logged and returned)."""
    report = scheduled_audit(settings or ScheduledAuditSettings.resolve())
    summary = report.summary()
    log.info("audit done", extra={"summary": summary, "trigger": str(event.get("id", ""))[:64]})
    return summary
