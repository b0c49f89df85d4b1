"""The IAM actions each fixer calls while fixing (its reads included), as data: the monitor's role is
granted those of the enabled fixers only, on the resources each fixer acts on. The re-check after a fix
reads with the audit's own actions (``bucketguard.audit.run.required_actions``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bucketguard.audit.permissions import account_statements
from bucketguard.audit.run import iam_actions
from bucketguard.remediation.fixers import FIXERS, Fixer
from bucketguard.rules.policy_analysis import ADMIN_MANAGED_POLICIES

# A fixer's write narrowed further than its resources: detach only the administrator managed policies.
WRITE_CONDITIONS = {
    "administrator_access_detached": {
        "ArnEquals": {"iam:PolicyARN": [f"arn:aws:iam::aws:policy/{name}" for name in ADMIN_MANAGED_POLICIES]}
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
        reads = [c for c in fixer.calls if c.operation.startswith(READ_PREFIXES)]
        writes = [c for c in fixer.calls if c not in reads]
        statements += account_statements(iam_actions({fixer.service: reads}), account)
        statements += account_statements(
            iam_actions({fixer.service: writes}), account, WRITE_CONDITIONS.get(fixer.name)
        )
    return statements


def _fixers(rules: Iterable[str]) -> list[Fixer]:
    seen: dict[str, Fixer] = {}
    for rule in sorted(set(rules)):
        for fixer in FIXERS.get(rule, ()):
            seen.setdefault(fixer.name, fixer)
    return list(seen.values())
