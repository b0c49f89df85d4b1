"""ScannerStack: the shared scanner (scanner account): KMS key, scanner queue + DLQ, scanner Lambda, alarms.

The scanner never holds access to a protected bucket: it reads each object through the presigned URL the
listener put in the scan request. Its queue policy, the key policy and its permission to publish results
are written by ScannerAdmission, which knows the registered storages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from bucketguard.pipeline import env
from infra.alarms import BacklogQueue, PipelineAlarms, PipelineAlarmsArgs, alert_topic
from infra.config import ScannerConfig
from infra.function import PipelineFunction, PipelineFunctionArgs
from infra.policies import SQS_CONSUME_ACTIONS, allow
from infra.queue import EncryptedQueue, EncryptedQueueArgs

SCANNER_HANDLER = "functions.scanner.app.handler"


@dataclass
class ScannerStackArgs:
    config: ScannerConfig
    account_id: pulumi.Input[str]
    code: pulumi.Archive
    ruleset_path: str  # absolute path of the ruleset artifact inside the Lambda (/var/task/...)
    scanner_id: str
    tags: dict[str, str] = field(default_factory=dict)


class ScannerStack(pulumi.ComponentResource):
    key: aws.kms.Key
    queue: EncryptedQueue
    scanner: PipelineFunction
    alert_topic: aws.sns.Topic

    def __init__(self, name: str, args: ScannerStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:scanner:ScannerStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        # The key's policy (least privilege, naming the listener roles) is set by ScannerAdmission.
        self.key = aws.kms.Key(
            f"{name}-key",
            description="bucketguard scanner: scan requests and scanner alerts",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=args.tags,
            opts=child,
        )
        self.queue = EncryptedQueue(
            f"{name}-requests",
            EncryptedQueueArgs(
                kms_key_arn=self.key.arn,
                # Above the function timeout (AWS advises 6x for an event source mapping) so a request in
                # flight is not handed to a second scanner.
                visibility_timeout_seconds=6 * config.timeout_seconds,
                manage_queue_policy=False,
                tags=args.tags,
            ),
            opts=child,
        )
        self.scanner = PipelineFunction(
            f"{name}-scanner",
            PipelineFunctionArgs(
                code=args.code,
                handler=SCANNER_HANDLER,
                architecture=config.architecture,
                queue_arn=self.queue.queue.arn,
                statements=[
                    allow("ConsumeScanRequests", SQS_CONSUME_ACTIONS, self.queue.queue.arn),
                    allow("DecryptScanRequests", ["kms:Decrypt"], self.key.arn),
                ],
                environment={
                    env.RULESET_PATH: args.ruleset_path,
                    env.MAX_OBJECT_BYTES: str(config.max_object_bytes),
                    env.SCANNER_ID: args.scanner_id,
                    env.LOG_LEVEL: "INFO",
                },
                memory_mb=config.memory_mb,
                timeout_seconds=config.timeout_seconds,
                ephemeral_storage_mb=config.ephemeral_storage_mb,
                reserved_concurrency=config.reserved_concurrency,
                # One object per invocation: a slow object cannot make a batch time out.
                batch_size=1,
                log_retention_days=config.log_retention_days,
                description="bucketguard scanner: scans objects through presigned URLs",
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
        PipelineAlarms(
            f"{name}-alarms",
            PipelineAlarmsArgs(
                alarm_topic_arn=self.alert_topic.arn,
                function_names={"scanner": self.scanner.function.name},
                dead_letter_queue_names={"scanner": self.queue.dead_letter_queue.name},
                # Objects stay blocked while they wait: alarm once a request waits 3 scan timeouts.
                backlog_queues={"scanner": BacklogQueue(self.queue.queue.name, 3 * config.timeout_seconds)},
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "queueArn": self.queue.queue.arn,
                "queueUrl": self.queue.queue.url,
                "roleArn": self.scanner.role.arn,
                "keyArn": self.key.arn,
                "alertTopicArn": self.alert_topic.arn,
            }
        )
