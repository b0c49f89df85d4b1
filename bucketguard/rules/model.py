"""The rule model's public names in one module: declarations (bucketguard.rules.rule) and the registry
(bucketguard.rules.registry). Catalogue modules import bucketguard.rules.rule, never this module."""

from bucketguard.rules.registry import (
    all_rules,
    evaluate_stack,
    get_rule,
    index_rules,
    iter_rules_by_service,
    rules_for,
)
from bucketguard.rules.rule import (
    CIS_VERSION,
    REFERENCE_CATALOGUES,
    RULE_ID,
    Check,
    Finding,
    References,
    Remediation,
    Rule,
    RulesConfig,
    Severity,
    Undecided,
    Violation,
    rule,
)

__all__ = [
    "CIS_VERSION",
    "REFERENCE_CATALOGUES",
    "RULE_ID",
    "Check",
    "Finding",
    "References",
    "Remediation",
    "Rule",
    "RulesConfig",
    "Severity",
    "Undecided",
    "Violation",
    "all_rules",
    "evaluate_stack",
    "get_rule",
    "index_rules",
    "iter_rules_by_service",
    "rule",
    "rules_for",
]
