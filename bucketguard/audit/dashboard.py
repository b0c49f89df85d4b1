"""`audit --format html`: one self-contained page (inline CSS, SVG and script; nothing fetched) with the
totals by severity, findings by service and by account/region, each framework's score, and the failures worst
first with how long each has been failing, each expandable to its risk, references and remediation.

Resource names, tags and messages come from the audited accounts: anyone who can name a bucket writes them.
Every value reaches the page through Jinja2's autoescaping (text and attribute values), and the page's
script only reads data attributes and sets ``hidden``: no value is ever parsed as HTML.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from bucketguard import __version__
from bucketguard.audit.report import AuditReport, AuditViolation
from bucketguard.audit.run import ACCESS_DENIED_RULE, SEVERITY_ORDER
from bucketguard.rules.frameworks import control_results, frameworks, related_requirements
from bucketguard.rules.model import get_rule

BAR_WIDTH = 360  # px of the longest bar in a chart
# The page's only script: filters rows by their data attributes (one pass over the rows per change). The
# page's Content-Security-Policy allows this script by its hash and nothing else.
SCRIPT = """(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll("#findings tbody tr"));
  var fields = ["severity", "service", "account"];
  function apply() {
    var wanted = {};
    fields.forEach(function (f) { wanted[f] = document.getElementById("f-" + f).value; });
    var needle = document.getElementById("f-text").value.toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var ok = fields.every(function (f) { return !wanted[f] || row.dataset[f] === wanted[f]; }) &&
        (!needle || row.dataset.text.indexOf(needle) >= 0);
      row.hidden = !ok;
      if (ok) { shown++; }
    });
    document.getElementById("shown").textContent = String(shown);
  }
  // a link can carry filters: report.html#severity=critical&service=s3
  new URLSearchParams(location.hash.slice(1)).forEach(function (value, key) {
    var input = document.getElementById("f-" + key);
    if (input) { input.value = value; }
  });
  fields.concat(["text"]).forEach(function (f) {
    document.getElementById("f-" + f).addEventListener("input", apply);
  });
  apply();
})();"""
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    width: int


def _bars(counts: Counter[str]) -> list[Bar]:
    top = max(counts.values(), default=0) or 1
    return [Bar(label, n, max(2, round(BAR_WIDTH * n / top))) for label, n in counts.most_common()]


def _days(since: str, at: str) -> int:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return max(0, (parse(at) - parse(since)).days)


def _row(v: AuditViolation, at: str) -> dict[str, Any]:
    f = v.finding
    rule = get_rule(f.rule_id) if f.rule_id != ACCESS_DENIED_RULE else None
    return {
        "severity": f.severity,
        "service": f.service,
        "rule_id": f.rule_id,
        "title": f.title,
        "resource": f.resource_name,
        "arn": f.arn,
        "account": f.account,
        "region": f.region,
        "message": f.message,
        "enforcement": v.enforcement,
        "status": v.status,
        "first_seen": v.first_seen,
        "days": _days(v.first_seen, at),
        "tags": dict(f.tags),
        "risk": rule.risk if rule else "",
        "remediation": rule.remediation if rule else None,
        "references": {k: list(ids) for k, ids in f.references.items() if ids},
        "requirements": related_requirements(f.rule_id),
    }


def render_html(report: AuditReport, **_: Any) -> str:
    at = report.at
    severity_rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    violations = sorted(
        report.violations,
        key=lambda v: (-severity_rank[v.finding.severity], v.first_seen, v.finding.rule_id, v.finding.arn),
    )
    scores = []
    for framework in frameworks().values():
        statuses = Counter(
            c.status
            for c in control_results(
                framework, judged=report.judged, failed=report.failed, blocked=report.blocked
            )
        )
        listed = sum(statuses.values())
        scores.append(
            {
                "key": framework.key,
                "name": framework.name,
                "scope": framework.scope,
                "counts": {
                    s: statuses.get(s, 0) for s in ("passed", "failed", "not_evaluated", "not_covered")
                },
                "widths": {
                    s: round(BAR_WIDTH * statuses.get(s, 0) / listed) if listed else 0
                    for s in ("passed", "failed", "not_evaluated", "not_covered")
                },
            }
        )
    environment = Environment(
        loader=PackageLoader("bucketguard.audit", ""),
        autoescape=select_autoescape(("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = environment.get_template("dashboard.html.j2")
    return template.render(
        version=__version__,
        at=at,
        summary=report.summary(),
        severities=list(reversed(SEVERITY_ORDER)),
        by_severity=Counter(v.finding.severity for v in violations),
        by_service=_bars(Counter(v.finding.service for v in violations)),
        by_place=_bars(Counter(f"{v.finding.account} {v.finding.region}" for v in violations)),
        scores=scores,
        rows=[_row(v, at) for v in violations],
        services=sorted({v.finding.service for v in violations}),
        accounts=sorted({v.finding.account for v in violations}),
        resolved=report.resolved,
        notes=report.notes,
        script=SCRIPT,
        script_hash=SCRIPT_HASH,
    )
