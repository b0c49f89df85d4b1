"""The scanner stack and a storage stack deployed on the embedded AWS, with the pipeline wired between them.

The same shape as the Pulumi components: scanner queue (+DLQ) in the scanner account admitting only the
registered listener roles; in the storage account the protected bucket, its listener queue (+DLQ), the result
topic admitting only the scanner role, the post-scan queue (+DLQ) subscribed to it, the quarantine and
promote buckets and the alert topic. Lambda is replaced by `SqsEventSource` runners calling the same
function objects the Lambda handlers build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bucketguard.pipeline.lambda_functions import ListenerFunction, PostScanFunction, ScannerFunction
from bucketguard.pipeline.notify import WebhookNotifier
from bucketguard.pipeline.postscan import PostScan
from bucketguard.pipeline.scanner import Scanner
from bucketguard.pipeline.settings import ListenerSettings, PostScanSettings, ScannerSettings
from bucketguard.sandbox.aws import REGION, SCANNER_ACCOUNT, STORAGE_ACCOUNT, AccountSession, EmbeddedAws
from bucketguard.sandbox.runner import SqsEventSource, drain

MAX_RECEIVE_COUNT = 3  # scanner and post-scan queues: a message failing this many times goes to the DLQ


def _queue(sqs: Any, name: str, *, visibility_timeout: int, dlq_arn: str | None = None) -> tuple[str, str]:
    attributes = {"VisibilityTimeout": str(visibility_timeout), "MessageRetentionPeriod": "1209600"}
    if dlq_arn:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
        )
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _queue_with_dlq(sqs: Any, name: str, visibility_timeout: int) -> tuple[str, str, str]:
    dlq_url, dlq_arn = _queue(sqs, f"{name}-dlq", visibility_timeout=visibility_timeout)
    url, arn = _queue(sqs, name, visibility_timeout=visibility_timeout, dlq_arn=dlq_arn)
    return url, arn, dlq_url


def _bucket(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


@dataclass
class ScannerStack:
    account: AccountSession
    role: AccountSession
    queue_url: str
    queue_arn: str
    dlq_url: str
    listener_role_arns: list[str] = field(default_factory=list)

    @classmethod
    def deploy(
        cls, aws: EmbeddedAws, *, name: str = "bucketguard-scanner", visibility_timeout: int = 30
    ) -> ScannerStack:
        admin = aws.account(SCANNER_ACCOUNT)
        url, arn, dlq_url = _queue_with_dlq(admin.shared("sqs"), f"{name}-requests", visibility_timeout)
        return cls(admin, aws.account(SCANNER_ACCOUNT, "bucketguard-scanner"), url, arn, dlq_url)

    def register_listener(self, listener_role_arn: str) -> None:
        """Admit one more storage stack's listener role to the scanner queue (and only those)."""
        self.listener_role_arns.append(listener_role_arn)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "RegisteredListenersSendScanRequests",
                    "Effect": "Allow",
                    "Principal": {"AWS": sorted(self.listener_role_arns)},
                    "Action": "sqs:SendMessage",
                    "Resource": self.queue_arn,
                }
            ],
        }
        self.account.shared("sqs").set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)}
        )


