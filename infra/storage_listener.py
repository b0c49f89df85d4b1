"""StorageListener: a storage's first stage (storage account), bucket events in, scan requests out.

bucket --ObjectCreated--> listener queue --> listener Lambda --scan request (presigned GET)--> scanner queue.
With rescans on (scanner.rescanOnUpdate) the queue also receives the scanner's ruleset announcements, and
the listener sweeps its bucket in batches it queues on that same queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from bucketguard.aws import arn_region
from bucketguard.pipeline import env
from bucketguard.rules.facts import LISTENER_ROLE, ROLE_TAG
from infra.config import StorageConfig
from infra.function import PipelineFunction, PipelineFunctionArgs
from infra.policies import (
    KMS_ENCRYPT_ACTIONS,
    SQS_CONSUME_ACTIONS,
    TAG_READ_ACTIONS,
    TAG_WRITE_ACTIONS,
    Statement,
    allow,
    owned_by,
    service_sends_to_queue,
)
from infra.queue import EncryptedQueue, EncryptedQueueArgs

LISTENER_HANDLER = "functions.listener.app.handler"
LISTENER_TIMEOUT_SECONDS = 60
# The scanner reads the object through this URL: long enough for a scan backlog, short for a leaked URL.
PRESIGN_TTL_SECONDS = 3600


@dataclass
class ScannerEndpoint:
    """What a storage needs from its scanner (from the ScannerStack, or read through a StackReference)."""

    queue_arn: pulumi.Input[str]
    queue_url: pulumi.Input[str]
    role_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    # The topic announcing published rulesets, and scanner.rescanOnUpdate: a plain value for a scanner this
    # program deploys, an Output for one read from its stack (known only at `pulumi up`).
    ruleset_topic_arn: pulumi.Input[str] | None = field(default=None, kw_only=True)
    rescan_on_update: pulumi.Input[str] = field(default="none", kw_only=True)
    # how long the scanner may go on with the previous ruleset (its check interval plus one scan)
    ruleset_reload_seconds: pulumi.Input[int] = field(default=600, kw_only=True)
    # The topic policy letting the storage's account subscribe, when this program writes it (SNS refuses a
    # subscription from another account until then).
    subscribe_after: pulumi.Input[pulumi.Resource] | None = field(default=None, kw_only=True)

    @property
    def rescans(self) -> bool:
        """Whether the listener subscribes to the announcements and may sweep its bucket. A storage-only
        stack cannot know the scanner's setting before `pulumi up`: it is always ready, and its listener
        ignores the announcements while the scanner says `none`."""
        if self.ruleset_topic_arn is None:
            return False
        return not isinstance(self.rescan_on_update, str) or self.rescan_on_update != "none"


def moved_into(
    component: pulumi.ComponentResource,
    former_parent: pulumi.Resource | None,
    *,
    depends_on: Sequence[pulumi.Input[pulumi.Resource]] = (),
) -> pulumi.ResourceOptions:
    """Options for a child `component` took over from its own parent: the alias keeps the child's URN (and,
    inherited, its children's), so `pulumi up` updates it in place instead of replacing it."""
    return pulumi.ResourceOptions(
        parent=component, aliases=[pulumi.Alias(parent=former_parent)], depends_on=list(depends_on)
    )


@dataclass
class StorageListenerArgs:
    config: StorageConfig
    account_id: pulumi.Input[str]
    scanner: ScannerEndpoint
    code: pulumi.Archive
    architecture: str
    key_arn: pulumi.Input[str]  # the storage key: queues and the listener's own rescan batches
    seal_key_arn: pulumi.Input[str]  # verifies post-scan's seals before a rescan
    result_topic_arn: pulumi.Input[str]  # named in each scan request: where the scanner publishes
    # The storage key's policy: SNS may deliver into the encrypted queue only once it exists.
    key_policy: pulumi.Resource
    tags: dict[str, str] = field(default_factory=dict)


