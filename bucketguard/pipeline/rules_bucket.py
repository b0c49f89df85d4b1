"""The rules bucket through boto3: rule feeds under s3://bucket/prefix (the `ObjectStore` the scanning
layer's feeds read through), published ruleset artifacts, and the scanner's watch for a newer one.

An artifact is published as `<prefix>/ruleset.zip` in a versioned bucket, with the sha256 of its bytes and
its ruleset version in the object's metadata: a reader checks the bytes it got against that digest (and
the artifact's own member checksums) before using them.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bucketguard.pipeline.aws import error_code, is_gone
from bucketguard.scanning.ruleset import (
    Ruleset,
    RulesetError,
    load_artifact,
    other_bundled_rules,
    read_manifest,
)

log = logging.getLogger("bucketguard.rules")

ARTIFACT_NAME = "ruleset.zip"
SHA256_METADATA = "sha256"
VERSION_METADATA = "ruleset-version"


def _owned(owner: str | None) -> dict[str, str]:
    """S3 answers 403 when the bucket is not `owner`'s (ExpectedBucketOwner)."""
    return {"ExpectedBucketOwner": owner} if owner else {}


class S3ObjectStore:
    """s3:// rule sources read with an injected boto3 S3 client."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def list_objects(self, bucket: str, prefix: str, owner: str | None = None) -> list[tuple[str, str]]:
        from bucketguard.scanning.feeds import FeedError

        found: list[tuple[str, str]] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, **_owned(owner)
        )
        try:
            for page in pages:
                found.extend(
                    (o["Key"], o["ETag"]) for o in page.get("Contents", []) if not o["Key"].endswith("/")
                )
        except self.s3.exceptions.ClientError as exc:
            raise FeedError(f"s3://{bucket}/{prefix}: cannot list: {exc.response['Error']['Code']}") from None
        return found

    def read_object(self, bucket: str, key: str, max_bytes: int, owner: str | None = None) -> bytes:
        from bucketguard.scanning.feeds import FeedError

        try:
            response = self.s3.get_object(Bucket=bucket, Key=key, **_owned(owner))
        except self.s3.exceptions.ClientError as exc:
            raise FeedError(f"s3://{bucket}/{key}: cannot read: {exc.response['Error']['Code']}") from None
        if response["ContentLength"] > max_bytes:
            raise FeedError(f"s3://{bucket}/{key}: over the feed size cap of {max_bytes} bytes")
        body: bytes = response["Body"].read(max_bytes + 1)
        if len(body) != response["ContentLength"]:
            raise FeedError(f"s3://{bucket}/{key}: read {len(body)} of {response['ContentLength']} bytes")
        return body


@dataclass(frozen=True)
class Published:
    bucket: str
    key: str
    version_id: str
    sha256: str
    ruleset_version: str


def artifact_key(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{ARTIFACT_NAME}" if prefix else ARTIFACT_NAME


def publish_artifact(s3: Any, path: Path, destination: str) -> Published:
    """Upload a verified artifact to s3://bucket/prefix; raises RulesetError when it does not load or
    judges a bundled sample wrong (`rules compile --no-bundled-rules`, a rule firing on everything)."""
    from bucketguard.scanning.engine import Engine
    from bucketguard.scanning.feeds import split_s3_url
    from bucketguard.scanning.sample_gate import misjudged_samples, refusal

    ruleset = load_artifact(path)  # never publish what the scanner would refuse
    engine = Engine(ruleset)
    try:
        problems = misjudged_samples(engine)
    finally:
        engine.close()
    if problems:
        raise RulesetError(refusal(f"{path}: not published", problems))
    bucket, prefix = split_s3_url(destination)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    key = artifact_key(prefix)
    response = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType="application/zip",
        Metadata={SHA256_METADATA: digest, VERSION_METADATA: ruleset.version},
    )
    return Published(bucket, key, str(response.get("VersionId", "")), digest, ruleset.version)


class RulesetRejected(Exception):
    """A published artifact that must not be used (digest mismatch, corrupt, does not load)."""


class RulesetWatcher:
    """Finds a newer published artifact: at most one HEAD every `interval_seconds`, then one GET of that
    exact object version, its bytes checked against the sha256 recorded at publish and the artifact's own
    checksums. A rejected version is not downloaded again; a transient S3 error is retried next interval."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        interval_seconds: float = 300.0,
        max_bytes: int = 256 << 20,
        work_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        engine: str = "auto",
    ) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.interval_seconds = interval_seconds
        self.max_bytes = max_bytes
        self.work_dir = work_dir
        self.clock = clock
        self.engine = engine  # the backend a new ruleset is checked with: the one it will be used with
        self._next_check: float | None = None
        self._seen: str | None = None  # the version loaded or rejected last
        self.manifest: dict[str, Any] = {}  # of the ruleset loaded last (its feeds' validators)

    def newer_ruleset(self) -> Ruleset | None:
        """A newer verified ruleset, or None (not time yet, nothing new, nothing published, S3 trouble).
        Raises RulesetRejected for a new version that fails verification."""
        now = self.clock()
        if self._next_check is not None and now < self._next_check:
            return None
        self._next_check = now + self.interval_seconds
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if not is_gone(exc):
                log.warning(
                    "rules bucket unreadable", extra={"bucket": self.bucket, "error": error_code(exc)}
                )
            return None
        version = str(head.get("VersionId") or head["ETag"])
        if version == self._seen:
            return None
        try:
            ruleset = self._download(version, head)
        except ClientError as exc:
            log.warning(
                "published ruleset unreadable", extra={"bucket": self.bucket, "error": error_code(exc)}
            )
            return None
        except RulesetRejected:
            self._seen = version
            raise
        self._seen = version
        return ruleset

    def _download(self, version: str, head: Mapping[str, Any]) -> Ruleset:
        where = f"s3://{self.bucket}/{self.key} version {version}"
        expected = head.get("Metadata", {}).get(SHA256_METADATA)
        if not expected:
            raise RulesetRejected(f"{where}: no sha256 in its metadata (publish with `rules publish`)")
        if head["ContentLength"] > self.max_bytes:
            raise RulesetRejected(f"{where}: {head['ContentLength']} bytes, over the cap of {self.max_bytes}")
        extra = {"VersionId": version} if head.get("VersionId") else {"IfMatch": version}
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=self.key, **extra)["Body"].read(
            self.max_bytes + 1
        )
        digest = hashlib.sha256(body).hexdigest()
        if digest != expected:
            raise RulesetRejected(f"{where}: sha256 {digest} is not the {expected} recorded at publish")
        with tempfile.TemporaryDirectory(prefix="bucketguard-ruleset-", dir=self.work_dir) as work:
            path = Path(work) / ARTIFACT_NAME
            path.write_bytes(body)
            try:
                ruleset = load_artifact(path)
                self.manifest = read_manifest(path)
            except RulesetError as exc:
                raise RulesetRejected(f"{where}: {exc}") from None
        from bucketguard.scanning.engine import Engine
        from bucketguard.scanning.sample_gate import misjudged_samples, refusal

        # An upload that bypassed `rules publish` (its digest recorded by hand) is checked all the same, on
        # the backend the scanner uses: its compiled rules, cached in the ruleset, are the scanner's too.
        try:
            engine = Engine(ruleset, engine=self.engine)
        except (RulesetError, ValueError) as exc:
            raise RulesetRejected(f"{where}: {exc}") from None
        try:
            problems = misjudged_samples(engine, quick=True)
        finally:
            engine.close()
        if problems:
            raise RulesetRejected(refusal(where, problems))
        older = other_bundled_rules(ruleset)
        if older:  # used (it holds the feeds' rules), but the bundled rules deployed with this code are not
            log.warning(
                "published ruleset built with other bundled rules than this version's: "
                "publish one built by this version (the rule update does at its next run)",
                extra={"ruleset": ruleset.version, "bundled_files": older},
            )
        return ruleset
