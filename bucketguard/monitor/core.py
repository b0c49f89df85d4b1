"""The monitor core: one CloudTrail event in, the alerts it causes out.

For a watched event that succeeded and was not made by bucketguard itself: read the touched resource again
with the audit collectors, judge it with the same rules and settings as the audit, compare with the findings
history, and alert on each NEW failure (who did it, from where, with what) and on each finding the change
resolved. Rules the owner turned on for remediation are handed to the fixer. The history is saved only once
the alerts are out, so a failed delivery is retried with the same alerts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.history import NEW, FindingsHistory, Record
from bucketguard.audit.run import Account, AuditFinding, evaluate_account, join
from bucketguard.audit.settings import AuditSettings, load_settings
from bucketguard.monitor.collect import collect_target
from bucketguard.monitor.events import CloudTrailRecord
from bucketguard.monitor.ledger import EventLedger
from bucketguard.monitor.table import Target, Watch, watch_for
from bucketguard.rules.model import get_rule

log = logging.getLogger("bucketguard.monitor")

SCHEMA_VERSION = 1
Status = Literal["new", "resolved", "remediated", "remediation_failed"]
REPLAY_FIELDS = (
    "rule_id",
    "severity",
    "resource_arn",
    "account",
    "region",
    "actor",
    "event_name",
    "event_time",
    "source_ip",
    "status",
    "references",
)


class Alert(BaseModel):
    """One alert: a finding the event made (``new``), cleared (``resolved``), or that was fixed."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    status: Status
    rule_id: str
    severity: str
    title: str
    message: str
    resource_arn: str
    resource_name: str
    account: str
    region: str
    actor: str  # the assumed role's issuer, else the identity's ARN (userIdentity)
    actor_type: str  # userIdentity.type: IAMUser, AssumedRole, Root, AWSService...
    identity_arn: str | None  # userIdentity.arn (an assumed role's session)
    event_name: str
    event_time: str
    event_id: str
    request_id: str | None
    source_ip: str | None
    user_agent: str | None
    remediation: str  # the rule's remediation summary and CLI
    references: dict[str, list[str]]
    finding_id: str
    detail: str = ""  # why a remediation failed

    def replay_dict(self) -> dict[str, Any]:
        """The ``monitor replay --format json`` shape."""
        return {name: getattr(self, name) for name in REPLAY_FIELDS}


@dataclass(frozen=True)
class FixOutcome:
    fixed: bool
    detail: str = ""
    flapping: bool = False  # someone keeps undoing the fixer: the alert is raised to critical


