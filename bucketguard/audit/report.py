"""An audit run as a document: the `policy check` violations plus where each lives in the accounts, when it
was first seen and whether it is new, the findings resolved since the last run, exemptions and a summary."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bucketguard import __version__
from bucketguard.asff import ImportFailed, asff_finding, import_findings
from bucketguard.audit.clients import DEFAULT_REGION, ClientFactory
from bucketguard.audit.history import NEW, FindingsHistory, Record, now
from bucketguard.audit.reader import GLOBAL
from bucketguard.audit.run import ACCESS_DENIED_RULE, SEVERITY_ORDER, AccountResult, AuditFinding
from bucketguard.audit.settings import MANDATORY_LEVELS, AuditSettings
from bucketguard.ci_reports import Failure, JUnitCase, csv_text, junit_xml
from bucketguard.rules.frameworks import (
    ControlResult,
    Framework,
    control_results,
    framework_section,
    frameworks_of,
    related_requirements,
)
from bucketguard.rules.model import get_rule
from bucketguard.sarif import SECURITY_SEVERITY, fingerprint, location, plain_text, sarif_log
from bucketguard.scanning.result import Severity

SCHEMA_VERSION = 1
PACK = "bucketguard"


@dataclass(frozen=True)
class AuditViolation:
    finding: AuditFinding
    enforcement: str
    first_seen: str
    status: str  # new | still_failing

    def to_dict(self) -> dict[str, Any]:
        f = self.finding
        return {
            "rule_id": f.rule_id,
            "policy": f"{PACK}@v{__version__}/{f.rule_id}",
            "severity": f.severity,
            "enforcement": self.enforcement,
            "resource_type": f.resource_type,
            "resource_name": f.resource_name,
            "message": f.message,
            "references": {k: list(v) for k, v in f.references.items()},
            "account": f.account,
            "region": f.region,
            "arn": f.arn,
            "finding_id": f.finding_id,
            "first_seen": self.first_seen,
            "status": self.status,
        }


@dataclass
class AuditReport:
    violations: list[AuditViolation]
    resolved: list[Record] = field(default_factory=list)
    exemptions: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    resources: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    at: str = field(default_factory=now)
    # account -> the region its global resources' (IAM's) findings are reported in: its first audited one
    home_regions: dict[str, str] = field(default_factory=dict)
    judged: frozenset[str] = frozenset()  # rules evaluated in every account
    failed: frozenset[str] = frozenset()  # rules with a violation, below the severity floor too
    blocked: frozenset[str] = frozenset()  # rules a denied read kept from judging some resource
    framework: Framework | None = None  # --framework: the report groups by its controls

    def controls(self) -> list[ControlResult]:
        if self.framework is None:
            return []
        return control_results(self.framework, judged=self.judged, failed=self.failed, blocked=self.blocked)

    @property
    def mandatory(self) -> list[AuditViolation]:
        return [v for v in self.violations if v.enforcement in MANDATORY_LEVELS]

    def summary(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "resources": self.resources,
            "violations": len(self.violations),
            "mandatory": len(self.mandatory),
            "advisory": len(self.violations) - len(self.mandatory),
            "new": sum(1 for v in self.violations if v.status == NEW),
            "resolved": len(self.resolved),
            "exempted": len(self.exemptions),
            "by_severity": dict(Counter(v.finding.severity for v in self.violations)),
            "by_service": dict(Counter(v.finding.service for v in self.violations)),
            "by_account": dict(Counter(v.finding.account for v in self.violations)),
            "by_framework": frameworks_of(v.finding.rule_id for v in self.violations),
            "api_calls": self.api_calls,
            "seconds": round(self.seconds, 3),
        }


def build_report(
    results: Sequence[AccountResult],
    settings: AuditSettings,
    *,
    min_severity: str = "low",
    history: FindingsHistory | None = None,
    at: str | None = None,
    regions: Collection[str] | None = None,
    retry_safe: bool = False,
) -> AuditReport:
    """Exemptions and enforcement from the policy config, first sighting and status from the history (when
    given: the run is recorded there, resolving only in ``regions`` when given; ``retry_safe``: see
    ``FindingsHistory.plan``), then the severity floor (display only: the history sees all)."""
    at = at or now()
    failing: list[AuditFinding] = []
    exemptions: list[dict[str, str]] = []
    for finding in (f for r in results for f in r.findings):
        rule = settings.rules.get(finding.rule_id)
        exemption = next(
            (
                e
                for e in (rule.exemptions if rule else ())
                if e.covers((finding.resource_name, finding.arn), finding.tags)
            ),
            None,
        )
        if exemption is None:
            failing.append(finding)
        else:
            exemptions.append(
                {
                    "rule_id": finding.rule_id,
                    "resource": finding.resource_name,
                    "arn": finding.arn,
                    "reason": exemption.reason,
                }
            )
    resolved: list[Record] = []
    first_seen = {f.finding_id: at for f in failing}
    status = {f.finding_id: NEW for f in failing}
    if history is not None:
        changes = history.record(
            failing,
            accounts=[r.account_id for r in results],
            rule_ids=[*settings.judged, ACCESS_DENIED_RULE],
            at=at,
            regions=regions,
            retry_safe=retry_safe,
        )
        first_seen, status, resolved = changes.first_seen, changes.status, changes.resolved
    floor = SEVERITY_ORDER.index(min_severity)
    violations = [
        AuditViolation(
            f,
            settings.rules[f.rule_id].enforcement if f.rule_id in settings.rules else "mandatory",
            first_seen[f.finding_id],
            status[f.finding_id],
        )
        for f in failing
        if SEVERITY_ORDER.index(f.severity) >= floor
    ]
    violations.sort(key=_worst_first)
    judged = [set(r.judged) for r in results]
    return AuditReport(
        at=at,
        judged=frozenset(set.intersection(*judged) if judged else ()),
        failed=frozenset(f.rule_id for f in failing),
        blocked=frozenset(rule_id for r in results for d in r.denials for rule_id in d.rule_ids),
        violations=violations,
        resolved=resolved,
        exemptions=exemptions,
        notes=[n for r in results for n in r.notes],
        accounts=[r.account_id for r in results],
        resources=sum(len(r.facts.resources) for r in results),
    )


def _worst_first(v: AuditViolation) -> tuple[int, int, str, str, str]:
    order = {"mandatory": 0, "remediate": 0, "advisory": 1}
    f = v.finding
    return (order.get(v.enforcement, 2), -SEVERITY_ORDER.index(f.severity), f.service, f.rule_id, f.arn)


def report_document(report: AuditReport) -> dict[str, Any]:
    """Everything ``merge_reports`` needs of a report, as JSON-ready data (a deployed audit message's part
    of its run; ``framework`` is not kept)."""
    return {
        "violations": [
            {
                "finding": asdict(v.finding),
                "enforcement": v.enforcement,
                "first_seen": v.first_seen,
                "status": v.status,
            }
            for v in report.violations
        ],
        "resolved": [asdict(r) for r in report.resolved],
        "exemptions": report.exemptions,
        "notes": report.notes,
        "accounts": report.accounts,
        "resources": report.resources,
        "api_calls": report.api_calls,
        "seconds": report.seconds,
        "at": report.at,
        "home_regions": report.home_regions,
        "judged": sorted(report.judged),
        "failed": sorted(report.failed),
        "blocked": sorted(report.blocked),
    }


def report_from_document(document: Mapping[str, Any]) -> AuditReport:
    return AuditReport(
        violations=[
            AuditViolation(AuditFinding(**v["finding"]), v["enforcement"], v["first_seen"], v["status"])
            for v in document["violations"]
        ],
        resolved=[Record(**r) for r in document["resolved"]],
        exemptions=list(document["exemptions"]),
        notes=list(document["notes"]),
        accounts=list(document["accounts"]),
        resources=int(document["resources"]),
        api_calls=int(document["api_calls"]),
        seconds=float(document["seconds"]),
        at=str(document["at"]),
        home_regions=dict(document["home_regions"]),
        judged=frozenset(document["judged"]),
        failed=frozenset(document["failed"]),
        blocked=frozenset(document["blocked"]),
    )


def merge_reports(parts: Sequence[AuditReport], at: str) -> AuditReport:
    """One report of several parts of a run (each an account in some of its regions): their violations worst
    first, rules judged in every part, counts summed."""
    judged = [set(p.judged) for p in parts]
    return AuditReport(
        violations=sorted((v for p in parts for v in p.violations), key=_worst_first),
        resolved=[r for p in parts for r in p.resolved],
        exemptions=[e for p in parts for e in p.exemptions],
        notes=[n for p in parts for n in p.notes],
        accounts=list(dict.fromkeys(a for p in parts for a in p.accounts)),
        resources=sum(p.resources for p in parts),
        api_calls=sum(p.api_calls for p in parts),
        seconds=sum(p.seconds for p in parts),
        at=at,
        home_regions={a: r for p in parts for a, r in p.home_regions.items()},
        judged=frozenset(set.intersection(*judged) if judged else ()),
        failed=frozenset().union(*(p.failed for p in parts)),
        blocked=frozenset().union(*(p.blocked for p in parts)),
    )


def framework_document(report: AuditReport) -> dict[str, Any] | None:
    """--framework: each control's status and the violations that fail it, with the counts per status."""
    if report.framework is None:
        return None
    failing: dict[str, list[dict[str, Any]]] = {}
    for v in report.violations:
        failing.setdefault(v.finding.rule_id, []).append(
            {
                "rule_id": v.finding.rule_id,
                "resource_name": v.finding.resource_name,
                "account": v.finding.account,
                "region": v.finding.region,
                "arn": v.finding.arn,
            }
        )
    return framework_section(report.framework, report.controls(), failing)


