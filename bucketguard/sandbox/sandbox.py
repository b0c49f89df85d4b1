"""A stack config deployed into a fresh embedded AWS with its functions running: what the demo, the e2e
tests and `bucketguard sandbox up` use.

`Sandbox.up(aws, config, stack=...)` deploys the real program (bucketguard.sandbox.deployer), reads the
functions back (bucketguard.sandbox.runner), and finds each storage's buckets, queues and topics from the
stack outputs and what moto holds. Two observers are added, as a security team would: an inbox queue
subscribed to each alert topic (standing in for the e-mail subscriptions) and a queue subscribed to each
result topic (as a SIEM would be), so that alerts and published scan results can be read back.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketguard.aws import object_location
from bucketguard.sandbox.aws import DEPLOYER_ACCOUNT, AccountSession, EmbeddedAws
from bucketguard.sandbox.deployer import Deployment, deploy
from bucketguard.sandbox.runner import LambdaRunner, SqsEventSource

ESM_TYPE = "aws:lambda/eventSourceMapping:EventSourceMapping"
EVENT_RULE_TYPE = "aws:cloudwatch/eventRule:EventRule"


@dataclass
class ScannerView:
    account: AccountSession  # the deployer's credentials in the scanner's account
    queue_url: str
    dlq_url: str


@dataclass
class StorageView:
    name: str
    bucket: str
    region: str
    quarantine_bucket: str | None
    promote_bucket: str | None
    account: AccountSession  # the deployer's credentials in the storage's account: a user of the bucket
    listener_role: AccountSession
    postscan_role: AccountSession
    listener_queue_url: str
    listener_queue_arn: str  # what the deployment tells the audit and the monitor its listener is
    listener_dlq_url: str
    postscan_queue_url: str
    postscan_dlq_url: str
    result_topic_arn: str
    alert_topic_arn: str
    alert_inbox_url: str
    results_tap_url: str


@dataclass
class MonitorView:
    account: AccountSession  # the deployer's credentials in the monitor's (security) account
    region: str
    rule_name: str  # the EventBridge rule sending the watched events to the queue
    queue_url: str
    dlq_url: str
    alert_topic_arn: str
    alert_inbox_url: str


class Sandbox:
    def __init__(self, aws: EmbeddedAws, deployment: Deployment, workdir: Path) -> None:
        self.aws = aws
        self.deployment = deployment
        self.workdir = workdir
        self.runner = self._read_runner()
        outputs = deployment.outputs
        # A storage-only stack's scanner is another stack's: deployments of the two are joined first.
        # One scanner exports its outputs at the top level, a fleet under `scanners`.
        fleet: Mapping[str, Mapping[str, Any]] = outputs.get("scanners") or {"scanner": outputs}
        self.scanners = {name: self._scanner(scanner) for name, scanner in fleet.items()}
        self.scanner = next(iter(self.scanners.values()))
        self.storages = {name: self._storage(name, s) for name, s in outputs["storages"].items()}
        self.monitor = (
            self._monitor(outputs["monitorAlertTopicArn"]) if "monitorAlertTopicArn" in outputs else None
        )

    @classmethod
    def up(
        cls,
        aws: EmbeddedAws,
        config: Mapping[str, Any],
        *,
        stack: str,
        artifact_dir: Path | None = None,
        workdir: Path | None = None,
    ) -> Sandbox:
        deployment = deploy(aws, config, stack=stack, artifact_dir=artifact_dir)
        return cls(aws, deployment, workdir or Path(tempfile.mkdtemp(prefix="bucketguard-sandbox-")))

    def _read_runner(self) -> LambdaRunner:
        declared = {r.id: bool(r.outputs["enabled"]) for r in self.deployment.of_type(ESM_TYPE)}
        return LambdaRunner(self.aws, self.deployment.places, declared, self.workdir)

    def _deployer_in(self, account: str, region: str) -> AccountSession:
        for role_arn, _ in self.deployment.places:
            if role_arn and role_arn.split(":")[4] == account:
                return self.aws.assume(role_arn, region)
        if account != DEPLOYER_ACCOUNT:
            raise LookupError(f"no provider of the deployment deploys into account {account}")
        return self.aws.deployer(region)

    def _scanner(self, outputs: Mapping[str, Any]) -> ScannerView:
        source = next(s for s in self.runner.sources if s.queue_url == outputs["scannerQueueUrl"])
        return ScannerView(
            self._deployer_in(outputs["scannerAccountId"], outputs["scannerRegion"]),
            source.queue_url,
            _dead_letter_queue_url(source),
        )

    def _storage(self, name: str, outputs: Mapping[str, Any]) -> StorageView:
        listener = self.runner.source("listener", name)
        postscan = self.runner.source("postscan", name)
        account = outputs["resultTopicArn"].split(":")[4]
        admin = self._deployer_in(account, outputs["region"])
        return StorageView(
            name=name,
            bucket=outputs["bucket"],
            region=outputs["region"],
            quarantine_bucket=outputs.get("quarantineBucket"),
            promote_bucket=outputs.get("promoteBucket"),
            account=admin,
            listener_role=self._role_of(listener),
            postscan_role=self._role_of(postscan),
            listener_queue_url=listener.queue_url,
            listener_queue_arn=outputs["listenerQueueArn"],
            listener_dlq_url=_dead_letter_queue_url(listener),
            postscan_queue_url=postscan.queue_url,
            postscan_dlq_url=_dead_letter_queue_url(postscan),
            result_topic_arn=outputs["resultTopicArn"],
            alert_topic_arn=outputs["alertTopicArn"],
            alert_inbox_url=_subscribe_queue(
                admin, outputs["alertTopicArn"], f"{name}-alert-inbox", raw=False
            ),
            results_tap_url=_subscribe_queue(
                admin, outputs["resultTopicArn"], f"{name}-results-tap", raw=True
            ),
        )

    def _monitor(self, alert_topic_arn: str) -> MonitorView:
        source = self.runner.source("monitor")
        _, _, _, region, account, _ = alert_topic_arn.split(":")
        admin = self._deployer_in(account, region)
        (rule,) = [r for r in self.deployment.of_type(EVENT_RULE_TYPE) if r.name == "monitor-rule"]
        return MonitorView(
            account=admin,
            region=region,
            rule_name=rule.id,
            queue_url=source.queue_url,
            dlq_url=_dead_letter_queue_url(source),
            alert_topic_arn=alert_topic_arn,
            alert_inbox_url=_subscribe_queue(admin, alert_topic_arn, "monitor-alert-inbox", raw=False),
        )

    def _role_of(self, source: SqsEventSource) -> AccountSession:
        function = next(f for f in self.runner.functions if f.name == source.function_name)
        return self.aws.assume(function.role_arn, function.region)

    # --- what tests and the demo read and do --------------------------------------------------------

    @property
    def storage(self) -> StorageView:
        """The first storage (the only one of a single-storage stack)."""
        return next(iter(self.storages.values()))

    @property
    def s3(self) -> Any:
        """The first storage account's S3 client (what a user of the bucket would use)."""
        return self.storage.account.shared("s3")

    def set_environment(self, kind: str, storage: str | None = None, **variables: str) -> None:
        """Changes a deployed function's environment in moto (as `aws lambda update-function-configuration`
        would) and reads the functions back."""
        source = self.runner.source(kind, storage)
        function = next(f for f in self.runner.functions if f.name == source.function_name)
        admin = self._deployer_in(function.arn.split(":")[4], function.region)
        admin.client("lambda", region_name=function.region).update_function_configuration(
            FunctionName=function.name, Environment={"Variables": {**function.environment, **variables}}
        )
        self.runner.stop()
        self.runner = self._read_runner()

    def drain(self) -> None:
        self.runner.drain()

    def empty(self) -> None:
        """Removes every object version from the storages' buckets and every message from the pipeline's
        queues (DLQs and observers included): the deployment as just deployed, its functions warm."""
        for st in self.storages.values():
            s3 = st.account.shared("s3")
            for bucket in filter(None, (st.bucket, st.quarantine_bucket, st.promote_bucket)):
                for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                    for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            for url in (
                st.listener_queue_url,
                st.listener_dlq_url,
                st.postscan_queue_url,
                st.postscan_dlq_url,
                st.alert_inbox_url,
                st.results_tap_url,
            ):
                _consume(st.account, url)
        for scanner in self.scanners.values():
            for url in (scanner.queue_url, scanner.dlq_url):
                _consume(scanner.account, url)
        if self.monitor is not None:
            for url in (self.monitor.queue_url, self.monitor.dlq_url, self.monitor.alert_inbox_url):
                _consume(self.monitor.account, url)
        for source in self.runner.sources:
            source.records = 0

    def start(self) -> None:
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()

    def tags(self, key: str, version_id: str | None = None, bucket: str | None = None) -> dict[str, str]:
        location = object_location(bucket or self.storage.bucket, key, version_id)
        return {t["Key"]: t["Value"] for t in self.s3.get_object_tagging(**location)["TagSet"]}

    def versions(self, bucket: str | None = None, prefix: str = "") -> list[dict[str, Any]]:
        pages = self.s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket or self.storage.bucket, Prefix=prefix
        )
        return [v for page in pages for v in page.get("Versions", [])]

    def discard(self, queue_url: str, account: AccountSession | None = None) -> int:
        """Deletes every message waiting on a queue; how many there were."""
        return len(_consume(account or self.storage.account, queue_url))

    def alerts(self, storage: StorageView | None = None) -> list[dict[str, Any]]:
        """Alerts delivered to the alert topic's inbox queue (SNS envelopes), consumed."""
        st = storage or self.storage
        return [json.loads(body) for body in _consume(st.account, st.alert_inbox_url)]

    def monitor_alerts(self) -> list[dict[str, Any]]:
        """The monitor's alerts delivered to its topic's inbox queue (SNS envelopes), consumed."""
        assert self.monitor is not None, "the stack config deploys no bucketguard:monitor"
        return [json.loads(body) for body in _consume(self.monitor.account, self.monitor.alert_inbox_url)]

    def published_events(self, storage: StorageView | None = None) -> list[dict[str, Any]]:
        """Every scan-result event the scanner published since the last call (consumed from the tap)."""
        st = storage or self.storage
        return [json.loads(body) for body in _consume(st.account, st.results_tap_url)]

    def queue_depth(self, queue_url: str, account: AccountSession | None = None) -> int:
        sqs = (account or self.storage.account).shared("sqs")
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def _dead_letter_queue_url(source: SqsEventSource) -> str:
    attributes = source.sqs.get_queue_attributes(QueueUrl=source.queue_url, AttributeNames=["RedrivePolicy"])
    dlq_arn = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    _, _, _, _, account, name = dlq_arn.split(":")
    return str(source.sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def _subscribe_queue(account: AccountSession, topic_arn: str, name: str, *, raw: bool) -> str:
    region = topic_arn.split(":")[3]
    sqs = account.client("sqs", region_name=region)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    account.client("sns", region_name=region).subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"} if raw else {},
    )
    return str(url)


def _consume(account: AccountSession, queue_url: str) -> list[str]:
    """Every message body on the queue, deleted (PurgeQueue is allowed once a minute)."""
    sqs = account.shared("sqs")
    out: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(m["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
