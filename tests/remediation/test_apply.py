"""What is never touched (the opt-out tag, policy-config exemptions), fixes that fail (AccessDenied, the
resource gone, a change that would not be safe), undo refusing a resource that changed again, the flapping
guard, and the IAM actions each fixer declares against the calls it makes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from bucketguard.audit.run import required_actions
from bucketguard.audit.settings import settings_from
from bucketguard.policy.pack_config import parse_policy_config
from bucketguard.remediation import (
    FIXERS,
    UndoFile,
    apply,
    held_back,
    is_flapping,
    plan_fixes,
    read_undo_file,
    remediation_actions,
    remediation_statements,
    undo,
)
from bucketguard.remediation.actions import fixer_actions
from bucketguard.remediation.apply import change, still_failing
from bucketguard.remediation.fixers import FIXERS_BY_NAME
from bucketguard.sandbox.aws import EmbeddedAws
from tests.audit.conftest import iam_enforced, role_session
from tests.audit.test_services import MOTO_ACTION_NAMES
from tests.remediation.conftest import (
    ACCOUNT,
    SCENARIOS,
    acls_enabled,
    client,
    clients,
    findings,
    public_access_block_off,
    public_acl,
    public_permission,
    public_queue,
)

BPA = "s3_bucket_public_access_block_enabled"
# moto names the writes of S3 sub-resources it has no entry for (ownership controls, encryption, the
# bucket's public access block) as s3:CreateBucket.
MOTO_WRITE_NAMES = ["s3:CreateBucket"]


def _finding(aws: EmbeddedAws, rule_id: str, arn: str, services: tuple[str, ...] = ("s3",)):  # type: ignore[no-untyped-def]
    [found] = [f for f in findings(aws, services) if (f.rule_id, f.arn) == (rule_id, arn)]
    return found


def test_the_opt_out_tag_holds_a_resource_back(aws: EmbeddedAws) -> None:
    arn = public_access_block_off(aws)
    client(aws, "s3").put_bucket_tagging(
        Bucket="bpa-off", Tagging={"TagSet": [{"Key": "bucketguard:remediate", "Value": "False"}]}
    )
    found = _finding(aws, BPA, arn)

    assert plan_fixes([found], {BPA}) == []
    assert [reason for _, reason in held_back([found], {BPA}, settings_from({}))] == [
        "tagged bucketguard:remediate=false"
    ]


def test_the_opt_out_tag_on_a_function_holds_its_permissions_back(aws: EmbeddedAws) -> None:
    arn = public_permission(aws)
    function = arn.split("#")[0]
    client(aws, "lambda").tag_resource(Resource=function, Tags={"bucketguard:remediate": "false"})
    found = _finding(aws, "lambda_permission_public_access_prohibited", arn, ("lambda",))

    assert plan_fixes([found], {"lambda_permission_public_access_prohibited"}) == []


def test_a_policy_config_exemption_holds_a_resource_back(aws: EmbeddedAws) -> None:
    arn = public_access_block_off(aws)
    exemption = {"resource": "bpa-off", "reason": "the camp's public mirror"}
    settings = settings_from(parse_policy_config({BPA: {"exemptions": [exemption]}}))
    found = _finding(aws, BPA, arn)

    assert plan_fixes([found], {BPA}, settings) == []
    assert [r for _, r in held_back([found], {BPA}, settings)] == ["exempted: the camp's public mirror"]


def test_rules_not_enabled_are_not_fixed(aws: EmbeddedAws) -> None:
    found = _finding(aws, BPA, public_access_block_off(aws))

    assert plan_fixes([found], set()) == []
    assert plan_fixes([found], {"s3_bucket_versioning_enabled"}) == []


def test_access_denied_is_a_failed_remediation_and_nothing_changes(aws: EmbeddedAws, tmp_path: Path) -> None:
    found = _finding(aws, BPA, public_access_block_off(aws))
    [fix] = plan_fixes([found], {BPA})
    reads = [*required_actions(), *MOTO_ACTION_NAMES]
    reader = role_session(aws, "reader", [{"Effect": "Allow", "Action": reads, "Resource": "*"}])
    undo_file = UndoFile(tmp_path / "undo.json")

    with iam_enforced(aws):
        result = apply(fix, clients(aws, reader), undo_file)

    assert result.status == "remediation_failed"
    assert result.reason.startswith("AccessDenied on PutPublicAccessBlock")
    assert still_failing(fix, clients(aws)) is not None
    [entry] = read_undo_file(undo_file.path)  # recorded before the change was tried
    assert not entry.applied
    assert [r.status for r in undo([entry], lambda account: clients(aws))] == ["unchanged"]


def test_a_resource_gone_before_the_fix_is_a_failed_remediation(aws: EmbeddedAws, tmp_path: Path) -> None:
    found = _finding(aws, BPA, public_access_block_off(aws))
    [fix] = plan_fixes([found], {BPA})
    client(aws, "s3").delete_bucket(Bucket="bpa-off")

    result = apply(fix, clients(aws), UndoFile(tmp_path / "undo.json"))

    assert (result.status, result.reason) == (
        "remediation_failed",
        "the resource no longer exists (NoSuchBucket)",
    )


def test_disabling_acls_that_grant_someone_else_is_refused(aws: EmbeddedAws, tmp_path: Path) -> None:
    arn = acls_enabled(aws)
    s3 = client(aws, "s3")
    acl = s3.get_bucket_acl(Bucket="acls-on")
    delivery = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}
    grants = [*acl["Grants"], {"Grantee": delivery, "Permission": "WRITE"}]
    s3.put_bucket_acl(Bucket="acls-on", AccessControlPolicy={"Owner": acl["Owner"], "Grants": grants})
    [fix] = plan_fixes([_finding(aws, "s3_bucket_acls_disabled", arn)], {"s3_bucket_acls_disabled"})

    result = apply(fix, clients(aws), UndoFile(tmp_path / "undo.json"))

    assert result.status == "remediation_failed"
    assert result.reason == (
        "the ACL grants WRITE to http://acs.amazonaws.com/groups/s3/LogDelivery: "
        "disabling ACLs would revoke it"
    )
    assert s3.get_bucket_ownership_controls(Bucket="acls-on")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "ObjectWriter"}
    ]


def test_undo_refuses_a_resource_changed_again_since(aws: EmbeddedAws, tmp_path: Path) -> None:
    arn = public_acl(aws)
    public_access_block_off(aws)
    s3 = client(aws, "s3")
    wanted = {(BPA, "arn:aws:s3:::bpa-off"), ("s3_bucket_public_read_prohibited", arn)}
    found = [f for f in findings(aws, ("s3",)) if (f.rule_id, f.arn) in wanted]
    undo_file = UndoFile(tmp_path / "undo.json")
    for fix in plan_fixes(found, {BPA, "s3_bucket_public_read_prohibited"}):
        assert apply(fix, clients(aws), undo_file).status == "remediated"
    s3.put_bucket_acl(Bucket="acl-public", ACL="authenticated-read")  # someone changed it again

    results = undo(read_undo_file(undo_file.path), lambda account: clients(aws))

    assert len(results) == 2
    by_arn = {r.entry.arn: (r.status, r.reason) for r in results}
    assert by_arn[arn] == ("refused", "it changed again since the fix: not overwritten")
    assert by_arn["arn:aws:s3:::bpa-off"] == ("restored", "")
    grants = s3.get_bucket_acl(Bucket="acl-public")["Grants"]
    assert any("AuthenticatedUsers" in g["Grantee"].get("URI", "") for g in grants)


def test_undo_without_credentials_for_the_account_refuses(aws: EmbeddedAws, tmp_path: Path) -> None:
    [fix] = plan_fixes([_finding(aws, BPA, public_access_block_off(aws))], {BPA})
    undo_file = UndoFile(tmp_path / "undo.json")
    apply(fix, clients(aws), undo_file)

    [result] = undo(read_undo_file(undo_file.path), lambda account: None)

    assert (result.status, result.reason) == ("refused", f"no credentials for account {ACCOUNT}")


def test_versioning_never_enabled_is_undone_to_suspended(aws: EmbeddedAws, tmp_path: Path) -> None:
    client(aws, "s3").create_bucket(Bucket="never-versioned")
    rule = "s3_bucket_versioning_enabled"
    [fix] = plan_fixes([_finding(aws, rule, "arn:aws:s3:::never-versioned")], {rule})
    undo_file = UndoFile(tmp_path / "undo.json")
    assert apply(fix, clients(aws), undo_file).status == "remediated"

    [result] = undo(read_undo_file(undo_file.path), lambda account: clients(aws))

    assert (result.status, result.reason) == ("restored", 'the closest state AWS allows: "Suspended"')


@pytest.mark.parametrize(
    ("minutes_ago", "flapping"),
    [((5, 20, 50), True), ((5, 20), False), ((5, 20, 61), False), ((1, 2, 3, 4), True), ((), False)],
)
def test_flapping_guard(minutes_ago: tuple[int, ...], flapping: bool) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert is_flapping([now - timedelta(minutes=m) for m in minutes_ago], now) is flapping


def test_flapping_guard_limit_and_window() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    reverts = [now - timedelta(minutes=m) for m in (1, 90)]
    assert is_flapping(reverts, now, limit=2, window=timedelta(hours=2))
    assert not is_flapping(reverts, now, limit=2)


def test_declared_actions_are_the_calls_the_fixers_make(aws: EmbeddedAws, tmp_path: Path) -> None:
    """Every scenario fixed in one account: each fixer calls exactly the operations it declares (over the
    scenarios); then, undone, the same fixes under a role holding only the audit's reads and the fixers'
    declared actions on their resources, with IAM enforced, all succeed."""
    arns = {s.name: s.make(aws) for s in SCENARIOS}
    services = tuple(sorted({service for s in SCENARIOS for service in s.services}))
    wanted = {(s.rule_id, arns[s.name]) for s in SCENARIOS}
    fixes = plan_fixes([f for f in findings(aws, services) if (f.rule_id, f.arn) in wanted], set(FIXERS))
    assert len(fixes) == len(SCENARIOS)
    called: dict[str, set[tuple[str, str]]] = defaultdict(set)
    undo_file = UndoFile(tmp_path / "undo.json")
    for fix in fixes:
        for fixer in fix.fixers:
            factory = clients(aws)
            factory.recording = True
            change(replace(fix, fixers=(fixer,)), factory, undo_file)
            called[fixer.name] |= factory.recorded
    for name, fixer in FIXERS_BY_NAME.items():
        declared = {(fixer.service, c.operation) for c in fixer.calls}
        assert called[name] == declared, name

    # the same misconfigurations again (undo), fixed by a role with exactly the declared actions
    restored = undo(read_undo_file(undo_file.path), lambda account: clients(aws))
    assert {r.status for r in restored} == {"restored"}
    statements = remediation_statements(FIXERS, ACCOUNT)
    assert sorted({a for s in statements for a in s["Action"]}) == remediation_actions(FIXERS)
    for fix in fixes:  # each write is granted on the resource it changes (IAM wildcards: fnmatch's *)
        for fixer in fix.fixers:
            writes = [
                s
                for s in statements
                if set(s["Action"]) & set(fixer_actions(fixer)) and s["Resource"] != ["*"]
            ]
            arn = fix.finding.arn.split("#")[0]
            assert all(any(fnmatchcase(arn, r) for r in s["Resource"]) for s in writes), (fixer.name, arn)
    reads = [*required_actions(), *MOTO_ACTION_NAMES, *MOTO_WRITE_NAMES]
    fixer_role = role_session(
        aws,
        "fixer",
        # moto judges actions, not resources: the statements' resources are checked against the ARNs below
        [
            {"Effect": "Allow", "Action": reads, "Resource": "*"},
            *({**s, "Resource": "*"} for s in statements),
        ],
    )
    # Not Lambda: under IAM enforcement moto rejects every Lambda request's signature.
    enforced = [fix for fix in fixes if not fix.finding.rule_id.startswith("lambda_")]
    with iam_enforced(aws):
        results = [
            apply(fix, clients(aws, fixer_role), UndoFile(tmp_path / "again.json")) for fix in enforced
        ]
    assert [(r.fix.finding.arn, r.reason) for r in results if r.status != "remediated"] == []


def test_a_policy_that_is_no_policy_is_a_failed_remediation(aws: EmbeddedAws, tmp_path: Path) -> None:
    arn = public_queue(aws)
    [found] = [f for f in findings(aws, ("sqs",)) if f.arn == arn]
    [fix] = plan_fixes([found], {found.rule_id})
    url = client(aws, "sqs").get_queue_url(QueueName="open-queue")["QueueUrl"]
    client(aws, "sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": '{"Statement": [7]}'})

    result = apply(fix, clients(aws), UndoFile(tmp_path / "undo.json"))

    assert result.status == "remediation_failed"
    assert result.reason.startswith("unreadable state: ")