def render_json(report: AuditReport, **_: Any) -> str:
    framework = framework_document(report)
    return json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "violations": [v.to_dict() for v in report.violations],
            "resolved": [
                {
                    "rule_id": r.rule_id,
                    "severity": r.severity,
                    "resource_name": r.resource_name,
                    "account": r.account,
                    "region": r.region,
                    "arn": r.arn,
                    "finding_id": r.finding_id,
                    "first_seen": r.first_seen,
                    "resolved_at": r.resolved_at,
                }
                for r in report.resolved
            ],
            "exemptions": report.exemptions,
            "notes": report.notes,
            "summary": report.summary(),
            **({"framework": framework} if framework else {}),
        },
        indent=2,
    )


def render_table(report: AuditReport, *, terminal: bool = False) -> str:
    """Violations grouped by severity (worst first), then service; a terminal's width and colours, else
    200 columns of plain text."""
    from bucketguard.tables import render, table

    parts: list[Any] = []
    for severity in reversed(SEVERITY_ORDER):
        rows = [v for v in report.violations if v.finding.severity == severity]
        if not rows:
            continue
        drawn = table(
            "service",
            "rule",
            "account",
            "region",
            "resource",
            "enforcement",
            "status",
            "message",
            title=f"{severity.upper()} ({len(rows)})",
        )
        for v in sorted(rows, key=lambda v: (v.finding.service, v.finding.rule_id, v.finding.resource_name)):
            f = v.finding
            drawn.add_row(
                f.service, f.rule_id, f.account, f.region, f.resource_name, v.enforcement, v.status, f.message
            )
        parts.append(drawn)
    for r in report.resolved:
        parts.append(
            f"resolved  {r.rule_id} on {r.resource_name} ({r.account}/{r.region}), first seen {r.first_seen}"
        )
    for e in report.exemptions:
        parts.append(f"exempted  {e['rule_id']} on {e['resource']}: {e['reason']}")
    for note in report.notes:
        parts.append(f"note      {note}")
    parts.extend(_framework_table(report))
    s = report.summary()
    parts.append(
        f"{s['resources']} resources in {len(s['accounts'])} account(s): {s['mandatory']} mandatory, "
        f"{s['advisory']} advisory violations ({s['new']} new), {s['resolved']} resolved, "
        f"{s['exempted']} exempted"
    )
    return render(*parts, terminal=terminal)


