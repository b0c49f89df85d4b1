"""The deployed scheduled audit (AuditStack), fanned out over SQS: one message per account and region.

1. ``start_run`` (the schedule's function): the scheduled event's time names the run; the run is recorded in
   the history table with the units (account/region) it expects, then one message per unit is sent.
2. ``AuditUnitFunction`` (the queue's function): each message's account is collected and judged in its
   region with the collectors and rules, recorded in the findings history for that region (the account's
   global resources, IAM and the account-wide rules, with its first region), imported into Security Hub
   when enabled; its part of the report goes to the report bucket and its unit leaves the run's pending set.
3. The message that empties the set finishes the run (``finish_run``): the parts merged into the HTML and
   JSON reports in the report bucket, and the new critical and high failures published to the summary topic.

At-least-once delivery: everything a message writes is keyed by its run and unit (history rows by the run's
time, its part by its key, done as a set delete), so a message processed twice counts once. The finisher
holds a lease on the run (as long as its invocation may last) and marks the run reported after publishing: a
finisher that dies is replaced when its message is retried, so the summary is sent at least once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, replace
from typing import Annotated, Any

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import Field

from bucketguard.audit.history import NEW, DynamoDbHistory, now
from bucketguard.audit.reader import GLOBAL
from bucketguard.audit.report import (
    RENDERERS,
    AuditReport,
    build_report,
    import_into_security_hub,
    merge_reports,
    report_document,
    report_from_document,
)
from bucketguard.audit.run import account_of, assume_role, audit_accounts
from bucketguard.audit.settings import AuditSettings, settings_from
from bucketguard.pipeline import env
from bucketguard.pipeline.lambda_runtime import SqsFunction
from bucketguard.pipeline.settings import EnvSettings, Names, SettingsError
from bucketguard.policy.pack_config import parse_policy_config
from bucketguard.validation import ConfigError, Flag

log = logging.getLogger("bucketguard.audit")

RUN_PARTITION = "run"  # the history table's items of runs: pk "run", sk the run's time
RUN_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # EventBridge's `time`, the history's format
ROLE_ACCOUNT = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/")
SUMMARY_SEVERITIES = frozenset({"critical", "high"})
SUMMARY_LINES = 50  # failures listed in the message; the report has them all
LEASE_MARGIN_SECONDS = 30
REPORTS_PREFIX = "audits/"  # the report bucket's keys: audits/<run>/report.{html,json} and the units' parts


class AuditRunSettings(EnvSettings):
    table: str = Field(validation_alias=env.AUDIT_TABLE)
    regions: Names = Field(validation_alias=env.AUDIT_REGIONS)
    role_arns: Names = Field((), validation_alias=env.AUDIT_ROLE_ARNS)


class FanOutSettings(AuditRunSettings):
    queue_url: str = Field(validation_alias=env.AUDIT_QUEUE_URL)


class AuditUnitSettings(AuditRunSettings):
    report_bucket: str = Field(validation_alias=env.AUDIT_REPORT_BUCKET)
    summary_topic_arn: str = Field(validation_alias=env.AUDIT_SUMMARY_TOPIC_ARN)
    security_hub: Flag = Field(False, validation_alias=env.AUDIT_SECURITY_HUB)
    listeners: Names = Field((), validation_alias=env.LISTENER_QUEUE_DIGESTS)
    policy_config: Annotated[str, Field(max_length=65536)] = Field(
        "{}", validation_alias=env.AUDIT_POLICY_CONFIG
    )

    def policy(self) -> AuditSettings:
        try:
            return settings_from(parse_policy_config(json.loads(self.policy_config)), env.AUDIT_POLICY_CONFIG)
        except (json.JSONDecodeError, ConfigError) as exc:
            raise SettingsError(f"{env.AUDIT_POLICY_CONFIG}: {str(exc).splitlines()[0]}") from None


@dataclass(frozen=True)
class Unit:
    """One message's work: an account (through ``role_arn``; "" = the function's own) in one region."""

    run: str
    account: str
    region: str
    role_arn: str = ""

    @property
    def key(self) -> str:
        return f"{self.account}/{self.region}"

    def to_json(self) -> str:
        return json.dumps(
            {"run": self.run, "account": self.account, "region": self.region, "roleArn": self.role_arn}
        )

    @classmethod
    def parse(cls, body: str, settings: AuditRunSettings) -> Unit:
        """A message's unit, refused (ValueError) unless it is one the settings would send: a message names
        a role the function assumes, so only the configured roles and regions are accepted."""
        try:
            fields = json.loads(body)
            unit = cls(
                str(fields["run"]), str(fields["account"]), str(fields["region"]), str(fields["roleArn"])
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"not an audit unit message ({type(exc).__name__})") from None
        if not RUN_TIME.match(unit.run):
            raise ValueError("the run is not a time (YYYY-MM-DDTHH:MM:SSZ)")
        if unit.region not in settings.regions:
            raise ValueError(f"region {unit.region!r} is not audited")
        if unit.role_arn and (
            unit.role_arn not in settings.role_arns or role_account(unit.role_arn) != unit.account
        ):
            raise ValueError("the role is not one of the audit's roleArns for this account")
        return unit


def role_account(role_arn: str) -> str:
    match = ROLE_ACCOUNT.match(role_arn)
    if not match:
        raise ValueError(f"{role_arn!r} is not an IAM role ARN")
    return match.group(1)


def run_id(event: Any) -> str:
    """The scheduled event's time (a retried invocation gets the same run); now when invoked by hand."""
    given = event.get("time") if isinstance(event, dict) else None
    if given is None:
        return now()
    if not isinstance(given, str) or not RUN_TIME.match(given):
        raise ValueError("the event's time is not YYYY-MM-DDTHH:MM:SSZ")
    return given


