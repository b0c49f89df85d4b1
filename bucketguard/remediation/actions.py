"""The IAM actions each fixer calls while fixing (its reads included), as data: the monitor's role is
granted those of the enabled fixers only, on the resources each fixer acts on. The re-check after a fix
reads with the audit's own actions (``bucketguard.audit.run.required_actions``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bucketguard.audit.run import iam_actions
from bucketguard.remediation.fixers import FIXERS, Fixer

# The resources a fixer of each service may act on ({account}: the monitored account).
RESOURCES = {
    "s3": ("arn:aws:s3:::*",),  # buckets: every fixer action is bucket-level
    "sqs": ("arn:aws:sqs:*:{account}:*",),
    "sns": ("arn:aws:sns:*:{account}:*",),
    "kms": ("arn:aws:kms:*:{account}:key/*",),
    "lambda": ("arn:aws:lambda:*:{account}:function:*",),
    "ec2": ("arn:aws:ec2:*:{account}:security-group/*",),
    "cloudtrail": ("arn:aws:cloudtrail:*:{account}:trail/*",),
    "iam": (
        "arn:aws:iam::{account}:role/*",
        "arn:aws:iam::{account}:user/*",
        "arn:aws:iam::{account}:group/*",
    ),
}
# Actions without resource-level permissions (the Service Authorization Reference lists no resource type for
# them): a policy can grant them only on "*". DescribeSecurityGroups reads, it changes nothing.
UNSCOPED_ACTIONS = frozenset({"ec2:DescribeSecurityGroups"})
# A fixer's write narrowed further than its resources: detach only AdministratorAccess.
WRITE_CONDITIONS = {
    "administrator_access_detached": {
        "ArnEquals": {"iam:PolicyARN": ["arn:aws:iam::aws:policy/AdministratorAccess"]}
    }
}
READ_PREFIXES = ("get_", "list_", "describe_")


def fixer_actions(fixer: Fixer) -> list[str]:
    return iam_actions({fixer.service: fixer.calls})


def remediation_actions(rules: Iterable[str]) -> list[str]:
    """Every action the fixers of ``rules`` call; unknown or unfixable rule ids add nothing."""
    return sorted({a for fixer in _fixers(rules) for a in fixer_actions(fixer)})


def remediation_statements(rules: Iterable[str], account: str = "*") -> list[dict[str, Any]]:
    """The IAM policy statements that let the fixers of ``rules`` run in ``account``, and nothing more."""
    statements: list[dict[str, Any]] = []
    for fixer in _fixers(rules):
        resources = [r.format(account=account) for r in RESOURCES[fixer.service]]
        reads = [c for c in fixer.calls if c.operation.startswith(READ_PREFIXES)]
        writes = [c for c in fixer.calls if c not in reads]
        # bucket ARNs name no account: an account's own buckets are those it owns (aws:ResourceAccount)
        owned = (
            {"StringEquals": {"aws:ResourceAccount": account}}
            if fixer.service == "s3" and account != "*"
            else {}
        )
        for calls, condition in ((reads, owned), (writes, {**owned, **WRITE_CONDITIONS.get(fixer.name, {})})):
            actions = iam_actions({fixer.service: calls})
            for scoped, where in ((False, resources), (True, ["*"])):
                chosen = [a for a in actions if (a in UNSCOPED_ACTIONS) == scoped]
                if chosen:
                    statement = {"Effect": "Allow", "Action": chosen, "Resource": where}
                    statements.append({**statement, "Condition": condition} if condition else statement)
    return statements


def _fixers(rules: Iterable[str]) -> list[Fixer]:
    seen: dict[str, Fixer] = {}
    for rule in sorted(set(rules)):
        for fixer in FIXERS.get(rule, ()):
            seen.setdefault(fixer.name, fixer)
    return list(seen.values())