def _framework_table(report: AuditReport) -> list[Any]:
    from bucketguard.tables import table as new_table

    document = framework_document(report)
    if document is None:
        return []
    table = new_table(
        "control", "status", "title", "failing resources", title=f"{document['name']} ({document['key']})"
    )
    uncovered = []
    for c in document["controls"]:
        if c["status"] == "not_covered":
            uncovered.append(c["id"])
            continue
        failing = sorted({f["resource_name"] for f in c["failing"]})
        table.add_row(c["id"], c["status"], c["title"], ", ".join(failing))
    score = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(document["score"].items()))
    return [
        table,
        f"not covered by any rule: {', '.join(uncovered) or 'none'}",
        f"{document['key']}: {score} (scope: {document['scope']})",
    ]


_SARIF_LEVEL = {"mandatory": "error", "remediate": "error", "advisory": "warning"}


def render_sarif(report: AuditReport, **_: Any) -> str:
    """SARIF 2.1.0 through the shared builder; a finding's location is its resource's ARN."""
    rule_ids = sorted({v.finding.rule_id for v in report.violations})
    rules = []
    for rule_id in rule_ids:
        sample = next(v.finding for v in report.violations if v.finding.rule_id == rule_id)
        rules.append(
            {
                "id": rule_id,
                "name": rule_id,
                "shortDescription": {"text": sample.title or rule_id},
                "properties": {
                    "tags": ["security"],
                    "security-severity": SECURITY_SEVERITY[Severity(sample.severity)],
                },
            }
        )
    results = []
    for v in report.violations:
        f = v.finding
        found = location(f.arn)
        found["logicalLocations"] = [
            {"fullyQualifiedName": f.arn, "name": f.resource_name, "kind": "resource"}
        ]
        results.append(
            {
                "ruleId": f.rule_id,
                "level": _SARIF_LEVEL.get(v.enforcement, "note"),
                "message": plain_text(f"{f.resource_name} ({f.account}/{f.region}): {f.message}"),
                "locations": [found],
                "partialFingerprints": {"bucketguard/v1": fingerprint(f.finding_id)},
                "properties": {
                    "severity": f.severity,
                    "enforcement": v.enforcement,
                    "account": f.account,
                    "region": f.region,
                    "first_seen": v.first_seen,
                    "status": v.status,
                    "references": dict(f.references),
                },
            }
        )
    log = sarif_log(
        automation_id="bucketguard/audit/",
        rules=rules,
        results=results,
        properties={"summary": report.summary()},
    )
    return json.dumps(log, indent=2)


