"""Policy pack configuration: the declared schema of every policy's properties, and the file the CLI reads.

File format (the CLI's `--policy-pack-config`): `{"all": "<level>", "<policy>": "<level>" |
{"enforcementLevel": ..., <properties>}}`. Each policy accepts only the properties it declares (its
rule's `config_keys`, plus `exemptions`), validated by the pydantic models below: the pack validates what
the engine hands it, and `policy check` refuses a bad file before the pack starts. `"all"` takes an
enforcement level only. Order, as the engine reconciles: each policy's own level and defaults, the pack's
initial config, then the file ("all" first, then per policy).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, create_model, model_validator

from bucketguard.rules.model import RulesConfig
from bucketguard.validation import ConfigError, Invalid, StrictModel, did_you_mean, validate

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
Level = Literal["advisory", "mandatory", "remediate", "disabled"]
_LEVEL: TypeAdapter[Level] = TypeAdapter(Level)


class PolicyConfigError(ConfigError):
    """The policy configuration is unreadable or does not match the pack's declared schema."""


class ExemptedTag(StrictModel):
    key: str = Field(min_length=1)
    value: str | None = None  # None: any value


class Exemption(StrictModel):
    """A resource (Pulumi name or URN) or a tag the rule does not apply to, and why (shown in the output)."""

    resource: str | None = Field(None, min_length=1)
    tag: ExemptedTag | None = None
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _names_something(self) -> Exemption:
        if self.resource is None and self.tag is None:
            raise Invalid("resource", "is required (or tag): an exemption names what it exempts")
        return self

    def covers(self, names: Iterable[str | None], tags: Mapping[str, str]) -> bool:
        """Whether it exempts a resource known by ``names`` (name, URN or ARN) and carrying ``tags``."""
        if self.resource is not None and self.resource in names:
            return True
        tag = self.tag
        return tag is not None and tag.key in tags and (tag.value is None or tags[tag.key] == tag.value)


class PolicySettings(RulesConfig):
    """Every property a bucketguard policy may declare; each policy accepts only the ones it declares."""

    exemptions: tuple[Exemption, ...] = ()


@functools.cache
def settings_model(properties: frozenset[str]) -> type[StrictModel]:
    """The model of one policy's properties: the declared subset of PolicySettings (wire names)."""
    unknown = properties - {f.alias or n for n, f in PolicySettings.model_fields.items()}
    if unknown:
        raise ValueError(f"no declared schema for policy properties {', '.join(sorted(unknown))}")
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in PolicySettings.model_fields.items()
        if (info.alias or name) in properties
    }
    model: type[StrictModel] = create_model("PolicyProperties", __base__=StrictModel, **fields)
    return model


def properties_schema(properties: Iterable[str]) -> dict[str, dict[str, Any]]:
    """JSON Schema of each declared property, self-contained, for the pack's PolicyConfigSchema."""
    schema = settings_model(frozenset(properties)).model_json_schema(by_alias=True)
    definitions = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {name: inline(value) for name, value in schema["properties"].items()}


def validate_properties(policy: str, declared: Iterable[str], values: Mapping[str, Any], source: str) -> Any:
    """One policy's properties against its declared schema; a one-line error naming source, policy, key."""
    return validate(settings_model(frozenset(declared)), dict(values), f"{source}: {policy}.")


@dataclass
class PolicyConfig:
    enforcement_level: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    source: str = "policy config"


@dataclass(frozen=True)
class PolicySchema:
    name: str
    enforcement_level: str
    properties: Mapping[str, Any]
    required: tuple[str, ...] = ()


def _level(value: Any, where: str) -> str:
    try:
        return _LEVEL.validate_python(value)
    except ValidationError:
        raise PolicyConfigError(
            f"{where}: {value!r} is not an enforcement level ({', '.join(ENFORCEMENT_LEVELS)})"
        ) from None


def parse_policy_config(raw: Any, source: str = "policy config") -> dict[str, PolicyConfig]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PolicyConfigError(f"{source}: must be a JSON object mapping policy names to settings")
    result: dict[str, PolicyConfig] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            result[name] = PolicyConfig(_level(value, f"{source}: {name}"), source=source)
        elif isinstance(value, dict):
            props = dict(value)
            level = props.pop("enforcementLevel", None)
            level = None if level is None else _level(level, f"{source}: {name}.enforcementLevel")
            if name == "all" and props:
                key = sorted(props)[0]
                raise PolicyConfigError(
                    f'{source}: all.{key}: "all" takes only enforcementLevel; set {key} on the policies '
                    "that declare it"
                )
            result[name] = PolicyConfig(level, props, source)
        else:
            raise PolicyConfigError(f"{source}: {name}: must be an enforcement level or an object")
    return result


def load_policy_config(path: Path) -> dict[str, PolicyConfig]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyConfigError(f"{path}: cannot read the policy config: {exc.strerror}") from None
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    return parse_policy_config(raw, str(path))


def _apply(result: dict[str, PolicyConfig], given: Mapping[str, PolicyConfig]) -> None:
    everything = given.get("all")
    if everything is not None and everything.enforcement_level:
        for config in result.values():
            config.enforcement_level = everything.enforcement_level
    for name, config in given.items():
        if name == "all":
            continue
        target = result.setdefault(name, PolicyConfig(source=config.source))
        if config.enforcement_level:
            target.enforcement_level = config.enforcement_level
        target.properties.update(config.properties)
        target.source = config.source


def reconcile(
    policies: list[PolicySchema],
    initial: Mapping[str, PolicyConfig],
    given: Mapping[str, PolicyConfig],
) -> dict[str, PolicyConfig]:
    known = {p.name for p in policies}
    for name, config in given.items():
        # The engine ignores unknown names silently; a typo would disable an exemption or a level unnoticed.
        if name != "all" and name not in known:
            raise PolicyConfigError(f"{config.source}: {name}: unknown policy{did_you_mean(name, known)}")
    result = {
        p.name: PolicyConfig(
            p.enforcement_level,
            {k: v["default"] for k, v in p.properties.items() if isinstance(v, dict) and "default" in v},
        )
        for p in policies
    }
    _apply(result, initial)
    _apply(result, given)
    for policy in policies:
        config = result[policy.name]
        try:
            validate_properties(policy.name, policy.properties, config.properties, config.source)
        except ConfigError as exc:
            raise PolicyConfigError(str(exc)) from None
    return result