def _run_key(run: str) -> dict[str, str]:
    return {"pk": RUN_PARTITION, "sk": run}


# -------------------------------------------------------------------------------------------- fan-out
def units_of(run: str, own_account: str, settings: AuditRunSettings) -> list[Unit]:
    """Every (account, region) of a run: the function's own account, then each role's (an account listed
    twice is audited once)."""
    accounts = {own_account: ""}
    for arn in settings.role_arns:
        accounts.setdefault(role_account(arn), arn)
    return [
        Unit(run, account, region, role) for account, role in accounts.items() for region in settings.regions
    ]


def start_run(run: str, settings: FanOutSettings, session: boto3.Session) -> list[Unit]:
    """Records the run and sends one message per unit still pending (all of them, unless a retried
    invocation finds the run started); the units sent."""
    from botocore.exceptions import ClientError

    own = str(session.client("sts").get_caller_identity()["Account"])
    units = units_of(run, own, settings)
    table = session.resource("dynamodb").Table(settings.table)
    try:
        table.put_item(
            Item={
                **_run_key(run),
                "units": [u.key for u in units],
                "pending": {u.key for u in units},
                "started_at": now(),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        started = table.get_item(Key=_run_key(run), ConsistentRead=True).get("Item", {})
        pending = set(started.get("pending") or ())
        units = [u for u in units if u.key in pending]
    sqs = session.client("sqs")
    for start in range(0, len(units), 10):
        batch = units[start : start + 10]
        failed = sqs.send_message_batch(
            QueueUrl=settings.queue_url,
            Entries=[{"Id": str(i), "MessageBody": u.to_json()} for i, u in enumerate(batch)],
        ).get("Failed", [])
        if failed:
            raise RuntimeError(f"the queue refused {len(failed)} unit message(s): {failed[0].get('Code')}")
    log.info("audit run started", extra={"run": run, "units": len(units)})
    return units


# ----------------------------------------------------------------------------------------------- units
def part_key(run: str, unit_key: str) -> str:
    """Where a unit's part of the run's report is kept."""
    return f"{REPORTS_PREFIX}{run}/parts/{unit_key.replace('/', '-')}.json"


def report_keys(run: str) -> dict[str, str]:
    return {"html": f"{REPORTS_PREFIX}{run}/report.html", "json": f"{REPORTS_PREFIX}{run}/report.json"}


def audit_unit(
    unit: Unit, settings: AuditUnitSettings, session: boto3.Session, endpoint_url: str | None
) -> AuditReport:
    """Collects and judges one account in one region, recorded in the history as part of its run."""
    started = time.monotonic()
    policy = settings.policy()
    audited = assume_role(session, unit.role_arn, endpoint_url) if unit.role_arn else session
    account = account_of(audited, endpoint_url)
    if account.account_id != unit.account:
        raise ValueError(
            f"the credentials are for account {account.account_id}, the message names {unit.account}"
        )
    account.regions = (unit.region,)
    [result] = audit_accounts([account], rule_configs=policy.judged, listeners=frozenset(settings.listeners))
    home = settings.regions[0]
    # Global resources and account-wide rules are judged by every region's message, kept by the first's.
    scope = {unit.region, GLOBAL} if unit.region == home else {unit.region}
    result = replace(result, findings=[f for f in result.findings if f.region in scope])
    history = DynamoDbHistory(session.resource("dynamodb").Table(settings.table))
    report = build_report([result], policy, history=history, at=unit.run, regions=scope, retry_safe=True)
    report.home_regions = {unit.account: home}
    report.resources = sum(1 for r in result.facts.resources if (r.region or GLOBAL) in scope)
    report.api_calls = account.clients.calls
    report.seconds = time.monotonic() - started
    if settings.security_hub:
        import_into_security_hub(report, {unit.account: account.clients})
    return report


# ----------------------------------------------------------------------------------------------- finish
def summary_message(report: AuditReport, bucket: str) -> tuple[str, str]:
    """(subject, text) of the run's summary: the new critical and high failures since the last run."""
    new = [v for v in report.violations if v.status == NEW and v.finding.severity in SUMMARY_SEVERITIES]
    s = report.summary()
    subject = f"bucketguard audit {report.at}: {len(new)} new critical/high failure(s)"
    lines = [
        f"Audit run {report.at}: {len(s['accounts'])} account(s), {s['resources']} resources, "
        f"{s['violations']} failures ({s['new']} new), {s['resolved']} resolved.",
        "",
        f"New critical and high failures since the last run: {len(new)}",
    ]
    for v in new[:SUMMARY_LINES]:
        f = v.finding
        lines.append(f"- {f.severity.upper()} {f.rule_id}: {f.resource_name[:200]} ({f.account}/{f.region})")
    if len(new) > SUMMARY_LINES:
        lines.append(f"- ... and {len(new) - SUMMARY_LINES} more in the report")
    keys = report_keys(report.at)
    lines += ["", "Reports:", *(f"s3://{bucket}/{key}" for key in keys.values())]
    return subject, "\n".join(lines)


def finish_run(
    run: str, settings: AuditUnitSettings, session: boto3.Session, lease_seconds: float
) -> AuditReport | None:
    """Writes the run's reports and publishes its summary, unless another invocation holds the run or it
    was reported; the merged report, or None."""
    from botocore.exceptions import ClientError

    table = session.resource("dynamodb").Table(settings.table)
    clock = int(time.time())
    try:
        item = table.update_item(
            Key=_run_key(run),
            UpdateExpression="SET lease_until = :until",
            ConditionExpression=(
                "attribute_exists(pk) AND attribute_not_exists(reported_at) "
                "AND (attribute_not_exists(lease_until) OR lease_until < :now)"
            ),
            ExpressionAttributeValues={":until": clock + int(lease_seconds), ":now": clock},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return None  # reported, or being reported
        raise
    s3 = session.client("s3")
    try:
        parts = [
            report_from_document(
                json.loads(
                    s3.get_object(Bucket=settings.report_bucket, Key=part_key(run, key))["Body"].read()
                )
            )
            for key in item["units"]
        ]
        report = merge_reports(parts, run)
        for fmt, key in report_keys(run).items():
            body = RENDERERS[fmt](report).encode()
            content_type = "text/html; charset=utf-8" if fmt == "html" else "application/json"
            s3.put_object(Bucket=settings.report_bucket, Key=key, Body=body, ContentType=content_type)
        subject, text = summary_message(report, settings.report_bucket)
        session.client("sns").publish(TopicArn=settings.summary_topic_arn, Subject=subject, Message=text)
    except Exception:
        # released, so that this message's retry finishes the run
        table.update_item(Key=_run_key(run), UpdateExpression="REMOVE lease_until")
        raise
    table.update_item(
        Key=_run_key(run),
        UpdateExpression="SET reported_at = :at REMOVE lease_until",
        ExpressionAttributeValues={":at": now()},
    )
    log.info("audit run reported", extra={"run": run, "summary": report.summary()})
    return report


# ------------------------------------------------------------------------------------------ the function
class AuditUnitFunction(SqsFunction):
    """The queue's function: each record one unit (a partial batch response fails the records that
    failed); the unit that completes its run finishes it."""

    name = "audit"

    def __init__(
        self, settings: AuditUnitSettings, session: boto3.Session, endpoint_url: str | None = None
    ) -> None:
        super().__init__()
        settings.policy()  # a bad policy config stops the function at start, not message by message
        self.settings = settings
        self.session = session
        self.endpoint_url = endpoint_url
        self.table = session.resource("dynamodb").Table(settings.table)
        self.s3 = session.client("s3")
        self._context: Any = None

    @classmethod
    def from_environment(cls) -> AuditUnitFunction:
        # botocore's own variable; named here too so the S3 Control client reaches the same endpoint
        return cls(AuditUnitSettings.resolve(), boto3.Session(), os.environ.get("AWS_ENDPOINT_URL") or None)

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        self._context = context
        return super().handle(event, context)

    def process(self, record: SQSRecord) -> None:
        unit = Unit.parse(record.body, self.settings)
        report = audit_unit(unit, self.settings, self.session, self.endpoint_url)
        self.s3.put_object(
            Bucket=self.settings.report_bucket,
            Key=part_key(unit.run, unit.key),
            Body=json.dumps(report_document(report)).encode(),
            ContentType="application/json",
        )
        run = self.table.update_item(
            Key=_run_key(unit.run),
            UpdateExpression="DELETE pending :unit",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":unit": {unit.key}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        log.info(
            "audit unit done",
            extra={"run": unit.run, "unit": unit.key, "pending": len(run.get("pending") or ())},
        )
        if not run.get("pending") and "reported_at" not in run:
            finish_run(unit.run, self.settings, self.session, self._lease_seconds())

    def _lease_seconds(self) -> float:
        remaining = self._context.get_remaining_time_in_millis() / 1000 if self._context is not None else 900
        return remaining + LEASE_MARGIN_SECONDS


def handle_schedule(event: Any, settings: FanOutSettings | None = None) -> dict[str, Any]:
    """The fan-out function's work for one scheduled event: the run and the units sent."""
    run = run_id(event)
    units = start_run(run, settings or FanOutSettings.resolve(), boto3.Session())
    return {"run": run, "units": [u.key for u in units]}
