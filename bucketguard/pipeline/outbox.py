"""The verdicts of one scanner batch, published together: one SNS PublishBatch for up to ten of them.

A verdict published one by one costs a round trip per object, as much as the presigned GET of a small
object. `Outbox` keeps each record's verdict until it is sent, in PublishBatch calls grouped by result topic
(at most 10 entries and 256 KiB a call, SNS's limits), and says which records' verdicts were not delivered:
a call that failed, an entry SNS reports as failed, and an entry it reports neither way. Those records are
failed alone (batchItemFailures) and SQS delivers them again, so a verdict is never acknowledged unsent.

An event always fits in one message: a verdict that SNS could never take would be retried into the DLQ and
its object never tagged, quarantined or alerted, and an uploader chooses how many findings a file makes (a
zip of 10,000 members matching a rule). So an entry over MAX_ENTRY_BYTES keeps only as many of its most
severe findings as fit and counts the rest in `findings_omitted`; the verdict and its reason are kept whole.
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
MAX_ENTRY_BYTES = PUBLISH_BATCH_BYTES - 8 * 1024  # headroom under SNS's limit for one message
SHORT_TEXT_CHARS = 1024  # a finding's path and detail, the result's detail, when one finding alone is too big


@dataclass(frozen=True)
class PendingVerdict:
    """A record's scan-result event and the storage's topic it answers to."""

    event: ScanResultEvent
    topic_arn: str

    def entry(self) -> dict[str, Any]:
        """The PublishBatch entry (Id added by the caller) or the Publish request (TopicArn added), within
        MAX_ENTRY_BYTES: the event's findings cut to the most severe that fit when it is not."""
        entry = _entry(self.event)
        if _entry_bytes(entry) <= MAX_ENTRY_BYTES:
            return entry
        fitting: dict[str, Any] | None = None
        low, high = 0, len(self.event.result.findings) - 1  # the most findings that fit, found by halving
        while low <= high:
            keep = (low + high) // 2
            cut = _entry(self.event.cut(keep))
            if _entry_bytes(cut) <= MAX_ENTRY_BYTES:
                fitting, low = cut, keep + 1
            else:
                high = keep - 1
        if fitting is None:  # one finding, or the detail, is over the limit on its own
            fitting = _entry(self.event.cut(0, text_chars=SHORT_TEXT_CHARS))
        log.warning(
            "verdict published with its findings cut to fit SNS's limit",
            extra={
                "bucket": self.event.bucket,
                "key": self.event.key,
                "findings": len(self.event.result.findings),
            },
        )
        return fitting


def _entry(event: ScanResultEvent) -> dict[str, Any]:
    return {
        "Message": event.to_json(),
        "Subject": f"bucketguard scan result: {event.verdict.value}",
        # attributes let subscribers filter (e.g. only non-clean verdicts to a SIEM queue)
        "MessageAttributes": {
            "verdict": {"DataType": "String", "StringValue": event.verdict.value},
            "bucket": {"DataType": "String", "StringValue": event.bucket},
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
    its own (none should: `PendingVerdict.entry` cuts them) goes alone: SNS refuses it, and only its record is
    retried."""
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
