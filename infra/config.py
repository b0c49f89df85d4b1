"""The stack configuration (keys under `bucketguard:`), read once and validated into typed values.

Pure Python: `parse_config` takes the raw values (as `pulumi.Config.get_object` returns them) so the rules
are tested without a Pulumi runtime. A declared pydantic schema (`bucketguard.validation`): unknown keys are
refused with the nearest known key, and every error is one line naming the key path and the entry, e.g.
`bucketguard:storages[2].region (name 'camp-media'): 'eu-mars-1' is not in bucketguard:allowedRegions`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_pascal

from bucketguard.pipeline.rescan import RescanPolicy
from bucketguard.pipeline.settings import scannable_object_bytes
from bucketguard.scanning.feeds import FeedError, FeedSource, SecretUrlSource, source_from_config
from bucketguard.validation import (
    AccountId,
    ConfigError,
    Flag,
    Invalid,
    RoleArn,
    StrictModel,
    pattern,
    unique,
    validate,
)
from infra.fleet import FleetFull, Placement, assign

__all__ = [
    "MAX_STORAGES_PER_SCANNER",
    "BucketguardConfig",
    "ConfigError",
    "MonitorConfig",
    "MonitoredAccount",
    "ScannerConfig",
    "StorageConfig",
    "parse_config",
]

MAX_STORAGES_PER_SCANNER = 50
Unique = AfterValidator(unique)

# Commercial AWS partition only: the ARNs the components build use the `aws` partition.
Region = Annotated[str, pattern(r"^[a-z]{2}-[a-z]+-\d$", "an AWS region name such as eu-west-1")]
# S3 general purpose bucket names; dots are refused because they break TLS on virtual-hosted URLs. The
# prefixes and suffixes S3 reserves (access points, Object Lambda, directory and table buckets) fail
# CreateBucket at `pulumi up`, after the rest of the stack was created.
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")


def _unreserved_bucket(name: str) -> str:
    reserved = [p for p in RESERVED_BUCKET_PREFIXES if name.startswith(p)]
    reserved += [s for s in RESERVED_BUCKET_SUFFIXES if name.endswith(s)]
    if reserved:
        raise ValueError(f"{name!r} is not an S3 bucket name: S3 reserves {reserved[0]!r} for its own names")
    return name


Bucket = Annotated[
    str,
    pattern(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", "an S3 bucket name (3-63 lowercase letters, digits, '-')"),
    AfterValidator(_unreserved_bucket),
]
Name = Annotated[
    str, pattern(r"^[a-z][a-z0-9-]{0,23}$", "a short name (lowercase letters, digits, '-', max 24)")
]
StackRef = Annotated[
    str,
    pattern(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", 'a stack reference "org/project/stack"'),
]
Email = Annotated[str, pattern(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an e-mail address")]
Schedule = Annotated[
    str, pattern(r"^(rate|cron)\([^()]+\)$", "an EventBridge schedule: rate(...) or cron(...)")
]
# Normalised (`all-since: 30` -> `all-since:30`) as the listener reads it from its environment.
RescanOnUpdate = Annotated[str, AfterValidator(lambda text: str(RescanPolicy.parse(text)))]
SecretArn = Annotated[
    str,
    pattern(
        r"^arn:aws:secretsmanager:[a-z]{2}-[a-z]+-\d:\d{12}:secret:[\w/+=.@-]+$",
        "a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:...)",
    ),
]
NonEmpty = Annotated[str, Field(min_length=1)]
Architecture = Literal["arm64", "x86_64"]
Action = Literal["tag", "quarantine", "promote", "notify"]
DEFAULT_ACTIONS: tuple[Action, ...] = ("tag", "quarantine", "notify")


# CloudWatch Logs accepts only these retention values.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)


def _retention(days: int) -> int:
    if days not in RETENTION_DAYS:
        raise ValueError(f"must be one of {', '.join(map(str, RETENTION_DAYS))}, got {days}")
    return days


Retention = Annotated[int, AfterValidator(_retention)]

# Lambda refuses (at `pulumi up`, the stack half created) a function whose variables, measured as the JSON
# object it reports ("String measured: {...}"), pass 4 KB. The variables the config grows get what the
# others (names, ARNs and URLs the program makes) leave: those stay within FIXED_ENVIRONMENT bytes
# (tests/infra/test_lambda_environment.py holds the program to it).
ENVIRONMENT_LIMIT = 4096
FIXED_ENVIRONMENT = 1024


def fit_lambda_environment(function: str, grown: Mapping[tuple[str | int, ...], str]) -> None:
    """`grown`: the config key path of each variable the config fills -> its value; Invalid naming the
    largest when together they leave the function's own variables no room."""
    size = sum(len(json.dumps(value)) for value in grown.values())
    room = ENVIRONMENT_LIMIT - FIXED_ENVIRONMENT
    if size > room:
        largest = max(grown, key=lambda path: len(grown[path]))
        raise Invalid(
            largest,
            f"too large for the {function} function's environment: what the config puts there takes "
            f"{size:,} bytes of the {room:,} Lambda's 4 KB leave it; shorten it",
        )


