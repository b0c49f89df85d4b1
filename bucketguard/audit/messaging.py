"""SQS and SNS collectors: queues and topics with their policies, encryption and tags."""

from __future__ import annotations

from bucketguard.audit.reader import Call, Reader
from bucketguard.rules.facts import SnsTopicFacts, SqsQueueFacts, parse_policy_document

TAGS_ONLY: tuple[
    str, ...
] = ()  # tags judge no rule here (a queue's tag never makes it a listener: audit.run.join)
QUEUE_RULES = ("sqs_queue_public_access_prohibited", "sqs_queue_encrypted_at_rest")
TOPIC_RULES = ("sns_topic_public_access_prohibited", "sns_topic_encrypted_at_rest")
LIST_QUEUES = Call("list_queues", QUEUE_RULES)
QUEUE_ATTRIBUTES = Call("get_queue_attributes", QUEUE_RULES)
QUEUE_TAGS = Call("list_queue_tags", TAGS_ONLY)
LIST_TOPICS = Call("list_topics", TOPIC_RULES)
TOPIC_ATTRIBUTES = Call("get_topic_attributes", TOPIC_RULES)
TOPIC_TAGS = Call("list_tags_for_resource", TAGS_ONLY)
SQS_CALLS = (LIST_QUEUES, QUEUE_ATTRIBUTES, QUEUE_TAGS)
SNS_CALLS = (LIST_TOPICS, TOPIC_ATTRIBUTES, TOPIC_TAGS)


def collect_sqs(reader: Reader) -> None:
    sqs = reader.client("sqs")

    def collect(url: str) -> None:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        arn = f"arn:aws:sqs:{reader.region}:{reader.account}:{name}"
        attributes = (
            reader.call(
                sqs, QUEUE_ATTRIBUTES, resource_name=name, arn=arn, QueueUrl=url, AttributeNames=["All"]
            )
            or {}
        ).get("Attributes", {})
        tags = (reader.call(sqs, QUEUE_TAGS, resource_name=name, arn=arn, QueueUrl=url) or {}).get("Tags", {})
        reader.collection.add(
            "sqs_queues",
            SqsQueueFacts(
                name=name,
                type="AWS::SQS::Queue",
                region=reader.region,
                ref=str(attributes.get("QueueArn", arn)),
                tags=dict(tags),
                policy=parse_policy_document(attributes.get("Policy")),
                kms_master_key_id=attributes.get("KmsMasterKeyId") or None,
                sqs_managed_sse_enabled=str(attributes.get("SqsManagedSseEnabled", "false")).lower()
                == "true",
            ),
        )

    reader.each(reader.paginate(sqs, LIST_QUEUES, "QueueUrls"), lambda url: f"queue {url}", collect)


def collect_sns(reader: Reader) -> None:
    sns = reader.client("sns")

    def collect(arn: str) -> None:
        name = arn.rsplit(":", 1)[-1]
        attributes = (
            reader.call(sns, TOPIC_ATTRIBUTES, resource_name=name, arn=arn, TopicArn=arn) or {}
        ).get("Attributes", {})
        tags = (reader.call(sns, TOPIC_TAGS, resource_name=name, arn=arn, ResourceArn=arn) or {}).get(
            "Tags", []
        )
        reader.collection.add(
            "sns_topics",
            SnsTopicFacts(
                name=name,
                type="AWS::SNS::Topic",
                region=reader.region,
                ref=arn,
                tags={str(t["Key"]): str(t["Value"]) for t in tags},
                policy=parse_policy_document(attributes.get("Policy")),
                kms_master_key_id=attributes.get("KmsMasterKeyId") or None,
            ),
        )

    topics = [str(t["TopicArn"]) for t in reader.paginate(sns, LIST_TOPICS, "Topics")]
    reader.each(topics, lambda arn: f"topic {arn}", collect)
