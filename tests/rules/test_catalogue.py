"""Every rule against its passing and failing facts, compared as sets (the Checkov way)."""

from __future__ import annotations

from typing import Any

import pytest

from bucketguard.rules import all_rules, get_rule
from bucketguard.rules.model import Rule, RulesConfig
from tests.rules.cases import CASES


def _run(rule: Rule[Any], case: Any) -> bool:
    """True when the case passes the rule (no finding)."""
    facts, config = case if isinstance(case, tuple) else (case, RulesConfig())
    findings = rule.evaluate(facts, config)
    for finding in findings:
        assert finding.rule_id == rule.rule_id and finding.message  # every finding says what is wrong
    return not findings


def test_every_rule_has_passing_and_failing_cases() -> None:
    ids = {r.rule_id for r in all_rules()}
    assert ids == set(CASES)
    for rule_id, (passing, failing) in CASES.items():
        assert passing and failing, rule_id
        assert all(name.startswith("pass_") for name in passing), rule_id
        assert all(name.startswith("fail_") for name in failing), rule_id


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_separates_passing_from_failing(rule_id: str) -> None:
    rule = get_rule(rule_id)
    passing, failing = CASES[rule_id]
    everything = {**passing, **failing}
    passed = {name for name, case in everything.items() if _run(rule, case)}
    assert passed == set(passing)
    assert set(everything) - passed == set(failing)


def test_rule_refuses_the_wrong_facts_type() -> None:
    from bucketguard.rules.facts import SqsQueueFacts

    with pytest.raises(TypeError, match="judges s3_bucket"):
        get_rule("s3_bucket_versioning_enabled").evaluate(SqsQueueFacts(name="q"))
