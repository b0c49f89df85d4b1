"""Each fixer against moto's server: a real misconfiguration is found by the audit, fixed, verified by a
new audit, and undo puts back exactly the state it had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bucketguard.remediation import apply, plan_fixes, read_undo_file, undo
from bucketguard.remediation.fixers import FIXERS
from bucketguard.sandbox.aws import EmbeddedAws
from tests.remediation.conftest import SCENARIOS, Scenario, client, clients, failing, findings


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


def test_fixing_public_read_leaves_a_public_write_the_owner_did_not_ask_to_fix(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    """The camp's monitor puts back public read only: an upload drop-box open for writing (its write rule
    exempted, or left to a person) is not the read fixer's to close, in the ACL or the policy."""
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="drop-box")
    owner = s3.get_bucket_acl(Bucket="drop-box")["Owner"]
    everyone = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}
    s3.put_bucket_acl(
        Bucket="drop-box",
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
                {"Grantee": everyone, "Permission": "READ"},
                {"Grantee": everyone, "Permission": "WRITE"},
            ],
        },
    )
    upload = {
        "Sid": "Upload",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::drop-box/*",
    }
    read = {
        "Sid": "Read",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::drop-box/*",
    }
    s3.put_bucket_policy(
        Bucket="drop-box", Policy=json.dumps({"Version": "2012-10-17", "Statement": [upload, read]})
    )
    rule = "s3_bucket_public_read_prohibited"
    found = [f for f in findings(aws, ("s3",)) if (f.rule_id, f.arn) == (rule, "arn:aws:s3:::drop-box")]
    [fix] = plan_fixes(found, {rule})

    result = apply(fix, clients(aws), _undo_file(tmp_path))

    assert (result.status, result.reason) == ("remediated", "")
    grants = s3.get_bucket_acl(Bucket="drop-box")["Grants"]
    assert [g["Permission"] for g in grants if g["Grantee"].get("URI") == everyone["URI"]] == ["WRITE"]
    assert json.loads(s3.get_bucket_policy(Bucket="drop-box")["Policy"])["Statement"] == [upload]
    left = {r for r, arn in failing(aws, ("s3",)) if arn == "arn:aws:s3:::drop-box"}
    assert rule not in left and "s3_bucket_public_write_prohibited" in left
    again = [f for f in findings(aws, ("s3",)) if (f.rule_id, f.arn) == (rule, "arn:aws:s3:::drop-box")]
    assert plan_fixes(again, {rule}) == []  # nothing left to fix: a second run changes nothing
