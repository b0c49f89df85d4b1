"""Auto-remediation: fixers with undo records, for the rules where an automatic change is safe and reversible.

The API (the CLI's ``audit --fix`` and the monitor both use it)::

    fixes = plan_fixes(findings, rules, settings)         # AuditFinding -> Fix, for the enabled rule ids
    result = apply(fix, clients, undo_log)                # RemediationResult(status, reason)
    result.status                                         # "remediated" | "remediation_failed"
    undo(read_undo_file(path), clients_for)               # UndoResult per entry, newest first
    is_flapping(revert_times, now)                        # True: stop fixing this resource, alert instead
    remediation_actions(rules)                            # the IAM actions the enabled fixers call
    remediation_statements(rules, account)                # ...as policy statements on their resources

* Off by default: only the rule ids given are fixed. ``default_rules()`` (what ``audit --fix`` fixes with no
  ``--rule``) leaves out ``OPT_IN_RULES`` (detaching AdministratorAccess can break a workload).
* Held back, never touched: a resource tagged ``bucketguard:remediate=false`` (for a Lambda permission or
  URL, its function), or exempted from the rule in the policy config (``held_back`` says which and why).
* ``apply`` records each previous state to ``undo_log`` before changing it, changes it, re-collects the
  resource with the audit collectors and judges the rule again. Whatever AWS answers (AccessDenied, the
  resource gone) becomes ``remediation_failed`` with a one-line reason; it never raises for it.
* No fixer deletes data or a resource (see ``fixers``).
"""

from __future__ import annotations

from bucketguard.remediation.actions import remediation_actions, remediation_statements
from bucketguard.remediation.apply import RemediationResult, apply, still_failing
from bucketguard.remediation.fixers import FIXERS, OPT_IN_RULES, Fixer, Target
from bucketguard.remediation.flapping import FLAPPING_LIMIT, FLAPPING_WINDOW, is_flapping
from bucketguard.remediation.plan import REMEDIATE_TAG, Fix, default_rules, held_back, plan_fixes
from bucketguard.remediation.undo import UndoEntry, UndoFile, UndoFileError, UndoLog, read_undo_file, undo

__all__ = [
    "FIXERS",
    "FLAPPING_LIMIT",
    "FLAPPING_WINDOW",
    "OPT_IN_RULES",
    "REMEDIATE_TAG",
    "Fix",
    "Fixer",
    "RemediationResult",
    "Target",
    "UndoEntry",
    "UndoFile",
    "UndoFileError",
    "UndoLog",
    "apply",
    "default_rules",
    "held_back",
    "is_flapping",
    "plan_fixes",
    "read_undo_file",
    "remediation_actions",
    "remediation_statements",
    "still_failing",
    "undo",
]
