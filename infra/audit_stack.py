"""AuditStack: the scheduled audit, fanned out (``bucketguard.scheduled_audit``). An EventBridge schedule
starts the fan-out function, which records the run in the history table and sends one message per account and
region to an encrypted queue (with a DLQ); the audit function (one message per invocation, partial batch
failures) judges that account and region, records the findings history, imports into Security Hub when
enabled, and the run's last message writes the HTML and JSON reports to the report bucket and publishes the
new critical and high failures to the summary topic (e-mail subscriptions from ``notifyEmails``). Alarms on
the DLQ and the functions' errors go to the same topic: a unit that never succeeds leaves its run unreported.

Least privilege: the audit role may call exactly the read-only actions the collectors call (listed by
``bucketguard.audit.run.required_actions``, no wildcard action, no ReadOnlyAccess), consume its queue, query,
batch-write and update its table, read and write reports under ``audits/`` in its bucket, publish to its
topic, use its own key through those services, assume only the listed roles and import only into its
accounts' own Security Hub products. The fan-out may send to the queue and start runs in the table, nothing
else. In another account, the role it assumes needs the same read-only actions (README: "Auditing live
accounts").
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from bucketguard.audit.permissions import read_statements
from bucketguard.packaging import HANDLERS
from bucketguard.pipeline import env
from bucketguard.scheduled_audit import REPORTS_PREFIX
from infra.alarms import PipelineAlarms, PipelineAlarmsArgs, alert_topic
from infra.config import AuditConfig
from infra.function import PipelineFunction, PipelineFunctionArgs, invoke_on_schedule
from infra.history_table import (
    history_table,
    listener_digests,
    security_hub_products,
    table_key_statement,
)
from infra.keys import component_key
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
    owned_by,
    roles_of_account,
)
from infra.queue import EncryptedQueue, EncryptedQueueArgs
from infra.secure_bucket import SecureBucket, SecureBucketArgs, access_log_bucket

UNIT_TIMEOUT_SECONDS = 900  # one account in one region, within Lambda's limit


def report_bucket_name(account_id: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """Unique per stack, account and region (58 characters at most with "-logs": the stack's name is cut to
    12)."""
    stack = re.sub(r"[^a-z0-9-]+", "-", pulumi.get_stack().lower()).strip("-")[:12].strip("-")
    return pulumi.Output.concat("bucketguard-", stack, "-audit-", account_id, "-", region)


@dataclass
class AuditStackArgs:
    config: AuditConfig
    account_id: pulumi.Input[str]
    code: pulumi.Archive
    architecture: str
    listener_queue_arns: Sequence[pulumi.Input[str]] = ()  # the storages' (audit.run.join)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditResources:
    """The ARNs the audit's statements name."""

    table: pulumi.Input[str]
    key: pulumi.Input[str]
    queue: pulumi.Input[str]
    bucket: pulumi.Input[str]
    topic: pulumi.Input[str]


def audit_statements(
    config: AuditConfig, account_id: pulumi.Input[str], arns: AuditResources
) -> list[Statement]:
    """The audit function's: one account and region per message, and the run's reports."""
    statements = [
        # this account's (the others' through the roles of roleArns)
        *in_account(read_statements, account_id),
        allow("ConsumeUnits", SQS_CONSUME_ACTIONS, arns.queue),
        allow(
            "KeepTheFindingsHistory",
            ["dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"],
            arns.table,
        ),
        allow(
            "WriteReports",
            ["s3:PutObject", "s3:GetObject"],
            pulumi.Output.concat(arns.bucket, "/", REPORTS_PREFIX, "*"),
            Condition=owned_by(account_id),
        ),
        allow("PublishSummary", ["sns:Publish"], arns.topic),
        allow("UseTheAuditKey", KMS_ENCRYPT_ACTIONS, arns.key),
    ]
    if config.role_arns:
        statements.append(allow("AuditOtherAccounts", ["sts:AssumeRole"], list(config.role_arns)))
    if config.security_hub:
        products = security_hub_products(account_id, config.regions)
        statements.append(allow("ImportFindings", ["securityhub:BatchImportFindings"], products))
    return statements


def fan_out_statements(arns: AuditResources) -> list[Statement]:
    """The fan-out's: start a run in the table, send its messages."""
    return [
        allow("SendUnits", ["sqs:SendMessage"], arns.queue),
        allow("StartRuns", ["dynamodb:PutItem", "dynamodb:GetItem"], arns.table),
        allow("UseTheAuditKey", KMS_ENCRYPT_ACTIONS, arns.key),
    ]


