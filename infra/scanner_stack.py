"""ScannerStack: the shared scanner (scanner account): KMS key, scanner queue + DLQ, scanner Lambda, rules
bucket, alarms.

The scanner never holds access to a protected bucket: it reads each object through the presigned URL the
listener put in the scan request. Its queue policy, the key policy and its permission to publish results
are written by ScannerAdmission, which knows the registered storages.

Rule updates: `rules publish` (or the update function) writes `ruleset.zip` to the private, encrypted,
versioned rules bucket; the scanner reads it (and only it) when it changes. The Lambda artifact keeps the
bundled ruleset as the fallback used until something is published, or when what is published fails.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from bucketguard.pipeline import env
from bucketguard.pipeline.lambda_runtime import METRICS_NAMESPACE
from bucketguard.pipeline.rule_updates import sources_json
from bucketguard.pipeline.rules_bucket import ARTIFACT_NAME
from bucketguard.scanning.feeds import FeedSource, SecretUrlSource, split_s3_url
from infra.alarms import BacklogQueue, PipelineAlarms, PipelineAlarmsArgs, alert_topic
from infra.config import ScannerConfig
from infra.function import PipelineFunction, PipelineFunctionArgs, invoke_on_schedule
from infra.keys import component_key
from infra.policies import KMS_ENCRYPT_ACTIONS, SQS_CONSUME_ACTIONS, Statement, allow, owned_by
from infra.queue import EncryptedQueue, EncryptedQueueArgs
from infra.secure_bucket import SecureBucket, SecureBucketArgs

SCANNER_HANDLER = "functions.scanner.app.handler"
RULES_UPDATE_HANDLER = "functions.rules_update.app.handler"


def _ruleset_statements(
    rules_bucket_arn: pulumi.Output[str], account_id: pulumi.Input[str], actions: list[str]
) -> list[Statement]:
    """Access to the published ruleset and nothing else in the rules bucket (the scanner account's)."""
    owned = owned_by(account_id)
    return [
        allow(
            "PublishedRuleset",
            actions,
            pulumi.Output.concat(rules_bucket_arn, "/", ARTIFACT_NAME),
            Condition=owned,
        ),
        # Only so that "nothing published yet" reads as 404, not as access denied.
        allow("SeeWhetherARulesetIsPublished", ["s3:ListBucket"], rules_bucket_arn, Condition=owned),
    ]


def _team_source_statements(sources: Sequence[FeedSource | SecretUrlSource]) -> list[Statement]:
    """Read access to each s3:// rule source's prefix (and only that prefix), and to each URL secret."""
    secrets = [s.secret_arn for s in sources if isinstance(s, SecretUrlSource)]
    statements = (
        [allow("ReadRuleSourceUrlSecrets", ["secretsmanager:GetSecretValue"], secrets)] if secrets else []
    )
    for index, source in enumerate(s for s in sources if isinstance(s, FeedSource) and s.is_s3):
        bucket, prefix = split_s3_url(source.url)
        # A bucket name is global: with its owner named, a bucket of that name in another account is not read.
        owned = owned_by(source.bucket_owner) if source.bucket_owner else {}
        statements.append(
            allow(
                f"ReadRuleSource{index}",
                ["s3:GetObject"],
                f"arn:aws:s3:::{bucket}/{prefix}*",
                **({"Condition": owned} if owned else {}),
            )
        )
        statements.append(
            allow(
                f"ListRuleSource{index}",
                ["s3:ListBucket"],
                f"arn:aws:s3:::{bucket}",
                Condition={"StringLike": {"s3:prefix": [f"{prefix}*"]}, **owned},
            )
        )
    return statements


def _rules_label(scanner_id: str) -> str:
    """12 characters that, with the account and region, make the rules bucket's global name unique (63 at
    most): the stack's name; a fleet member's name and a digest of project/stack/name."""
    _, stack, *name = scanner_id.split("/")

    def slug(text: str, size: int) -> str:
        return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:size].strip("-")

    if not name:
        return slug(stack, 12) or "stack"
    return f"{slug(name[0], 5)}-{hashlib.sha256(scanner_id.encode()).hexdigest()[:6]}"


