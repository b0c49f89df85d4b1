"""What is already there before a storage writes its bucket policy: read at preview, refused when it would
be lost.

S3 has one policy per bucket: the storage stack writes the whole of it. Before it does, the program reads the
bucket through the storage's provider (the `aws.s3.getBucket` and `aws.s3.getBucketPolicy` data sources) and
refuses, in one line, a policy statement the stack would replace without the config declaring it
(`extraPolicyStatements`), and `createBucket: true` for a bucket that exists and was not created by
bucketguard. The provider reports a missing bucket or policy as an error whose text says "couldn't find
resource" (or S3's NoSuchBucket / NoSuchBucketPolicy / NotFound); any other error (no permission to read,
a bucket of another account) fails the preview too: unknown is never taken as "nothing to lose".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bucketguard.validation import ConfigError
from infra.config import StorageConfig

# Statements the stack writes itself (a previous run's policy): the access-blocking ones and TLS-only.
OWN_SIDS = ("DenyInsecureTransport",)
OWN_SID_PREFIX = "BucketGuard"
_MISSING = ("couldn't find resource", "NoSuchBucket", "NotFound", "404")


@dataclass(frozen=True)
class BucketState:
    exists: bool
    policy: Mapping[str, Any] | None = None  # None: no bucket policy

    @property
    def statements(self) -> list[Mapping[str, Any]]:
        if self.policy is None:
            return []
        statements = self.policy.get("Statement", [])
        return [statements] if isinstance(statements, Mapping) else list(statements)


class BucketUnreadable(Exception):
    """A data source call failed for another reason than 'not found'."""


def _is_missing(exc: Exception) -> bool:
    return any(marker in str(exc) for marker in _MISSING)


def read_bucket(
    bucket: str, get_bucket: Callable[[str], Any], get_policy: Callable[[str], Any]
) -> BucketState:
    """The bucket's state through the two data sources (passed in: the provider is the caller's)."""
    try:
        get_bucket(bucket)
    except Exception as exc:
        if _is_missing(exc):
            return BucketState(exists=False)
        raise BucketUnreadable(f"cannot read bucket {bucket!r}: {str(exc).splitlines()[0]}") from None
    try:
        text = get_policy(bucket)
    except Exception as exc:
        if _is_missing(exc):
            return BucketState(exists=True)
        raise BucketUnreadable(
            f"cannot read the policy of bucket {bucket!r}: {str(exc).splitlines()[0]}"
        ) from None
    return BucketState(exists=True, policy=json.loads(text) if text else None)


def _is_own(statement: Mapping[str, Any]) -> bool:
    sid = str(statement.get("Sid", ""))
    return sid.startswith(OWN_SID_PREFIX) or sid in OWN_SIDS


def _normal(value: Any) -> Any:
    """Statements compared as S3 stores them: single values and one-element lists alike, order ignored."""
    if isinstance(value, Mapping):
        return {k: _normal(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        items = [_normal(v) for v in value]
        return items[0] if len(items) == 1 else sorted(items, key=json.dumps)
    return value


def check_storage(where: str, storage: StorageConfig, state: BucketState, writes_policy: bool) -> None:
    """Raises a one-line ConfigError when deploying `storage` would lose what the bucket has."""
    if storage.create_bucket:
        if state.exists and not any(_is_own(s) for s in state.statements):
            raise ConfigError(
                f"{where}.createBucket (name {storage.name!r}): bucket {storage.bucket!r} already exists and "
                "was not created by bucketguard; set createBucket: false to protect it as it is"
            )
        return
    if not (writes_policy and state.exists):
        return
    declared = [_normal(s.document()) for s in storage.extra_policy_statements]
    for statement in state.statements:
        if _is_own(statement) or _normal(dict(statement)) in declared:
            continue
        sid = statement.get("Sid")
        label = f"statement {sid!r}" if sid else "a statement without Sid"
        raise ConfigError(
            f"{where}.extraPolicyStatements (name {storage.name!r}): the policy of bucket {storage.bucket!r} "
            f"has {label} that the stack would replace; copy it into extraPolicyStatements "
            f"(aws s3api get-bucket-policy --bucket {storage.bucket})"
        )


def check_storages(storages: Sequence[StorageConfig], read: Callable[[StorageConfig], BucketState]) -> None:
    for index, storage in enumerate(storages):
        writes_policy = storage.block_unscanned or bool(storage.extra_policy_statements)
        if not (storage.create_bucket or writes_policy):
            continue
        try:
            state = read(storage)
        except BucketUnreadable as exc:
            raise ConfigError(f"bucketguard:storages[{index}] (name {storage.name!r}): {exc}") from None
        check_storage(f"bucketguard:storages[{index}]", storage, state, writes_policy)