class AuditStack(pulumi.ComponentResource):
    key: aws.kms.Key
    table: aws.dynamodb.Table
    queue: EncryptedQueue
    reports: SecureBucket
    report_logs: SecureBucket
    summary_topic: aws.sns.Topic
    fan_out: PipelineFunction
    function: PipelineFunction
    schedule: aws.cloudwatch.EventRule

    def __init__(self, name: str, args: AuditStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:audit:AuditStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        self.key = component_key(
            f"{name}-key",
            description="bucketguard audit: findings history, unit queue, reports, summary",
            tags=args.tags,
            opts=child,
        )
        self.table = history_table(f"{name}-history", kms_key_arn=self.key.arn, tags=args.tags, opts=child)
        self.queue = EncryptedQueue(
            f"{name}-units",
            EncryptedQueueArgs(
                kms_key_arn=self.key.arn,
                visibility_timeout_seconds=6 * UNIT_TIMEOUT_SECONDS,
                tags=args.tags,
            ),
            opts=child,
        )
        reports_name = report_bucket_name(args.account_id, config.region)
        self.report_logs = access_log_bucket(
            f"{name}-reports-logs",
            bucket_name=pulumi.Output.concat(reports_name, "-logs"),
            source_bucket_names=[reports_name],
            account_id=args.account_id,
            tags=args.tags,
            opts=child,
        )
        self.reports = SecureBucket(
            f"{name}-reports",
            SecureBucketArgs(
                bucket_name=reports_name,
                kms_key_arn=self.key.arn,
                tags=args.tags,
                role="internal",
                # Through the policy's output: logging is switched on only once log delivery is admitted.
                access_log_bucket=self.report_logs.policy.bucket,
            ),
            opts=child,
        )
        self.summary_topic = alert_topic(
            f"{name}-summary",
            kms_key_arn=self.key.arn,
            account_id=args.account_id,
            emails=config.notify_emails,
            tags=args.tags,
            opts=child,
        )
        arns = AuditResources(
            table=self.table.arn,
            key=self.key.arn,
            queue=self.queue.queue.arn,
            bucket=self.reports.bucket.arn,
            topic=self.summary_topic.arn,
        )
        run: dict[str, pulumi.Input[str]] = {
            env.AUDIT_TABLE: self.table.name,
            env.AUDIT_REGIONS: ",".join(config.regions),
            env.AUDIT_ROLE_ARNS: ",".join(config.role_arns),
        }
        self.fan_out = PipelineFunction(
            f"{name}-fanout",
            PipelineFunctionArgs(
                code=args.code,
                handler=HANDLERS["audit_fanout"],
                architecture=args.architecture,
                queue_arn=None,
                statements=fan_out_statements(arns),
                environment={**run, env.AUDIT_QUEUE_URL: self.queue.queue.url},
                memory_mb=256,
                timeout_seconds=120,
                reserved_concurrency=1,
                log_retention_days=config.log_retention_days,
                description="bucketguard: scheduled audit, one message per account and region",
                tags=args.tags,
            ),
            opts=child,
        )
        self.function = PipelineFunction(
            f"{name}-run",
            PipelineFunctionArgs(
                code=args.code,
                handler=HANDLERS["audit"],
                architecture=args.architecture,
                queue_arn=self.queue.queue.arn,
                statements=audit_statements(config, args.account_id, arns),
                environment={
                    **run,
                    env.AUDIT_REPORT_BUCKET: self.reports.bucket.bucket,
                    env.AUDIT_SUMMARY_TOPIC_ARN: self.summary_topic.arn,
                    env.AUDIT_SECURITY_HUB: "true" if config.security_hub else "false",
                    env.AUDIT_POLICY_CONFIG: json.dumps(config.policy_config),
                    env.LISTENER_QUEUE_DIGESTS: listener_digests(args.listener_queue_arns),
                },
                memory_mb=1024,
                timeout_seconds=UNIT_TIMEOUT_SECONDS,
                reserved_concurrency=config.concurrency,
                batch_size=1,  # each account and region gets a whole invocation
                log_retention_days=config.log_retention_days,
                description="bucketguard: scheduled audit of one account and region",
                tags=args.tags,
            ),
            opts=child,
        )
        aws.kms.KeyPolicy(
            f"{name}-key-policy",
            key_id=self.key.key_id,
            policy=document(
                [
                    key_admin_statement(args.account_id),
                    key_use_statement(
                        "AuditFunctionsUseKey",
                        [self.fan_out.role.arn, self.function.role.arn],
                        services=["sqs", "s3", "sns", "dynamodb"],
                        region=config.region,
                    ),
                    key_service_statement("CloudWatchAlarms", "cloudwatch.amazonaws.com", args.account_id),
                    table_key_statement(args.account_id, config.region),
                    *(
                        [
                            key_use_statement(
                                "ReportReadersDecrypt",
                                roles_of_account(
                                    "audit", "reportReaderArns", config.report_reader_arns, args.account_id
                                ),
                                services=["s3"],
                                region=config.region,
                                actions=["kms:Decrypt"],
                            )
                        ]
                        if config.report_reader_arns
                        else []
                    ),
                ]
            ),
            opts=child,
        )
        self.schedule = invoke_on_schedule(
            name,
            self.fan_out.function,
            schedule=config.schedule,
            account_id=args.account_id,
            description="bucketguard: scheduled audit",
            tags=args.tags,
            parent=self,
        )
        PipelineAlarms(
            f"{name}-alarms",
            PipelineAlarmsArgs(
                alarm_topic_arn=self.summary_topic.arn,
                function_names={
                    "audit-fanout": self.fan_out.function.name,
                    "audit": self.function.function.name,
                },
                dead_letter_queue_names={"audit": self.queue.dead_letter_queue.name},
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "historyTable": self.table.name,
                "reportBucket": self.reports.bucket.bucket,
                "summaryTopicArn": self.summary_topic.arn,
                "queueUrl": self.queue.queue.url,
            }
        )
