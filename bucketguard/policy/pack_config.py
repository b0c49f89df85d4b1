"""Policy pack configuration, reconciled the way the Pulumi engine does it for `--policy-pack-config`.

File format (the CLI's): `{"all": "<level>", "<policy>": "<level>" | {"enforcementLevel": ..., <props>}}`.
Order: each policy's own level and schema defaults, then the pack's initial config, then the file ("all"
first, then per policy); the result is validated against each policy's JSON schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")


class PolicyConfigError(ValueError):
    """The policy configuration is unreadable or does not match the pack's schema."""


@dataclass
class PolicyConfig:
    enforcement_level: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicySchema:
    name: str
    enforcement_level: str
    properties: Mapping[str, Any]
    required: tuple[str, ...] = ()


def _level(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in ENFORCEMENT_LEVELS:
        raise PolicyConfigError(
            f"{where}: {value!r} is not a valid enforcement level ({', '.join(ENFORCEMENT_LEVELS)})"
        )
    return value


def parse_policy_config(raw: Any, source: str = "policy config") -> dict[str, PolicyConfig]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PolicyConfigError(f"{source}: must be a JSON object mapping policy names to settings")
    result: dict[str, PolicyConfig] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            result[name] = PolicyConfig(_level(value, f"{source}: {name}"))
        elif isinstance(value, dict):
            props = dict(value)
            level = (
                _level(props.pop("enforcementLevel"), f"{source}: {name}")
                if "enforcementLevel" in props
                else None
            )
            result[name] = PolicyConfig(level, props)
        else:
            raise PolicyConfigError(f"{source}: {name}: must be an enforcement level or an object")
    return result


def load_policy_config(path: Path) -> dict[str, PolicyConfig]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyConfigError(f"cannot read policy config {path}: {exc.strerror}") from exc
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    return parse_policy_config(raw, str(path))


def _apply(result: dict[str, PolicyConfig], given: Mapping[str, PolicyConfig]) -> None:
    everything = given.get("all")
    if everything is not None and everything.enforcement_level:
        for config in result.values():
            config.enforcement_level = everything.enforcement_level
    for name, config in given.items():
        if name == "all":
            continue
        target = result.setdefault(name, PolicyConfig())
        if config.enforcement_level:
            target.enforcement_level = config.enforcement_level
        target.properties.update(config.properties)


def reconcile(
    policies: list[PolicySchema],
    initial: Mapping[str, PolicyConfig],
    given: Mapping[str, PolicyConfig],
) -> dict[str, PolicyConfig]:
    known = {p.name for p in policies} | {"all"}
    unknown = sorted(set(given) - known)
    if unknown:
        # The engine ignores these silently; a typo would disable an exemption or a level without notice.
        raise PolicyConfigError(f"policy config names unknown policies: {', '.join(unknown)}")
    result = {
        p.name: PolicyConfig(
            p.enforcement_level,
            {k: v["default"] for k, v in p.properties.items() if isinstance(v, dict) and "default" in v},
        )
        for p in policies
    }
    _apply(result, initial)
    _apply(result, given)
    errors: list[str] = []
    for policy in policies:
        schema: dict[str, Any] = {"type": "object", "properties": dict(policy.properties)}
        if policy.required:
            schema["required"] = list(policy.required)
        validator = jsonschema.Draft7Validator(schema)
        for error in sorted(
            validator.iter_errors(result[policy.name].properties), key=lambda e: list(e.path)
        ):
            where = ".".join(str(p) for p in error.absolute_path) or "(root)"
            errors.append(f"{policy.name}: {where}: {error.message}")
    if errors:
        raise PolicyConfigError("invalid policy config: " + "; ".join(errors))
    return result
