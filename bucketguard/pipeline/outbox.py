"""The verdicts of one scanner batch, published together: one SNS PublishBatch for up to ten of them.

A verdict published one by one costs a round trip per object, as much as the presigned GET of a small
object. `Outbox` keeps each record's verdict until it is sent, in PublishBatch calls grouped by result topic
(at most 10 entries and 256 KiB a call, SNS's limits), and says which records' verdicts were not delivered:
a call that failed, an entry SNS reports as failed, and an entry it reports neither way. Those records are
failed alone (batchItemFailures) and SQS delivers them again, so a verdict is never acknowledged unsent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from bucketguard.pipeline.messages import ScanResultEvent

log = logging.getLogger("bucketguard.scanner")

PUBLISH_BATCH_ENTRIES = 10
PUBLISH_BATCH_BYTES = 256 * 1024  # every message of a call, with its subject and attributes


@dataclass(frozen=True)
class PendingVerdict:
    """A record's scan-result event and the storage's topic it answers to."""

    event: ScanResultEvent
    topic_arn: str

    def entry(self) -> dict[str, Any]:
        """The PublishBatch entry (Id added by the caller) or the Publish request (TopicArn added)."""
        return {
            "Message": self.event.to_json(),
            "Subject": f"bucketguard scan result: {self.event.verdict.value}",
            # attributes let subscribers filter (e.g. only non-clean verdicts to a SIEM queue)
            "MessageAttributes": {
                "verdict": {"DataType": "String", "StringValue": self.event.verdict.value},
                "bucket": {"DataType": "String", "StringValue": self.event.bucket},
            },
        }


def _entry_bytes(entry: dict[str, Any]) -> int:
    return len(json.dumps(entry, ensure_ascii=False).encode())  # above what SNS counts, never below


class Outbox:
    """Verdicts waiting to be published, by SQS message id; `undelivered` collects the ids SNS did not
    take. `sns` has publish_batch (a boto3 SNS client, or a RegionalPublisher)."""

    def __init__(self, sns: Any) -> None:
        self.sns = sns
        self._waiting: dict[str, PendingVerdict] = {}
        self.undelivered: list[str] = []

    def add(self, message_id: str, verdict: PendingVerdict) -> None:
        self._waiting[message_id] = verdict

    def publish(self) -> None:
        """Publishes every waiting verdict; those SNS did not take are added to `undelivered`."""
        waiting, self._waiting = self._waiting, {}
        by_topic: dict[str, dict[str, dict[str, Any]]] = {}
        for message_id, verdict in waiting.items():
            try:
                entry = verdict.entry()
            except Exception as exc:  # an event the schema refuses fails its own record, not the batch
                log.error(
                    "verdict not published: its message will be retried",
                    extra={"message_id": message_id, "error": type(exc).__name__},
                )
                self.undelivered.append(message_id)
                continue
            by_topic.setdefault(verdict.topic_arn, {})[message_id] = entry
        for topic_arn, entries in by_topic.items():
            for call in _calls(entries):
                self.undelivered += self._publish_batch(topic_arn, call)

    def _publish_batch(self, topic_arn: str, entries: dict[str, dict[str, Any]]) -> list[str]:
        """The message ids of `entries` SNS did not report as published."""
        ids = dict(zip(entries, (str(i) for i in range(len(entries))), strict=True))
        try:
            response = self.sns.publish_batch(
                TopicArn=topic_arn,
                PublishBatchRequestEntries=[{"Id": ids[m], **entry} for m, entry in entries.items()],
            )
        except Exception as exc:  # whatever it was, nothing of this call is known to be delivered
            log.error(
                "verdicts not published: their messages will be retried",
                extra={"topic": topic_arn, "error": type(exc).__name__, "message_ids": list(entries)},
            )
            return list(entries)
        published = {str(entry.get("Id")) for entry in response.get("Successful", [])}
        failed = {str(entry.get("Id")): entry for entry in response.get("Failed", [])}
        undelivered = [m for m in entries if ids[m] not in published or ids[m] in failed]
        for message_id in undelivered:
            code = failed.get(ids[message_id], {}).get("Code", "not reported")
            log.error(
                "verdict not published: its message will be retried",
                extra={"topic": topic_arn, "message_id": message_id, "error": code},
            )
        return undelivered


def _calls(entries: dict[str, dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
    """`entries` cut into PublishBatch calls within SNS's limits, in order. An entry over the byte limit on
    its own goes alone: SNS refuses it, and only its record is retried."""
    calls: list[dict[str, dict[str, Any]]] = []
    size = 0
    for message_id, entry in entries.items():
        entry_size = _entry_bytes(entry)
        if not calls or len(calls[-1]) == PUBLISH_BATCH_ENTRIES or size + entry_size > PUBLISH_BATCH_BYTES:
            calls.append({})
            size = 0
        calls[-1][message_id] = entry
        size += entry_size
    return calls
