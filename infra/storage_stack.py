"""StorageStack: protects one bucket (deployed with the provider of the bucket's account and region).

bucket --ObjectCreated--> StorageListener --scan request--> scanner queue (scanner account)
scanner --result--> StoragePostScan --> tag / quarantine / promote / notify.
One KMS key per storage encrypts its queues, topics and buckets; a second one, an HMAC key only post-scan
may use, seals the verdict tags post-scan writes (an uploader's verdict tags prove nothing). Quarantined
objects are reachable by post-scan and the admin roles only (bucket policy and key policy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from bucketguard.pipeline.access_policy import (
    render_access_block_statements,
    render_promote_statements,
    render_quarantine_statements,
)
from infra.alarms import BacklogQueue, PipelineAlarms, PipelineAlarmsArgs, alert_topic
from infra.config import NotificationTarget, StorageConfig
from infra.keys import component_key
from infra.policies import (
    Statement,
    document,
    key_admin_statement,
    key_service_statement,
    key_use_statement,
    key_via_s3_statement,
)
from infra.secure_bucket import SecureBucket, SecureBucketArgs, bucket_policy
from infra.storage_listener import ScannerEndpoint, StorageListener, StorageListenerArgs
from infra.storage_postscan import StoragePostScan, StoragePostScanArgs


@dataclass
class StorageStackArgs:
    config: StorageConfig
    account_id: pulumi.Input[str]
    scanner: ScannerEndpoint
    code: pulumi.Archive
    architecture: str
    tags: dict[str, str] = field(default_factory=dict)


class StorageStack(pulumi.ComponentResource):
    key: aws.kms.Key
    seal_key: aws.kms.Key
    key_policy: aws.kms.KeyPolicy
    alert_topic: aws.sns.Topic
    access_logs: SecureBucket | None
    quarantine: SecureBucket | None
    promote: SecureBucket | None
    listener: StorageListener
    post_scan: StoragePostScan

    def __init__(self, name: str, args: StorageStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:storage:StorageStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        self.config = config
        tags = {**args.tags, "bucketguard-storage": config.name}
        self._keys(name, config, tags)
        # Alerts (alarms and the notify action) to the storage's e-mail addresses.
        self.alert_topic = alert_topic(
            f"{name}-alerts",
            kms_key_arn=self.key.arn,
            account_id=args.account_id,
            emails=config.notify_emails,
            tags=tags,
            opts=child,
        )
        # The key policies and the quarantine bucket's policy name the roles the two stages make, and the
        # stages' subscriptions wait for the key policy: the roles' ARNs are filled in once they exist.
        listener_role_arn, resolve_listener_role_arn = _arn_later()
        postscan_role_arn, resolve_postscan_role_arn = _arn_later()
        self._owned_buckets(name, config, args.account_id, tags, postscan_role_arn)
        self._key_policies(name, args, listener_role_arn, postscan_role_arn)
        self.post_scan = StoragePostScan(
            name,
            StoragePostScanArgs(
                config=config,
                account_id=args.account_id,
                scanner_role_arn=args.scanner.role_arn,
                code=args.code,
                architecture=args.architecture,
                key_arn=self.key.arn,
                seal_key_arn=self.seal_key.arn,
                alert_topic_arn=self.alert_topic.arn,
                quarantine=self.quarantine,
                promote=self.promote,
                key_policy=self.key_policy,
                tags=tags,
            ),
            opts=child,
        )
        self.listener = StorageListener(
            name,
            StorageListenerArgs(
                config=config,
                account_id=args.account_id,
                scanner=args.scanner,
                code=args.code,
                architecture=args.architecture,
                key_arn=self.key.arn,
                seal_key_arn=self.seal_key.arn,
                result_topic_arn=self.post_scan.result_topic.arn,
                key_policy=self.key_policy,
                tags=tags,
            ),
            opts=child,
        )
        resolve_listener_role_arn(self.listener.function.role.arn)
        resolve_postscan_role_arn(self.post_scan.function.role.arn)
        self._protected_bucket(name, config, tags)
        PipelineAlarms(
            f"{name}-alarms",
            PipelineAlarmsArgs(
                alarm_topic_arn=self.alert_topic.arn,
                function_names={
                    "listener": self.listener.function.function.name,
                    "postscan": self.post_scan.function.function.name,
                },
                dead_letter_queue_names={
                    "listener": self.listener.queue.dead_letter_queue.name,
                    "postscan": self.post_scan.queue.dead_letter_queue.name,
                },
                backlog_queues={"listener": BacklogQueue(self.listener.queue.queue.name, 900)},
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "listenerRoleArn": self.listener.function.role.arn,
                "resultTopicArn": self.post_scan.result_topic.arn,
                "keyArn": self.key.arn,
                "alertTopicArn": self.alert_topic.arn,
            }
        )

    def _keys(self, name: str, config: StorageConfig, tags: dict[str, str]) -> None:
        # Created without a policy (AWS default: the account administers it); _key_policies replaces it
        # once the roles that use the key exist.
        self.key = component_key(
            f"{name}-key",
            description=f"bucketguard storage {config.name}: queues, topics and buckets",
            tags=tags,
            # The retained buckets' objects are encrypted with it: deleting the key would lose them too.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        # Seals post-scan's verdict tags (HMAC): the key never leaves KMS; its policy lets post-scan alone
        # compute MACs with it. HMAC keys have no automatic rotation.
        self.seal_key = aws.kms.Key(
            f"{name}-seal-key",
            description=f"bucketguard storage {config.name}: seals post-scan's verdict tags",
            key_usage="GENERATE_VERIFY_MAC",
            customer_master_key_spec="HMAC_256",
            deletion_window_in_days=30,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _owned_buckets(
        self,
        name: str,
        config: StorageConfig,
        account_id: pulumi.Input[str],
        tags: dict[str, str],
        postscan_role_arn: pulumi.Output[str],
    ) -> None:
        """Buckets this storage owns (retained when the storage is removed from the config)."""
        self.access_logs = self._access_log_bucket(name, config, account_id, tags)
        self.quarantine = self._owned_bucket(
            name,
            "quarantine",
            config.quarantine_bucket,
            tags,
            extra_statements=_post_scan_and_admins_only(
                render_quarantine_statements, config.quarantine_bucket, postscan_role_arn, config
            ),
        )
        self.promote = self._owned_bucket(
            name,
            "promote",
            config.promote_bucket,
            tags,
            extra_statements=_post_scan_and_admins_only(
                render_promote_statements, config.promote_bucket, postscan_role_arn, config
            ),
        )

    def _key_policies(
        self,
        name: str,
        args: StorageStackArgs,
        listener_role_arn: pulumi.Output[str],
        postscan_role_arn: pulumi.Output[str],
    ) -> None:
        config, scanner = args.config, args.scanner
        child = pulumi.ResourceOptions(parent=self)
        aws.kms.KeyPolicy(
            f"{name}-seal-key-policy",
            key_id=self.seal_key.key_id,
            policy=document(
                [
                    key_admin_statement(args.account_id),
                    {
                        "Sid": "OnlyPostScanSealsVerdicts",
                        "Effect": "Allow",
                        "Principal": {"AWS": postscan_role_arn},
                        "Action": ["kms:GenerateMac"],
                        "Resource": "*",
                    },
                    *(
                        [
                            {
                                "Sid": "ListenerChecksSealsBeforeRescans",
                                "Effect": "Allow",
                                "Principal": {"AWS": listener_role_arn},
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
                        listener_role_arn,
                        services=["sqs", "s3"],
                        region=config.region,
                        # and queues the next rescan batch on its own queue
                        actions=["kms:Decrypt", *(["kms:GenerateDataKey"] if scanner.rescans else [])],
                    ),
                    key_use_statement(
                        "PostScanReadsResultsWritesBuckets",
                        postscan_role_arn,
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
                    *self._quarantine_key_statements(config, postscan_role_arn),
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

    def _protected_bucket(self, name: str, config: StorageConfig, tags: dict[str, str]) -> None:
        """The protected bucket, created with the same guard rails or an existing one given a policy, and
        its notification to the listener."""
        bucket_arn = f"arn:aws:s3:::{config.bucket}"
        child = pulumi.ResourceOptions(parent=self)
        # The user's own statements (extraPolicyStatements) follow the stack's: S3 keeps one policy.
        extra = [s.document() for s in config.extra_policy_statements]
        access_statements = pulumi.Output.all(
            self.listener.function.role.arn, self.post_scan.function.role.arn
        ).apply(lambda arns: [*self._access_statements(config, arns[0], arns[1]), *extra])
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
                    queue_arn=self.listener.queue.queue.arn,
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*depends, self.listener.queue]),
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

    def _quarantine_key_statements(
        self, config: StorageConfig, postscan_role_arn: pulumi.Output[str]
    ) -> list[Statement]:
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
                    "ArnNotLike": {"aws:PrincipalArn": [postscan_role_arn, *config.admin_role_arns]},
                },
            }
        ]

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


def _post_scan_and_admins_only(
    render: Callable[..., list[Statement]],
    bucket: str | None,
    postscan_role_arn: pulumi.Output[str],
    config: StorageConfig,
) -> pulumi.Output[list[Statement]] | None:
    """A platform bucket's statements naming post-scan's role once it exists (None: no such bucket)."""
    if bucket is None:
        return None
    return postscan_role_arn.apply(
        lambda arn: render(bucket, postscan_role_arn=arn, admin_role_arns=config.admin_role_arns)
    )


def _arn_later() -> tuple[pulumi.Output[str], Callable[[pulumi.Output[str]], None]]:
    return pulumi.deferred_output()


def _target(target: NotificationTarget) -> dict[str, Any]:
    return {
        "events": list(target.events),
        "filter_prefix": target.filter_prefix,
        "filter_suffix": target.filter_suffix,
        "id": target.id,
    }
