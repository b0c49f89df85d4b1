"""Misconfiguration rule catalogue: pure functions over a plain facts model (no pulumi, no boto3).

Entry points: ``all_rules()``, ``get_rule(rule_id)``, ``rules_for(facts_type)``, ``evaluate_stack(stack,
config)``; the facts model is in ``bucketguard.rules.facts``.
"""

from bucketguard.rules.model import (
    Finding,
    References,
    Remediation,
    Rule,
    RulesConfig,
    Severity,
    Violation,
    all_rules,
    evaluate_stack,
    get_rule,
    rules_for,
)

__all__ = [
    "Finding",
    "References",
    "Remediation",
    "Rule",
    "RulesConfig",
    "Severity",
    "Violation",
    "all_rules",
    "evaluate_stack",
    "get_rule",
    "rules_for",
]