class StorageListener(pulumi.ComponentResource):
    """Named as its storage: its children keep the names (and, through aliases, the URNs) they had."""

    queue: EncryptedQueue
    function: PipelineFunction

    def __init__(
        self, name: str, args: StorageListenerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bucketguard:storage:Listener", name, None, opts)
        former_parent = opts.parent if opts is not None else None
        config, scanner = args.config, args.scanner
        bucket_arn = f"arn:aws:s3:::{config.bucket}"
        self.queue = EncryptedQueue(
            f"{name}-events",
            EncryptedQueueArgs(
                kms_key_arn=args.key_arn,
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
                # For people reading the account; the audit trusts the program's own list, not this tag.
                tags={**args.tags, ROLE_TAG: LISTENER_ROLE},
            ),
            opts=moved_into(self, former_parent),
        )
        self.function = PipelineFunction(
            f"{name}-listener",
            PipelineFunctionArgs(
                code=args.code,
                handler=LISTENER_HANDLER,
                architecture=args.architecture,
                queue_arn=self.queue.queue.arn,
                statements=self._statements(args),
                environment=self._environment(args),
                timeout_seconds=LISTENER_TIMEOUT_SECONDS,
                log_retention_days=config.log_retention_days,
                description=f"bucketguard listener for s3://{config.bucket}",
                tags=args.tags,
            ),
            opts=moved_into(self, former_parent),
        )
        if scanner.rescans:
            waits_for = [scanner.subscribe_after] if scanner.subscribe_after is not None else []
            # Created by the storage's account, so no confirmation is needed; in the topic's region.
            aws.sns.TopicSubscription(
                f"{name}-ruleset-subscription",
                topic=scanner.ruleset_topic_arn,
                protocol="sqs",
                endpoint=self.queue.queue.arn,
                raw_message_delivery=True,
                region=pulumi.Output.from_input(scanner.ruleset_topic_arn or "").apply(arn_region),
                opts=moved_into(self, former_parent, depends_on=[args.key_policy, *waits_for]),
            )
        self.register_outputs({"queueArn": self.queue.queue.arn, "roleArn": self.function.role.arn})

    def _statements(self, args: StorageListenerArgs) -> list[Statement]:
        bucket_arn = f"arn:aws:s3:::{args.config.bucket}"
        objects_arn = f"{bucket_arn}/*"
        queue_arn = self.queue.queue.arn
        owned = owned_by(args.account_id)
        statements = [
            allow("ConsumeBucketEvents", SQS_CONSUME_ACTIONS, queue_arn),
            allow("DecryptBucketEvents", ["kms:Decrypt"], args.key_arn),
            # Presigned URLs are signed with these credentials: the scanner reads as this role.
            allow(
                "PresignObjectReads", ["s3:GetObject", "s3:GetObjectVersion"], objects_arn, Condition=owned
            ),
            # Finds the event's version by ETag when the notification carries no version id;
            # ListBucket makes S3 answer 404 (dropped), not 403 (retried), for a deleted object.
            allow(
                "FindEventVersion", ["s3:ListBucket", "s3:ListBucketVersions"], bucket_arn, Condition=owned
            ),
            # Removes the bucketguard-* tags a new version arrived with (the bucket policy lets it
            # remove them, never write one).
            allow(
                "StripUploadedVerdictTags",
                [*TAG_READ_ACTIONS, *TAG_WRITE_ACTIONS],
                objects_arn,
                Condition=owned,
            ),
            allow("SendScanRequests", ["sqs:SendMessage"], args.scanner.queue_arn),
            allow("EncryptScanRequests", KMS_ENCRYPT_ACTIONS, args.scanner.key_arn),
        ]
        if args.scanner.rescans:
            # The sweep: it already lists versions, reads tags and presigns reads; it queues its own
            # batches and trusts only verdicts whose seal verifies.
            statements += [
                allow("QueueRescanBatches", ["sqs:SendMessage"], queue_arn),
                allow("EncryptRescanBatches", ["kms:GenerateDataKey"], args.key_arn),
                allow("VerifyVerdictSeals", ["kms:VerifyMac"], args.seal_key_arn),
            ]
        return statements

    def _environment(self, args: StorageListenerArgs) -> dict[str, pulumi.Input[str]]:
        config, scanner = args.config, args.scanner
        environment: dict[str, pulumi.Input[str]] = {
            env.SCANNER_QUEUE_URL: scanner.queue_url,
            env.SCANNER_QUEUE_REGION: pulumi.Output.from_input(scanner.queue_arn).apply(arn_region),
            env.RESULT_TOPIC_ARN: args.result_topic_arn,
            env.STORAGE_STACK_ID: config.name,
            env.PRESIGN_TTL_SECONDS: str(PRESIGN_TTL_SECONDS),
            env.SKIP_PREFIXES: ",".join(config.skip_prefixes),
            env.LOG_LEVEL: "INFO",
        }
        if scanner.rescans:
            environment |= {
                env.RESCAN_ON_UPDATE: scanner.rescan_on_update,
                # a stack output's number arrives as a float
                env.RESCAN_START_DELAY_SECONDS: pulumi.Output.from_input(
                    scanner.ruleset_reload_seconds
                ).apply(lambda seconds: str(int(seconds))),
                env.PROTECTED_BUCKET: config.bucket,
                env.LISTENER_QUEUE_URL: self.queue.queue.url,
                env.SEAL_KEY_ID: args.seal_key_arn,
            }
        return environment
