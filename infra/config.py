"""The stack configuration (keys under `bucketguard:`), read once and validated into typed values.

Pure Python: `parse_config` takes the raw values (as `pulumi.Config.get_object` returns them) so the rules
are tested without a Pulumi runtime. Every error names the key and the entry, e.g.
`bucketguard:storages[2] (name 'camp-media'): region 'eu-mars-1' is not in bucketguard:allowedRegions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bucketguard.scanning.feeds import FeedError, FeedSource

MAX_STORAGES_PER_SCANNER = 50
ACTIONS = ("tag", "quarantine", "promote", "notify")
ARCHITECTURES = ("arm64", "x86_64")
DEFAULT_ACTIONS = ("tag", "quarantine", "notify")

# Commercial AWS partition only: the ARNs the components build use the `aws` partition.
_REGION = re.compile(r"^[a-z]{2}-[a-z]+-\d$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# S3 general purpose bucket names; dots are refused because they break TLS on virtual-hosted URLs.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_BUCKET_WHAT = "an S3 bucket name (3-63 lowercase letters, digits, '-')"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_STACK_REF = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """An invalid stack configuration value; the message names the key and the entry."""


@dataclass(frozen=True)
class ScannerConfig:
    region: str
    role_arn: str | None = None
    account_id: str | None = None
    architecture: str = "arm64"
    memory_mb: int = 2048
    timeout_seconds: int = 300
    ephemeral_storage_mb: int = 4096
    reserved_concurrency: int = 20
    max_object_bytes: int = 2 * 1024**3
    notify_emails: tuple[str, ...] = ()
    log_retention_days: int = 90
    # Rule updates: the scanner looks for a newer published ruleset at most this often (one HEAD).
    rule_check_seconds: int = 300
    rule_sources: tuple[FeedSource, ...] = ()

    @property
    def account(self) -> str | None:
        """The scanner's account id when the config says it, else None (the deployer's own account)."""
        return _account_of(self.role_arn) or self.account_id


@dataclass(frozen=True)
class StorageConfig:
    name: str
    bucket: str
    region: str
    role_arn: str | None = None
    account_id: str | None = None
    create_bucket: bool = False
    actions: tuple[str, ...] = DEFAULT_ACTIONS
    quarantine_bucket: str | None = None
    promote_bucket: str | None = None
    access_log_bucket: str | None = None
    block_unscanned: bool = True
    skip_prefixes: tuple[str, ...] = ()
    notify_emails: tuple[str, ...] = ()
    admin_role_arns: tuple[str, ...] = ()
    log_retention_days: int = 90

    @property
    def account(self) -> str | None:
        return _account_of(self.role_arn) or self.account_id

    @property
    def owned_buckets(self) -> tuple[str, ...]:
        """The buckets this storage names: each may serve one storage only."""
        named = (self.bucket, self.quarantine_bucket, self.promote_bucket, self.access_log_bucket)
        return tuple(b for b in named if b is not None)


@dataclass(frozen=True)
class BucketguardConfig:
    scanner: ScannerConfig | None
    storages: tuple[StorageConfig, ...] = ()
    scanner_stack: str | None = None
    storage_stacks: tuple[str, ...] = ()
    allowed_regions: tuple[str, ...] = ()
    # The Lambda architecture of a storage-only stack (a scanner stack uses scanner.architecture).
    architecture: str = "arm64"
    artifact_dir: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Account-wide S3 Block Public Access in every account the stack deploys into (off: it affects buckets
    # the stack does not manage).
    account_public_access_block: bool = False

    @property
    def deploys_scanner(self) -> bool:
        return self.scanner_stack is None


def _account_of(role_arn: str | None) -> str | None:
    if role_arn is None:
        return None
    match = _ROLE_ARN.match(role_arn)
    return match.group(1) if match else None


class _Entry:
    """Reads one mapping (the scanner, or one storage) and builds error messages that name it."""

    def __init__(self, where: str, raw: object, known: Sequence[str]) -> None:
        self.where = where
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a mapping of keys, got {type(raw).__name__}")
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
        self.raw: Mapping[str, Any] = raw

    def fail(self, key: str, message: str) -> ConfigError:
        if self.where == "bucketguard":  # a top-level key: "bucketguard:<key>: ..."
            return ConfigError(f"bucketguard:{key}: {message}")
        return ConfigError(f"{self.where}: {key} {message}")

    def string(self, key: str, *, pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"{value!r} is not {what}")
        return value

    def required(self, key: str, *, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        value = self.string(key, pattern=pattern, what=what)
        if value is None:
            raise self.fail(key, "is required")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        # YAML gives ints; `pulumi config set` gives strings; JSON round trips may give 2048.0.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low} and {high}, got {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def strings(
        self, key: str, *, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> tuple[str, ...] | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.fail(key, f"must be a list of strings, got {value!r}")
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise self.fail(f"{key}[{index}]", f"must be a non-empty string, got {item!r}")
            if pattern is not None and not pattern.match(item):
                raise self.fail(f"{key}[{index}]", f"{item!r} is not {what}")
            if item in items:
                raise self.fail(f"{key}[{index}]", f"{item!r} is listed twice")
            items.append(item)
        return tuple(items)


_SCANNER_KEYS = (
    "region",
    "roleArn",
    "accountId",
    "architecture",
    "memoryMb",
    "timeoutSeconds",
    "ephemeralStorageMb",
    "reservedConcurrency",
    "maxObjectBytes",
    "notifyEmails",
    "logRetentionDays",
    "ruleCheckSeconds",
    "ruleSources",
)
_STORAGE_KEYS = (
    "name",
    "bucket",
    "region",
    "roleArn",
    "accountId",
    "createBucket",
    "actions",
    "quarantineBucket",
    "promoteBucket",
    "accessLogBucket",
    "blockUnscanned",
    "skipPrefixes",
    "notifyEmails",
    "adminRoleArns",
    "logRetentionDays",
)
TOP_KEYS = (
    "scanner",
    "storages",
    "scannerStack",
    "storageStacks",
    "allowedRegions",
    "architecture",
    "artifactDir",
    "tags",
    "accountPublicAccessBlock",
)
# Keys whose value is a plain string (the others are YAML structures, JSON-encoded by Pulumi).
STRING_KEYS = ("scannerStack", "architecture", "artifactDir")
# CloudWatch Logs accepts only these retention values.
_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)


def _retention(entry: _Entry) -> int:
    days = entry.integer("logRetentionDays", 90, 1, 3653)
    if days not in _RETENTION_DAYS:
        raise entry.fail("logRetentionDays", f"must be one of {', '.join(map(str, _RETENTION_DAYS))}")
    return days


def _role_arn(entry: _Entry, account_key: str = "accountId") -> tuple[str | None, str | None]:
    role_arn = entry.string(
        "roleArn", pattern=_ROLE_ARN, what="an IAM role ARN (arn:aws:iam::<12 digits>:role/...)"
    )
    account_id = entry.string(account_key, pattern=_ACCOUNT_ID, what="a 12-digit AWS account id")
    if role_arn and account_id and _account_of(role_arn) != account_id:
        raise entry.fail(
            "roleArn", f"{role_arn!r} is in account {_account_of(role_arn)}, not accountId {account_id}"
        )
    return role_arn, account_id


def _region(entry: _Entry, allowed: Sequence[str]) -> str:
    region = entry.required("region", pattern=_REGION, what="an AWS region name such as eu-west-1")
    if allowed and region not in allowed:
        raise entry.fail("region", f"{region!r} is not in bucketguard:allowedRegions ({', '.join(allowed)})")
    return region


def _emails(entry: _Entry) -> tuple[str, ...]:
    return entry.strings("notifyEmails", pattern=_EMAIL, what="an e-mail address") or ()


def _rule_sources(entry: _Entry) -> tuple[FeedSource, ...]:
    raw = entry.raw.get("ruleSources") or []
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise entry.fail("ruleSources", f"must be a list of {{name, url, ...}} mappings, got {raw!r}")
    try:
        sources = tuple(
            FeedSource.from_config(item, f"{entry.where}: ruleSources[{i}]") for i, item in enumerate(raw)
        )
    except FeedError as exc:
        raise ConfigError(str(exc)) from None
    names = [s.name for s in sources]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise entry.fail(f"ruleSources[{index}]", f"name {name!r} is used twice")
    return sources


def parse_scanner(raw: object, allowed_regions: Sequence[str]) -> ScannerConfig:
    entry = _Entry("bucketguard:scanner", raw, _SCANNER_KEYS)
    role_arn, account_id = _role_arn(entry)
    architecture = entry.string("architecture") or "arm64"
    if architecture not in ARCHITECTURES:
        raise entry.fail("architecture", f"must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")
    timeout = entry.integer("timeoutSeconds", 300, 10, 900)
    ephemeral_mb = entry.integer("ephemeralStorageMb", 4096, 512, 10240)
    max_object_bytes = entry.integer("maxObjectBytes", 2 * 1024**3, 1, 10240 * 1024**2)
    # The scanner downloads the object to /tmp: it must fit, with room left for one level of extraction.
    if max_object_bytes > ephemeral_mb * 1024**2 // 2:
        raise entry.fail(
            "maxObjectBytes",
            f"({max_object_bytes}) must be at most half of ephemeralStorageMb ({ephemeral_mb} MB), "
            "so a downloaded object and what is extracted from it fit in /tmp",
        )
    return ScannerConfig(
        region=_region(entry, allowed_regions),
        role_arn=role_arn,
        account_id=account_id,
        architecture=architecture,
        memory_mb=entry.integer("memoryMb", 2048, 128, 10240),
        timeout_seconds=timeout,
        ephemeral_storage_mb=ephemeral_mb,
        reserved_concurrency=entry.integer("reservedConcurrency", 20, 1, 1000),
        max_object_bytes=max_object_bytes,
        notify_emails=_emails(entry),
        log_retention_days=_retention(entry),
        rule_check_seconds=entry.integer("ruleCheckSeconds", 300, 30, 86400),
        rule_sources=_rule_sources(entry),
    )


def parse_storage(raw: object, index: int, allowed_regions: Sequence[str]) -> StorageConfig:
    name_hint = f" (name {raw.get('name')!r})" if isinstance(raw, Mapping) and raw.get("name") else ""
    entry = _Entry(f"bucketguard:storages[{index}]{name_hint}", raw, _STORAGE_KEYS)
    name = entry.required("name", pattern=_NAME, what="a short name (lowercase letters, digits, '-', max 24)")
    bucket = entry.required("bucket", pattern=_BUCKET, what=_BUCKET_WHAT)
    role_arn, account_id = _role_arn(entry)
    actions = entry.strings("actions") or DEFAULT_ACTIONS
    for action in actions:
        if action not in ACTIONS:
            raise entry.fail("actions", f"{action!r} is not one of {', '.join(ACTIONS)}")
    block_unscanned = entry.boolean("blockUnscanned", True)
    if block_unscanned and "tag" not in actions:
        raise entry.fail(
            "actions",
            "must include 'tag' when blockUnscanned is true: untagged objects stay blocked for ever",
        )
    quarantine = entry.string("quarantineBucket", pattern=_BUCKET, what=_BUCKET_WHAT)
    if "quarantine" in actions and quarantine is None:
        quarantine = f"{bucket}-quarantine"
        if len(quarantine) > 63:
            raise entry.fail("quarantineBucket", f"is required: the default {quarantine!r} is longer than 63")
    promote = entry.string("promoteBucket", pattern=_BUCKET, what=_BUCKET_WHAT)
    if "promote" in actions and promote is None:
        raise entry.fail("promoteBucket", "is required when actions include 'promote'")
    for key, other in (("quarantineBucket", quarantine), ("promoteBucket", promote)):
        if other == bucket:
            raise entry.fail(
                key, f"must differ from the protected bucket {bucket!r} (a copy in place loses data)"
            )
    if quarantine is not None and quarantine == promote:
        raise entry.fail("promoteBucket", "must differ from quarantineBucket")
    access_logs = entry.string("accessLogBucket", pattern=_BUCKET, what=_BUCKET_WHAT)
    if access_logs is not None and access_logs in (bucket, quarantine, promote):
        raise entry.fail(
            "accessLogBucket", "must differ from the protected, quarantine and promote buckets it logs"
        )
    create_bucket = entry.boolean("createBucket", False)
    creates_a_bucket = create_bucket or "quarantine" in actions or "promote" in actions
    if access_logs is not None and not creates_a_bucket:
        raise entry.fail(
            "accessLogBucket",
            "has nothing to log: only the buckets the stack creates (createBucket, quarantine, promote) "
            "log there",
        )
    return StorageConfig(
        name=name,
        bucket=bucket,
        region=_region(entry, allowed_regions),
        role_arn=role_arn,
        account_id=account_id,
        create_bucket=create_bucket,
        actions=actions,
        quarantine_bucket=quarantine if "quarantine" in actions else None,
        promote_bucket=promote if "promote" in actions else None,
        access_log_bucket=access_logs,
        block_unscanned=block_unscanned,
        skip_prefixes=entry.strings("skipPrefixes") or (),
        notify_emails=_emails(entry),
        admin_role_arns=entry.strings("adminRoleArns", pattern=_ROLE_ARN, what="an IAM role ARN") or (),
        log_retention_days=_retention(entry),
    )


def _check_storages(storages: Sequence[StorageConfig], scanner: ScannerConfig | None, extra: int) -> None:
    total = len(storages) + extra
    if total > MAX_STORAGES_PER_SCANNER:
        raise ConfigError(
            f"bucketguard:storages: {total} storages for one scanner (at most {MAX_STORAGES_PER_SCANNER}); "
            f"the first one over the limit is {storages[max(0, MAX_STORAGES_PER_SCANNER - extra)].name!r}: "
            "deploy another scanner stack for the rest"
        )
    names: dict[str, int] = {}
    buckets: dict[str, int] = {}
    for index, storage in enumerate(storages):
        where = f"bucketguard:storages[{index}] (name {storage.name!r})"
        if storage.name in names:
            raise ConfigError(f"{where}: name is already used by bucketguard:storages[{names[storage.name]}]")
        names[storage.name] = index
        for bucket in storage.owned_buckets:
            if bucket in buckets:
                raise ConfigError(
                    f"{where}: bucket {bucket!r} is already used by bucketguard:storages[{buckets[bucket]}]"
                )
        for bucket in storage.owned_buckets:
            buckets[bucket] = index
        scanner_account = scanner.account if scanner else None
        if scanner is not None and storage.role_arn is None and storage.account != scanner_account:
            raise ConfigError(
                f"{where}: cross-account entry without roleArn: the storage is in account "
                f"{storage.account or 'of the deployer credentials'}, the scanner in account "
                f"{scanner_account or 'of the deployer credentials'}; set roleArn to a deployer role "
                "in the bucket's account"
            )


def parse_config(raw: Mapping[str, Any]) -> BucketguardConfig:
    """Validates the `bucketguard:` keys (already decoded from YAML/JSON) into a BucketguardConfig."""
    top = _Entry("bucketguard", raw, TOP_KEYS)
    allowed = top.strings("allowedRegions", pattern=_REGION, what="an AWS region name") or ()
    scanner_stack = top.string(
        "scannerStack", pattern=_STACK_REF, what='a stack reference "org/project/stack"'
    )
    storage_stacks = top.strings(
        "storageStacks", pattern=_STACK_REF, what='a stack reference "org/project/stack"'
    )
    raw_scanner = raw.get("scanner")
    if scanner_stack is not None and raw_scanner is not None:
        raise ConfigError(
            "bucketguard:scannerStack: set either scanner (this stack deploys the scanner) or scannerStack "
            "(this stack deploys storages only, for the scanner of that stack), not both"
        )
    if scanner_stack is None and raw_scanner is None:
        raise ConfigError("bucketguard:scanner: is required (or scannerStack, for a storage-only stack)")
    if scanner_stack is not None and storage_stacks:
        raise ConfigError(
            "bucketguard:storageStacks: only a stack that deploys the scanner admits storage stacks"
        )
    scanner = parse_scanner(raw_scanner, allowed) if raw_scanner is not None else None
    raw_storages = raw.get("storages") or []
    if not isinstance(raw_storages, Sequence) or isinstance(raw_storages, str):
        raise ConfigError(f"bucketguard:storages: must be a list of storage entries, got {raw_storages!r}")
    storages = tuple(parse_storage(item, index, allowed) for index, item in enumerate(raw_storages))
    if scanner_stack is not None and not storages:
        raise ConfigError(
            "bucketguard:storages: a storage-only stack (scannerStack set) needs at least one entry"
        )
    # Each admitted storage stack holds at least one storage: count it so the static check stays conservative.
    _check_storages(storages, scanner, len(storage_stacks or ()))
    architecture = top.string("architecture") or "arm64"
    if architecture not in ARCHITECTURES:
        raise top.fail("architecture", f"must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")
    if scanner is not None and "architecture" in raw:
        raise top.fail("architecture", "is for storage-only stacks; set scanner.architecture instead")
    tags = raw.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
        raise ConfigError(f"bucketguard:tags: must be a mapping of tag names to strings, got {tags!r}")
    return BucketguardConfig(
        scanner=scanner,
        storages=storages,
        scanner_stack=scanner_stack,
        storage_stacks=storage_stacks or (),
        allowed_regions=allowed,
        architecture=scanner.architecture if scanner else architecture,
        artifact_dir=top.string("artifactDir"),
        tags={str(k): v for k, v in tags.items()},
        account_public_access_block=top.boolean("accountPublicAccessBlock", False),
    )