def render_junit(report: AuditReport, **_: Any) -> str:
    """One test case per rule judged with a failure per mandatory violation; advisory ones are output."""
    by_rule: dict[str, JUnitCase] = {}
    for v in report.violations:
        f = v.finding
        case = by_rule.setdefault(f.rule_id, JUnitCase("bucketguard.audit", f.rule_id))
        if v.enforcement in MANDATORY_LEVELS:
            text = f"{f.arn} ({f.account}/{f.region})"
            case.failures.append(Failure(f"{f.resource_name}: {f.message}", f.severity, text))
        else:
            case.output.append(f"{v.enforcement} {f.resource_name}: {f.message}")
    return junit_xml("bucketguard audit", [by_rule[r] for r in sorted(by_rule)], report.seconds)


ACCESS_DENIED_RECOMMENDATION = (
    "Grant the audit role the read-only action named in the finding (see `bucketguard audit` in the README "
    "for the role's policy), then audit again."
)


def asff_findings(report: AuditReport) -> list[dict[str, Any]]:
    """The violations as ASFF findings, each in its account and region (global resources: the account's
    home region)."""
    findings = []
    for v in report.violations:
        f = v.finding
        region = f.region if f.region != GLOBAL else report.home_regions.get(f.account, DEFAULT_REGION)
        known = f.rule_id != ACCESS_DENIED_RULE
        rule = get_rule(f.rule_id) if known else None
        findings.append(
            asff_finding(
                finding_id=f.finding_id,
                account=f.account,
                region=region,
                generator_id=f.rule_id,
                title=f.title,
                description=f"{f.resource_name}: {f.message}" + (f". {rule.risk}" if rule else ""),
                severity=f.severity,
                resource_arn=f.arn,
                created_at=v.first_seen,
                updated_at=report.at,
                resource_tags=f.tags,
                related_requirements=related_requirements(f.rule_id),
                recommendation=rule.remediation.summary if rule else ACCESS_DENIED_RECOMMENDATION,
                product_fields={
                    "bucketguard/rule_id": f.rule_id,
                    "bucketguard/enforcement": v.enforcement,
                    "bucketguard/status": v.status,
                    "bucketguard/resource_name": f.resource_name,
                },
            )
        )
    return findings


def import_into_security_hub(
    report: AuditReport, clients: Mapping[str, ClientFactory]
) -> dict[tuple[str, str], int]:
    """Each finding into the Security Hub of its own account and region, through that account's clients
    (account id -> ClientFactory); (account, region) -> findings imported. ImportFailed names the place."""
    by_place: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for finding in asff_findings(report):
        by_place.setdefault((finding["AwsAccountId"], finding["Region"]), []).append(finding)
    imported = {}
    for (account, region), findings in sorted(by_place.items()):
        try:
            imported[account, region] = import_findings(
                clients[account].client("securityhub", region), findings
            ).imported
        except ImportFailed as exc:
            raise ImportFailed(exc.failed, exc.imported, f"{account}/{region}: ") from exc
    return imported


def render_asff(report: AuditReport, **_: Any) -> str:
    """Shaped as BatchImportFindings' input (``{"Findings": [...]}``): the AWS CLI's ``--cli-input-json``
    reads it (100 findings per call)."""
    return json.dumps({"Findings": asff_findings(report)}, indent=2)


CSV_COLUMNS = (
    "rule_id",
    "severity",
    "enforcement",
    "account",
    "region",
    "resource_type",
    "resource_name",
    "arn",
    "finding_id",
    "first_seen",
    "status",
    "message",
)


def render_csv(report: AuditReport, **_: Any) -> str:
    rows = ({**v.to_dict(), "enforcement": v.enforcement} for v in report.violations)
    return csv_text(CSV_COLUMNS, (tuple(row[c] for c in CSV_COLUMNS) for row in rows))


def _render_html(report: AuditReport, **kwargs: Any) -> str:
    from bucketguard.audit.dashboard import render_html  # it imports this module

    return render_html(report, **kwargs)


RENDERERS: dict[str, Callable[..., str]] = {
    "table": render_table,
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
    "csv": render_csv,
    "asff": render_asff,
    "html": _render_html,
}
