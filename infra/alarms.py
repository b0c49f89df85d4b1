"""PipelineAlarms: CloudWatch alarms on what goes wrong silently in a queue-driven pipeline.

A dead-letter queue that is not empty (a message failed every retry), function errors and throttles, and
the age of the oldest waiting message (a scan backlog: objects stay blocked while they wait). Each alarm
notifies the given SNS topic, in the same account and region (`alert_topic` makes one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.policies import deny_insecure_transport, document


def alert_topic(
    name: str,
    *,
    kms_key_arn: pulumi.Input[str],
    account_id: pulumi.Input[str],
    emails: Sequence[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.sns.Topic:
    """An encrypted, TLS-only topic the account's alarms publish to, with e-mail subscriptions."""
    topic = aws.sns.Topic(name, kms_master_key_id=kms_key_arn, tags=dict(tags), opts=opts)
    aws.sns.TopicPolicy(
        f"{name}-policy",
        arn=topic.arn,
        policy=document(
            [
                deny_insecure_transport("DenyInsecureTransport", ["sns:Publish"], topic.arn),
                {
                    "Sid": "CloudWatchAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["sns:Publish"],
                    "Resource": topic.arn,
                    # Only this account's alarms (confused deputy).
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ]
        ),
        opts=opts,
    )
    for index, email in enumerate(emails):
        aws.sns.TopicSubscription(
            f"{name}-email-{index}", topic=topic.arn, protocol="email", endpoint=email, opts=opts
        )
    return topic


@dataclass
class BacklogQueue:
    queue_name: pulumi.Input[str]
    max_age_seconds: int


@dataclass
class PipelineAlarmsArgs:
    alarm_topic_arn: pulumi.Input[str]
    function_names: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    dead_letter_queue_names: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    backlog_queues: Mapping[str, BacklogQueue] = field(default_factory=dict)


class PipelineAlarms(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: PipelineAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bucketguard:monitoring:PipelineAlarms", name, None, opts)
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        for label, queue_name in args.dead_letter_queue_names.items():
            self._alarm(
                f"{name}-{label}-dlq-not-empty",
                args,
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": queue_name},
                statistic="Maximum",
                threshold=0,
                description=f"{label}: a message failed every retry and waits in the dead-letter queue",
            )
        for label, backlog in args.backlog_queues.items():
            self._alarm(
                f"{name}-{label}-backlog-age",
                args,
                namespace="AWS/SQS",
                metric="ApproximateAgeOfOldestMessage",
                dimensions={"QueueName": backlog.queue_name},
                statistic="Maximum",
                threshold=backlog.max_age_seconds,
                description=f"{label}: the oldest request waits longer than {backlog.max_age_seconds} s",
            )
        for label, function_name in args.function_names.items():
            for metric in ("Errors", "Throttles"):
                self._alarm(
                    f"{name}-{label}-{metric.lower()}",
                    args,
                    namespace="AWS/Lambda",
                    metric=metric,
                    dimensions={"FunctionName": function_name},
                    statistic="Sum",
                    threshold=0,
                    description=f"{label}: the function reports {metric.lower()}",
                )
        self.register_outputs({"alarmCount": len(self.alarms)})

    def _alarm(
        self,
        resource_name: str,
        args: PipelineAlarmsArgs,
        *,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, pulumi.Input[str]],
        statistic: str,
        threshold: int,
        description: str,
    ) -> None:
        self.alarms.append(
            aws.cloudwatch.MetricAlarm(
                resource_name,
                namespace=namespace,
                metric_name=metric,
                dimensions=dict(dimensions),
                statistic=statistic,
                period=300,
                evaluation_periods=1,
                comparison_operator="GreaterThanThreshold",
                threshold=threshold,
                treat_missing_data="notBreaching",
                alarm_description=description,
                alarm_actions=[args.alarm_topic_arn],
                ok_actions=[args.alarm_topic_arn],
                opts=pulumi.ResourceOptions(parent=self),
            )
        )
