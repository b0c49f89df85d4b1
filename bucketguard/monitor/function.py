"""The deployed monitor: an SQS batch of EventBridge events (the watched CloudTrail calls) through the core,
one record at a time, failures reported per record (partial batch response).

A body that is not a well-formed CloudTrail event never gets better: it is logged (without its content)
and dropped, not retried into the DLQ. Anything else that fails (AWS unreachable, an alert not delivered)
fails its record alone, to be retried.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import Field

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.history import DynamoDbHistory
from bucketguard.audit.run import assume_role
from bucketguard.audit.settings import settings_from
from bucketguard.monitor.core import Monitor, Outcome
from bucketguard.monitor.deliver import AlertChannels
from bucketguard.monitor.events import InvalidEvent, parse_event
from bucketguard.monitor.ledger import DynamoDbLedger, DynamoDbUndoLog
from bucketguard.monitor.remediate import RemediationFixer
from bucketguard.pipeline import env
from bucketguard.pipeline.lambda_runtime import SqsFunction, function_metrics
from bucketguard.pipeline.notify import WebhookNotifier
from bucketguard.pipeline.settings import EnvSettings, Names, SettingsError
from bucketguard.policy.pack_config import parse_policy_config
from bucketguard.validation import ConfigError, Flag

log = logging.getLogger("bucketguard.monitor")


class MonitorSettings(EnvSettings):
    table: str = Field(validation_alias=env.MONITOR_TABLE)
    member_role_name: str = Field("", validation_alias=env.MONITOR_MEMBER_ROLE_NAME)
    ignored_principals: Names = Field((), validation_alias=env.MONITOR_IGNORED_PRINCIPALS)
    remediate: Names = Field((), validation_alias=env.MONITOR_REMEDIATE)
    regions: Names = Field((), validation_alias=env.MONITOR_REGIONS)
    listeners: Names = Field((), validation_alias=env.LISTENER_QUEUE_DIGESTS)
    security_hub: Flag = Field(False, validation_alias=env.MONITOR_SECURITY_HUB)
    policy_config: Annotated[str, Field(max_length=65536)] = Field(
        "{}", validation_alias=env.MONITOR_POLICY_CONFIG
    )
    alert_topic_arn: str = Field("", validation_alias=env.ALERT_TOPIC_ARN)
    webhook_secret_arn: str = Field("", validation_alias=env.WEBHOOK_SECRET_ARN)


def own_role_arn(caller_arn: str) -> str | None:
    """The role of an assumed-role session (``arn:aws:sts::A:assumed-role/R/S`` -> ``arn:aws:iam::A:role/R``):
    the function's own calls (fixes) are never judged. Lambda roles made by the stack have no path."""
    parts = caller_arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("assumed-role/"):
        return None
    return f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"


class MonitorFunction(SqsFunction):
    name = "monitor"

    def __init__(self, monitor: Monitor, *, metrics: Any = None) -> None:
        super().__init__(metrics)
        self.monitor = monitor

    def process(self, record: SQSRecord) -> Outcome | None:
        try:
            event = parse_event(json.loads(record.body), f"message {record.message_id}")
        except (InvalidEvent, json.JSONDecodeError) as exc:
            log.error(
                "not a CloudTrail event: dropped",
                extra={"message_id": record.message_id, "error": str(exc)[:300]},
            )
            self.count("EventsRefused")
            return None
        outcome = self.monitor.handle(event)
        self.count(f"Events_{outcome.result}")
        self.count("Alerts", len(outcome.alerts))
        log.info(
            "event handled",
            extra={
                "event_id": outcome.event_id,
                "event_name": outcome.event_name,
                "result": outcome.result,
                "reason": outcome.reason,
                "alerts": [f"{a.status} {a.rule_id} {a.resource_arn}" for a in outcome.alerts],
            },
        )
        return outcome

    @classmethod
    def from_environment(cls) -> MonitorFunction:
        import boto3

        settings = MonitorSettings.resolve()
        try:
            policy = settings_from(
                parse_policy_config(json.loads(settings.policy_config)), env.MONITOR_POLICY_CONFIG
            )
        except (json.JSONDecodeError, ConfigError) as exc:
            raise SettingsError(f"{env.MONITOR_POLICY_CONFIG}: {str(exc).splitlines()[0]}") from None
        session = boto3.Session()
        identity = session.client("sts").get_caller_identity()
        own_account = str(identity["Account"])
        own_role = own_role_arn(str(identity["Arn"]))
        table = session.resource("dynamodb").Table(settings.table)
        clients: dict[str, ClientFactory] = {}

        def clients_for(account: str) -> ClientFactory:
            if account not in clients:
                if account == own_account:
                    clients[account] = ClientFactory(session)
                elif not settings.member_role_name:
                    raise SettingsError(
                        f"an event of account {account}: {env.MONITOR_MEMBER_ROLE_NAME} is not set"
                    )
                else:
                    role = f"arn:aws:iam::{account}:role/{settings.member_role_name}"
                    clients[account] = ClientFactory(assume_role(session, role))
            return clients[account]

        webhook = (
            WebhookNotifier(session.client("secretsmanager"), settings.webhook_secret_arn)
            if settings.webhook_secret_arn
            else None
        )
        channels = AlertChannels(
            sns=session.client("sns") if settings.alert_topic_arn else None,
            topic_arn=settings.alert_topic_arn,
            webhook=webhook,
            securityhub_for=(lambda region: session.client("securityhub", region_name=region))
            if settings.security_hub
            else None,
            home_region=session.region_name or "us-east-1",
        )
        ledger = DynamoDbLedger(table)
        monitor = Monitor(
            clients_for=clients_for,
            history=DynamoDbHistory(table),
            ledger=ledger,
            fixer=RemediationFixer(policy, DynamoDbUndoLog(table), ledger) if settings.remediate else None,
            settings=policy,
            regions=settings.regions,
            listeners=frozenset(settings.listeners),
            ignored_principals=frozenset({*settings.ignored_principals, *([own_role] if own_role else [])}),
            remediate=frozenset(settings.remediate),
            deliver=channels,
        )
        return cls(monitor, metrics=function_metrics("monitor"))
