"""Settings of the three functions, each decided in one place: explicit argument, then env var, then default.

The environment variable names live in `bucketguard.pipeline.env` so infra/ sets exactly what is read here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bucketguard.errors import UserError
from bucketguard.pipeline import env
from bucketguard.scanning.result import Severity, Verdict

DEFAULT_PRESIGN_TTL_SECONDS = 300  # long enough to queue and download, short enough to be useless if leaked
DEFAULT_MAX_OBJECT_BYTES = 2 * 1024**3  # Lambda /tmp can be configured up to 10 GiB; 2 GiB by default
DEFAULT_DOWNLOAD_TIMEOUT_SECONDS = 60.0
DEFAULT_RULES_KEY = "ruleset.zip"
DEFAULT_RULES_CHECK_SECONDS = 300
ACTION_NAMES = frozenset({"tag", "quarantine", "promote", "notify"})


class SettingsError(UserError, ValueError):
    """A setting has a value we cannot use; the message names the variable and the value."""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a whole number") from None
    if number < 0:
        raise SettingsError(f"{name}={value!r}: expected a number >= 0")
    return number


def _float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a number") from None


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name}={value!r}: expected true or false")


def _verdicts(name: str, value: str) -> frozenset[Verdict]:
    try:
        return frozenset(Verdict(v) for v in _csv(value))
    except ValueError:
        allowed = ", ".join(v.value for v in Verdict)
        raise SettingsError(f"{name}={value!r}: expected a comma-separated subset of {allowed}") from None


def _apply_overrides(settings: Any, overrides: Mapping[str, Any]) -> Any:
    known = {f.name for f in fields(settings)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class ListenerSettings:
    scanner_queue_url: str
    result_topic_arn: str
    scanner_queue_region: str = ""  # empty: the function's own region
    storage_stack_id: str = ""
    presign_ttl_seconds: int = DEFAULT_PRESIGN_TTL_SECONDS
    skip_prefixes: tuple[str, ...] = ()
    skip_suffixes: tuple[str, ...] = ()
    skip_larger_than_bytes: int | None = None
    platform_prefixes: tuple[str, ...] = ()
    quarantine_bucket: str = ""  # objects in it are the platform's own copies: never rescanned

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ListenerSettings:
        e = os.environ if environ is None else environ
        larger = e.get(env.SKIP_LARGER_THAN_BYTES, "")
        base = cls(
            scanner_queue_url=e.get(env.SCANNER_QUEUE_URL, ""),
            result_topic_arn=e.get(env.RESULT_TOPIC_ARN, ""),
            scanner_queue_region=e.get(env.SCANNER_QUEUE_REGION, ""),
            storage_stack_id=e.get(env.STORAGE_STACK_ID, ""),
            presign_ttl_seconds=_int(
                env.PRESIGN_TTL_SECONDS, e.get(env.PRESIGN_TTL_SECONDS, str(DEFAULT_PRESIGN_TTL_SECONDS))
            ),
            skip_prefixes=_csv(e.get(env.SKIP_PREFIXES, "")),
            skip_suffixes=_csv(e.get(env.SKIP_SUFFIXES, "")),
            skip_larger_than_bytes=_int(env.SKIP_LARGER_THAN_BYTES, larger) if larger else None,
            platform_prefixes=_csv(e.get(env.PLATFORM_PREFIXES, "")),
            quarantine_bucket=e.get(env.QUARANTINE_BUCKET, ""),
        )
        settings: ListenerSettings = _apply_overrides(base, overrides)
        if not settings.scanner_queue_url:
            raise SettingsError(
                f"{env.SCANNER_QUEUE_URL} is not set: the listener has nowhere to send requests"
            )
        if not settings.result_topic_arn:
            raise SettingsError(
                f"{env.RESULT_TOPIC_ARN} is not set: the scanner would not know where to reply"
            )
        if not 1 <= settings.presign_ttl_seconds <= 7 * 24 * 3600:
            raise SettingsError(
                f"{env.PRESIGN_TTL_SECONDS}={settings.presign_ttl_seconds}: expected 1..604800"
            )
        return settings


@dataclass(frozen=True)
class ScannerSettings:
    ruleset_path: Path | None = None  # None: the bundled rules
    hashes_path: Path | None = None
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    scanner_id: str = "bucketguard-scanner"
    engine: str = "auto"
    min_severity: Severity = Severity.LOW
    tmp_dir: Path | None = None
    download_origins: tuple[str, ...] = ()
    download_timeout_seconds: float = DEFAULT_DOWNLOAD_TIMEOUT_SECONDS
    allowed_result_topic_arns: tuple[str, ...] = ()
    rules_bucket: str = ""  # empty: no watch, the bundled ruleset only
    rules_key: str = DEFAULT_RULES_KEY
    rules_check_seconds: int = DEFAULT_RULES_CHECK_SECONDS

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ScannerSettings:
        e = os.environ if environ is None else environ
        severity = e.get(env.MIN_SEVERITY, "low")
        try:
            min_severity = Severity(severity)
        except ValueError:
            raise SettingsError(
                f"{env.MIN_SEVERITY}={severity!r}: expected low, medium, high or critical"
            ) from None
        base = cls(
            ruleset_path=Path(e[env.RULESET_PATH]) if e.get(env.RULESET_PATH) else None,
            hashes_path=Path(e[env.HASHES_PATH]) if e.get(env.HASHES_PATH) else None,
            max_object_bytes=_int(
                env.MAX_OBJECT_BYTES, e.get(env.MAX_OBJECT_BYTES, str(DEFAULT_MAX_OBJECT_BYTES))
            ),
            scanner_id=e.get(env.SCANNER_ID, "") or e.get("AWS_LAMBDA_FUNCTION_NAME", "") or cls.scanner_id,
            engine=e.get(env.ENGINE, "auto"),
            min_severity=min_severity,
            tmp_dir=Path(e[env.TMP_DIR]) if e.get(env.TMP_DIR) else None,
            download_origins=_csv(e.get(env.DOWNLOAD_ORIGINS, "")),
            download_timeout_seconds=_float(
                env.DOWNLOAD_TIMEOUT_SECONDS,
                e.get(env.DOWNLOAD_TIMEOUT_SECONDS, str(DEFAULT_DOWNLOAD_TIMEOUT_SECONDS)),
            ),
            allowed_result_topic_arns=_csv(e.get(env.ALLOWED_RESULT_TOPIC_ARNS, "")),
            rules_bucket=e.get(env.RULES_BUCKET, ""),
            rules_key=e.get(env.RULES_KEY, "") or DEFAULT_RULES_KEY,
            rules_check_seconds=_int(
                env.RULES_CHECK_SECONDS, e.get(env.RULES_CHECK_SECONDS, str(DEFAULT_RULES_CHECK_SECONDS))
            ),
        )
        settings: ScannerSettings = _apply_overrides(base, overrides)
        if settings.engine not in ("auto", "yara", "yara-x"):
            raise SettingsError(f"{env.ENGINE}={settings.engine!r}: expected auto, yara or yara-x")
        return settings


@dataclass(frozen=True)
class PostScanSettings:
    actions: frozenset[str] = frozenset({"tag", "quarantine", "notify"})
    quarantine_bucket: str = ""
    quarantine_verdicts: frozenset[Verdict] = frozenset({Verdict.MALICIOUS})
    promote_bucket: str = ""
    promote_delete_source: bool = False
    alert_topic_arn: str = ""
    notify_verdicts: frozenset[Verdict] = field(
        default_factory=lambda: frozenset({Verdict.MALICIOUS, Verdict.UNSCANNABLE, Verdict.ERROR})
    )
    webhook_secret_arn: str = ""
    # Without a seal key no platform tag is trusted: every result is applied again (the backlog CLI).
    seal_key_id: str = ""

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> PostScanSettings:
        e = os.environ if environ is None else environ
        defaults = cls()
        actions = frozenset(_csv(e[env.ACTIONS])) if env.ACTIONS in e else defaults.actions
        base = cls(
            actions=actions,
            quarantine_bucket=e.get(env.QUARANTINE_BUCKET, ""),
            quarantine_verdicts=_verdicts(env.QUARANTINE_VERDICTS, e[env.QUARANTINE_VERDICTS])
            if env.QUARANTINE_VERDICTS in e
            else defaults.quarantine_verdicts,
            promote_bucket=e.get(env.PROMOTE_BUCKET, ""),
            promote_delete_source=_bool(env.PROMOTE_DELETE_SOURCE, e.get(env.PROMOTE_DELETE_SOURCE, "false")),
            alert_topic_arn=e.get(env.ALERT_TOPIC_ARN, ""),
            notify_verdicts=_verdicts(env.NOTIFY_VERDICTS, e[env.NOTIFY_VERDICTS])
            if env.NOTIFY_VERDICTS in e
            else defaults.notify_verdicts,
            webhook_secret_arn=e.get(env.WEBHOOK_SECRET_ARN, ""),
            seal_key_id=e.get(env.SEAL_KEY_ID, ""),
        )
        settings: PostScanSettings = _apply_overrides(base, overrides)
        unknown = settings.actions - ACTION_NAMES
        if unknown:
            raise SettingsError(
                f"{env.ACTIONS}: unknown action(s) {', '.join(sorted(unknown))}; "
                f"expected a subset of {', '.join(sorted(ACTION_NAMES))}"
            )
        if "quarantine" in settings.actions and not settings.quarantine_bucket:
            raise SettingsError(f"action quarantine needs {env.QUARANTINE_BUCKET}")
        if "promote" in settings.actions and not settings.promote_bucket:
            raise SettingsError(f"action promote needs {env.PROMOTE_BUCKET}")
        if Verdict.CLEAN in settings.quarantine_verdicts:
            raise SettingsError(f"{env.QUARANTINE_VERDICTS}: clean objects are never quarantined")
        return settings
