"""What a policy statement grants, decided once for every service (S3, SQS, SNS, KMS, IAM, Lambda)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from bucketguard.rules.facts import Condition, PolicyStatement

# Condition keys that pin a request to a known account, organisation, network or source. A statement open
# to Principal "*" with one of these (compared positively, without IfExists) is not public: AWS IAM Access
# Analyzer and S3's own "is public" evaluation treat these keys the same way.
RESTRICTING_CONDITION_KEYS = frozenset(
    {
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceowner",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:userid",
        "aws:sourcevpce",
        "aws:sourcevpc",
        "aws:sourceip",
        "kms:calleraccount",
        "s3:dataaccesspointaccount",
        "s3:dataaccesspointarn",
        "lambda:functionarn",
    }
)

# AWS-managed policies that make their holder an administrator: IAMFullAccess (iam:*) can attach the other.
ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "IAMFullAccess")
ADMIN_POLICY_ARN = re.compile(rf"^arn:aws[a-z-]*:iam::aws:policy/({'|'.join(ADMIN_MANAGED_POLICIES)})$")
ACCOUNT_IN_PRINCIPAL = re.compile(r"^(?:arn:aws[a-z-]*:(?:iam|sts)::)?(\d{12})(?::|$)")


WILDCARDS = frozenset("*?")


def is_fixed_value(key: str, value: str) -> bool:
    """A value pins the request down only when it is fixed: S3's meaning of "public" counts any wildcard
    as not fixed, save a role's sessions (``aws:userid`` ``AROAID:*``) and the paths under one org."""
    value = value.strip()
    if key == "aws:sourceip":
        try:
            return ipaddress.ip_network(value, strict=False).prefixlen > 0
        except ValueError:
            return False
    if key == "aws:userid":
        value = value.removesuffix(":*")
    elif key in ("aws:principalorgpaths", "aws:sourceorgpaths"):
        value = value.split("/", 1)[0]
    return bool(value) and not WILDCARDS & set(value)


def condition_restricts(condition: Condition) -> bool:
    """True when the condition narrows who can make the request to a fixed account, org, network or source."""
    operator = condition.operator.lower()
    if condition.key not in RESTRICTING_CONDITION_KEYS:
        return False
    if "not" in operator or operator.endswith("ifexists") or operator == "null":
        return False  # negations and IfExists let requests without the key through
    if operator.startswith("forallvalues:"):
        return False  # true for a request that has no such key at all
    return bool(condition.values) and all(is_fixed_value(condition.key, v) for v in condition.values)


def is_restricted(statement: PolicyStatement) -> bool:
    return any(condition_restricts(c) for c in statement.conditions)


def action_allowed(statement: PolicyStatement, action: str) -> bool:
    """Does the statement's Action (or NotAction) cover ``action``? Wildcards as IAM matches them."""
    action = action.lower()
    matched = any(fnmatchcase(action, pattern) for pattern in statement.actions)
    return not matched if statement.not_action else matched


def allows_any(statement: PolicyStatement, actions: Iterable[str]) -> list[str]:
    """The subset of ``actions`` the statement covers (empty when none)."""
    return [a for a in actions if action_allowed(statement, a)]


def public_allow_statements(statements: Iterable[PolicyStatement]) -> list[PolicyStatement]:
    """Allow statements open to anyone (Principal ``*``) without a restricting condition."""
    return [s for s in statements if s.is_allow and s.principal_is_everyone and not is_restricted(s)]


def describe(statement: PolicyStatement) -> str:
    label = f"statement {statement.sid!r}" if statement.sid else "a statement"
    actions = ", ".join(statement.actions) or "(none)"
    return f"{label} ({'NotAction' if statement.not_action else 'Action'}: {actions})"


# A statement that still allows any of these on every resource lets its holder grant itself the rest.
IAM_SELF_GRANT_ACTIONS = (
    "iam:putrolepolicy",
    "iam:attachrolepolicy",
    "iam:putuserpolicy",
    "iam:attachuserpolicy",
    "iam:putgrouppolicy",
    "iam:attachgrouppolicy",
    "iam:createpolicyversion",
)


def _covers_every_resource(statement: PolicyStatement) -> bool:
    # NotResource naming a few ARNs still covers every other resource.
    return ("*" in statement.resources) != statement.not_resource


def admin_grant(statement: PolicyStatement) -> str | None:
    """How an Allow on every resource makes its holder an administrator, or None: every action (``*``,
    ``*:*``), or any action that lets it grant itself the rest (``iam:*``, ``iam:Put*``,
    ``iam:AttachRolePolicy``, a ``NotAction`` that leaves them): administrator in two calls."""
    if not statement.is_allow or not _covers_every_resource(statement):
        return None
    if not statement.not_action and any(a in ("*", "*:*") for a in statement.actions):
        return "allows every action on every resource"
    granting = allows_any(statement, IAM_SELF_GRANT_ACTIONS)
    if granting:
        return f"allows {', '.join(granting)} on every resource (its holder can grant itself every action)"
    return None


def principal_accounts(statement: PolicyStatement) -> set[str]:
    """Twelve-digit account ids named by the statement's AWS principals (ARNs or bare ids)."""
    accounts = set()
    for principal in statement.principals:
        if principal.kind == "AWS":
            match = ACCOUNT_IN_PRINCIPAL.match(principal.value)
            if match:
                accounts.add(match.group(1))
    return accounts
