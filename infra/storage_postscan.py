"""StoragePostScan: a storage's last stage (storage account), scan results in, verdicts acted on.

result topic (only the scanner role publishes) --> post-scan queue (retries + DLQ) --> post-scan Lambda -->
tag (sealed with the seal key) / quarantine / promote / notify.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from bucketguard.pipeline import env
from infra.config import StorageConfig
from infra.function import PipelineFunction, PipelineFunctionArgs
from infra.policies import (
    KMS_ENCRYPT_ACTIONS,
    SQS_CONSUME_ACTIONS,
    TAG_READ_ACTIONS,
    TAG_WRITE_ACTIONS,
    Statement,
    allow,
    deny_insecure_transport,
    document,
    owned_by,
    service_sends_to_queue,
)
from infra.queue import EncryptedQueue, EncryptedQueueArgs
from infra.secure_bucket import SecureBucket
from infra.storage_listener import moved_into

POSTSCAN_HANDLER = "functions.postscan.app.handler"
POSTSCAN_TIMEOUT_SECONDS = 300


@dataclass
class StoragePostScanArgs:
    config: StorageConfig
    account_id: pulumi.Input[str]  # the storage's: its buckets are this account's
    scanner_role_arn: pulumi.Input[str]  # the only publisher of results
    code: pulumi.Archive
    architecture: str
    key_arn: pulumi.Input[str]
    seal_key_arn: pulumi.Input[str]
    alert_topic_arn: pulumi.Input[str]
    quarantine: SecureBucket | None
    promote: SecureBucket | None
    # The storage key's policy: SNS may deliver into the encrypted queue only once it exists.
    key_policy: pulumi.Resource
    tags: dict[str, str] = field(default_factory=dict)


class StoragePostScan(pulumi.ComponentResource):
    """Named as its storage: its children keep the names (and, through aliases, the URNs) they had."""

    result_topic: aws.sns.Topic
    queue: EncryptedQueue
    function: PipelineFunction

    def __init__(
        self, name: str, args: StoragePostScanArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bucketguard:storage:PostScan", name, None, opts)
        former_parent = opts.parent if opts is not None else None
        config = args.config
        self.result_topic = aws.sns.Topic(
            f"{name}-results",
            kms_master_key_id=args.key_arn,
            tags=args.tags,
            opts=moved_into(self, former_parent),
        )
        aws.sns.TopicPolicy(
            f"{name}-results-policy",
            arn=self.result_topic.arn,
            policy=document(
                [
                    deny_insecure_transport("DenyInsecureTransport", ["sns:Publish"], self.result_topic.arn),
                    {
                        "Sid": "OnlyTheScannerPublishesResults",
                        "Effect": "Allow",
                        "Principal": {"AWS": args.scanner_role_arn},
                        "Action": ["sns:Publish"],
                        "Resource": self.result_topic.arn,
                    },
                ]
            ),
            opts=moved_into(self, former_parent),
        )
        self.queue = EncryptedQueue(
            f"{name}-results",
            EncryptedQueueArgs(
                kms_key_arn=args.key_arn,
                visibility_timeout_seconds=6 * POSTSCAN_TIMEOUT_SECONDS,
                allow_statements=lambda queue_arn: [
                    service_sends_to_queue(
                        "ResultTopicDelivers", "sns.amazonaws.com", queue_arn, self.result_topic.arn
                    )
                ],
                tags=args.tags,
            ),
            opts=moved_into(self, former_parent),
        )
        self.function = PipelineFunction(
            f"{name}-postscan",
            PipelineFunctionArgs(
                code=args.code,
                handler=POSTSCAN_HANDLER,
                architecture=args.architecture,
                queue_arn=self.queue.queue.arn,
                statements=self._statements(args),
                environment=self._environment(args),
                timeout_seconds=POSTSCAN_TIMEOUT_SECONDS,
                log_retention_days=config.log_retention_days,
                description=f"bucketguard post-scan actions for s3://{config.bucket}",
                tags=args.tags,
            ),
            opts=moved_into(self, former_parent),
        )
        self.subscription = aws.sns.TopicSubscription(
            f"{name}-results-subscription",
            topic=self.result_topic.arn,
            protocol="sqs",
            endpoint=self.queue.queue.arn,
            raw_message_delivery=True,
            opts=moved_into(self, former_parent, depends_on=[args.key_policy]),
        )
        self.register_outputs({"resultTopicArn": self.result_topic.arn, "roleArn": self.function.role.arn})

    def _statements(self, args: StoragePostScanArgs) -> list[Statement]:
        config = args.config
        objects_arn = f"arn:aws:s3:::{config.bucket}/*"
        targets = [b for b in (args.quarantine, args.promote) if b is not None]
        owned = {"Condition": owned_by(args.account_id)}
        statements = [
            allow("ConsumeScanResults", SQS_CONSUME_ACTIONS, self.queue.queue.arn),
            allow("UseStorageKey", KMS_ENCRYPT_ACTIONS, args.key_arn),
            allow("SealVerdictTags", ["kms:GenerateMac"], args.seal_key_arn),
            # Every result starts by reading the scanned version (is it still there, unchanged?).
            allow("ReadScannedVersions", ["s3:GetObject", "s3:GetObjectVersion"], objects_arn, **owned),
            # So that a missing object or copy reads as 404 (nothing to do), not 403 (retried into the DLQ).
            allow(
                "ListOwnBuckets",
                ["s3:ListBucket"],
                [objects_arn.removesuffix("/*"), *(b.bucket.arn for b in targets)],
                **owned,
            ),
            # Also takes its tags off an object written over the scanned one while it was tagging.
            allow("TagScannedVersions", [*TAG_READ_ACTIONS, *TAG_WRITE_ACTIONS], objects_arn, **owned),
        ]
        if targets:
            copies = [pulumi.Output.concat(b.bucket.arn, "/*") for b in targets]
            # Copies, and the record that their alert was sent (a tag on the copy's version).
            statements.append(
                allow(
                    "WriteOwnBuckets",
                    ["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
                    copies,
                    **owned,
                )
            )
            # A source version is removed only after its copy's size and SHA-256 are checked.
            statements.append(
                allow(
                    "VerifyCopies",
                    [
                        "s3:GetObject",
                        "s3:GetObjectVersion",
                        "s3:GetObjectTagging",
                        "s3:GetObjectVersionTagging",
                    ],
                    copies,
                    **owned,
                )
            )
            # A copy that does not verify (the source changed under it) is not left behind.
            statements.append(
                allow(
                    "RemoveUnverifiedCopies", ["s3:DeleteObject", "s3:DeleteObjectVersion"], copies, **owned
                )
            )
        if args.quarantine is not None:
            # A move: the source version is deleted only after its copy is verified (pipeline's job).
            statements.append(
                allow(
                    "RemoveQuarantinedVersions",
                    ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                    objects_arn,
                    **owned,
                )
            )
        if "notify" in config.actions:
            statements.append(allow("PublishAlerts", ["sns:Publish"], args.alert_topic_arn))
        if config.webhook_secret_arn is not None:
            # That one secret only (the Slack/Teams webhook URL), never secretsmanager:* or a wildcard.
            statements.append(
                allow("ReadWebhookSecret", ["secretsmanager:GetSecretValue"], config.webhook_secret_arn)
            )
        return statements

    @staticmethod
    def _environment(args: StoragePostScanArgs) -> dict[str, pulumi.Input[str]]:
        config = args.config
        environment: dict[str, pulumi.Input[str]] = {
            env.PROTECTED_BUCKET: config.bucket,
            env.ACTIONS: ",".join(config.actions),
            env.LOG_LEVEL: "INFO",
        }
        if args.quarantine is not None:
            environment[env.QUARANTINE_BUCKET] = args.quarantine.bucket.id
        if args.promote is not None:
            environment[env.PROMOTE_BUCKET] = args.promote.bucket.id
        if "notify" in config.actions:
            environment[env.ALERT_TOPIC_ARN] = args.alert_topic_arn
        if config.webhook_secret_arn is not None:
            environment[env.WEBHOOK_SECRET_ARN] = config.webhook_secret_arn
        environment[env.SEAL_KEY_ID] = args.seal_key_arn
        return environment
