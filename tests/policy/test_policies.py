"""What the pack declares to the engine: one policy per rule with its default enforcement level."""

from __future__ import annotations

from bucketguard_pack.policies import build_policies
from pulumi_policy import EnforcementLevel, StackValidationPolicy

from bucketguard.rules import all_rules


def test_defaults_are_mandatory_for_critical_and_high_advisory_for_the_rest() -> None:
    policies = {p.name: p for p in build_policies()}
    for rule in all_rules():
        expected = (
            EnforcementLevel.MANDATORY
            if rule.severity.value in ("critical", "high")
            else EnforcementLevel.ADVISORY
        )
        assert isinstance(policies[rule.rule_id], StackValidationPolicy)
        assert policies[rule.rule_id].enforcement_level == expected, rule.rule_id


def test_remediations_are_off_unless_the_config_asks_for_them() -> None:
    rule_ids = {r.rule_id for r in all_rules()}
    remediations = [p for p in build_policies() if p.name not in rule_ids]
    assert remediations
    assert all(p.enforcement_level == EnforcementLevel.DISABLED for p in remediations)