class Fixer(Protocol):
    """Applies the remediation of one finding, re-reads and re-judges it (h-remediate's fixers)."""

    def __call__(self, finding: AuditFinding, clients: ClientFactory) -> FixOutcome: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to one event: ``evaluated`` (with its alerts), ``ignored`` (why) or ``duplicate``."""

    event_id: str
    event_name: str
    result: Literal["evaluated", "ignored", "duplicate"]
    reason: str = ""
    alerts: tuple[Alert, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass
class Monitor:
    """``clients_for(account)``: the clients to read (and fix) that account with; ``ignored_principals``:
    bucketguard's own role ARNs (exact: a role merely named like ours is still watched); ``remediate``: the
    rule ids the owner lets ``fixer`` repair; ``listeners``: the deployment's listener queues (`join`);
    ``deliver``: called with each event's alerts before the history is saved (raising makes the event fail,
    to be retried)."""

    clients_for: Callable[[str], ClientFactory]
    history: FindingsHistory
    ledger: EventLedger
    settings: AuditSettings = field(default_factory=lambda: load_settings(None))
    regions: tuple[str, ...] = ()
    listeners: frozenset[str] = frozenset()
    ignored_principals: frozenset[str] = frozenset()
    remediate: frozenset[str] = frozenset()
    fixer: Fixer | None = None
    deliver: Callable[[Sequence[Alert]], None] | None = None

    def handle(self, record: CloudTrailRecord) -> Outcome:
        def ignored(reason: str) -> Outcome:
            return Outcome(record.event_id, record.event_name, "ignored", reason)

        if record.error_code:
            return ignored(f"failed in CloudTrail ({record.error_code})")
        watch = watch_for(record)
        if watch is None:
            return ignored("not a watched event")
        identity = record.user_identity
        if {identity.arn, identity.issuer_arn} & self.ignored_principals:
            return ignored(f"made by bucketguard ({identity.actor})")
        targets = watch.locate(record)
        if not self.ledger.claim(record.event_id):
            return Outcome(record.event_id, record.event_name, "duplicate", "already handled")
        try:
            return self._evaluate(record, watch, targets)
        except BaseException:
            self.ledger.release(record.event_id)
            raise

    # ---------------------------------------------------------------------------------------- evaluation
    def _judge(
        self, record: CloudTrailRecord, watch: Watch, targets: Sequence[Target]
    ) -> tuple[list[AuditFinding], set[str], list[str]]:
        """The findings on the targets, the rules judged (a denied read judges nothing), notes."""
        account = Account(record.account, self.clients_for(record.account), (record.aws_region,))
        configs = {r: c for r, c in self.settings.judged.items() if r in watch.all_rules}
        findings: list[AuditFinding] = []
        judged: set[str] = set()
        notes: list[str] = []
        for target in targets:
            collections = collect_target(account, target, configs, self.regions)
            denials = [d for c in collections for d in c.denials]
            notes += [n for c in collections for n in c.notes]
            found = evaluate_account(record.account, join(collections, self.listeners), denials, configs)
            findings += [f for f in found if target.matches(f.arn) or f.rule_id == "audit_access_denied"]
            blocked = {r for d in denials for r in d.rule_ids}
            judged |= set(configs) - blocked
        return [f for f in findings if not self._exempt(f)], judged, notes

    def _exempt(self, finding: AuditFinding) -> bool:
        rule = self.settings.rules.get(finding.rule_id)
        names = (finding.resource_name, finding.arn)
        return any(e.covers(names, finding.tags) for e in (rule.exemptions if rule else ()))

    def _evaluate(self, record: CloudTrailRecord, watch: Watch, targets: Sequence[Target]) -> Outcome:
        findings, judged, notes = self._judge(record, watch, targets)

        def in_scope(arn: str) -> bool:
            return any(t.matches(arn) for t in targets)

        run, records, changes = self.history.plan(
            findings, accounts=[record.account], rule_ids=judged, at=record.event_time_text, in_scope=in_scope
        )
        new = [f for f in findings if run.status.get(f.finding_id) == NEW]
        alerts = [self._alert(record, f, "new") for f in new]
        alerts += [self._resolved(record, r) for r in run.resolved]
        fixed = self._fix(record, new)
        alerts = [fixed.get(a.finding_id, a) if a.status == "new" else a for a in alerts]
        if self.deliver is not None and alerts:
            self.deliver(alerts)
        self.history.save(records, changes)
        if any(a.status == "remediated" for a in alerts):  # the fix's own events are ignored: close here
            after, _, _ = self._judge(record, watch, targets)
            self.history.record(
                after,
                accounts=[record.account],
                rule_ids=judged,
                at=record.event_time_text,
                in_scope=in_scope,
            )
        return Outcome(
            record.event_id, record.event_name, "evaluated", alerts=tuple(alerts), notes=tuple(notes)
        )

    def _fix(self, record: CloudTrailRecord, new: Iterable[AuditFinding]) -> dict[str, Alert]:
        result = {}
        for finding in new:
            if finding.rule_id not in self.remediate:
                continue
            if self.fixer is None:
                outcome = FixOutcome(False, "no fixer is available")
            else:
                try:
                    outcome = self.fixer(finding, self.clients_for(record.account))
                except Exception as exc:  # a failed fix is reported, never a lost alert
                    log.exception("fixer failed", extra={"rule_id": finding.rule_id, "arn": finding.arn})
                    outcome = FixOutcome(
                        False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    )
            status: Status = "remediated" if outcome.fixed else "remediation_failed"
            alert = self._alert(record, finding, status, outcome.detail)
            result[finding.finding_id] = (
                alert.model_copy(update={"severity": "critical"}) if outcome.flapping else alert
            )
        return result

    # -------------------------------------------------------------------------------------------- alerts
    def _alert(
        self, record: CloudTrailRecord, finding: AuditFinding, status: Status, detail: str = ""
    ) -> Alert:
        return _alert(
            record,
            status,
            finding.rule_id,
            severity=finding.severity,
            message=finding.message,
            arn=finding.arn,
            name=finding.resource_name,
            region=finding.region,
            finding_id=finding.finding_id,
            references=finding.references,
            detail=detail,
        )

    def _resolved(self, record: CloudTrailRecord, resolved: Record) -> Alert:
        return _alert(
            record,
            "resolved",
            resolved.rule_id,
            severity=resolved.severity,
            message=f"resolved: {resolved.message}",
            arn=resolved.arn,
            name=resolved.resource_name,
            region=resolved.region,
            finding_id=resolved.finding_id,
        )


def _alert(
    record: CloudTrailRecord,
    status: Status,
    rule_id: str,
    *,
    severity: str,
    message: str,
    arn: str,
    name: str,
    region: str,
    finding_id: str,
    references: Mapping[str, list[str]] | None = None,
    detail: str = "",
) -> Alert:
    identity = record.user_identity
    try:
        rule = get_rule(rule_id)
        title, remediation = rule.title, f"{rule.remediation.summary} CLI: {rule.remediation.cli}"
        references = references or rule.references.to_dict()
    except KeyError:  # audit_access_denied
        title, remediation = "The monitor could not read a resource's configuration", "Grant the read."
    return Alert(
        status=status,
        rule_id=rule_id,
        severity=severity,
        title=title,
        message=message,
        resource_arn=arn,
        resource_name=name,
        account=record.account,
        region=region,
        actor=identity.actor,
        actor_type=identity.type,
        identity_arn=identity.arn,
        event_name=record.event_name,
        event_time=record.event_time_text,
        event_id=record.event_id,
        request_id=record.request_id,
        source_ip=record.source_ip_address,
        user_agent=record.user_agent,
        remediation=remediation,
        references=dict(references or {}),
        finding_id=finding_id,
        detail=detail,
    )
