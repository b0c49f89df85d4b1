"""AuditStack: the scheduled audit. An EventBridge schedule starts the audit function (functions/audit), which
reads its own account and each `roleArns` account in `regions` with the collectors, judges them with the
policy config and records the findings history in an encrypted DynamoDB table; with `securityHub` it imports
the findings into each account's Security Hub.

Least privilege: the function's role may call exactly the read-only actions the collectors call (listed by
`bucketguard.audit.run.required_actions`, no wildcard action, no ReadOnlyAccess), query and batch-write its
own table, use its own key, assume only the listed roles and import only into its accounts' own Security Hub
products. In another account, the role it assumes needs the same read-only actions (README: "Auditing live
accounts").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from bucketguard.audit.run import required_actions
from bucketguard.packaging import HANDLERS
from bucketguard.pipeline import env
from infra.config import AuditConfig
from infra.function import PipelineFunction, PipelineFunctionArgs, invoke_on_schedule
from infra.history_table import history_table, security_hub_products
from infra.keys import component_key
from infra.policies import KMS_ENCRYPT_ACTIONS, Statement, allow

HANDLER = HANDLERS["audit"]


@dataclass
class AuditStackArgs:
    config: AuditConfig
    account_id: pulumi.Input[str]
    code: pulumi.Archive
    architecture: str
    tags: dict[str, str] = field(default_factory=dict)


def audit_statements(
    config: AuditConfig,
    account_id: pulumi.Input[str],
    table_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
) -> list[Statement]:
    statements = [
        # List and Describe calls name no resource: "*" with the exact read-only actions.
        allow("ReadWhatTheCollectorsRead", required_actions(), "*"),
        allow("KeepTheFindingsHistory", ["dynamodb:Query", "dynamodb:BatchWriteItem"], table_arn),
        allow("UseTheHistoryKey", [*KMS_ENCRYPT_ACTIONS, "kms:Encrypt"], key_arn),
    ]
    if config.role_arns:
        statements.append(allow("AuditOtherAccounts", ["sts:AssumeRole"], list(config.role_arns)))
    if config.security_hub:
        products = security_hub_products(account_id, config.regions)
        statements.append(allow("ImportFindings", ["securityhub:BatchImportFindings"], products))
    return statements


class AuditStack(pulumi.ComponentResource):
    key: aws.kms.Key
    table: aws.dynamodb.Table
    function: PipelineFunction
    schedule: aws.cloudwatch.EventRule

    def __init__(self, name: str, args: AuditStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:audit:AuditStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        self.key = component_key(
            f"{name}-key",
            description="bucketguard audit: findings history",
            tags=args.tags,
            opts=child,
        )
        self.table = history_table(f"{name}-history", kms_key_arn=self.key.arn, tags=args.tags, opts=child)
        self.function = PipelineFunction(
            f"{name}-run",
            PipelineFunctionArgs(
                code=args.code,
                handler=HANDLER,
                architecture=args.architecture,
                queue_arn=None,
                statements=audit_statements(config, args.account_id, self.table.arn, self.key.arn),
                environment={
                    env.AUDIT_TABLE: self.table.name,
                    env.AUDIT_REGIONS: ",".join(config.regions),
                    env.AUDIT_ROLE_ARNS: ",".join(config.role_arns),
                    env.AUDIT_SECURITY_HUB: "true" if config.security_hub else "false",
                    env.AUDIT_POLICY_CONFIG: json.dumps(config.policy_config),
                },
                memory_mb=1024,
                timeout_seconds=900,
                reserved_concurrency=1,  # one run at a time: runs of one history never interleave
                description="bucketguard: scheduled audit",
                tags=args.tags,
            ),
            opts=child,
        )
        self.schedule = invoke_on_schedule(
            name,
            self.function.function,
            schedule=config.schedule,
            account_id=args.account_id,
            description="bucketguard: scheduled audit",
            tags=args.tags,
            parent=self,
        )
        self.register_outputs({"historyTable": self.table.name, "functionName": self.function.function.name})
