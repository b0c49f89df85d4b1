"""Real-time monitoring (bucketguard:monitor): CloudTrail management events -> EventBridge -> an encrypted
queue -> the monitor function, which re-reads the resource, judges it and alerts.

* ``MonitorStack`` (security account, home region): the KMS key, the DynamoDB history table (encrypted,
  point-in-time recovery, TTL for remembered event ids), the queue and its DLQ, the alert topic, the
  function, the rule that sends the watched events to the queue, and the default bus's policy admitting
  only the monitored accounts (or the organisation).
* ``MonitorForwarder`` (every other region of the security account, every region of a monitored account):
  the same event pattern, forwarded to the security account's bus.
* ``MonitorMemberRole`` (each monitored account): what the function may do there: the audit's read
  actions, and nothing else.

The monitor needs a CloudTrail trail with management events in each account: without one there are no
events (the README says so). ``createTrail`` makes one in the security account (infra/monitor_trail.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import pulumi
import pulumi_aws as aws

from bucketguard.audit.permissions import read_statements
from bucketguard.monitor.table import event_pattern
from bucketguard.packaging import HANDLERS
from bucketguard.pipeline import env
from bucketguard.remediation import remediation_statements
from infra.alarms import PipelineAlarms, PipelineAlarmsArgs, alert_topic
from infra.config import MonitorConfig, member_role_arn
from infra.function import PipelineFunction, PipelineFunctionArgs
from infra.history_table import (
    history_table,
    listener_digests,
    security_hub_products,
    table_key_statement,
)
from infra.keys import component_key
from infra.monitor_trail import MonitorTrail, MonitorTrailArgs, trail_arn, trail_key_statements
from infra.policies import (
    KMS_ENCRYPT_ACTIONS,
    SQS_CONSUME_ACTIONS,
    Statement,
    allow,
    document,
    in_account,
    key_admin_statement,
    key_service_statement,
    key_use_statement,
)
from infra.queue import EncryptedQueue, EncryptedQueueArgs

MONITOR_HANDLER = HANDLERS["monitor"]
TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
]
PATTERN = json.dumps(event_pattern())
# CloudTrail sends the calls of global services (IAM: AttachRolePolicy, PutRolePolicy, CreateRole...) to
# EventBridge in us-east-1 only: a rule in any other region never sees them.
GLOBAL_PATTERN = json.dumps(
    {
        **event_pattern(),
        "source": ["aws.iam"],
        "detail": {**event_pattern()["detail"], "eventSource": ["iam.amazonaws.com"]},
    }
)


def _events_trust() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def bus_arn(region: str, account: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:aws:events:", region, ":", account, ":event-bus/default")


@dataclass
class MonitorStackArgs:
    config: MonitorConfig
    account_id: pulumi.Input[str]
    code: pulumi.Archive
    architecture: str
    member_accounts: Sequence[str]  # the monitored accounts other than this one
    policy_config: Mapping[str, object] = field(default_factory=dict)  # the rules' settings (allowedRegions)
    listener_queue_arns: Sequence[pulumi.Input[str]] = ()  # the storages' (audit.run.join)
    tags: dict[str, str] = field(default_factory=dict)


class MonitorStack(pulumi.ComponentResource):
    key: aws.kms.Key
    table: aws.dynamodb.Table
    queue: EncryptedQueue
    alert_topic: aws.sns.Topic
    monitor: PipelineFunction
    rule: aws.cloudwatch.EventRule
    trail: MonitorTrail | None

    def __init__(self, name: str, args: MonitorStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:monitor:MonitorStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        region = config.region
        self.key = component_key(
            f"{name}-key",
            description="bucketguard monitor: events queue, history table, alerts",
            tags=args.tags,
            opts=child,
        )
        # remembered event ids and fix times expire (bucketguard.monitor.ledger)
        self.table = history_table(
            f"{name}-history",
            kms_key_arn=self.key.arn,
            tags=args.tags,
            opts=child,
            expires_attribute="expires_at",
        )
        rule_arn = pulumi.Output.concat(
            "arn:aws:events:", region, ":", args.account_id, ":rule/", name, "-rule"
        )
        self.queue = EncryptedQueue(
            f"{name}-events",
            EncryptedQueueArgs(
                kms_key_arn=self.key.arn,
                visibility_timeout_seconds=6 * 120,
                allow_statements=lambda queue_arn: [
                    {
                        "Sid": "WatchedEventsOnly",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": ["sqs:SendMessage"],
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                    }
                ],
                tags=args.tags,
            ),
            opts=child,
        )
        self.alert_topic = alert_topic(
            f"{name}-alerts",
            kms_key_arn=self.key.arn,
            account_id=args.account_id,
            emails=config.notify_emails,
            tags=args.tags,
            opts=child,
        )
        member_roles = [member_role_arn(a, config.member_role_name) for a in args.member_accounts]
        statements: list[Statement] = [
            # what events touch in this account (the monitored accounts' through their member roles)
            *in_account(read_statements, args.account_id),
            allow("ConsumeEvents", SQS_CONSUME_ACTIONS, self.queue.queue.arn),
            allow("FindingsHistory", TABLE_ACTIONS, self.table.arn),
            allow("PublishAlerts", ["sns:Publish"], self.alert_topic.arn),
            allow("UseKeyThroughServices", KMS_ENCRYPT_ACTIONS, self.key.arn),
        ]
        # only what the enabled fixers call, on the resources they change in this account (the monitored
        # accounts' are fixed through their member roles); none enabled: nothing written
        statements += in_account(partial(remediation_statements, config.remediate), args.account_id)
        if member_roles:
            statements.append(allow("ReadMonitoredAccounts", ["sts:AssumeRole"], member_roles))
        if config.security_hub:
            products = security_hub_products(args.account_id, config.monitored_regions)
            statements.append(allow("ImportFindings", ["securityhub:BatchImportFindings"], products))
        if config.webhook_secret_arn:
            statements.append(
                allow("ReadWebhookUrl", ["secretsmanager:GetSecretValue"], config.webhook_secret_arn)
            )
        policy_config = json.dumps(dict(args.policy_config))
        self.monitor = PipelineFunction(
            f"{name}-monitor",
            PipelineFunctionArgs(
                code=args.code,
                handler=MONITOR_HANDLER,
                architecture=args.architecture,
                queue_arn=self.queue.queue.arn,
                statements=statements,
                environment={
                    env.MONITOR_TABLE: self.table.name,
                    # its own role is added at run time; the member roles' fixes must not loop either
                    env.MONITOR_IGNORED_PRINCIPALS: ",".join(member_roles),
                    env.MONITOR_MEMBER_ROLE_NAME: config.member_role_name,
                    env.MONITOR_REMEDIATE: ",".join(config.remediate),
                    env.MONITOR_REGIONS: ",".join(config.monitored_regions),
                    env.MONITOR_SECURITY_HUB: str(config.security_hub).lower(),
                    env.MONITOR_POLICY_CONFIG: policy_config,
                    env.LISTENER_QUEUE_DIGESTS: listener_digests(args.listener_queue_arns),
                    env.ALERT_TOPIC_ARN: self.alert_topic.arn,
                    **(
                        {env.WEBHOOK_SECRET_ARN: config.webhook_secret_arn}
                        if config.webhook_secret_arn
                        else {}
                    ),
                },
                timeout_seconds=120,
                reserved_concurrency=config.reserved_concurrency,
                log_retention_days=config.log_retention_days,
                description="bucketguard monitor: judges the resource each watched CloudTrail event touched",
                tags=args.tags,
            ),
            opts=child,
        )
        trail_name = f"{name}-trail"
        trail_statements = (
            trail_key_statements(trail_arn(trail_name, region, args.account_id), args.account_id)
            if config.create_trail
            else []
        )
        key_policy = aws.kms.KeyPolicy(
            f"{name}-key-policy",
            key_id=self.key.key_id,
            policy=document(
                [
                    key_admin_statement(args.account_id),
                    key_use_statement(
                        "MonitorUsesKey",
                        self.monitor.role.arn,
                        services=["sqs", "sns", "dynamodb"],
                        region=region,
                    ),
                    key_service_statement("EventBridgeSendsEvents", "events.amazonaws.com", args.account_id),
                    key_service_statement("CloudWatchAlarms", "cloudwatch.amazonaws.com", args.account_id),
                    table_key_statement(args.account_id, region),
                    *trail_statements,
                ]
            ),
            opts=child,
        )
        self.trail = (
            MonitorTrail(
                f"{name}-cloudtrail",
                MonitorTrailArgs(
                    trail_name=trail_name,
                    region=region,
                    account_id=args.account_id,
                    kms_key_arn=self.key.arn,
                    key_policy=key_policy,
                    tags=args.tags,
                ),
                opts=child,
            )
            if config.create_trail
            else None
        )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            name=f"{name}-rule",  # named: the queue policy names the rule before it exists
            description="bucketguard monitor: the watched CloudTrail calls that succeeded",
            event_pattern=PATTERN,
            tags=args.tags,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-rule-target",
            rule=self.rule.name,
            arn=self.queue.queue.arn,
            opts=child,
        )
        if args.member_accounts or config.organization_id:
            principal = (
                {"AWS": "*"}
                if config.organization_id
                else {"AWS": [f"arn:aws:iam::{a}:root" for a in args.member_accounts]}
            )
            condition = (
                {"StringEquals": {"aws:PrincipalOrgID": config.organization_id}}
                if config.organization_id
                else None
            )
            statement: Statement = {
                "Sid": "MonitoredAccountsForwardEvents",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "events:PutEvents",
                "Resource": bus_arn(region, args.account_id),
            }
            if condition:
                statement["Condition"] = condition
            aws.cloudwatch.EventBusPolicy(
                f"{name}-bus-policy", event_bus_name="default", policy=document([statement]), opts=child
            )
        PipelineAlarms(
            f"{name}-alarms",
            PipelineAlarmsArgs(
                alarm_topic_arn=self.alert_topic.arn,
                function_names={"monitor": self.monitor.function.name},
                dead_letter_queue_names={"monitor": self.queue.dead_letter_queue.name},
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "tableName": self.table.name,
                "queueArn": self.queue.queue.arn,
                "alertTopicArn": self.alert_topic.arn,
                "roleArn": self.monitor.role.arn,
                "trailArn": self.trail.trail.arn if self.trail else None,
            }
        )


@dataclass
class MonitorForwarderArgs:
    regions: Sequence[str]
    target_bus_arn: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)
    # Regions among `regions` only forwarded for the global services' events (us-east-1 when not watched).
    global_only: Sequence[str] = ()


class MonitorForwarder(pulumi.ComponentResource):
    """The watched events of one account's ``regions`` sent to the monitor's bus. ``providers``: one per
    region (EventBridge rules are regional; the role is global, made with the first)."""

    def __init__(
        self,
        name: str,
        args: MonitorForwarderArgs,
        providers: Mapping[str, aws.Provider],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bucketguard:monitor:MonitorForwarder", name, None, opts)
        first = providers[args.regions[0]]
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=_events_trust(),
            description="bucketguard monitor: forwards the watched events to the monitor's bus",
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, provider=first),
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=document([allow("ForwardToMonitor", ["events:PutEvents"], args.target_bus_arn)]),
            opts=pulumi.ResourceOptions(parent=self, provider=first),
        )
        for region in args.regions:
            regional = pulumi.ResourceOptions(parent=self, provider=providers[region])
            rule = aws.cloudwatch.EventRule(
                f"{name}-{region}",
                description="bucketguard monitor: the watched CloudTrail calls, forwarded",
                event_pattern=GLOBAL_PATTERN if region in args.global_only else PATTERN,
                tags=args.tags,
                opts=regional,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{region}-target",
                rule=rule.name,
                arn=args.target_bus_arn,
                role_arn=self.role.arn,
                opts=regional,
            )
        self.register_outputs({"roleArn": self.role.arn})


class MonitorMemberRole(pulumi.ComponentResource):
    """The role the monitor function assumes in a monitored account: the audit's read actions, and the
    actions of the enabled fixers only."""

    def __init__(
        self,
        name: str,
        role_name: str,
        monitor_role_arn: pulumi.Input[str],
        tags: dict[str, str],
        account: str,
        remediate: Sequence[str] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bucketguard:monitor:MonitorMemberRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        trust = pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": monitor_role_arn}, "Action": "sts:AssumeRole"}
                ],
            }
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=role_name,
            assume_role_policy=trust,
            description="bucketguard monitor: re-reads what a CloudTrail event touched",
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=document(
                [
                    *read_statements(account),
                    *remediation_statements(remediate, account),
                ]
            ),
            opts=child,
        )
        self.register_outputs({"roleArn": self.role.arn})
