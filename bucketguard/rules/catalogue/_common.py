"""Rule shapes shared by several services: written once, stated per service by what differs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bucketguard.rules import policy_analysis as pa


def public_policy_findings(policy: Any, policy_label: str) -> Iterator[str]:
    """A resource policy must not Allow Principal ``*`` without a restricting condition: one message each."""
    for statement in pa.public_allow_statements(policy):
        yield (
            f"{policy_label}: {pa.describe(statement)} allows Principal * with no condition restricting "
            "the account, organisation, VPC endpoint or source"
        )


RESTRICT_NOTE = (
    "A statement with Principal * (or NotPrincipal) is not public when a condition compares one of "
    "aws:SourceAccount, aws:SourceArn, aws:SourceOwner, aws:SourceOrgID, aws:PrincipalAccount, "
    "aws:PrincipalArn, aws:PrincipalOrgID, aws:SourceVpce, aws:SourceVpc, aws:SourceIp (not 0.0.0.0/0), "
    "kms:CallerAccount... with a fixed value: no Not operator, no IfExists, no ForAllValues (true when "
    "the key is absent), no wildcard (save aws:userid ROLEID:* and org paths under a fixed org id)."
)