@dataclass
class StorageStack:
    stack_id: str
    bucket: str
    quarantine_bucket: str
    promote_bucket: str
    account: AccountSession
    listener_role: AccountSession
    postscan_role: AccountSession
    listener_queue_url: str
    listener_dlq_url: str
    result_topic_arn: str
    postscan_queue_url: str
    postscan_dlq_url: str
    alert_topic_arn: str
    alert_inbox_url: str  # an SQS queue subscribed to the alert topic, standing in for the email inbox

    @classmethod
    def deploy(
        cls,
        aws: EmbeddedAws,
        scanner: ScannerStack,
        *,
        bucket: str,
        stack_id: str = "camp-storage",
        visibility_timeout: int = 30,
    ) -> StorageStack:
        admin = aws.account(STORAGE_ACCOUNT)
        s3, sqs, sns = admin.shared("s3"), admin.shared("sqs"), admin.shared("sns")
        quarantine, promote = f"{bucket}-quarantine", f"{bucket}-promoted"
        for name in (bucket, quarantine, promote):
            _bucket(s3, name)
        listener_url, listener_arn, listener_dlq = _queue_with_dlq(
            sqs, f"{stack_id}-listener", visibility_timeout
        )
        sqs.set_queue_attributes(
            QueueUrl=listener_url,
            Attributes={
                "Policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "BucketNotifications",
                                "Effect": "Allow",
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": listener_arn,
                                "Condition": {
                                    "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                                    "StringEquals": {"aws:SourceAccount": STORAGE_ACCOUNT},
                                },
                            }
                        ],
                    }
                )
            },
        )
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": listener_arn, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        topic_arn = sns.create_topic(Name=f"{stack_id}-scan-results")["TopicArn"]
        sns.set_topic_attributes(
            TopicArn=topic_arn,
            AttributeName="Policy",
            AttributeValue=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "OnlyTheScannerPublishes",
                            "Effect": "Allow",
                            "Principal": {"AWS": scanner.role.role_arn},
                            "Action": "sns:Publish",
                            "Resource": topic_arn,
                        }
                    ],
                }
            ),
        )
        postscan_url, postscan_arn, postscan_dlq = _queue_with_dlq(
            sqs, f"{stack_id}-postscan", visibility_timeout
        )
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=postscan_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        alert_arn = sns.create_topic(Name=f"{stack_id}-alerts")["TopicArn"]
        inbox_url, inbox_arn = _queue(sqs, f"{stack_id}-alert-inbox", visibility_timeout=visibility_timeout)
        sns.subscribe(TopicArn=alert_arn, Protocol="sqs", Endpoint=inbox_arn)
        listener_role = aws.account(STORAGE_ACCOUNT, f"{stack_id}-listener")
        scanner.register_listener(listener_role.role_arn)
        return cls(
            stack_id=stack_id,
            bucket=bucket,
            quarantine_bucket=quarantine,
            promote_bucket=promote,
            account=admin,
            listener_role=listener_role,
            postscan_role=aws.account(STORAGE_ACCOUNT, f"{stack_id}-postscan"),
            listener_queue_url=listener_url,
            listener_dlq_url=listener_dlq,
            result_topic_arn=topic_arn,
            postscan_queue_url=postscan_url,
            postscan_dlq_url=postscan_dlq,
            alert_topic_arn=alert_arn,
            alert_inbox_url=inbox_url,
        )


