"""Rescan on rule updates (storage account): object versions judged by an older ruleset are scanned again.

The scanner account's rule update publishes `RulesetPublished` to a topic each storage's listener queue is
subscribed to (`scanner.rescanOnUpdate`). The listener then sweeps its bucket in bounded batches: after a
delay that lets the scanner load the new ruleset, each sweep message lists at most `batch` versions from
where the previous one stopped, requests a scan (a presigned GET, as for an upload) of every current
version the policy selects whose sealed verdict was not given by the new ruleset, and queues the next
batch with a delay: at most `batch` requests per `interval`, so uploads keep their place in the scanner
queue. Nothing is tagged here: a version gets a new verdict only from post-scan, after a fresh scan. A
verdict whose seal does not verify (kms:VerifyMac; only post-scan can make one) counts as no verdict.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from bucketguard.aws import real_version_id
from bucketguard.pipeline.messages import parse_message
from bucketguard.pipeline.tagging import (
    TAG_RESULT,
    TAG_SEAL,
    object_identity,
    ruleset_of,
    seal_message,
    tag_value,
)
from bucketguard.scanning.result import Verdict

log = logging.getLogger("bucketguard.rescan")

RULESET_PUBLISHED = "bucketguard.RulesetPublished"
RESCAN_SWEEP = "bucketguard.RescanSweep"
MAX_SQS_DELAY_SECONDS = 900
Verify = Callable[[bytes, bytes], bool]  # (message, mac) -> whether the seal key made that MAC

_POLICY = re.compile(r"^(none|not-clean|all-since:\s*(\d+))$")


@dataclass(frozen=True)
class RescanPolicy:
    """`none`, `not-clean` (versions whose verdict is not a sealed clean) or `all-since: DAYS` (every
    version written in the last DAYS days)."""

    mode: Literal["none", "not-clean", "all-since"]
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> RescanPolicy:
        match = _POLICY.match(text.strip())
        if match is None or (match.group(2) is not None and int(match.group(2)) < 1):
            raise ValueError(f"{text!r}: expected none, not-clean or all-since: DAYS (DAYS >= 1)")
        if match.group(2) is not None:
            return cls("all-since", int(match.group(2)))
        return cls("none" if match.group(1) == "none" else "not-clean")

    def __str__(self) -> str:
        return f"all-since:{self.days}" if self.mode == "all-since" else self.mode


@dataclass(frozen=True)
class Sweep:
    """Where a sweep of the bucket stands: the ruleset it brings objects to, and the listing position."""

    ruleset_version: str
    key_marker: str = ""
    version_id_marker: str = ""
    checked: int = 0
    requested: int = 0
    announced: bool = False  # the ruleset's announcement: the sweep is to be started, after the delay

    def to_json(self) -> str:
        position = {k: v for k, v in asdict(self).items() if k != "announced"}
        return json.dumps({"type": RESCAN_SWEEP, **position})


class _SweepMessage(BaseModel):
    """A listener message of the rescan (its `type` read before): the ruleset's announcement, or the next
    batch of a sweep."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    ruleset_version: Annotated[str, Field(min_length=1, max_length=256)]
    key_marker: Annotated[str, Field(max_length=1024)] = ""  # S3 keys are at most 1,024 bytes
    version_id_marker: Annotated[str, Field(max_length=1024)] = ""
    checked: NonNegativeInt = 0
    requested: NonNegativeInt = 0


def rescan_message(body: str) -> Sweep | None:
    """The sweep a listener message asks for, or None when it is not a rescan message (an S3 event).
    A rescan message that does not fit its model is an InvalidMessage."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") not in (RULESET_PUBLISHED, RESCAN_SWEEP):
        return None
    message = parse_message(_SweepMessage, data, data["type"])
    if data["type"] == RULESET_PUBLISHED:
        return Sweep(message.ruleset_version, announced=True)
    return Sweep(
        message.ruleset_version,
        message.key_marker,
        message.version_id_marker,
        message.checked,
        message.requested,
    )


def ruleset_published_message(ruleset_version: str, published_at: str) -> str:
    return json.dumps(
        {"type": RULESET_PUBLISHED, "ruleset_version": ruleset_version, "published_at": published_at}
    )


def seal_verifies(tags: Mapping[str, str], identity: Mapping[str, str], verify: Verify) -> bool:
    seal = tags.get(TAG_SEAL)
    if seal is None:
        return False
    try:
        mac = base64.b64decode(seal, validate=True)
    except (binascii.Error, ValueError):
        return False
    return verify(seal_message(identity, tags), mac)


@dataclass(frozen=True)
class Listed:
    """One current object version, from ListObjectVersions."""

    key: str
    version_id: str | None
    etag: str
    size: int
    last_modified: datetime


def needs_rescan(
    tags: Mapping[str, str],
    listed: Listed,
    bucket: str,
    sweep: Sweep,
    policy: RescanPolicy,
    verify: Verify,
    now: datetime,
) -> bool:
    if policy.mode == "none":
        return False
    if policy.mode == "all-since" and listed.last_modified < now - timedelta(days=policy.days):
        return False
    identity = object_identity(bucket, listed.key, listed.version_id, listed.etag)
    if not seal_verifies(tags, identity, verify):
        return True  # no verdict anyone can trust: never left as it is
    if ruleset_of(tags) == tag_value(sweep.ruleset_version):
        return False  # already judged by the new ruleset
    return policy.mode == "all-since" or tags.get(TAG_RESULT) != Verdict.CLEAN.value


def list_batch(s3: Any, bucket: str, sweep: Sweep, batch: int) -> tuple[list[Listed], Sweep | None]:
    """Up to `batch` current versions after the sweep's position, and the position after them (None: done)."""
    params: dict[str, Any] = {"Bucket": bucket, "MaxKeys": batch}
    if sweep.key_marker:
        params["KeyMarker"] = sweep.key_marker
        if sweep.version_id_marker:
            params["VersionIdMarker"] = sweep.version_id_marker
    page = s3.list_object_versions(**params)
    listed = [
        Listed(
            v["Key"],
            real_version_id(v.get("VersionId")),
            str(v["ETag"]).strip('"'),
            int(v["Size"]),
            v["LastModified"],
        )
        for v in page.get("Versions", [])
        if v.get("IsLatest")
    ]
    if not page.get("IsTruncated"):
        return listed, None
    return listed, replace(
        sweep,
        key_marker=str(page.get("NextKeyMarker", "")),
        version_id_marker=str(page.get("NextVersionIdMarker", "")),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