@dataclass
class ScannerStackArgs:
    config: ScannerConfig
    account_id: pulumi.Input[str]
    code: pulumi.Archive
    ruleset_path: str  # absolute path of the ruleset artifact inside the Lambda (/var/task/...)
    scanner_id: str  # project/stack, and /name for a member of a fleet
    tags: dict[str, str] = field(default_factory=dict)


class ScannerStack(pulumi.ComponentResource):
    key: aws.kms.Key
    queue: EncryptedQueue
    scanner: PipelineFunction
    alert_topic: aws.sns.Topic
    rules: SecureBucket
    rules_logs: SecureBucket
    rule_update: PipelineFunction | None
    ruleset_topic: aws.sns.Topic

    def __init__(self, name: str, args: ScannerStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:scanner:ScannerStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        # The key's policy (least privilege, naming the listener roles) is set by ScannerAdmission.
        self.key = component_key(
            f"{name}-key",
            description="bucketguard scanner: scan requests and scanner alerts",
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
        rules_name = pulumi.Output.concat(
            "bucketguard-", _rules_label(args.scanner_id), "-rules-", args.account_id, "-", config.region
        )
        # Who published which ruleset is worth keeping: the rules bucket logs its access.
        self.rules_logs = SecureBucket(
            f"{name}-rules-logs",
            SecureBucketArgs(
                bucket_name=pulumi.Output.concat(rules_name, "-logs"),
                kms_key_arn=None,
                extra_statements=[
                    {
                        "Sid": "S3ServerAccessLogsDelivery",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": ["s3:PutObject"],
                        "Resource": pulumi.Output.concat("arn:aws:s3:::", rules_name, "-logs/*"),
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": args.account_id},
                            "ArnLike": {"aws:SourceArn": pulumi.Output.concat("arn:aws:s3:::", rules_name)},
                        },
                    }
                ],
                role="logs",
                tags=args.tags,
            ),
            opts=child,
        )
        self.rules = SecureBucket(
            f"{name}-rules",
            SecureBucketArgs(
                bucket_name=rules_name,
                kms_key_arn=self.key.arn,
                extra_statements=[
                    {
                        # The scanner key admits only the rule publishers and the update: a PutObject
                        # naming its own encryption (SSE-S3, another key) would need none of it, and an
                        # account-wide s3:PutObject could then publish a ruleset.
                        "Sid": "WritesUseTheScannerKey",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": ["s3:PutObject"],
                        "Resource": pulumi.Output.concat("arn:aws:s3:::", rules_name, "/*"),
                        "Condition": {"Null": {"s3:x-amz-server-side-encryption": "false"}},
                    }
                ],
                role="internal",
                tags=args.tags,
                # Through the policy's output: logging is switched on only once log delivery is admitted.
                access_log_bucket=self.rules_logs.policy.bucket,
            ),
            opts=child,
        )
        rules_bucket_arn = self.rules.bucket.arn
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
                    *_ruleset_statements(
                        rules_bucket_arn, args.account_id, ["s3:GetObject", "s3:GetObjectVersion"]
                    ),
                ],
                environment={
                    env.RULESET_PATH: args.ruleset_path,
                    env.RULES_BUCKET: self.rules.bucket.id,
                    env.RULES_KEY: ARTIFACT_NAME,
                    env.RULES_CHECK_SECONDS: str(config.rule_check_seconds),
                    env.MAX_OBJECT_BYTES: str(config.max_object_bytes),
                    env.SCANNER_ID: args.scanner_id,
                    env.LOG_LEVEL: "INFO",
                },
                memory_mb=config.memory_mb,
                timeout_seconds=config.timeout_seconds,
                ephemeral_storage_mb=config.ephemeral_storage_mb,
                reserved_concurrency=config.reserved_concurrency,
                # Each object's download overlaps the previous one's scan; the handler starts an object only
                # while the invocation has the time to finish it (bucketguard.pipeline.overlap).
                batch_size=config.batch_size,
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
        aws.cloudwatch.MetricAlarm(
            f"{name}-ruleset-rejected",
            namespace=METRICS_NAMESPACE,
            metric_name="RulesetRejected",
            dimensions={"service": "bucketguard-scanner"},
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
            alarm_description="scanner: a published ruleset failed verification; the previous one is kept",
            alarm_actions=[self.alert_topic.arn],
            opts=child,
        )
        # Announces each ruleset the update publishes: storages subscribe their listener queue (their accounts
        # are let in by ScannerAdmission) and rescan what older rulesets judged. Made whatever rescanOnUpdate
        # says, so a storage-only stack can subscribe before the scanner's setting changes.
        self.ruleset_topic = aws.sns.Topic(
            f"{name}-ruleset-published", kms_master_key_id=self.key.arn, tags=args.tags, opts=child
        )
        feeds = tuple(source.feed() for source in config.rule_sources)
        self.rule_update = self._rule_update(name, args, rules_bucket_arn, feeds) if feeds else None
        PipelineAlarms(
            f"{name}-alarms",
            PipelineAlarmsArgs(
                alarm_topic_arn=self.alert_topic.arn,
                function_names={
                    "scanner": self.scanner.function.name,
                    **({"rule-update": self.rule_update.function.name} if self.rule_update else {}),
                },
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
                "rulesBucket": self.rules.bucket.id,
                "rulesetTopicArn": self.ruleset_topic.arn,
            }
        )

    def _rule_update(
        self,
        name: str,
        args: ScannerStackArgs,
        rules_bucket_arn: pulumi.Output[str],
        feeds: tuple[FeedSource | SecretUrlSource, ...],
    ) -> PipelineFunction:
        """The scheduled `rules update`: fetches the feeds, runs the gates, publishes to the rules bucket,
        alerts the scanner's alert topic when an update is refused or a feed fails."""
        config = args.config
        update = PipelineFunction(
            f"{name}-rule-update",
            PipelineFunctionArgs(
                code=args.code,
                handler=RULES_UPDATE_HANDLER,
                architecture=config.architecture,
                queue_arn=None,
                statements=[
                    *_ruleset_statements(
                        rules_bucket_arn,
                        args.account_id,
                        ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                    ),
                    allow("UseScannerKeyForRulesetAndAlerts", KMS_ENCRYPT_ACTIONS, self.key.arn),
                    allow("AlertOnFailedUpdates", ["sns:Publish"], self.alert_topic.arn),
                    allow("AnnouncePublishedRulesets", ["sns:Publish"], self.ruleset_topic.arn),
                    *_team_source_statements(feeds),
                ],
                environment={
                    env.RULES_BUCKET: self.rules.bucket.id,
                    env.RULE_SOURCES: sources_json(feeds),
                    env.ALERT_TOPIC_ARN: self.alert_topic.arn,
                    env.RULESET_TOPIC_ARN: self.ruleset_topic.arn,
                    env.LOG_LEVEL: "INFO",
                },
                # Large feeds: compiling thousands of rules twice and scanning the 64 MiB sample.
                memory_mb=3008,
                timeout_seconds=900,
                ephemeral_storage_mb=2048,
                reserved_concurrency=1,  # two updates at once would race to publish
                log_retention_days=config.log_retention_days,
                description="bucketguard rule update: feeds -> verified ruleset -> rules bucket",
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        invoke_on_schedule(
            f"{name}-rule-update",
            update.function,
            schedule=config.rule_update_schedule,
            account_id=args.account_id,
            description="bucketguard: scheduled rule update",
            tags=args.tags,
            parent=self,
        )
        return update