class LocalPipeline:
    """A scanner stack, one storage stack and the three functions running on the embedded AWS."""

    def __init__(
        self,
        aws: EmbeddedAws,
        *,
        bucket: str = "camp-teaching-materials",
        actions: frozenset[str] = frozenset({"tag", "quarantine", "promote", "notify"}),
        scanner_settings: dict[str, Any] | None = None,
        postscan_settings: dict[str, Any] | None = None,
        listener_settings: dict[str, Any] | None = None,
        visibility_timeout: int = 1,
        batch_size: int = 10,
        webhook_secret_arn: str = "",
    ) -> None:
        self.aws = aws
        self.scanner_stack = ScannerStack.deploy(aws, visibility_timeout=visibility_timeout)
        self.storage = StorageStack.deploy(
            aws, self.scanner_stack, bucket=bucket, visibility_timeout=visibility_timeout
        )
        st = self.storage
        self.listener_settings = ListenerSettings.resolve(
            {},
            scanner_queue_url=self.scanner_stack.queue_url,
            result_topic_arn=st.result_topic_arn,
            storage_stack_id=st.stack_id,
            quarantine_bucket=st.quarantine_bucket,
            **(listener_settings or {}),
        )
        self.scanner_settings = ScannerSettings.resolve(
            {},
            **{
                "scanner_id": "sandbox-scanner",
                "download_origins": (aws.endpoint_url,),
                "allowed_result_topic_arns": (st.result_topic_arn,),
                **(scanner_settings or {}),
            },
        )
        self.postscan_settings = PostScanSettings.resolve(
            {},
            actions=actions,
            quarantine_bucket=st.quarantine_bucket,
            promote_bucket=st.promote_bucket,
            alert_topic_arn=st.alert_topic_arn,
            webhook_secret_arn=webhook_secret_arn,
            **(postscan_settings or {}),
        )
        # each function with its own role's credentials, in its own account
        self.listener = ListenerFunction(
            self.listener_settings, st.listener_role.client("s3"), st.listener_role.client("sqs")
        )
        self.scanner = ScannerFunction(Scanner(self.scanner_settings, self.scanner_stack.role.client("sns")))
        webhook = (
            WebhookNotifier(st.postscan_role.client("secretsmanager"), webhook_secret_arn)
            if webhook_secret_arn
            else None
        )
        self.postscan = PostScanFunction(
            PostScan(
                self.postscan_settings,
                st.postscan_role.client("s3"),
                sns=st.postscan_role.client("sns"),
                webhook=webhook,
            )
        )
        # a second subscriber of the result topic (as a SIEM would be): lets tests see every published event
        sqs = st.account.shared("sqs")
        self.results_tap_url, tap_arn = _queue(sqs, f"{st.stack_id}-results-tap", visibility_timeout=30)
        st.account.shared("sns").subscribe(
            TopicArn=st.result_topic_arn,
            Protocol="sqs",
            Endpoint=tap_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self.sources = [
            SqsEventSource(
                st.listener_role.client("sqs"),
                st.listener_queue_url,
                self.listener.handle,
                function_name="listener",
                batch_size=batch_size,
                visibility_timeout=visibility_timeout,
                region=REGION,
            ),
            SqsEventSource(
                self.scanner_stack.role.client("sqs"),
                self.scanner_stack.queue_url,
                self.scanner.handle,
                function_name="scanner",
                batch_size=batch_size,
                visibility_timeout=visibility_timeout,
                region=REGION,
            ),
            SqsEventSource(
                st.postscan_role.client("sqs"),
                st.postscan_queue_url,
                self.postscan.handle,
                function_name="postscan",
                batch_size=batch_size,
                visibility_timeout=visibility_timeout,
                region=REGION,
            ),
        ]

    @property
    def s3(self) -> Any:
        """The storage account's admin S3 client (what a user of the bucket would use)."""
        return self.storage.account.shared("s3")

    def drain(self, timeout: float = 120.0) -> None:
        drain(self.sources, timeout=timeout)

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def stop(self) -> None:
        for source in self.sources:
            source.stop()

    def tags(self, key: str, version_id: str | None = None, bucket: str | None = None) -> dict[str, str]:
        args: dict[str, Any] = {"Bucket": bucket or self.storage.bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        return {t["Key"]: t["Value"] for t in self.s3.get_object_tagging(**args)["TagSet"]}

    def versions(self, bucket: str | None = None, prefix: str = "") -> list[dict[str, Any]]:
        pages = self.s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket or self.storage.bucket, Prefix=prefix
        )
        return [v for page in pages for v in page.get("Versions", [])]

    def _consume(self, queue_url: str) -> list[dict[str, Any]]:
        sqs = self.storage.account.shared("sqs")
        out: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts delivered to the alert topic's inbox queue (SNS envelopes), consumed."""
        return self._consume(self.storage.alert_inbox_url)

    def published_events(self) -> list[dict[str, Any]]:
        """Every scan-result event the scanner published since the last call (consumed from the tap)."""
        return self._consume(self.results_tap_url)

    def queue_depth(self, queue_url: str, account: AccountSession | None = None) -> int:
        sqs = (account or self.storage.account).shared("sqs")
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
