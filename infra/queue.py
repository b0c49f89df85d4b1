"""EncryptedQueue: an SQS queue and its dead-letter queue, both KMS-encrypted, TLS-only, with a redrive.

The queue policy admits only the principals the owner names (the statements built from the queue ARN).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.policies import Statement, deny_insecure_transport, document

# A message that failed this many receives goes to the DLQ: 3 = the first try and two retries.
MAX_RECEIVE_COUNT = 3
FOURTEEN_DAYS = 14 * 24 * 3600


@dataclass
class EncryptedQueueArgs:
    kms_key_arn: pulumi.Input[str]
    visibility_timeout_seconds: int
    # Builds the Allow statements from the queue ARN; None = no statement beyond TLS-only (the owner's
    # IAM policies alone then decide, which is same-account only).
    allow_statements: Callable[[pulumi.Output[str]], list[Statement]] | None = None
    message_retention_seconds: int = 4 * 24 * 3600
    # False when another component owns the queue's policy (the scanner queue: admission adds listeners).
    manage_queue_policy: bool = True
    tags: dict[str, str] = field(default_factory=dict)


class EncryptedQueue(pulumi.ComponentResource):
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue

    def __init__(
        self, name: str, args: EncryptedQueueArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bucketguard:messaging:EncryptedQueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=3600,
            message_retention_seconds=FOURTEEN_DAYS,
            tags=args.tags,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=3600,
            visibility_timeout_seconds=args.visibility_timeout_seconds,
            message_retention_seconds=args.message_retention_seconds,
            redrive_policy=self.dead_letter_queue.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
            ),
            tags=args.tags,
            opts=child,
        )
        if args.manage_queue_policy:
            allow = args.allow_statements(self.queue.arn) if args.allow_statements else []
            aws.sqs.QueuePolicy(
                f"{name}-queue-policy",
                queue_url=self.queue.url,
                policy=document(
                    [deny_insecure_transport("DenyInsecureTransport", ["sqs:*"], self.queue.arn), *allow]
                ),
                opts=child,
            )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=document(
                [deny_insecure_transport("DenyInsecureTransport", ["sqs:*"], self.dead_letter_queue.arn)]
            ),
            opts=child,
        )
        self.register_outputs({"queueArn": self.queue.arn, "deadLetterQueueArn": self.dead_letter_queue.arn})
