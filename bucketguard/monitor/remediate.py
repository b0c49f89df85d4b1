"""The monitor's one call into remediation: fix a new failure the owner lets bucketguard fix, unless someone
is fighting the fixer.

The flapping guard: a resource the fixer already put back ``FLAPPING_LIMIT`` times within
``FLAPPING_WINDOW`` is not fixed again; the alert becomes critical instead (someone keeps undoing it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.run import AuditFinding
from bucketguard.audit.settings import AuditSettings
from bucketguard.monitor.core import FixOutcome
from bucketguard.monitor.ledger import EventLedger
from bucketguard.remediation import (
    FLAPPING_LIMIT,
    FLAPPING_WINDOW,
    UndoLog,
    apply,
    held_back,
    is_flapping,
    plan_fixes,
)


class RemediationFixer:
    """Applies remediation's fixers (undo record first, then re-read and re-judged) to one finding."""

    def __init__(self, settings: AuditSettings, undo_log: UndoLog, ledger: EventLedger) -> None:
        self.settings = settings
        self.undo_log = undo_log
        self.ledger = ledger

    def __call__(self, finding: AuditFinding, clients: ClientFactory) -> FixOutcome:
        now = datetime.now(UTC)
        if is_flapping(self.ledger.fixes(finding.arn), now):
            minutes = int(FLAPPING_WINDOW.total_seconds() // 60)
            return FixOutcome(
                False,
                f"not fixed: already put back {FLAPPING_LIMIT} times in {minutes} minutes "
                "(someone keeps undoing it)",
                flapping=True,
            )
        fixes = plan_fixes([finding], [finding.rule_id], self.settings)
        if not fixes:
            held = held_back([finding], [finding.rule_id], self.settings)
            return FixOutcome(False, f"held back: {held[0][1]}" if held else "no fixer for this rule")
        result = apply(fixes[0], clients, self.undo_log)
        if result.status == "remediated":
            self.ledger.record_fix(finding.arn, now)
        return FixOutcome(result.status == "remediated", result.reason)
