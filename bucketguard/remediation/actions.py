"""The IAM actions each fixer calls while fixing (its reads included), as data: the monitor's role is
granted those of the enabled fixers only. The re-check after a fix reads with the audit's own actions
(``bucketguard.audit.run.required_actions``)."""

from __future__ import annotations

from collections.abc import Iterable

from bucketguard.audit.run import iam_actions
from bucketguard.remediation.fixers import FIXERS, Fixer


def fixer_actions(fixer: Fixer) -> list[str]:
    return iam_actions({fixer.service: fixer.calls})


def remediation_actions(rules: Iterable[str]) -> list[str]:
    """Every action the fixers of ``rules`` call; unknown or unfixable rule ids add nothing."""
    return sorted({a for rule in rules for fixer in FIXERS.get(rule, ()) for a in fixer_actions(fixer)})
