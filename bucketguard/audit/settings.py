"""The policy pack's config file, read for the audit: the same file judges a preview and a live account.

Per rule (or ``"all"``): ``enforcementLevel`` (advisory | mandatory | remediate | disabled; default mandatory
for critical and high rules, advisory for the rest), ``exemptions`` (a resource name or ARN, or a tag, each
with a required reason), and the rule settings ``allowedRegions``, ``allowedAccountIds``, ``requireKms``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketguard.policy.pack_config import PolicyConfig, PolicyConfigError, load_policy_config
from bucketguard.rules.model import Rule, RulesConfig, all_rules

RULE_SETTINGS = {
    "allowedRegions": "allowed_regions",
    "allowedAccountIds": "allowed_account_ids",
    "requireKms": "require_kms",
}
MANDATORY_LEVELS = frozenset({"mandatory", "remediate"})


@dataclass(frozen=True)
class Exemption:
    reason: str
    resource: str | None = None  # a resource name or ARN
    tag: tuple[str, str | None] | None = None  # (key, value); value None = any value

    def covers(self, name: str, arn: str, tags: Mapping[str, str]) -> bool:
        if self.resource is not None:
            return self.resource in (name, arn)
        if self.tag is not None:
            key, value = self.tag
            return key in tags and (value is None or tags[key] == value)
        return False


@dataclass(frozen=True)
class RuleSettings:
    enforcement: str
    config: RulesConfig = field(default_factory=RulesConfig)
    exemptions: tuple[Exemption, ...] = ()


@dataclass(frozen=True)
class AuditSettings:
    rules: Mapping[str, RuleSettings] = field(default_factory=dict)

    def for_rule(self, rule_id: str) -> RuleSettings:
        return self.rules[rule_id]

    @property
    def judged(self) -> dict[str, RulesConfig]:
        """The rules to run (not disabled), each with its own settings."""
        return {r: s.config for r, s in self.rules.items() if s.enforcement != "disabled"}


def default_enforcement(rule: Rule[Any]) -> str:
    return "mandatory" if rule.severity.value in ("critical", "high") else "advisory"


def _exemptions(raw: Any, where: str) -> tuple[Exemption, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise PolicyConfigError(f"{where}: exemptions must be a list")
    result = []
    for index, entry in enumerate(raw):
        at = f"{where}: exemptions[{index}]"
        if not isinstance(entry, Mapping) or not str(entry.get("reason", "")).strip():
            raise PolicyConfigError(f"{at}: every exemption needs a reason")
        tag = entry.get("tag")
        if entry.get("resource"):
            result.append(Exemption(str(entry["reason"]), resource=str(entry["resource"])))
        elif isinstance(tag, Mapping) and tag.get("key"):
            value = tag.get("value")
            result.append(
                Exemption(str(entry["reason"]), tag=(str(tag["key"]), None if value is None else str(value)))
            )
        else:
            raise PolicyConfigError(f"{at}: name a resource or a tag {{key, value}}")
    return tuple(result)


def settings_from(given: Mapping[str, PolicyConfig], source: str = "policy config") -> AuditSettings:
    rules = {r.rule_id: r for r in all_rules()}
    unknown = sorted(set(given) - set(rules) - {"all"})
    if unknown:
        raise PolicyConfigError(f"{source}: names unknown policies: {', '.join(unknown)}")
    everything = given.get("all", PolicyConfig())
    result = {}
    for rule_id, rule in rules.items():
        own = given.get(rule_id, PolicyConfig())
        level = own.enforcement_level or everything.enforcement_level or default_enforcement(rule)
        properties = {**everything.properties, **own.properties}
        unknown_keys = sorted(set(properties) - set(RULE_SETTINGS) - {"exemptions"})
        if unknown_keys:
            raise PolicyConfigError(f"{source}: {rule_id}: unknown setting(s) {', '.join(unknown_keys)}")
        try:
            config = RulesConfig.from_mapping(
                {RULE_SETTINGS[k]: v for k, v in properties.items() if k in RULE_SETTINGS}
            )
        except ValueError as exc:
            raise PolicyConfigError(f"{source}: {rule_id}: {exc}") from exc
        result[rule_id] = RuleSettings(
            level, config, _exemptions(properties.get("exemptions"), f"{source}: {rule_id}")
        )
    return AuditSettings(result)


def load_settings(path: Path | None) -> AuditSettings:
    """Defaults when ``path`` is None; PolicyConfigError (one line naming the file) when it is invalid."""
    return settings_from(load_policy_config(path) if path is not None else {}, str(path or "defaults"))
