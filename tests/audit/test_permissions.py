"""The audit's reads and the fixers' calls are granted per AWS's Service Authorization Reference (as
policy_sentry ships it): "*" only for an action that supports no resource type, every other action on one
of its resource types in the account read, S3 buckets those the account owns."""

from __future__ import annotations

import re
from functools import cache

import pytest
from policy_sentry.querying.actions import get_action_data

from bucketguard.audit.permissions import UNSCOPED_ACTIONS, read_statements
from bucketguard.audit.run import required_actions
from bucketguard.remediation.actions import remediation_actions, remediation_statements
from bucketguard.remediation.fixers import FIXERS

ACCOUNT = "111111111111"
ALL_FIXERS = list(FIXERS)
STATEMENTS = {
    "reads": read_statements(ACCOUNT),
    "fixes": remediation_statements(ALL_FIXERS, ACCOUNT),
}
_PLACEHOLDER = re.compile(r"\\\$\\\{(\w+)\\\}")
_FILLS = {"Partition": "aws", "Account": r"\d{12}", "Region": "[^:]+"}


@cache
def resource_formats(action: str) -> tuple[str, ...]:
    """The ARN formats of the resource types `action` supports ("*" rows only list condition keys)."""
    service, name = action.split(":")
    rows = get_action_data(service, name)[service]
    assert rows, f"{action}: not in the Service Authorization Reference"
    return tuple(row["resource_arn_format"] for row in rows if row["resource_arn_format"] != "*")


def fits(resource: str, arn_format: str) -> bool:
    """Whether the granted `resource` (wildcards read as one name) is of the type `arn_format` describes."""
    pattern = _PLACEHOLDER.sub(lambda m: _FILLS.get(m[1], ".+"), re.escape(arn_format))
    return re.fullmatch(pattern, resource.replace("*", "x")) is not None


@pytest.mark.parametrize("action", sorted({*required_actions(), *remediation_actions(ALL_FIXERS)}))
def test_an_action_is_granted_on_star_exactly_when_it_supports_no_resource(action: str) -> None:
    assert (action in UNSCOPED_ACTIONS) == (not resource_formats(action)), resource_formats(action)


@pytest.mark.parametrize("kind", sorted(STATEMENTS))
def test_every_other_action_is_granted_on_its_own_resource_type_in_the_account(kind: str) -> None:
    for statement in STATEMENTS[kind]:
        if statement["Resource"] == ["*"]:
            assert set(statement["Action"]) <= UNSCOPED_ACTIONS and "Condition" not in statement
            continue
        for resource in statement["Resource"]:
            assert f":{ACCOUNT}:" in resource or (
                resource == "arn:aws:s3:::*"  # bucket ARNs name no account: the owner is the condition's
                and statement["Condition"]["StringEquals"]["aws:ResourceAccount"] == ACCOUNT
            ), statement
        # each action on a type of its own, each resource the type of one of them (iam's detach: a role's,
        # a user's and a group's, one action each)
        fitting = {
            (action, resource)
            for action in statement["Action"]
            for resource in statement["Resource"]
            if any(fits(resource, f) for f in resource_formats(action))
        }
        assert {action for action, _ in fitting} == set(statement["Action"]), statement
        assert {resource for _, resource in fitting} == set(statement["Resource"]), statement


def test_the_reads_grant_exactly_the_audits_actions() -> None:
    granted = [action for statement in STATEMENTS["reads"] for action in statement["Action"]]
    assert sorted(granted) == required_actions()
