"""Rescan on rule updates against moto (functional tier): the rule update announces a published ruleset on
its topic, the listener's queue receives it, and the listener sweeps the bucket in bounded batches through
its own queue, requesting scans only of versions whose sealed verdict was not given by the new ruleset;
forged or misplaced seals count as no verdict; nothing is tagged without a scan; a second sweep after the
results finds nothing left."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bucketguard.pipeline.listener import handle_notification, rescan_batch
from bucketguard.pipeline.messages import InvalidMessage, ScanRequest, ScanResultEvent
from bucketguard.pipeline.postscan import PostScan, kms_verifier
from bucketguard.pipeline.rescan import (
    RESCAN_SWEEP,
    RULESET_PUBLISHED,
    RescanPolicy,
    Sweep,
    rescan_message,
    ruleset_published_message,
    utc_now,
)
from bucketguard.pipeline.settings import ListenerSettings, PostScanSettings, SettingsError
from bucketguard.sandbox.aws import STORAGE_ACCOUNT, AccountSession, EmbeddedAws
from bucketguard.scanning.result import Finding, FindingSource, Reason, ScanResult, Severity, Verdict

OLD, NEW = "sha256:old-rules", "sha256:new-rules"


@dataclass
class Storage:
    account: AccountSession
    s3: Any
    sqs: Any
    kms: Any
    seal_key: str
    listener_queue: str
    scanner_queue: str

    def settings(self, policy: str = "not-clean", **overrides: Any) -> ListenerSettings:
        values: dict[str, Any] = {
            "scanner_queue_url": self.scanner_queue,
            "result_topic_arn": "arn:aws:sns:eu-west-1:222222222222:camp-results",
            "rescan_on_update": policy,
            "protected_bucket": "camp",
            "listener_queue_url": self.listener_queue,
            "seal_key_id": self.seal_key,
            "skip_prefixes": ("tmp/",),
            "rescan_batch_size": 2,
            "rescan_interval_seconds": 0,
            "rescan_start_delay_seconds": 0,
            **overrides,
        }
        return ListenerSettings.resolve({}, **values)

    def put(self, key: str, body: bytes = b"camp notes", tags: str = "") -> tuple[str, str]:
        extra = {"Tagging": tags} if tags else {}
        response = self.s3.put_object(Bucket="camp", Key=key, Body=body, **extra)
        return response["VersionId"], response["ETag"].strip('"')

    def judge(self, key: str, verdict: Verdict, ruleset: str) -> None:
        """What post-scan does with a result: sealed verdict tags on the current version."""
        head = self.s3.head_object(Bucket="camp", Key=key)
        findings = (
            (Finding("Camp_Prank", FindingSource.YARA, Severity.HIGH, ""),)
            if verdict is Verdict.MALICIOUS
            else ()
        )
        result = ScanResult(
            key,
            verdict,
            findings,
            reason=Reason.ENCRYPTED if verdict is Verdict.UNSCANNABLE else None,
            sha256=hashlib.sha256(b"").hexdigest(),
            size=head["ContentLength"],
            ruleset_version=ruleset,
        )
        event = ScanResultEvent(
            "scan",
            "req",
            "camp",
            "camp",
            key,
            head["VersionId"],
            head["ETag"].strip('"'),
            result,
            "scanner",
            "2026-07-01T09:30:00.000Z",
        )
        settings = PostScanSettings.resolve({}, actions=frozenset({"tag"}), seal_key_id=self.seal_key)
        PostScan(settings, self.s3, kms=self.kms).apply(event)

    def tags(self, key: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.s3.get_object_tagging(Bucket="camp", Key=key)["TagSet"]}

    def drain(self, queue: str) -> list[str]:
        bodies = []
        while messages := self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for m in messages:
                bodies.append(m["Body"])
                self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return bodies

    def run_listener(self, first: str, settings: ListenerSettings) -> int:
        """Feeds the listener its queue until the sweep is done, as its event source mapping would."""
        verify = kms_verifier(self.kms, self.seal_key)
        handled, pending = 0, [first]
        while pending:
            for body in pending:
                handle_notification(self.s3, self.sqs, body, settings, own_sqs=self.sqs, verify=verify)
                handled += 1
            pending = self.drain(self.listener_queue)
        return handled

    def requested(self) -> dict[str, ScanRequest]:
        return {r.key: r for r in map(ScanRequest.from_json, self.drain(self.scanner_queue))}


@pytest.fixture
def storage() -> Iterator[Storage]:
    with EmbeddedAws() as aws:
        account = aws.account(STORAGE_ACCOUNT)
        s3, sqs, kms = account.client("s3"), account.client("sqs"), account.client("kms")
        s3.create_bucket(Bucket="camp")
        s3.put_bucket_versioning(Bucket="camp", VersioningConfiguration={"Status": "Enabled"})
        key = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")["KeyMetadata"]["Arn"]
        listener = sqs.create_queue(QueueName="camp-events")["QueueUrl"]
        scanner = sqs.create_queue(QueueName="scanner-requests")["QueueUrl"]
        yield Storage(account, s3, sqs, kms, key, listener, scanner)


def _camp(storage: Storage) -> None:
    storage.put("clean-old.txt")
    storage.judge("clean-old.txt", Verdict.CLEAN, OLD)
    storage.put("clean-new.txt")
    storage.judge("clean-new.txt", Verdict.CLEAN, NEW)
    storage.put("unscannable-old.zip")
    storage.judge("unscannable-old.zip", Verdict.UNSCANNABLE, OLD)
    storage.put("never-scanned.js")
    # An upload wearing verdict tags of the new ruleset, with no seal, and one carrying the seal of another
    # version: neither is a verdict.
    storage.put("forged.js", tags=f"bucketguard-scan-result=clean&bucketguard-ruleset={NEW}")
    storage.put("copied-seal.js", b"other bytes")
    stolen = storage.tags("clean-new.txt")
    storage.s3.put_object_tagging(
        Bucket="camp",
        Key="copied-seal.js",
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in stolen.items()]},
    )
    storage.put("tmp/skipped.txt")  # under a skipped prefix: never scanned, never rescanned
    storage.put("overwritten.txt", b"first")
    storage.judge("overwritten.txt", Verdict.CLEAN, NEW)
    storage.put("overwritten.txt", b"second, not judged yet")  # only the current version counts


def test_a_published_ruleset_rescans_what_was_not_judged_by_it_in_bounded_batches(storage: Storage) -> None:
    _camp(storage)
    before = {key: storage.tags(key) for key in ("clean-old.txt", "forged.js", "copied-seal.js")}
    handled = storage.run_listener(ruleset_published_message(NEW, "2026-07-02T00:00:00Z"), storage.settings())
    requested = storage.requested()
    assert set(requested) == {
        "unscannable-old.zip",  # not clean under the old rules
        "never-scanned.js",
        "forged.js",
        "copied-seal.js",
        "overwritten.txt",
    }
    # 9 current versions, 2 per batch: the announcement, then 5 batches, each queued by the one before.
    assert handled == 1 + 5
    current = storage.s3.head_object(Bucket="camp", Key="overwritten.txt")["VersionId"]
    assert requested["overwritten.txt"].version_id == current
    with urllib.request.urlopen(requested["overwritten.txt"].url) as response:  # noqa: S310 (moto)
        assert response.read() == b"second, not judged yet"  # the scanner reads exactly that version
    # Nothing is tagged by the sweep itself: a verdict changes only after a fresh scan.
    assert {key: storage.tags(key) for key in before} == before

    # The scans' results arrive (post-scan seals them with the new ruleset): a second sweep finds nothing.
    for key in requested:
        storage.judge(key, Verdict.CLEAN, NEW)
    storage.run_listener(ruleset_published_message(NEW, "2026-07-02T00:10:00Z"), storage.settings())
    assert storage.requested() == {}


def test_all_since_rescans_clean_versions_too_but_not_older_ones(storage: Storage) -> None:
    _camp(storage)
    storage.run_listener(
        ruleset_published_message(NEW, "2026-07-02T00:00:00Z"), storage.settings("all-since: 30")
    )
    assert "clean-old.txt" in storage.requested()  # clean under the old rules: rescanned with this policy
    # Versions written more than DAYS ago are left alone.
    settings = storage.settings("all-since:30", rescan_batch_size=1000)
    verify = kms_verifier(storage.kms, storage.seal_key)
    later = utc_now() + timedelta(days=31)
    assert rescan_batch(storage.s3, storage.sqs, storage.sqs, verify, Sweep(NEW), settings, later) == []


def test_announcement_waits_for_the_scanner_to_load_the_ruleset(storage: Storage) -> None:
    _camp(storage)
    settings = storage.settings(rescan_start_delay_seconds=900)
    verify = kms_verifier(storage.kms, storage.seal_key)
    body = ruleset_published_message(NEW, "2026-07-02T00:00:00Z")
    assert (
        handle_notification(storage.s3, storage.sqs, body, settings, own_sqs=storage.sqs, verify=verify) == []
    )
    assert storage.drain(storage.listener_queue) == []  # delayed 15 minutes: not visible yet
    assert storage.requested() == {}


def test_rescan_off_ignores_announcements_and_settings_are_checked(storage: Storage) -> None:
    _camp(storage)
    settings = storage.settings("none")
    body = ruleset_published_message(NEW, "2026-07-02T00:00:00Z")
    assert (
        handle_notification(storage.s3, storage.sqs, body, settings, own_sqs=storage.sqs, verify=None) == []
    )
    assert storage.drain(storage.listener_queue) == [] and storage.requested() == {}
    with pytest.raises(SettingsError, match="BUCKETGUARD_RESCAN_ON_UPDATE='sometimes'"):
        ListenerSettings.resolve(
            {"BUCKETGUARD_RESCAN_ON_UPDATE": "sometimes"}, scanner_queue_url="q", result_topic_arn="t"
        )
    with pytest.raises(SettingsError, match=r"BUCKETGUARD_LISTENER_QUEUE_URL.*required"):
        ListenerSettings.resolve(
            {"BUCKETGUARD_RESCAN_ON_UPDATE": "not-clean", "BUCKETGUARD_PROTECTED_BUCKET": "camp"},
            scanner_queue_url="q",
            result_topic_arn="t",
        )
    assert RescanPolicy.parse("all-since: 7") == RescanPolicy("all-since", 7)
    assert rescan_message(json.dumps({"Records": []})) is None  # S3 events are not rescan messages


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ({"type": RULESET_PUBLISHED}, r"^bucketguard\.RulesetPublished: ruleset_version: is required$"),
        ({"type": RESCAN_SWEEP, "ruleset_version": ""}, r"^bucketguard\.RescanSweep: ruleset_version: "),
        ({"type": RESCAN_SWEEP, "ruleset_version": NEW, "checked": -1}, r"checked: input should be greater"),
        (
            {"type": RESCAN_SWEEP, "ruleset_version": NEW, "key_marker": 5},
            r"key_marker: input should be a valid",
        ),
    ],
)
def test_a_malformed_rescan_message_is_refused_in_one_line(message: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidMessage, match=why):
        rescan_message(json.dumps(message))
