"""SQS and SNS rules: resource policies open to everyone, encryption at rest."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules.catalogue._common import RESTRICT_NOTE, public_policy_findings
from bucketguard.rules.facts import SnsTopicFacts, SqsQueueFacts
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, rule


@rule(
    "sqs_queue_public_access_prohibited",
    SqsQueueFacts,
    Severity.HIGH,
    title="SQS queue policies do not allow public access",
    risk=(
        "Anyone can send, read or delete messages on a queue open to Principal *, so forged scan requests "
        "or stolen results enter the pipeline. Queue policies must name the producers they expect."
    ),
    remediation=Remediation(
        summary="Name the producing service or role in the queue policy, with an aws:SourceArn condition.",
        pulumi="""\
import json

import pulumi
import pulumi_aws as aws

queue = aws.sqs.Queue("listener")
bucket = aws.s3.Bucket("teaching")
aws.sqs.QueuePolicy(
    "listener-policy",
    queue_url=queue.id,
    policy=pulumi.Output.all(queue.arn, bucket.arn).apply(
        lambda arns: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": arns[0],
                        "Condition": {"ArnEquals": {"aws:SourceArn": arns[1]}},
                    }
                ],
            }
        )
    ),
)
""",
        console="SQS > queue > Access policy > Edit: name the producer, not Principal *; add a condition.",
        cli="aws sqs set-queue-attributes --queue-url URL --attributes file://policy-attributes.json",
    ),
    references=References(
        fsbp=("SQS.3",),
        checkov=("CKV_AWS_168",),
        prowler=("sqs_queues_not_publicly_accessible",),
    ),
    notes=RESTRICT_NOTE,
)
def sqs_queue_public_access_prohibited(queue: SqsQueueFacts, config: RulesConfig) -> Iterator[str]:
    yield from public_policy_findings(queue.policy, "queue policy")


@rule(
    "sns_topic_public_access_prohibited",
    SnsTopicFacts,
    Severity.HIGH,
    title="SNS topic policies do not allow public access",
    risk=(
        "Anyone can publish to or subscribe to a topic open to Principal *, so forged scan results could "
        "release quarantined files or results leak to strangers. Topic policies must name their publishers."
    ),
    remediation=Remediation(
        summary="Allow sns:Publish only to the scanner role; keep the default owner-only statement.",
        pulumi="""\
import json

import pulumi_aws as aws

topic = aws.sns.Topic("scan-results", kms_master_key_id="alias/aws/sns")
scanner_role_arn = "arn:aws:iam::111122223333:role/bucketguard-scanner"
aws.sns.TopicPolicy(
    "scan-results-policy",
    arn=topic.arn,
    policy=topic.arn.apply(
        lambda arn: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": scanner_role_arn},
                        "Action": "sns:Publish",
                        "Resource": arn,
                    }
                ],
            }
        )
    ),
)
""",
        console="SNS > topic > Edit > Access policy: replace Principal * with the publishing role.",
        cli="aws sns set-topic-attributes --topic-arn ARN --attribute-name Policy --attribute-value file://p.json",
    ),
    references=References(
        fsbp=("SNS.4",),
        checkov=("CKV_AWS_169",),
        prowler=("sns_topics_not_publicly_accessible",),
    ),
    notes="No topic policy passes: the default policy admits the owner account only (aws:SourceOwner). "
    + RESTRICT_NOTE,
)
def sns_topic_public_access_prohibited(topic: SnsTopicFacts, config: RulesConfig) -> Iterator[str]:
    yield from public_policy_findings(topic.policy, "topic policy")


@rule(
    "sqs_queue_encrypted_at_rest",
    SqsQueueFacts,
    Severity.MEDIUM,
    title="SQS queues encrypt messages at rest",
    risk=(
        "Messages stored unencrypted can be read from the underlying storage and backups. Scan requests "
        "carry presigned URLs, which are secrets until they expire."
    ),
    remediation=Remediation(
        summary="Keep SSE-SQS on (the default) or set a KMS key.",
        pulumi="""\
import pulumi_aws as aws

aws.sqs.Queue("listener", sqs_managed_sse_enabled=True)
""",
        console="SQS > queue > Edit > Encryption: Server-side encryption Enabled.",
        cli="aws sqs set-queue-attributes --queue-url URL --attributes SqsManagedSseEnabled=true",
    ),
    references=References(
        fsbp=("SQS.1",),
        checkov=("CKV_AWS_27",),
        prowler=("sqs_queues_server_side_encryption_enabled",),
    ),
    notes="Not set passes: AWS turns SSE-SQS on for new queues. Fails only when SSE-SQS is explicitly off "
    "and no KMS key is set.",
)
def sqs_queue_encrypted_at_rest(queue: SqsQueueFacts, config: RulesConfig) -> Iterator[str]:
    if queue.kms_master_key_id is None and queue.sqs_managed_sse_enabled is False:
        yield "server-side encryption is off (sqs_managed_sse_enabled=False and no KMS key)"


@rule(
    "sns_topic_encrypted_at_rest",
    SnsTopicFacts,
    Severity.MEDIUM,
    title="SNS topics encrypt messages at rest with KMS",
    risk=(
        "SNS stores messages unencrypted unless a KMS key is set, so scan results and object names sit in "
        "clear text until delivered. A KMS key also puts every publish under a key policy."
    ),
    remediation=Remediation(
        summary="Set kms_master_key_id (alias/aws/sns or a customer managed key).",
        pulumi="""\
import pulumi_aws as aws

aws.sns.Topic("scan-results", kms_master_key_id="alias/aws/sns")
""",
        console="SNS > topic > Edit > Encryption: Enable encryption, choose a key.",
        cli="aws sns set-topic-attributes --topic-arn ARN --attribute-name KmsMasterKeyId "
        "--attribute-value alias/aws/sns",
    ),
    references=References(
        fsbp=("SNS.1",),
        checkov=("CKV_AWS_26",),
        prowler=("sns_topics_kms_encryption_at_rest_enabled",),
    ),
    notes="Not set fails: AWS does not encrypt SNS topics by default.",
)
def sns_topic_encrypted_at_rest(topic: SnsTopicFacts, config: RulesConfig) -> Iterator[str]:
    if not topic.kms_master_key_id:
        yield "no KMS key: the topic is not encrypted at rest"
