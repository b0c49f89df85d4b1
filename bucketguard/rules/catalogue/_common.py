"""Rule shapes shared by several services: written once, stated per service by what differs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bucketguard.rules import policy_analysis as pa
from bucketguard.rules.model import RulesConfig, Severity, rule


def public_policy_rule(
    rule_id: str, facts_type: type[Any], severity: Severity, *, policy_label: str, **metadata: Any
) -> None:
    """A resource policy (``facts.policy``) must not Allow Principal ``*`` without a restricting condition."""

    def check(facts: Any, config: RulesConfig) -> Iterator[str]:
        for statement in pa.public_allow_statements(facts.policy):
            yield (
                f"{policy_label}: {pa.describe(statement)} allows Principal * with no condition restricting "
                "the account, organisation, VPC endpoint or source"
            )

    check.__name__ = rule_id
    rule(rule_id, facts_type, severity, **metadata)(check)


RESTRICT_NOTE = (
    "A statement with Principal * (or NotPrincipal) is not public when a condition compares one of "
    "aws:SourceAccount, aws:SourceArn, aws:SourceOwner, aws:SourceOrgID, aws:PrincipalAccount, "
    "aws:PrincipalArn, aws:PrincipalOrgID, aws:SourceVpce, aws:SourceVpc, aws:SourceIp (not 0.0.0.0/0), "
    "kms:CallerAccount... with a fixed value: no Not operator, no IfExists, no ForAllValues (true when "
    "the key is absent), no wildcard (save aws:userid ROLEID:* and org paths under a fixed org id)."
)