def member_role_arn(account: str, role_name: str) -> str:
    """The role the monitor reads a monitored account through."""
    return f"arn:aws:iam::{account}:role/{role_name}"


def _tag_values(tags: Any) -> Any:
    # Tag values are text to AWS; YAML reads `costCentre: 4711` or `shared: true` as a number or a flag.
    if not isinstance(tags, Mapping):
        return tags
    return {
        key: (str(value).lower() if isinstance(value, bool) else str(value))
        if isinstance(value, int | float)
        else value
        for key, value in tags.items()
    }


class PolicyStatement(StrictModel):
    """One IAM statement of the user's, merged into the bucket policy the storage writes (keys as IAM spells
    them: Sid, Effect, Principal, Action, Resource, Condition...)."""

    model_config = ConfigDict(alias_generator=to_pascal)

    sid: Annotated[str, pattern(r"^[A-Za-z0-9]+$", "a Sid (letters and digits)")] | None = None
    effect: Literal["Allow", "Deny"]
    principal: str | dict[str, str | list[str]] | None = None
    not_principal: str | dict[str, str | list[str]] | None = None
    action: str | list[str] | None = None
    not_action: str | list[str] | None = None
    resource: str | list[str] | None = None
    not_resource: str | list[str] | None = None
    condition: dict[str, dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _complete(self) -> PolicyStatement:
        for one, other in (
            ("action", "not_action"),
            ("resource", "not_resource"),
            ("principal", "not_principal"),
        ):
            if (getattr(self, one) is None) == (getattr(self, other) is None):
                raise Invalid(to_pascal(one), f"is required (or {to_pascal(other)}), not both")
        if self.sid is not None and (
            self.sid.startswith("BucketGuard") or self.sid == "DenyInsecureTransport"
        ):
            raise Invalid("Sid", f"{self.sid!r} is one of the statements bucketguard writes itself")
        return self

    @property
    def resources(self) -> list[str]:
        named = self.resource if self.resource is not None else self.not_resource
        return [named] if isinstance(named, str) else list(named or [])

    def document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


_NOTIFICATION_ARN = {  # wire key -> (field, ARN prefix, what)
    "queues": ("queues", "arn:aws:sqs:", "an SQS queue ARN"),
    "topics": ("topics", "arn:aws:sns:", "an SNS topic ARN"),
    "lambdaFunctions": ("lambda_functions", "arn:aws:lambda:", "a Lambda function ARN"),
}
S3Event = Annotated[
    str, pattern(r"^s3:[A-Za-z]+:(\*|[A-Za-z]+)$", "an S3 event type such as s3:ObjectRemoved:*")
]


class NotificationTarget(StrictModel):
    arn: str
    events: Annotated[tuple[S3Event, ...], Field(min_length=1)]
    filter_prefix: str | None = None
    filter_suffix: str | None = None
    id: str | None = None

    @model_validator(mode="after")
    def _not_object_created(self) -> NotificationTarget:
        for index, event in enumerate(self.events):
            if event.startswith("s3:ObjectCreated") or event == "s3:*":
                raise Invalid(
                    ("events", index),
                    f"{event!r} overlaps bucketguard's own s3:ObjectCreated:* notification (S3 refuses "
                    "that); set eventbridge: true and route uploads from EventBridge instead",
                )
        return self


class ExtraNotifications(StrictModel):
    """The bucket's other notification targets: S3 has one notification configuration per bucket."""

    queues: tuple[NotificationTarget, ...] = ()
    topics: tuple[NotificationTarget, ...] = ()
    lambda_functions: tuple[NotificationTarget, ...] = ()
    eventbridge: Flag = False

    @model_validator(mode="after")
    def _arns_of_their_kind(self) -> ExtraNotifications:
        for key, (attribute, prefix, what) in _NOTIFICATION_ARN.items():
            for index, target in enumerate(getattr(self, attribute)):
                if not target.arn.startswith(prefix):
                    raise Invalid((key, index, "arn"), f"{target.arn!r} is not {what}")
        return self


def _account_of(role_arn: str | None) -> str | None:
    return role_arn.split(":")[4] if role_arn else None


class _Deployed(StrictModel):
    """Where an entry deploys: a role to assume, or the account of the deployer's own credentials."""

    role_arn: RoleArn | None = None
    account_id: AccountId | None = None

    @property
    def account(self) -> str | None:
        """The entry's account id when the config says it, else None (the deployer's own account)."""
        return _account_of(self.role_arn) or self.account_id

    @model_validator(mode="after")
    def _role_in_account(self) -> _Deployed:
        if self.role_arn and self.account_id and _account_of(self.role_arn) != self.account_id:
            raise Invalid(
                "roleArn",
                f"{self.role_arn!r} is in account {_account_of(self.role_arn)}, "
                f"not accountId {self.account_id}",
            )
        return self


def roles_in_account(section: str, key: str, arns: Sequence[str], account: str | None) -> None:
    """Roles that only work in the section's own account (its resource policies admit no other): the first
    of another account is refused. Checked here when the config names the account, and by the program
    against the account it deploys into (infra.policies.roles_of_account)."""
    for index, arn in enumerate(arns):
        if account and _account_of(arn) != account:
            raise Invalid((key, index), f"{arn!r} is not in the {section}'s account {account}")


class RuleSource(StrictModel):
    """One `scanner.ruleSources` entry: where rule updates come from (bucketguard.scanning.feeds)."""

    url: str | None = Field(None, min_length=1)
    # or the URL, with the feed's key in its query, kept in Secrets Manager (read by the update function)
    url_secret_arn: str | None = None
    name: str | None = None  # default: from the URL
    kind: str | None = None  # default: s3 for s3://, else recognised from the content
    sha256: str | None = None
    min_severity: str | None = None
    exclude: tuple[NonEmpty, ...] = ()
    bucket_owner: AccountId | None = None  # s3:// sources: the account that must own the bucket

    @model_validator(mode="after")
    def _a_feed(self) -> RuleSource:
        feed = self.feed()
        if isinstance(feed, SecretUrlSource):
            return self
        return self.model_copy(update={"name": feed.name, "kind": feed.kind})

    def feed(self) -> FeedSource | SecretUrlSource:
        entry = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            return source_from_config(entry, "source")
        except FeedError as exc:
            raise ValueError(str(exc).removeprefix("source: ")) from None


class ScannerConfig(_Deployed):
    name: Name | None = None  # required in bucketguard:scanners entries; the single scanner has none
    region: Region
    architecture: Architecture = "arm64"
    memory_mb: int = Field(2048, ge=128, le=10240)
    timeout_seconds: int = Field(300, ge=10, le=900)
    ephemeral_storage_mb: int = Field(4096, ge=512, le=10240)
    reserved_concurrency: int = Field(20, ge=1, le=1000)
    # Scan requests per invocation: the next object downloads while the current one is scanned.
    batch_size: int = Field(10, ge=1, le=10)
    # default: what memoryMb and timeoutSeconds can scan (pipeline.settings.scannable_object_bytes)
    max_object_bytes: int | None = Field(None, ge=1)
    notify_emails: Annotated[tuple[Email, ...], Unique] = ()
    log_retention_days: Retention = 90
    # Rule updates: the scanner looks for a newer published ruleset at most this often (one HEAD).
    rule_check_seconds: int = Field(300, ge=30, le=86400)
    rule_sources: tuple[RuleSource, ...] = ()  # with any, an update function runs on this schedule
    rule_update_schedule: Schedule = "rate(1 day)"
    # After the update publishes a ruleset, storages rescan what older rulesets judged (docs/pipeline.md).
    rescan_on_update: RescanOnUpdate = "none"
    # Roles of the scanner's account that may publish a ruleset by hand (`rules publish --to --announce`).
    rule_publisher_arns: Annotated[tuple[RoleArn, ...], Unique] = ()

    @model_validator(mode="after")
    def _publishers_in_the_scanner_account(self) -> ScannerConfig:
        # The rules bucket's policy admits no other account: a foreign publisher could never write.
        roles_in_account("scanner", "rulePublisherArns", self.rule_publisher_arns, self.account)
        return self

    @model_validator(mode="after")
    def _rescan_waits_for_the_scanner(self) -> ScannerConfig:
        if self.rescan_on_update != "none" and self.rule_check_seconds + self.timeout_seconds > 900:
            # The sweep waits (an SQS delay, 900 s at most) until the scanner can no longer be using the
            # previous ruleset: its check interval plus one scan.
            raise Invalid(
                "rescanOnUpdate",
                f"needs ruleCheckSeconds + timeoutSeconds <= 900 (now {self.rule_check_seconds} + "
                f"{self.timeout_seconds}): the rescan waits that long for the scanner to load the ruleset",
            )
        return self

    @property
    def label(self) -> str:
        """How the program names it: its resources, outputs and the assignment printed at preview."""
        return self.name or "scanner"

    @model_validator(mode="after")
    def _source_names_unique(self) -> ScannerConfig:
        names = [source.name for source in self.rule_sources]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise Invalid(("ruleSources", index, "name"), f"{name!r} is used twice")
        return self

    @model_validator(mode="after")
    def _object_cap(self) -> ScannerConfig:
        if self.max_object_bytes is not None:
            return self
        return self.model_copy(
            update={"max_object_bytes": scannable_object_bytes(self.memory_mb, self.timeout_seconds)}
        )


class StorageConfig(_Deployed):
    name: Name
    bucket: Bucket
    region: Region
    scanner: Name | None = None  # the bucketguard:scanners entry that admits it; default: assigned
    create_bucket: Flag = False
    actions: Annotated[tuple[Action, ...], Unique] = DEFAULT_ACTIONS
    quarantine_bucket: Bucket | None = None  # default <bucket>-quarantine when actions include quarantine
    promote_bucket: Bucket | None = None
    access_log_bucket: Bucket | None = None
    block_unscanned: Flag = True
    skip_prefixes: Annotated[tuple[NonEmpty, ...], Unique] = ()
    notify_emails: Annotated[tuple[Email, ...], Unique] = ()
    admin_role_arns: Annotated[tuple[RoleArn, ...], Unique] = ()
    log_retention_days: Retention = 90
    # Secrets Manager secret holding a Slack/Teams incoming-webhook URL for the storage's alerts.
    webhook_secret_arn: SecretArn | None = None
    # The user's own statements and notification targets, merged into what the storage writes.
    extra_policy_statements: tuple[PolicyStatement, ...] = ()
    extra_notifications: ExtraNotifications = Field(default_factory=ExtraNotifications)

    @property
    def owned_buckets(self) -> tuple[str, ...]:
        """The buckets this storage names: each may serve one storage only."""
        named = (self.bucket, self.quarantine_bucket, self.promote_bucket, self.access_log_bucket)
        return tuple(b for b in named if b is not None)

    @model_validator(mode="after")
    def _skip_prefixes_fit(self) -> StorageConfig:
        fit_lambda_environment("listener", {("skipPrefixes",): ",".join(self.skip_prefixes)})
        return self

    @model_validator(mode="after")
    def _actions_and_buckets(self) -> StorageConfig:
        if self.block_unscanned and "tag" not in self.actions:
            raise Invalid(
                "actions",
                "must include 'tag' when blockUnscanned is true: untagged objects stay blocked for ever",
            )
        quarantine = self.quarantine_bucket
        if "quarantine" in self.actions and quarantine is None:
            quarantine = f"{self.bucket}-quarantine"
            if len(quarantine) > 63:
                raise Invalid(
                    "quarantineBucket", f"is required: the default {quarantine!r} is longer than 63"
                )
        if "promote" in self.actions and self.promote_bucket is None:
            raise Invalid("promoteBucket", "is required when actions include 'promote'")
        for key, other in (("quarantineBucket", quarantine), ("promoteBucket", self.promote_bucket)):
            if other == self.bucket:
                raise Invalid(
                    key, f"must differ from the protected bucket {self.bucket!r} (a copy in place loses data)"
                )
        if quarantine is not None and quarantine == self.promote_bucket:
            raise Invalid("promoteBucket", "must differ from quarantineBucket")
        logs = self.access_log_bucket
        if logs is not None and logs in (self.bucket, quarantine, self.promote_bucket):
            raise Invalid(
                "accessLogBucket", "must differ from the protected, quarantine and promote buckets it logs"
            )
        creates_a_bucket = self.create_bucket or "quarantine" in self.actions or "promote" in self.actions
        if logs is not None and not creates_a_bucket:
            raise Invalid(
                "accessLogBucket",
                "has nothing to log: only the buckets the stack creates (createBucket, quarantine, "
                "promote) log there",
            )
        bucket_arn = f"arn:aws:s3:::{self.bucket}"
        for index, statement in enumerate(self.extra_policy_statements):
            for resource in statement.resources:
                if resource != bucket_arn and not resource.startswith(f"{bucket_arn}/"):
                    raise Invalid(
                        ("extraPolicyStatements", index, "Resource"),
                        f"{resource!r} is not this bucket ({bucket_arn} or {bucket_arn}/...): S3 refuses it",
                    )
        if self.webhook_secret_arn is not None:
            if "notify" not in self.actions:
                raise Invalid("webhookSecretArn", "is used only when actions include 'notify'")
            if self.webhook_secret_arn.split(":")[3] != self.region:
                # The post-scan function reads it with a client of its own region.
                raise Invalid("webhookSecretArn", f"must be a secret in the storage's region {self.region}")
        return self.model_copy(
            update={
                "quarantine_bucket": quarantine if "quarantine" in self.actions else None,
                "promote_bucket": self.promote_bucket if "promote" in self.actions else None,
            }
        )


def _policy_config(value: dict[str, Any]) -> dict[str, Any]:
    """The policy pack config (enforcement levels, exemptions, allowedRegions...), as the audit reads it."""
    from bucketguard.audit.settings import settings_from
    from bucketguard.policy.pack_config import parse_policy_config

    try:
        settings_from(parse_policy_config(value, "policyConfig"), "policyConfig")
    except ConfigError as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from None
    return value


PolicyConfigMapping = Annotated[dict[str, Any], AfterValidator(_policy_config)]


class AuditConfig(_Deployed):
    """`bucketguard:audit`: the scheduled audit of its own account (``roleArn``/``accountId``, default the
    deployer's) and each roleArns account in `regions`, deployed in `region`, one message per account and
    region; findings history in DynamoDB,
    Security Hub import when `securityHub`, reports in a bucket and a summary to `notifyEmails`."""

    region: Region
    regions: Annotated[tuple[Region, ...], Unique] = Field(min_length=1)
    schedule: Schedule = "rate(1 day)"
    role_arns: Annotated[tuple[RoleArn, ...], Unique] = ()
    security_hub: Flag = False
    notify_emails: Annotated[tuple[Email, ...], Unique] = ()
    # Roles of the audit's account that may read the reports (the report bucket's key admits no one else).
    report_reader_arns: Annotated[tuple[RoleArn, ...], Unique] = ()
    # account/region messages audited at once (Lambda's SQS scaling needs at least 2)
    concurrency: int = Field(10, ge=2, le=1000)
    log_retention_days: Retention = 90
    # The policy pack config (enforcement levels, exemptions, allowedRegions...): `audit --policy-config`.
    policy_config: PolicyConfigMapping = Field(default_factory=dict)

    @model_validator(mode="after")
    def _readers_in_the_audit_account(self) -> AuditConfig:
        roles_in_account("audit", "reportReaderArns", self.report_reader_arns, self.account)
        return self


class MonitoredAccount(_Deployed):
    """An account whose CloudTrail events are forwarded to the monitor (``roleArn``: the deployer role
    there; ``accountId`` alone: the deployer's own credentials reach it)."""

    regions: Annotated[tuple[Region, ...], Unique] = ()  # default: bucketguard:monitor.regions

    @model_validator(mode="after")
    def _names_its_account(self) -> MonitoredAccount:
        if self.account is None:
            raise Invalid(
                "accountId", "is required (or roleArn): the monitor's event bus admits accounts by id"
            )
        return self


def _fixable_rule(rule_id: str) -> str:
    from bucketguard.remediation import FIXERS

    if rule_id not in FIXERS:
        raise ValueError(f"{rule_id!r} has no fixer (fixable: {', '.join(sorted(FIXERS))})")
    return rule_id


class MonitorConfig(_Deployed):
    """Real-time monitoring: deployed in the security account (``roleArn``/``accountId``, default the
    deployer's) and ``region``; watches ``regions`` there and each of ``accounts``."""

    region: Region
    regions: Annotated[tuple[Region, ...], Unique] = ()  # default: [region]
    accounts: tuple[MonitoredAccount, ...] = ()
    organization_id: Annotated[str, pattern(r"^o-[a-z0-9]{10,32}$", "an organization id (o-...)")] | None = (
        None
    )
    remediate: Annotated[tuple[Annotated[str, AfterValidator(_fixable_rule)], ...], Unique] = ()
    notify_emails: Annotated[tuple[Email, ...], Unique] = ()
    security_hub: Flag = False
    webhook_secret_arn: SecretArn | None = None
    # A multi-region trail with management events in the security account (infra/monitor_trail.py).
    create_trail: Flag = False
    member_role_name: Annotated[str, pattern(r"^[\w+=,.@-]{1,64}$", "an IAM role name")] = (
        "bucketguard-monitor-member"
    )
    reserved_concurrency: int = Field(5, ge=1, le=1000)
    log_retention_days: Retention = 90
    # The same policy config as the audit's (exemptions, enforcement levels, allowedRegions...).
    policy_config: PolicyConfigMapping = Field(default_factory=dict)

    @property
    def monitored_regions(self) -> tuple[str, ...]:
        return self.regions or (self.region,)

    def regions_of(self, account: MonitoredAccount) -> tuple[str, ...]:
        return account.regions or self.monitored_regions

    @property
    def member_role_arns(self) -> list[str]:
        return [member_role_arn(str(a.account), self.member_role_name) for a in self.accounts]

    @model_validator(mode="after")
    def _accounts_once(self) -> MonitorConfig:
        seen: dict[str | None, int] = {self.account: -1}
        for index, entry in enumerate(self.accounts):
            if entry.account in seen:
                raise Invalid(("accounts", index, "accountId"), f"account {entry.account} is listed twice")
            seen[entry.account] = index
        return self


class BucketguardConfig(StrictModel):
    scanner: ScannerConfig | None = None
    monitor: MonitorConfig | None = None
    # Several scanner stacks in one program (a fleet): each storage is admitted by exactly one (infra.fleet).
    scanners: tuple[ScannerConfig, ...] = ()
    storages: tuple[StorageConfig, ...] = ()
    scanner_stack: StackRef | None = None
    storage_stacks: Annotated[tuple[StackRef, ...], Unique] = ()
    allowed_regions: Annotated[tuple[Region, ...], Unique] = ()
    # The Lambda architecture of a storage-only stack (a scanner stack uses scanner.architecture).
    architecture: Architecture | None = None
    artifact_dir: str | None = None
    tags: Annotated[dict[str, str], BeforeValidator(_tag_values)] = Field(default_factory=dict)
    # Account-wide S3 Block Public Access in every account the stack deploys into (off: it affects buckets
    # the stack does not manage).
    account_public_access_block: Flag = False
    audit: AuditConfig | None = None

    @property
    def deploys_scanner(self) -> bool:
        return self.scanner_stack is None

    @property
    def fleet(self) -> tuple[ScannerConfig, ...]:
        """The scanners this stack deploys: the single `scanner` is a fleet of one."""
        return (self.scanner,) if self.scanner is not None else self.scanners

    @property
    def lambda_architecture(self) -> str:
        # One Lambda artifact per program: every scanner of a fleet has the first one's architecture.
        return self.fleet[0].architecture if self.fleet else (self.architecture or "arm64")

    def placements(self) -> list[Placement]:
        """The scanner (index into `fleet`) of each storage, in config order; [] for a storage-only stack."""
        if not self.fleet:
            return []
        index = {scanner.name: i for i, scanner in enumerate(self.fleet)}
        return assign(
            [scanner.region for scanner in self.fleet],
            [(s.region, index[s.scanner] if s.scanner else None) for s in self.storages],
            capacity=MAX_STORAGES_PER_SCANNER,
            # Each admitted storage stack holds at least one storage (counted, to stay on the safe side).
            reserved=[len(self.storage_stacks)],
        )

    def scanner_paths(self) -> list[tuple[tuple[str | int, ...], ScannerConfig]]:
        if self.scanner is not None:
            return [(("scanner",), self.scanner)]
        return [(("scanners", i), scanner) for i, scanner in enumerate(self.scanners)]

    @model_validator(mode="after")
    def _one_scanner(self) -> BucketguardConfig:
        if self.scanner is not None and self.scanners:
            raise Invalid("scanners", "set either scanner (one) or scanners (a fleet), not both")
        if self.scanner_stack is not None and self.fleet:
            raise Invalid(
                "scannerStack",
                "set either scanner or scanners (this stack deploys scanners) or scannerStack (this stack "
                "deploys storages only, for the scanner of that stack), not both",
            )
        if self.scanner_stack is None and not self.fleet:
            raise Invalid("scanner", "is required (or scanners, or scannerStack for a storage-only stack)")
        if self.scanner_stack is not None and self.storage_stacks:
            raise Invalid("storageStacks", "only a stack that deploys the scanner admits storage stacks")
        if len(self.fleet) > 1 and self.storage_stacks:
            raise Invalid(
                "storageStacks",
                "is for a stack with one scanner (a storage stack reads one scanner's outputs); deploy those "
                "storages in this stack's storages instead",
            )
        if self.scanner_stack is not None and not self.storages:
            raise Invalid("storages", "a storage-only stack (scannerStack set) needs at least one entry")
        if self.fleet and self.architecture is not None:
            raise Invalid("architecture", "is for storage-only stacks; set scanner.architecture instead")
        if self.scanner is not None and self.scanner.name is not None:
            raise Invalid(("scanner", "name"), "is for bucketguard:scanners entries (a fleet)")
        names: dict[str, int] = {}
        for index, scanner in enumerate(self.scanners):
            if scanner.name is None:
                raise Invalid(("scanners", index, "name"), "is required (storages name their scanner by it)")
            if scanner.name in names:
                raise Invalid(
                    ("scanners", index, "name"), f"is already used by scanners[{names[scanner.name]}]"
                )
            names[scanner.name] = index
            if scanner.architecture != self.scanners[0].architecture:
                raise Invalid(
                    ("scanners", index, "architecture"),
                    f"must be the same as scanners[0] ({self.scanners[0].architecture}): one Lambda artifact",
                )
        for index, storage in enumerate(self.storages):
            if storage.scanner is not None and storage.scanner not in names:
                known = f"known: {', '.join(names)}" if names else "this stack has no bucketguard:scanners"
                raise Invalid(
                    ("storages", index, "scanner"), f"{storage.scanner!r} is not a scanner ({known})"
                )
        return self

    def monitor_policy_config(self, monitor: MonitorConfig) -> dict[str, Any]:
        """The monitor's policy config: the stack's allowedRegions judge the region rule unless it says
        otherwise."""
        region_rule = {"aws_resource_region_allowed": {"allowedRegions": list(self.allowed_regions)}}
        return {**(region_rule if self.allowed_regions else {}), **monitor.policy_config}

    @model_validator(mode="after")
    def _audit_and_monitor_fit_their_functions(self) -> BucketguardConfig:
        from bucketguard.audit.run import listener_digest

        # both functions know the listener queues the program makes by their digests
        listeners = ",".join(listener_digest(storage.name) for storage in self.storages)
        if self.monitor is not None:
            monitor = self.monitor
            grown: dict[tuple[str | int, ...], str] = {
                ("monitor", "policyConfig"): json.dumps(self.monitor_policy_config(monitor)),
                ("monitor", "accounts"): ",".join(monitor.member_role_arns),
                ("monitor", "regions"): ",".join(monitor.monitored_regions),
                ("monitor", "remediate"): ",".join(monitor.remediate),
                ("storages",): listeners,
            }
            fit_lambda_environment("monitor", grown)
        if self.audit is not None:
            audit = self.audit
            fit_lambda_environment(
                "audit",
                {
                    ("audit", "roleArns"): ",".join(audit.role_arns),
                    ("audit", "regions"): ",".join(audit.regions),
                    ("audit", "policyConfig"): json.dumps(audit.policy_config),
                    ("storages",): listeners,
                },
            )
        return self

    @model_validator(mode="after")
    def _regions_allowed(self) -> BucketguardConfig:
        if not self.allowed_regions:
            return self
        entries: list[tuple[tuple[str | int, ...], str]] = [
            (((*path, "region")), scanner.region) for path, scanner in self.scanner_paths()
        ]
        entries += [(("storages", i, "region"), s.region) for i, s in enumerate(self.storages)]
        if self.monitor is not None:
            entries.append((("monitor", "region"), self.monitor.region))
            entries += [(("monitor", "regions", i), r) for i, r in enumerate(self.monitor.regions)]
            entries += [
                (("monitor", "accounts", i, "regions", j), r)
                for i, a in enumerate(self.monitor.accounts)
                for j, r in enumerate(a.regions)
            ]
        for path, region in entries:
            if region not in self.allowed_regions:
                raise Invalid(
                    path,
                    f"{region!r} is not in bucketguard:allowedRegions ({', '.join(self.allowed_regions)})",
                )
        return self

    @model_validator(mode="after")
    def _storages_fit_the_scanners(self) -> BucketguardConfig:
        try:
            self.placements()
        except FleetFull as full:
            storage = self.storages[full.index]
            if full.pinned:
                raise Invalid(
                    ("storages", full.index, "scanner"),
                    f"scanner {storage.scanner!r} already admits {MAX_STORAGES_PER_SCANNER} storages (the "
                    "limit) from the entries before this one: pin it to another scanner or add one",
                ) from None
            total = len(self.storages) + len(self.storage_stacks)
            scanners = "one scanner" if len(self.fleet) == 1 else f"{len(self.fleet)} scanners"
            raise Invalid(
                "storages",
                f"{total} storages for {scanners} (at most {MAX_STORAGES_PER_SCANNER}); the first one "
                f"over the limit is {storage.name!r}: add a scanner to bucketguard:scanners for the rest",
            ) from None
        names: dict[str, int] = {}
        buckets: dict[str, int] = {}
        fleet_accounts = {scanner.account for scanner in self.fleet}
        for index, storage in enumerate(self.storages):
            if storage.name in names:
                raise Invalid(
                    ("storages", index, "name"),
                    f"is already used by bucketguard:storages[{names[storage.name]}]",
                )
            names[storage.name] = index
            for bucket in storage.owned_buckets:
                if bucket in buckets:
                    raise Invalid(
                        ("storages", index),
                        f"bucket {bucket!r} is already used by bucketguard:storages[{buckets[bucket]}]",
                    )
            buckets.update(dict.fromkeys(storage.owned_buckets, index))
            if self.fleet and storage.role_arn is None and storage.account not in fleet_accounts:
                scanner_accounts = ", ".join(
                    sorted(a or "of the deployer credentials" for a in fleet_accounts)
                )
                raise Invalid(
                    ("storages", index, "roleArn"),
                    "is required for a cross-account entry: the storage is in account "
                    f"{storage.account or 'of the deployer credentials'}, the scanner in account "
                    f"{scanner_accounts}; set it to a deployer role in the bucket's account",
                )
        return self


def parse_config(raw: Mapping[str, Any]) -> BucketguardConfig:
    """Validates the `bucketguard:` keys (already decoded from YAML/JSON) into a BucketguardConfig."""
    return validate(BucketguardConfig, raw, "bucketguard:")
