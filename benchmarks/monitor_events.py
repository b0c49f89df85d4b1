"""The monitor against moto: events per second through the core, and API call to alert in the local
pipeline. Not a test: run it by hand.

    .venv/bin/python benchmarks/monitor_events.py [EVENTS]

1. Core: EVENTS buckets are made public in moto, then one PutBucketAcl event each (CloudTrail's shape,
   EventBridge's envelope) goes through ``Monitor.handle`` with the SQLite history: events/s and per-event
   milliseconds, with the API calls per event.
2. Local pipeline: for each of EVENTS buckets, the clock starts before ``put_bucket_acl``; the event is sent
   to an SQS queue in moto (as the EventBridge rule's target would), the deployed handler's class reads it
   in a batch of one with the DynamoDB history and publishes to an SNS topic; the clock stops when the alert
   arrives on a queue subscribed to that topic. moto records no CloudTrail: the event is written here, so
   CloudTrail's own delivery delay (typically seconds to minutes) is not in these figures.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bucketguard.audit.clients import ClientFactory  # noqa: E402
from bucketguard.audit.history import DynamoDbHistory, SqliteHistory  # noqa: E402
from bucketguard.monitor.core import Monitor  # noqa: E402
from bucketguard.monitor.deliver import AlertChannels  # noqa: E402
from bucketguard.monitor.events import parse_event  # noqa: E402
from bucketguard.monitor.function import MonitorFunction  # noqa: E402
from bucketguard.monitor.ledger import DynamoDbLedger, SqliteLedger  # noqa: E402
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session  # noqa: E402

REGION, ACCOUNT = "us-east-1", "123456789012"


def put_bucket_acl_event(bucket: str) -> dict[str, Any]:
    role = f"arn:aws:iam::{ACCOUNT}:role/camp-child"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-07-01T09:15:02Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/camp-child/camper-7",
                "accountId": ACCOUNT,
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": ACCOUNT}},
            },
            "eventTime": "2026-07-01T09:15:01Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "PutBucketAcl",
            "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.17",
            "userAgent": "aws-cli/2.17.20",
            "requestParameters": {"bucketName": bucket, "acl": ""},
            "responseElements": None,
            "requestID": uuid.uuid4().hex[:16].upper(),
            "eventID": str(uuid.uuid4()),
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
        },
    }


def core(aws: EmbeddedAws, count: int) -> None:
    session = bootstrap_session(REGION)
    s3 = session.client("s3", endpoint_url=aws.endpoint_url)
    names = [f"camp-core-{n:04d}" for n in range(count)]
    for name in names:
        s3.create_bucket(Bucket=name)
        s3.put_bucket_acl(Bucket=name, ACL="public-read")
    events = [parse_event(put_bucket_acl_event(name)) for name in names]
    clients = ClientFactory(session, endpoint_url=aws.endpoint_url)
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "history.db"
        monitor = Monitor(lambda _: clients, SqliteHistory(db), SqliteLedger(db))
        started = time.perf_counter()
        alerts = sum(len(monitor.handle(event).alerts) for event in events)
        seconds = time.perf_counter() - started
    print(
        f"core: {count} events, {alerts} alerts in {seconds:.2f} s: {count / seconds:.1f} events/s, "
        f"{1000 * seconds / count:.1f} ms/event, {clients.calls / count:.1f} API calls/event"
    )


def pipeline(aws: EmbeddedAws, count: int) -> None:
    session = bootstrap_session(REGION)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=aws.endpoint_url, region_name=REGION)

    s3, sqs, sns = client("s3"), client("sqs"), client("sns")
    table = DynamoDbHistory.create_table(
        session.resource("dynamodb", endpoint_url=aws.endpoint_url), "monitor"
    )
    events_queue = sqs.create_queue(QueueName="monitor-events")["QueueUrl"]
    topic = sns.create_topic(Name="monitor-alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"}
    )
    clients = ClientFactory(session, endpoint_url=aws.endpoint_url)
    function = MonitorFunction(
        Monitor(
            lambda _: clients,
            DynamoDbHistory(table),
            DynamoDbLedger(table),
            deliver=AlertChannels(sns=sns, topic_arn=topic),
        )
    )
    latencies = []
    for n in range(count):
        name = f"camp-pipe-{n:04d}"
        s3.create_bucket(Bucket=name)
        started = time.perf_counter()
        s3.put_bucket_acl(Bucket=name, ACL="public-read")
        sqs.send_message(QueueUrl=events_queue, MessageBody=json.dumps(put_bucket_acl_event(name)))
        received = sqs.receive_message(QueueUrl=events_queue, MaxNumberOfMessages=1)["Messages"]
        batch = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:monitor-events",
                    "awsRegion": REGION,
                }
                for m in received
            ]
        }
        assert function.handle(batch) == {"batchItemFailures": []}
        for m in received:
            sqs.delete_message(QueueUrl=events_queue, ReceiptHandle=m["ReceiptHandle"])
        while not (alert := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=1).get("Messages")):
            pass
        latencies.append(time.perf_counter() - started)
        sqs.delete_message(QueueUrl=inbox, ReceiptHandle=alert[0]["ReceiptHandle"])
    cuts = statistics.quantiles(latencies, n=20)
    print(
        f"pipeline: {count} API calls to alerts: p50 {1000 * statistics.median(latencies):.0f} ms, "
        f"p95 {1000 * cuts[18]:.0f} ms, max {1000 * max(latencies):.0f} ms"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with EmbeddedAws() as aws:
        core(aws, count)
        pipeline(aws, count)


if __name__ == "__main__":
    main()
