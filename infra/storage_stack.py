"""StorageStack: protects one bucket (deployed with the provider of the bucket's account and region).

bucket --ObjectCreated--> listener queue --> listener Lambda --scan request--> scanner queue (scanner account)
result topic (only the scanner role publishes) --> post-scan queue --> post-scan Lambda --> tag / quarantine /
promote / notify. One KMS key per storage encrypts its queues, topics and buckets; a second one, an HMAC key
only post-scan may use, seals the verdict tags post-scan writes (an uploader's verdict tags prove nothing).
Quarantined objects are reachable by post-scan and the admin roles only (bucket policy and key policy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from bucketguard.aws import arn_region
from bucketguard.pipeline import env
from bucketguard.pipeline.access_policy import render_access_block_statements, render_quarantine_statements
from infra.alarms import BacklogQueue, PipelineAlarms, PipelineAlarmsArgs, alert_topic
from infra.config import NotificationTarget, StorageConfig
from infra.function import PipelineFunction, PipelineFunctionArgs
from infra.keys import component_key
from infra.policies import (
    KMS_ENCRYPT_ACTIONS,
    SQS_CONSUME_ACTIONS,
    TAG_READ_ACTIONS,
    TAG_WRITE_ACTIONS,
    Statement,
    allow,
    deny_insecure_transport,
    document,
    key_admin_statement,
    key_service_statement,
    key_use_statement,
    key_via_s3_statement,
    service_sends_to_queue,
)
from infra.queue import EncryptedQueue, EncryptedQueueArgs
from infra.secure_bucket import SecureBucket, SecureBucketArgs, bucket_policy

LISTENER_HANDLER = "functions.listener.app.handler"
POSTSCAN_HANDLER = "functions.postscan.app.handler"
LISTENER_TIMEOUT_SECONDS = 60
POSTSCAN_TIMEOUT_SECONDS = 300
# The scanner reads the object through this URL: long enough for a scan backlog, short for a leaked URL.
PRESIGN_TTL_SECONDS = 3600


@dataclass
class ScannerEndpoint:
    """What a storage needs from its scanner (from the ScannerStack, or read through a StackReference)."""

    queue_arn: pulumi.Input[str]
    queue_url: pulumi.Input[str]
    role_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    # scanner.rescanOnUpdate, and the topic announcing published rulesets (None: no rescans)
    ruleset_topic_arn: pulumi.Input[str] | None = field(default=None, kw_only=True)
    rescan_on_update: str = field(default="none", kw_only=True)
    # how long the scanner may go on with the previous ruleset (its check interval plus one scan)
    ruleset_reload_seconds: int = field(default=600, kw_only=True)

    @property
    def rescans(self) -> bool:
        return self.ruleset_topic_arn is not None and self.rescan_on_update != "none"


@dataclass
class StorageStackArgs:
    config: StorageConfig
    account_id: pulumi.Input[str]
    scanner: ScannerEndpoint
    code: pulumi.Archive
    architecture: str
    tags: dict[str, str] = field(default_factory=dict)


class StorageStack(pulumi.ComponentResource):
    def __init__(self, name: str, args: StorageStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:storage:StorageStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        self.config = config
        scanner = args.scanner
        tags = {**args.tags, "bucketguard-storage": config.name}
        bucket_arn = f"arn:aws:s3:::{config.bucket}"
        objects_arn = f"{bucket_arn}/*"

        # Created without a policy (AWS default: the account administers it); StorageKeyPolicy below
        # replaces it once the roles that use the key exist.
        self.key = component_key(
            f"{name}-key",
            description=f"bucketguard storage {config.name}: queues, topics and buckets",
            tags=tags,
            # The retained buckets' objects are encrypted with it: deleting the key would lose them too.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )

        # Seals post-scan's verdict tags (HMAC): the key never leaves KMS; StorageSealKeyPolicy below lets
        # post-scan alone compute MACs with it. HMAC keys have no automatic rotation.
        self.seal_key = aws.kms.Key(
            f"{name}-seal-key",
            description=f"bucketguard storage {config.name}: seals post-scan's verdict tags",
            key_usage="GENERATE_VERIFY_MAC",
            customer_master_key_spec="HMAC_256",
            deletion_window_in_days=30,
            tags=tags,
            opts=child,
        )

        # Scan results: only the scanner role publishes.
        self.result_topic = aws.sns.Topic(
            f"{name}-results", kms_master_key_id=self.key.arn, tags=tags, opts=child
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
                        "Principal": {"AWS": args.scanner.role_arn},
                        "Action": ["sns:Publish"],
                        "Resource": self.result_topic.arn,
                    },
                ]
            ),
            opts=child,
        )

        # Alerts (alarms and the notify action) to the storage's e-mail addresses.
        self.alert_topic = alert_topic(
            f"{name}-alerts",
            kms_key_arn=self.key.arn,
            account_id=args.account_id,
            emails=config.notify_emails,
            tags=tags,
            opts=child,
        )

        # Buckets this storage owns (retained when the storage is removed from the config).
        self.access_logs = self._access_log_bucket(name, config, args.account_id, tags)
        # The quarantine policy names the post-scan role, made below (it needs the bucket's ARN first).
        deferred: tuple[pulumi.Output[str], Callable[[pulumi.Output[str]], None]] = pulumi.deferred_output()
        postscan_role_arn, resolve_postscan_role_arn = deferred
        self.quarantine = self._owned_bucket(
            name,
            "quarantine",
            config.quarantine_bucket,
            tags,
            extra_statements=postscan_role_arn.apply(
                lambda arn: render_quarantine_statements(
                    quarantine, postscan_role_arn=arn, admin_role_arns=config.admin_role_arns
                )
            )
            if (quarantine := config.quarantine_bucket)
            else None,
        )
        self.promote = self._owned_bucket(name, "promote", config.promote_bucket, tags)

        # Listener: S3 event -> scan request with a presigned GET of the object version.
        self.listener_queue = EncryptedQueue(
            f"{name}-events",
            EncryptedQueueArgs(
                kms_key_arn=self.key.arn,
                visibility_timeout_seconds=6 * LISTENER_TIMEOUT_SECONDS,
                allow_statements=lambda queue_arn: [
                    service_sends_to_queue(
                        "BucketNotifications", "s3.amazonaws.com", queue_arn, bucket_arn, args.account_id
                    ),
                    *(
                        [
                            service_sends_to_queue(
                                "RulesetAnnouncements",
                                "sns.amazonaws.com",
                                queue_arn,
                                scanner.ruleset_topic_arn,
                            )
                        ]
                        if scanner.rescans
                        else []
                    ),
                ],
                tags=tags,
            ),
            opts=child,
        )
        self.listener = PipelineFunction(
            f"{name}-listener",
            PipelineFunctionArgs(
                code=args.code,
                handler=LISTENER_HANDLER,
                architecture=args.architecture,
                queue_arn=self.listener_queue.queue.arn,
                statements=[
                    allow("ConsumeBucketEvents", SQS_CONSUME_ACTIONS, self.listener_queue.queue.arn),
                    allow("DecryptBucketEvents", ["kms:Decrypt"], self.key.arn),
                    # Presigned URLs are signed with these credentials: the scanner reads as this role.
                    allow("PresignObjectReads", ["s3:GetObject", "s3:GetObjectVersion"], objects_arn),
                    # Finds the event's version by ETag when the notification carries no version id;
                    # ListBucket makes S3 answer 404 (dropped), not 403 (retried), for a deleted object.
                    allow("FindEventVersion", ["s3:ListBucket", "s3:ListBucketVersions"], bucket_arn),
                    # Removes the bucketguard-* tags a new version arrived with (the bucket policy lets it
                    # remove them, never write one).
                    allow("StripUploadedVerdictTags", [*TAG_READ_ACTIONS, *TAG_WRITE_ACTIONS], objects_arn),
                    allow("SendScanRequests", ["sqs:SendMessage"], args.scanner.queue_arn),
                    allow("EncryptScanRequests", KMS_ENCRYPT_ACTIONS, args.scanner.key_arn),
                    *(self._rescan_statements() if scanner.rescans else []),
                ],
                environment={
                    env.SCANNER_QUEUE_URL: args.scanner.queue_url,
                    env.SCANNER_QUEUE_REGION: pulumi.Output.from_input(args.scanner.queue_arn).apply(
                        arn_region
                    ),
                    env.RESULT_TOPIC_ARN: self.result_topic.arn,
                    env.STORAGE_STACK_ID: config.name,
                    env.PRESIGN_TTL_SECONDS: str(PRESIGN_TTL_SECONDS),
                    env.SKIP_PREFIXES: ",".join(config.skip_prefixes),
                    env.LOG_LEVEL: "INFO",
                    **(
                        {
                            env.RESCAN_ON_UPDATE: scanner.rescan_on_update,
                            env.RESCAN_START_DELAY_SECONDS: str(scanner.ruleset_reload_seconds),
                            env.PROTECTED_BUCKET: config.bucket,
                            env.LISTENER_QUEUE_URL: self.listener_queue.queue.url,
                            env.SEAL_KEY_ID: self.seal_key.arn,
                        }
                        if scanner.rescans
                        else {}
                    ),
                },
                timeout_seconds=LISTENER_TIMEOUT_SECONDS,
                log_retention_days=config.log_retention_days,
                description=f"bucketguard listener for s3://{config.bucket}",
                tags=tags,
            ),
            opts=child,
        )

        # Post-scan: result topic -> queue (retries + DLQ) -> tag, quarantine, promote, notify.
        self.postscan_queue = EncryptedQueue(
            f"{name}-results",
            EncryptedQueueArgs(
                kms_key_arn=self.key.arn,
                visibility_timeout_seconds=6 * POSTSCAN_TIMEOUT_SECONDS,
                allow_statements=lambda queue_arn: [
                    service_sends_to_queue(
                        "ResultTopicDelivers", "sns.amazonaws.com", queue_arn, self.result_topic.arn
                    )
                ],
                tags=tags,
            ),
            opts=child,
        )
        self.postscan = PipelineFunction(
            f"{name}-postscan",
            PipelineFunctionArgs(
                code=args.code,
                handler=POSTSCAN_HANDLER,
                architecture=args.architecture,
                queue_arn=self.postscan_queue.queue.arn,
                statements=self._postscan_statements(config, objects_arn),
                environment=self._postscan_environment(config),
                timeout_seconds=POSTSCAN_TIMEOUT_SECONDS,
                log_retention_days=config.log_retention_days,
                description=f"bucketguard post-scan actions for s3://{config.bucket}",
                tags=tags,
            ),
            opts=child,
        )
        resolve_postscan_role_arn(self.postscan.role.arn)
        aws.kms.KeyPolicy(
            f"{name}-seal-key-policy",
            key_id=self.seal_key.key_id,
            policy=document(
                [
                    key_admin_statement(args.account_id),
                    {
                        "Sid": "OnlyPostScanSealsVerdicts",
                        "Effect": "Allow",
                        "Principal": {"AWS": self.postscan.role.arn},
                        "Action": ["kms:GenerateMac"],
                        "Resource": "*",
                    },
                    *(
                        [
                            {
                                "Sid": "ListenerChecksSealsBeforeRescans",
                                "Effect": "Allow",
                                "Principal": {"AWS": self.listener.role.arn},
                                "Action": ["kms:VerifyMac"],  # checks a seal, cannot make one
                                "Resource": "*",
                            }
                        ]
                        if scanner.rescans
                        else []
                    ),
                ]
            ),
            opts=child,
        )

        self.key_policy = aws.kms.KeyPolicy(
            f"{name}-key-policy",
            key_id=self.key.key_id,
            policy=document(
                [
                    key_admin_statement(args.account_id),
                    key_via_s3_statement(args.account_id, config.region),
                    # Events from its queue; the scanner's presigned GET is an S3 read as the listener.
                    key_use_statement(
                        "ListenerReadsEvents",
                        self.listener.role.arn,
                        services=["sqs", "s3"],
                        region=config.region,
                        # and queues the next rescan batch on its own queue
                        actions=["kms:Decrypt", *(["kms:GenerateDataKey"] if scanner.rescans else [])],
                    ),
                    key_use_statement(
                        "PostScanReadsResultsWritesBuckets",
                        self.postscan.role.arn,
                        services=["sqs", "s3", "sns"],
                        region=config.region,
                    ),
                    key_use_statement(
                        "ScannerPublishesResults",
                        args.scanner.role_arn,
                        services=["sns"],
                        region=config.region,
                    ),
                    key_service_statement("BucketNotificationsEncrypt", "s3.amazonaws.com", args.account_id),
                    key_service_statement(
                        "ResultTopicDeliversEncrypted", "sns.amazonaws.com", args.account_id
                    ),
                    key_service_statement(
                        "CloudWatchAlarmsEncrypt", "cloudwatch.amazonaws.com", args.account_id
                    ),
                    *self._quarantine_key_statements(config),
                    *(
                        [
                            {
                                "Sid": "RulesetAnnouncementsDeliverEncrypted",
                                "Effect": "Allow",
                                "Principal": {"Service": "sns.amazonaws.com"},
                                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                                "Resource": "*",
                                "Condition": {"ArnEquals": {"aws:SourceArn": scanner.ruleset_topic_arn}},
                            }
                        ]
                        if scanner.rescans
                        else []
                    ),
                ]
            ),
            opts=child,
        )
        self.subscription = aws.sns.TopicSubscription(
            f"{name}-results-subscription",
            topic=self.result_topic.arn,
            protocol="sqs",
            endpoint=self.postscan_queue.queue.arn,
            raw_message_delivery=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.key_policy]),
        )

        if scanner.rescans:
            # Created by the storage's account, so no confirmation is needed; in the topic's region.
            aws.sns.TopicSubscription(
                f"{name}-ruleset-subscription",
                topic=scanner.ruleset_topic_arn,
                protocol="sqs",
                endpoint=self.listener_queue.queue.arn,
                raw_message_delivery=True,
                region=pulumi.Output.from_input(scanner.ruleset_topic_arn or "").apply(arn_region),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.key_policy]),
            )

        # The protected bucket: created with the same guard rails, or an existing bucket given a policy.
        # The user's own statements (extraPolicyStatements) follow the stack's: S3 keeps one policy.
        extra = [s.document() for s in config.extra_policy_statements]
        access_statements = pulumi.Output.all(self.listener.role.arn, self.postscan.role.arn).apply(
            lambda arns: [*self._access_statements(config, arns[0], arns[1]), *extra]
        )
        depends: list[pulumi.Resource] = [self.key_policy]
        if config.create_bucket:
            created = SecureBucket(
                f"{name}-protected",
                SecureBucketArgs(
                    bucket_name=config.bucket,
                    kms_key_arn=self.key.arn,
                    extra_statements=access_statements,
                    tags=tags,
                    access_log_bucket=self._access_log_target,
                ),
                opts=child,
            )
            depends.append(created)
        else:
            # Post-scan acts on exact versions: in an unversioned bucket an object written over the scanned
            # one between two steps could be tagged, copied or deleted in its place. Kept on removal.
            depends.append(
                aws.s3.BucketVersioning(
                    f"{name}-protected-versioning",
                    bucket=config.bucket,
                    versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                        status="Enabled"
                    ),
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )
            )
        if not config.create_bucket and (config.block_unscanned or extra):
            # Replaces the existing bucket policy: docs/deploying.md says to merge existing statements first.
            depends.append(
                aws.s3.BucketPolicy(
                    f"{name}-protected-policy",
                    bucket=config.bucket,
                    policy=bucket_policy(bucket_arn, access_statements),
                    opts=child,
                )
            )
        # The user's other targets (extraNotifications) join ours: S3 keeps one notification configuration.
        notifications = config.extra_notifications
        self.notification = aws.s3.BucketNotification(
            f"{name}-notification",
            bucket=config.bucket,
            queues=[
                aws.s3.BucketNotificationQueueArgs(
                    id="bucketguard-object-created",
                    queue_arn=self.listener_queue.queue.arn,
                    events=["s3:ObjectCreated:*"],
                ),
                *(
                    aws.s3.BucketNotificationQueueArgs(queue_arn=t.arn, **_target(t))
                    for t in notifications.queues
                ),
            ],
            topics=[
                aws.s3.BucketNotificationTopicArgs(topic_arn=t.arn, **_target(t))
                for t in notifications.topics
            ],
            lambda_functions=[
                aws.s3.BucketNotificationLambdaFunctionArgs(lambda_function_arn=t.arn, **_target(t))
                for t in notifications.lambda_functions
            ],
            eventbridge=notifications.eventbridge or None,
            # S3 sends a test message when the notification is saved: the queue policy and key must allow it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*depends, self.listener_queue]),
        )

        PipelineAlarms(
            f"{name}-alarms",
            PipelineAlarmsArgs(
                alarm_topic_arn=self.alert_topic.arn,
                function_names={
                    "listener": self.listener.function.name,
                    "postscan": self.postscan.function.name,
                },
                dead_letter_queue_names={
                    "listener": self.listener_queue.dead_letter_queue.name,
                    "postscan": self.postscan_queue.dead_letter_queue.name,
                },
                backlog_queues={"listener": BacklogQueue(self.listener_queue.queue.name, 900)},
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "listenerRoleArn": self.listener.role.arn,
                "resultTopicArn": self.result_topic.arn,
                "keyArn": self.key.arn,
                "alertTopicArn": self.alert_topic.arn,
            }
        )

    def _owned_bucket(
        self,
        name: str,
        role: str,
        bucket_name: str | None,
        tags: dict[str, str],
        extra_statements: pulumi.Input[list[Statement]] | None = None,
    ) -> SecureBucket | None:
        if bucket_name is None:
            return None
        return SecureBucket(
            f"{name}-{role}",
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=self.key.arn,
                extra_statements=extra_statements if extra_statements is not None else [],
                tags=tags,
                role=role,
                access_log_bucket=self._access_log_target,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _access_log_bucket(
        self, name: str, config: StorageConfig, account_id: pulumi.Input[str], tags: dict[str, str]
    ) -> SecureBucket | None:
        if config.access_log_bucket is None:
            return None
        # The buckets this stack creates log here (an existing bucket's logging is its owner's setting).
        sources = [
            config.quarantine_bucket,
            config.promote_bucket,
            config.bucket if config.create_bucket else None,
        ]
        delivery = {
            "Sid": "S3ServerAccessLogsDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["s3:PutObject"],
            "Resource": f"arn:aws:s3:::{config.access_log_bucket}/*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{b}" for b in sources if b is not None]},
            },
        }
        return SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                bucket_name=config.access_log_bucket,
                kms_key_arn=None,
                extra_statements=[delivery],
                tags=tags,
                role="logs",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @property
    def _access_log_target(self) -> pulumi.Output[str] | None:
        # Through the policy's output: logging is switched on only once log delivery is admitted.
        return self.access_logs.policy.bucket if self.access_logs is not None else None

    def _rescan_statements(self) -> list[Statement]:
        """Rescan on rule updates: the listener sweeps the bucket (it already lists versions, reads tags and
        presigns reads) in batches it queues on its own queue, trusting only verdicts whose seal verifies."""
        queue = self.listener_queue.queue.arn
        return [
            allow("QueueRescanBatches", ["sqs:SendMessage"], queue),
            allow("EncryptRescanBatches", ["kms:GenerateDataKey"], self.key.arn),
            allow("VerifyVerdictSeals", ["kms:VerifyMac"], self.seal_key.arn),
        ]

    def _quarantine_key_statements(self, config: StorageConfig) -> list[Statement]:
        """Only post-scan and the admin roles decrypt quarantined objects (the account uses it through S3)."""
        if config.quarantine_bucket is None:
            return []
        quarantine_arn = f"arn:aws:s3:::{config.quarantine_bucket}"
        return [
            {
                "Sid": "OnlyPostScanAndAdminsDecryptQuarantine",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
                "Resource": "*",
                # S3's encryption context is the object's ARN, or the bucket's with an S3 bucket key.
                "Condition": {
                    "StringLike": {
                        "kms:EncryptionContext:aws:s3:arn": [quarantine_arn, f"{quarantine_arn}/*"]
                    },
                    "ArnNotLike": {"aws:PrincipalArn": [self.postscan.role.arn, *config.admin_role_arns]},
                },
            }
        ]

    def _postscan_statements(self, config: StorageConfig, objects_arn: str) -> list[Statement]:
        targets = [b for b in (self.quarantine, self.promote) if b is not None]
        statements = [
            allow("ConsumeScanResults", SQS_CONSUME_ACTIONS, self.postscan_queue.queue.arn),
            allow("UseStorageKey", KMS_ENCRYPT_ACTIONS, self.key.arn),
            allow("SealVerdictTags", ["kms:GenerateMac"], self.seal_key.arn),
            # Every result starts by reading the scanned version (is it still there, unchanged?).
            allow("ReadScannedVersions", ["s3:GetObject", "s3:GetObjectVersion"], objects_arn),
            # So that a missing object or copy reads as 404 (nothing to do), not 403 (retried into the DLQ).
            allow(
                "ListOwnBuckets",
                ["s3:ListBucket"],
                [objects_arn.removesuffix("/*"), *(b.bucket.arn for b in targets)],
            ),
            # Also takes its tags off an object written over the scanned one while it was tagging.
            allow("TagScannedVersions", [*TAG_READ_ACTIONS, *TAG_WRITE_ACTIONS], objects_arn),
        ]
        if targets:
            copies = [pulumi.Output.concat(b.bucket.arn, "/*") for b in targets]
            # Copies, and the record that their alert was sent (a tag on the copy's version).
            statements.append(
                allow(
                    "WriteOwnBuckets",
                    ["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
                    copies,
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
                )
            )
            # A copy that does not verify (the source changed under it) is not left behind.
            statements.append(
                allow("RemoveUnverifiedCopies", ["s3:DeleteObject", "s3:DeleteObjectVersion"], copies)
            )
        if self.quarantine is not None:
            # A move: the source version is deleted only after its copy is verified (pipeline's job).
            statements.append(
                allow("RemoveQuarantinedVersions", ["s3:DeleteObject", "s3:DeleteObjectVersion"], objects_arn)
            )
        if "notify" in config.actions:
            statements.append(allow("PublishAlerts", ["sns:Publish"], self.alert_topic.arn))
        if config.webhook_secret_arn is not None:
            # That one secret only (the Slack/Teams webhook URL), never secretsmanager:* or a wildcard.
            statements.append(
                allow("ReadWebhookSecret", ["secretsmanager:GetSecretValue"], config.webhook_secret_arn)
            )
        return statements

    def _postscan_environment(self, config: StorageConfig) -> dict[str, pulumi.Input[str]]:
        environment: dict[str, pulumi.Input[str]] = {
            env.ACTIONS: ",".join(config.actions),
            env.LOG_LEVEL: "INFO",
        }
        if self.quarantine is not None:
            environment[env.QUARANTINE_BUCKET] = self.quarantine.bucket.id
        if self.promote is not None:
            environment[env.PROMOTE_BUCKET] = self.promote.bucket.id
        if "notify" in config.actions:
            environment[env.ALERT_TOPIC_ARN] = self.alert_topic.arn
        if config.webhook_secret_arn is not None:
            environment[env.WEBHOOK_SECRET_ARN] = config.webhook_secret_arn
        environment[env.SEAL_KEY_ID] = self.seal_key.arn
        return environment

    @staticmethod
    def _access_statements(config: StorageConfig, listener_arn: str, postscan_arn: str) -> list[Any]:
        if not config.block_unscanned:
            return []
        return list(
            render_access_block_statements(
                config.bucket,
                # The listener's presigned URLs (the scanner's read) and the post-scan copies must pass.
                exempt_role_arns=[listener_arn, postscan_arn, *config.admin_role_arns],
                tag_writer_role_arn=postscan_arn,
                tag_stripper_role_arn=listener_arn,
            )
        )


def _target(target: NotificationTarget) -> dict[str, Any]:
    return {
        "events": list(target.events),
        "filter_prefix": target.filter_prefix,
        "filter_suffix": target.filter_suffix,
        "id": target.id,
    }
