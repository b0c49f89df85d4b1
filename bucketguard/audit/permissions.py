"""What the audit's reads and the fixers' calls are granted on: each action on the resources of one account
that its service lets a policy name (the Service Authorization Reference's resource types), and "*" only for
the actions that support none."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bucketguard.audit.run import required_actions

# The resources of an account each service's actions may be narrowed to ({account}: that account).
ACCOUNT_RESOURCES = {
    "s3": ("arn:aws:s3:::*",),  # buckets (every action granted is bucket-level); their ARNs name no account
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
# Actions without resource-level permissions (the reference lists no resource type for them): a policy can
# grant them only on "*". Each reads; none changes anything.
UNSCOPED_ACTIONS = frozenset(
    {
        "cloudtrail:DescribeTrails",
        "ec2:DescribeInstances",
        "ec2:DescribeRegions",
        "ec2:DescribeSecurityGroups",
        "iam:GetAccountAuthorizationDetails",
        "kms:ListKeys",
        "lambda:ListFunctions",
        "s3:GetAccountPublicAccessBlock",
        "s3:ListAllMyBuckets",
        "sns:ListTopics",
        "sqs:ListQueues",
    }
)


def account_statements(
    actions: Iterable[str], account: str = "*", condition: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """`actions` granted in `account`: per service, one statement on that account's resources (S3 buckets:
    those it owns, aws:ResourceAccount, as bucket ARNs name no account) with `condition`; and one on "*" for
    the actions that support no resource."""
    by_service: dict[str, list[str]] = {}
    for action in sorted(set(actions) - UNSCOPED_ACTIONS):
        by_service.setdefault(action.split(":")[0], []).append(action)
    statements: list[dict[str, Any]] = []
    for service, chosen in by_service.items():
        resources = [resource.format(account=account) for resource in ACCOUNT_RESOURCES[service]]
        owned = (
            {"StringEquals": {"aws:ResourceAccount": account}} if service == "s3" and account != "*" else {}
        )
        conditions = {**owned, **(condition or {})}
        statement = {"Effect": "Allow", "Action": chosen, "Resource": resources}
        statements.append({**statement, "Condition": conditions} if conditions else statement)
    unscoped = sorted(set(actions) & UNSCOPED_ACTIONS)
    if unscoped:
        statements.append({"Effect": "Allow", "Action": unscoped, "Resource": ["*"]})
    return statements


def read_statements(account: str = "*") -> list[dict[str, Any]]:
    """The audit's reads (``required_actions``) in `account`: the whole policy of a least-privilege audit
    role there."""
    return account_statements(required_actions(), account)
