"""PipelineFunction: a Lambda function fed by an SQS queue, with its own role, policy and log group.

The role gets exactly the statements the owner passes plus writing to its own log group; the function's
logs are JSON in a log group with a retention (not the never-expiring default group).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.policies import Statement, document, lambda_trust_policy, log_statement

RUNTIME = "python3.12"


@dataclass
class PipelineFunctionArgs:
    code: pulumi.Archive
    handler: str
    architecture: str
    queue_arn: pulumi.Input[str] | None  # None: invoked otherwise (a schedule)
    statements: Sequence[Statement]
    environment: Mapping[str, pulumi.Input[str]]
    memory_mb: int = 512
    timeout_seconds: int = 60
    ephemeral_storage_mb: int = 512
    reserved_concurrency: int | None = None
    batch_size: int = 10
    log_retention_days: int = 90
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


class PipelineFunction(pulumi.ComponentResource):
    role: aws.iam.Role
    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup

    def __init__(
        self, name: str, args: PipelineFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bucketguard:pipeline:PipelineFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", retention_in_days=args.log_retention_days, tags=args.tags, opts=child
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=lambda_trust_policy(),
            description=args.description,
            tags=args.tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=document([*args.statements, log_statement(self.log_group.arn)]),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            description=args.description,
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[args.architecture],
            handler=args.handler,
            code=args.code,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(size=args.ephemeral_storage_mb),
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment)),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=self.log_group.name, application_log_level="INFO"
            ),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        maximum_concurrency = (
            min(args.reserved_concurrency, 1000)
            if args.reserved_concurrency is not None and args.reserved_concurrency >= 2
            else None
        )
        if args.queue_arn is None:
            self.register_outputs({"functionName": self.function.name, "roleArn": self.role.arn})
            return
        self.event_source_mapping = aws.lambda_.EventSourceMapping(
            f"{name}-trigger",
            event_source_arn=args.queue_arn,
            function_name=self.function.arn,
            batch_size=args.batch_size,
            # The handlers report failed records one by one (partial batch response).
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                maximum_concurrency=maximum_concurrency
            )
            if maximum_concurrency
            else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.register_outputs(
            {"functionName": self.function.name, "roleArn": self.role.arn, "logGroup": self.log_group.name}
        )


def invoke_on_schedule(
    name: str,
    function: aws.lambda_.Function,
    *,
    schedule: str,
    account_id: pulumi.Input[str],
    description: str,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.cloudwatch.EventRule:
    """An EventBridge schedule (`<name>-schedule`) invoking `function`; only this schedule may invoke it."""
    rule = aws.cloudwatch.EventRule(
        f"{name}-schedule",
        schedule_expression=schedule,
        description=description,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    permission = aws.lambda_.Permission(
        f"{name}-invoke",
        action="lambda:InvokeFunction",
        function=function.name,
        principal="events.amazonaws.com",
        source_arn=rule.arn,  # this schedule only (confused deputy)
        source_account=account_id,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    aws.cloudwatch.EventTarget(
        f"{name}-target",
        rule=rule.name,
        arn=function.arn,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[permission]),
    )
    return rule
