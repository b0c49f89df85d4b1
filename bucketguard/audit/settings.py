"""The policy pack's config file, read for the audit: the same file judges a preview and a live account.

Per rule: ``enforcementLevel`` (advisory | mandatory | remediate | disabled; ``"all"`` sets every rule's;
default mandatory for critical and high rules, advisory for the rest), ``exemptions`` (a resource name or
ARN, or a tag, each with a required reason) and the settings the rule declares (``allowedRegions``...),
validated by the pack's own schema (``bucketguard.policy.pack_config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketguard.policy.pack_config import (
    Exemption,
    PolicyConfig,
    PolicyConfigError,
    load_policy_config,
    validate_properties,
)
from bucketguard.rules.model import Rule, RulesConfig, all_rules

MANDATORY_LEVELS = frozenset({"mandatory", "remediate"})


@dataclass(frozen=True)
class RuleSettings:
    enforcement: str
    config: RulesConfig = field(default_factory=RulesConfig)
    exemptions: tuple[Exemption, ...] = ()


@dataclass(frozen=True)
class AuditSettings:
    rules: Mapping[str, RuleSettings] = field(default_factory=dict)

    @property
    def judged(self) -> dict[str, RulesConfig]:
        """The rules to run (not disabled), each with its own settings."""
        return {r: s.config for r, s in self.rules.items() if s.enforcement != "disabled"}


def default_enforcement(rule: Rule[Any]) -> str:
    return "mandatory" if rule.severity.value in ("critical", "high") else "advisory"


def declared_properties(rule: Rule[Any]) -> frozenset[str]:
    """What a rule's policy accepts: the config keys its rule reads (wire names), and exemptions."""
    fields = RulesConfig.model_fields
    return frozenset({"exemptions", *(fields[key].alias or key for key in rule.config_keys)})


def settings_from(given: Mapping[str, PolicyConfig], source: str = "policy config") -> AuditSettings:
    rules = {r.rule_id: r for r in all_rules()}
    unknown = sorted(set(given) - set(rules) - {"all"})
    if unknown:
        raise PolicyConfigError(f"{source}: names unknown policies: {', '.join(unknown)}")
    everything = given.get("all", PolicyConfig()).enforcement_level
    result = {}
    for rule_id, rule in rules.items():
        own = given.get(rule_id, PolicyConfig())
        properties = validate_properties(rule_id, declared_properties(rule), own.properties, source)
        result[rule_id] = RuleSettings(
            own.enforcement_level or everything or default_enforcement(rule),
            RulesConfig.model_validate(properties.model_dump(exclude={"exemptions"})),
            tuple(properties.exemptions),
        )
    return AuditSettings(result)


def load_settings(path: Path | None) -> AuditSettings:
    """Defaults when ``path`` is None; PolicyConfigError (one line naming the file) when it is invalid."""
    return settings_from(load_policy_config(path) if path is not None else {}, str(path or "defaults"))
