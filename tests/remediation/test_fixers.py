"""Each fixer against moto's server: a real misconfiguration is found by the audit, fixed, verified by a
new audit, and undo puts back exactly the state it had."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketguard.remediation import apply, plan_fixes, read_undo_file, undo
from bucketguard.remediation.fixers import FIXERS
from bucketguard.sandbox.aws import EmbeddedAws
from tests.remediation.conftest import SCENARIOS, Scenario, clients, failing, findings


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fix_then_undo(aws: EmbeddedAws, tmp_path: Path, scenario: Scenario) -> None:
    arn = scenario.make(aws)
    found = [f for f in findings(aws, scenario.services) if (f.rule_id, f.arn) == (scenario.rule_id, arn)]
    [fix] = plan_fixes(found, {scenario.rule_id})
    factory = clients(aws)
    target = fix.target
    before = [f.read(factory.client(f.service, target.region), target) for f in fix.fixers]

    result = apply(fix, factory, undo_log := _undo_file(tmp_path))

    assert (result.status, result.reason) == ("remediated", "")
    assert (scenario.rule_id, arn) not in failing(aws, scenario.services)
    entries = read_undo_file(undo_log.path)
    assert entries and all(e.applied for e in entries)

    restored = undo(entries, lambda account: factory)

    assert [(r.status, r.reason) for r in restored] == [("restored", "")] * len(entries)
    assert [f.read(factory.client(f.service, target.region), target) for f in fix.fixers] == before
    assert (scenario.rule_id, arn) in failing(aws, scenario.services)


def _undo_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    from bucketguard.remediation import UndoFile

    return UndoFile(tmp_path / "undo.json")


def test_every_fixable_rule_has_a_scenario() -> None:
    assert {s.rule_id for s in SCENARIOS} == set(FIXERS)


def test_bucket_fixes_are_granted_on_the_accounts_own_buckets_only() -> None:
    from bucketguard.remediation import remediation_statements

    rules = ["s3_bucket_public_read_prohibited", "ec2_security_group_rdp_restricted"]
    for statement in remediation_statements(rules, "222222222222"):
        s3 = any(a.startswith("s3:") for a in statement["Action"])
        # bucket ARNs name no account: the condition does
        expected = {"StringEquals": {"aws:ResourceAccount": "222222222222"}} if s3 else None
        assert statement.get("Condition") == expected, statement
    assert all("Condition" not in s for s in remediation_statements(rules))  # any account: no condition
