"""Settings of the three functions, each decided in one place: explicit argument, then env var, then default.

The environment variable names live in `bucketguard.pipeline.env` so infra/ sets exactly what is read here.
Each class is a `StrictModel` whose field aliases are those names: an empty variable counts as unset (except
where empty means "none", `EMPTY_IS_A_VALUE`), and a bad value is refused in one line, e.g.
`BUCKETGUARD_PRESIGN_TTL_SECONDS='abc': expected a whole number`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from bucketguard.aws import LAMBDA_MB_PER_VCPU
from bucketguard.pipeline import env
from bucketguard.pipeline.rescan import MAX_SQS_DELAY_SECONDS, RescanPolicy
from bucketguard.scanning.result import Severity, Verdict
from bucketguard.validation import ConfigError, Flag, Invalid, StrictModel, describe, did_you_mean

DEFAULT_PRESIGN_TTL_SECONDS = 300  # long enough to queue and download, short enough to be useless if leaked
# The scanner reads objects in ranges (no copy on disk but for archives), so the cap on an object is what
# one invocation can scan before its timeout. SCAN_MIB_PER_VCPU_SECOND is the slowest throughput measured
# per CPU-second (benchmarks/large_objects.py --only-rate, README "Performance"): the scanner's core reading
# minified JavaScript through ranged GETs with the bundled rules on one CPU, 72 and 79 MiB per CPU-second in
# two runs (random bytes 222-227), sha256 and the HTTP reads included. Lambda gives one vCPU per 1,769 MB;
# counted as one at most (a second core's match workers start from 2,654 MB: bucketguard.scanning.workers),
# so the cap errs on the small side there.
SCAN_MIB_PER_VCPU_SECOND = 70
INVOCATION_MARGIN_SECONDS = 30  # start-up, the ruleset check, publishing the verdict
CONTENT_MARGIN = 0.5  # content slower than any measured (rules added by feeds, unusual bytes)


def scannable_object_bytes(memory_mb: int, timeout_seconds: int) -> int:
    """The largest object one invocation scans before its timeout: the measured throughput scaled by the
    vCPU share of `memory_mb`, over the timeout less a margin, halved for slower content than measured."""
    vcpus = min(memory_mb / LAMBDA_MB_PER_VCPU, 1.0)
    seconds = max(timeout_seconds - INVOCATION_MARGIN_SECONDS, 0)
    return int(SCAN_MIB_PER_VCPU_SECOND * vcpus * seconds * CONTENT_MARGIN) << 20


DEFAULT_MAX_OBJECT_BYTES = scannable_object_bytes(2048, 300)  # the scanner's default memory and timeout
DEFAULT_DOWNLOAD_TIMEOUT_SECONDS = 60.0
DEFAULT_RULES_KEY = "ruleset.zip"
DEFAULT_RULES_CHECK_SECONDS = 300
ACTION_NAMES = frozenset({"tag", "quarantine", "promote", "notify"})

# Every function reads only its own names, but all three may share an environment (tests, the sandbox, one
# developer shell), so the known set is the union of env.py's constants: a name none of them reads is a typo.
KNOWN_VARIABLES = frozenset(
    value for name, value in vars(env).items() if name.isupper() and value.startswith("BUCKETGUARD_")
)


class SettingsError(ConfigError):
    """A setting has a value we cannot use; the message names the variable and the value."""


def refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    for name in environ:
        if name.startswith("BUCKETGUARD_") and name not in KNOWN_VARIABLES:
            raise SettingsError(f"{name}: unknown variable{did_you_mean(name, KNOWN_VARIABLES)}")


def _csv(value: Any) -> Any:
    return (
        tuple(item.strip() for item in value.split(",") if item.strip()) if isinstance(value, str) else value
    )


def _whole(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if isinstance(value, int) and value < 0:
        raise ValueError("expected a number >= 0")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError("expected a number") from None
    return value


def _rescan_policy(value: Any) -> Any:
    return RescanPolicy.parse(value) if isinstance(value, str) else value


def _subset(allowed: Iterable[str], kind: Callable[[str], Any] = str) -> BeforeValidator:
    """A comma-separated subset of `allowed`, as a frozenset of `kind`."""
    names = sorted(allowed)

    def parse(value: Any) -> Any:
        items = [str(getattr(item, "value", item)) for item in _csv(value)]
        if any(item not in names for item in items):
            raise ValueError(f"expected a comma-separated subset of {', '.join(names)}")
        return frozenset(kind(item) for item in items)

    return BeforeValidator(parse)


Count = Annotated[int, BeforeValidator(_whole)]
Seconds = Annotated[float, BeforeValidator(_number)]
Names = Annotated[tuple[str, ...], BeforeValidator(_csv)]
Verdicts = Annotated[frozenset[Verdict], _subset((v.value for v in Verdict), Verdict)]


class EnvSettings(StrictModel):
    EMPTY_IS_A_VALUE: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        e = os.environ if environ is None else environ
        refuse_unknown_variables(e)
        unknown = set(overrides) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        raw: dict[str, Any] = {}
        for field_name, field in cls.model_fields.items():
            alias = str(field.validation_alias)
            if overrides.get(field_name) is not None:
                raw[alias] = overrides[field_name]
            elif e.get(alias) or (alias in e and alias in cls.EMPTY_IS_A_VALUE):
                raw[alias] = e[alias]
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            line = describe(exc, raw, "")
            name, _, reason = line.partition(": ")
            if isinstance(raw.get(name), str):
                line = f"{name}={raw[name]!r}: {reason.removesuffix(f', got {raw[name]!r}')}"
            raise SettingsError(line) from None


class ListenerSettings(EnvSettings):
    scanner_queue_url: str = Field(validation_alias=env.SCANNER_QUEUE_URL)
    result_topic_arn: str = Field(validation_alias=env.RESULT_TOPIC_ARN)
    scanner_queue_region: str = Field(
        "", validation_alias=env.SCANNER_QUEUE_REGION
    )  # empty: the function's own region
    storage_stack_id: str = Field("", validation_alias=env.STORAGE_STACK_ID)
    presign_ttl_seconds: Count = Field(DEFAULT_PRESIGN_TTL_SECONDS, validation_alias=env.PRESIGN_TTL_SECONDS)
    skip_prefixes: Names = Field((), validation_alias=env.SKIP_PREFIXES)
    skip_suffixes: Names = Field((), validation_alias=env.SKIP_SUFFIXES)
    skip_larger_than_bytes: Annotated[int | None, BeforeValidator(_whole)] = Field(
        None, validation_alias=env.SKIP_LARGER_THAN_BYTES
    )
    platform_prefixes: Names = Field((), validation_alias=env.PLATFORM_PREFIXES)
    # objects in it are the platform's own copies: never rescanned
    quarantine_bucket: str = Field("", validation_alias=env.QUARANTINE_BUCKET)
    rescan_on_update: Annotated[RescanPolicy, BeforeValidator(_rescan_policy)] = Field(
        RescanPolicy("none"), validation_alias=env.RESCAN_ON_UPDATE
    )
    protected_bucket: str = Field("", validation_alias=env.PROTECTED_BUCKET)
    listener_queue_url: str = Field("", validation_alias=env.LISTENER_QUEUE_URL)
    seal_key_id: str = Field("", validation_alias=env.SEAL_KEY_ID)
    rescan_batch_size: Count = Field(100, validation_alias=env.RESCAN_BATCH_SIZE)
    rescan_interval_seconds: Count = Field(60, validation_alias=env.RESCAN_INTERVAL_SECONDS)
    rescan_start_delay_seconds: Count = Field(600, validation_alias=env.RESCAN_START_DELAY_SECONDS)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not 1 <= self.presign_ttl_seconds <= 7 * 24 * 3600:
            raise Invalid(env.PRESIGN_TTL_SECONDS, "expected 1..604800")
        if not 1 <= self.rescan_batch_size <= 1000:
            raise Invalid(env.RESCAN_BATCH_SIZE, "expected 1..1000")
        for name, seconds in (
            (env.RESCAN_INTERVAL_SECONDS, self.rescan_interval_seconds),
            (env.RESCAN_START_DELAY_SECONDS, self.rescan_start_delay_seconds),
        ):
            if not 0 <= seconds <= MAX_SQS_DELAY_SECONDS:
                raise Invalid(name, f"expected 0..{MAX_SQS_DELAY_SECONDS} (an SQS delay)")
        if self.rescan_on_update.mode != "none":
            for name, value in (
                (env.PROTECTED_BUCKET, self.protected_bucket),
                (env.LISTENER_QUEUE_URL, self.listener_queue_url),
                (env.SEAL_KEY_ID, self.seal_key_id),
            ):
                if not value:
                    raise Invalid(name, f"is required with {env.RESCAN_ON_UPDATE}={self.rescan_on_update}")
        return self


class ScannerSettings(EnvSettings):
    ruleset_path: Path | None = Field(None, validation_alias=env.RULESET_PATH)  # None: the bundled rules
    hashes_path: Path | None = Field(None, validation_alias=env.HASHES_PATH)
    max_object_bytes: Count = Field(DEFAULT_MAX_OBJECT_BYTES, validation_alias=env.MAX_OBJECT_BYTES)
    scanner_id: str = Field("bucketguard-scanner", validation_alias=env.SCANNER_ID)
    engine: Literal["auto", "yara", "yara-x"] = Field("auto", validation_alias=env.ENGINE)
    min_severity: Severity = Field(Severity.LOW, validation_alias=env.MIN_SEVERITY)
    tmp_dir: Path | None = Field(None, validation_alias=env.TMP_DIR)
    download_origins: Names = Field((), validation_alias=env.DOWNLOAD_ORIGINS)
    download_timeout_seconds: Seconds = Field(
        DEFAULT_DOWNLOAD_TIMEOUT_SECONDS, validation_alias=env.DOWNLOAD_TIMEOUT_SECONDS
    )
    allowed_result_topic_arns: Names = Field((), validation_alias=env.ALLOWED_RESULT_TOPIC_ARNS)
    rules_bucket: str = Field(
        "", validation_alias=env.RULES_BUCKET
    )  # empty: no watch, the bundled ruleset only
    rules_key: str = Field(DEFAULT_RULES_KEY, validation_alias=env.RULES_KEY)
    rules_check_seconds: Count = Field(DEFAULT_RULES_CHECK_SECONDS, validation_alias=env.RULES_CHECK_SECONDS)

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        e = os.environ if environ is None else environ
        function = e.get("AWS_LAMBDA_FUNCTION_NAME", "")  # the default scanner id on Lambda
        if function and not e.get(env.SCANNER_ID):
            e = {**e, env.SCANNER_ID: function}
        return super().resolve(e, **overrides)


class PostScanSettings(EnvSettings):
    # an empty list means none (a storage may only scan), not the default
    EMPTY_IS_A_VALUE = frozenset({env.ACTIONS, env.QUARANTINE_VERDICTS, env.NOTIFY_VERDICTS})

    actions: Annotated[frozenset[str], _subset(ACTION_NAMES)] = Field(
        frozenset({"tag", "quarantine", "notify"}), validation_alias=env.ACTIONS
    )
    quarantine_bucket: str = Field("", validation_alias=env.QUARANTINE_BUCKET)
    quarantine_verdicts: Verdicts = Field(
        frozenset({Verdict.MALICIOUS}), validation_alias=env.QUARANTINE_VERDICTS
    )
    promote_bucket: str = Field("", validation_alias=env.PROMOTE_BUCKET)
    promote_delete_source: Flag = Field(False, validation_alias=env.PROMOTE_DELETE_SOURCE)
    alert_topic_arn: str = Field("", validation_alias=env.ALERT_TOPIC_ARN)
    notify_verdicts: Verdicts = Field(
        frozenset({Verdict.MALICIOUS, Verdict.UNSCANNABLE, Verdict.ERROR}),
        validation_alias=env.NOTIFY_VERDICTS,
    )
    webhook_secret_arn: str = Field("", validation_alias=env.WEBHOOK_SECRET_ARN)
    # Without a seal key no platform tag is trusted: every result is applied again (the backlog CLI).
    seal_key_id: str = Field("", validation_alias=env.SEAL_KEY_ID)
    # The bucket this post-scan serves: a result naming another is refused ("": any, the backlog CLI).
    protected_bucket: str = Field("", validation_alias=env.PROTECTED_BUCKET)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if "quarantine" in self.actions and not self.quarantine_bucket:
            raise Invalid(env.QUARANTINE_BUCKET, "is required by action quarantine")
        if "promote" in self.actions and not self.promote_bucket:
            raise Invalid(env.PROMOTE_BUCKET, "is required by action promote")
        if Verdict.CLEAN in self.quarantine_verdicts:
            raise Invalid(env.QUARANTINE_VERDICTS, "clean objects are never quarantined")
        return self
