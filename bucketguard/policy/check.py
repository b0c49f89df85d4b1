"""`policy check`: record a program under the mock runtime, analyze it with a policy pack over gRPC, and
turn the engine-level diagnostics into violations (table, JSON, SARIF)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bucketguard.ci_reports import Failure, JUnitCase, csv_text, junit_xml
from bucketguard.policy import EXEMPTION_PREFIX
from bucketguard.policy.analyzer import (
    AnalysisResult,
    Diagnostic,
    PolicyPackProcess,
    analyze_stack,
    pack_environment,
)
from bucketguard.policy.pack_config import PolicyConfig, load_policy_config
from bucketguard.policy.program import ProgramError, PulumiProject, load_stack_config, record
from bucketguard.policy.records import NotEvaluated, RecordedStack
from bucketguard.rules.frameworks import ControlResult, Framework, control_results, framework_section
from bucketguard.rules.model import REFERENCE_CATALOGUES
from bucketguard.sarif import SECURITY_SEVERITY, fingerprint, location, plain_text, sarif_log
from bucketguard.scanning.result import Severity
from bucketguard.tables import render, table

SCHEMA_VERSION = 1
DEFAULT_PACK_DIR = Path(__file__).resolve().parents[2] / "policy_pack"


@dataclass(frozen=True)
class Violation:
    rule_id: str
    policy: str
    severity: str
    enforcement: str
    resource_type: str
    resource_name: str
    urn: str
    message: str
    references: Mapping[str, list[str]]
    source_file: str = ""  # where the program constructs the resource, relative to the program directory
    source_line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "policy": self.policy,
            "severity": self.severity,
            "enforcement": self.enforcement,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "urn": self.urn,
            "message": self.message,
            "references": {k: list(v) for k, v in self.references.items()},
            "source": {"file": self.source_file, "line": self.source_line} if self.source_file else None,
        }


@dataclass
class CheckResult:
    program: Path
    stack: str
    preview: bool
    pack: str
    resources: int
    violations: list[Violation]
    exemptions: list[dict[str, str]]
    remediations: list[dict[str, Any]]
    undecided: list[dict[str, str]]
    program_seconds: float
    analysis_seconds: float
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_source: str = "Pulumi.yaml"  # where a stack-level finding points, relative to `program`
    not_evaluated: list[NotEvaluated] = field(default_factory=list)

    min_severity: str = ""
    below_min_severity: int = 0  # violations left out by --min-severity
    framework: Framework | None = None  # --framework: only its rules, and each control's status
    controls: list[ControlResult] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]

    def for_framework(self, framework: Framework) -> CheckResult:
        """Only the violations of the framework's rules, and each control's status: a rule the pack ran
        and decided is judged; one undecided until apply (an unknown value) is not, so its controls are
        not evaluated rather than passed."""
        undecided = {u["rule_id"] for u in self.undecided}
        return replace(
            self,
            violations=[v for v in self.violations if v.rule_id in framework.rules],
            framework=framework,
            controls=control_results(
                framework,
                judged=set(self.rules) - undecided,
                failed={v.rule_id for v in self.violations},
                blocked=undecided,
            ),
        )

    def framework_section(self) -> dict[str, Any] | None:
        if self.framework is None:
            return None
        failing: dict[str, list[dict[str, Any]]] = {}
        for v in self.violations:
            failing.setdefault(v.rule_id, []).append(
                {"rule_id": v.rule_id, "resource_type": v.resource_type, "resource_name": v.resource_name}
            )
        return framework_section(self.framework, self.controls, failing)

    def at_least(self, severity: Severity) -> CheckResult:
        """Only the violations of `severity` or above (an unspecified severity counts as the lowest)."""
        known = {s.value for s in Severity}
        kept = [
            v for v in self.violations if v.severity in known and Severity(v.severity).rank >= severity.rank
        ]
        return replace(
            self,
            violations=kept,
            min_severity=severity.value,
            below_min_severity=self.below_min_severity + len(self.violations) - len(kept),
        )

    def summary(self) -> dict[str, Any]:
        by_severity: dict[str, int] = {}
        for violation in self.violations:
            by_severity[violation.severity or "unspecified"] = (
                by_severity.get(violation.severity or "unspecified", 0) + 1
            )
        return {
            "program": str(self.program),
            "stack": self.stack,
            "preview": self.preview,
            "pack": self.pack,
            "resources": self.resources,
            "violations": len(self.violations),
            "mandatory": len(self.mandatory),
            "advisory": sum(1 for v in self.violations if v.enforcement == "advisory"),
            "by_severity": by_severity,
            "min_severity": self.min_severity or None,
            "below_min_severity": self.below_min_severity,
            "exempted": len(self.exemptions),
            "undecided": len(self.undecided),
            "not_evaluated": len(self.not_evaluated),
            "remediated": len(self.remediations),
            "program_seconds": round(self.program_seconds, 3),
            "analysis_seconds": round(self.analysis_seconds, 3),
        }


def parse_urn(urn: str) -> tuple[str, str]:
    """`urn:pulumi:stack::project::parent$type::name` -> (type, name)."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", ""
    return parts[2].split("$")[-1], "::".join(parts[3:])


def _references(tags: Any) -> dict[str, list[str]]:
    refs: dict[str, list[str]] = {c: [] for c in REFERENCE_CATALOGUES}
    for tag in tags:
        catalogue, _, ref = str(tag).partition(":")
        if catalogue in refs and ref:
            refs[catalogue].append(ref)
    return refs


def _violation(
    diagnostic: Diagnostic, analysis: AnalysisResult, sources: Mapping[str, tuple[str, int]]
) -> Violation:
    info = analysis.pack.policies.get(diagnostic.policy)
    message = diagnostic.message
    # The SDK prefixes the policy description; keep the specific part.
    if diagnostic.description and message.startswith(diagnostic.description + "\n"):
        message = message[len(diagnostic.description) + 1 :]
    resource_type, resource_name = parse_urn(diagnostic.urn)
    return Violation(
        rule_id=diagnostic.policy,
        policy=f"{diagnostic.pack}@v{analysis.pack.version}/{diagnostic.policy}",
        severity=diagnostic.severity or (info.severity if info else ""),
        enforcement=diagnostic.enforcement,
        resource_type=resource_type,
        resource_name=resource_name,
        urn=diagnostic.urn,
        message=message,
        references=_references(info.tags if info else ()),
        source_file=sources.get(diagnostic.urn, ("", 0))[0],
        source_line=sources.get(diagnostic.urn, ("", 0))[1],
    )


# How the SDK reports a policy that read a value unknown at preview (advisory, whatever the policy's level).
_UNDECIDED = re.compile(r"^can't run policy '[^']+' from policy pack '[^']+' during preview: ")


def collect(
    analysis: AnalysisResult, sources: Mapping[str, tuple[str, int]] | None = None
) -> tuple[list[Violation], list[dict[str, str]], list[dict[str, Any]], list[dict[str, str]]]:
    """(violations, exemptions, remediations, undecided): a policy that cannot decide yet at preview is
    not a violation; it is listed apart with what it needs."""
    undecided = []
    violations = []
    for diagnostic in analysis.diagnostics:
        match = _UNDECIDED.match(diagnostic.message)
        if match:
            undecided.append({"rule_id": diagnostic.policy, "detail": diagnostic.message[match.end() :]})
        else:
            violations.append(_violation(diagnostic, analysis, sources or {}))
    order = {"mandatory": 0, "advisory": 1}
    violations.sort(key=lambda v: (order.get(v.enforcement, 2), v.rule_id, v.urn, v.message))
    exemptions = [
        {"rule_id": n.policy, "detail": n.reason[len(EXEMPTION_PREFIX) :]}
        for n in analysis.not_applicable
        if n.reason.startswith(EXEMPTION_PREFIX)
    ]
    remediations = [
        {
            "policy": r.policy,
            "urn": r.urn,
            "description": r.description,
            "diagnostic": r.diagnostic,
            "properties": dict(r.properties),
        }
        for r in analysis.remediations
    ]
    return violations, exemptions, remediations, undecided


def resolve_stack(
    project: PulumiProject, stack: str | None, config_file: Path | None
) -> tuple[str, dict[str, str], list[str]]:
    """--stack NAME reads Pulumi.NAME.yaml next to the program; --config FILE reads that file."""
    if config_file is not None:
        name = stack or (config_file.name.split(".")[1] if config_file.name.count(".") >= 2 else "dev")
        config, secrets = load_stack_config(config_file, project.name)
        return name, config, secrets
    name = stack or "dev"
    path = project.directory / f"Pulumi.{name}.yaml"
    if path.is_file():
        config, secrets = load_stack_config(path, project.name)
        return name, config, secrets
    if stack is not None:
        raise ProgramError(f"no stack config {path} (give --config FILE or create it)")
    return name, {}, []


def analyze_recorded(
    recorded: RecordedStack, *, pack_dir: Path, policy_config: Mapping[str, PolicyConfig] | None = None
) -> AnalysisResult:
    with PolicyPackProcess(pack_dir, env=pack_environment(recorded)) as pack:
        return analyze_stack(pack.stub, recorded, pack_dir=pack.pack_dir, policy_config=policy_config)


def run_check(
    program_dir: Path,
    *,
    stack: str | None = None,
    config_file: Path | None = None,
    policy_config_file: Path | None = None,
    pack_dir: Path = DEFAULT_PACK_DIR,
    preview: bool = True,
) -> CheckResult:
    project = PulumiProject.load(program_dir)
    stack_name, config, secrets = resolve_stack(project, stack, config_file)
    policy_config = load_policy_config(policy_config_file) if policy_config_file else {}
    started = time.perf_counter()
    recorded = record(project, stack=stack_name, config=config, secret_keys=secrets, preview=preview)
    return check_recorded(
        recorded,
        program=project.directory,
        pack_dir=pack_dir,
        policy_config=policy_config,
        recording_seconds=time.perf_counter() - started,
    )


def check_recorded(
    recorded: RecordedStack,
    *,
    program: Path,
    pack_dir: Path,
    policy_config: Mapping[str, PolicyConfig],
    recording_seconds: float,
    resource_types: Mapping[str, str] | None = None,
    default_source: str = "Pulumi.yaml",
    not_evaluated: list[NotEvaluated] | None = None,
) -> CheckResult:
    """Analyze a recorded stack with the pack. `resource_types` (URN -> type) names resources as their
    source does (a template's `AWS::S3::Bucket`); `default_source` is where stack-level findings point."""
    started = time.perf_counter()
    analysis = analyze_recorded(recorded, pack_dir=pack_dir, policy_config=policy_config)
    analysis_seconds = time.perf_counter() - started
    sources = {r.urn: (r.source_file, r.source_line) for r in recorded.resources if r.source_file}
    violations, exemptions, remediations, undecided = collect(analysis, sources)
    types = resource_types or {}
    return CheckResult(
        program=program,
        stack=recorded.stack,
        preview=recorded.dry_run,
        pack=f"{analysis.pack.name}@v{analysis.pack.version}",
        resources=analysis.resources_analyzed,
        violations=[replace(v, resource_type=types.get(v.urn, v.resource_type)) for v in violations],
        exemptions=exemptions,
        remediations=remediations,
        undecided=undecided,
        program_seconds=recording_seconds,
        analysis_seconds=analysis_seconds,
        rules={
            name: {
                "description": p.description,
                "severity": p.severity,
                "remediation": p.remediation_steps,
                "tags": list(p.tags),
            }
            for name, p in analysis.pack.policies.items()
        },
        default_source=default_source,
        not_evaluated=list(not_evaluated or ()),
    )


# ------------------------------------------------------------------------------------------- rendering
def render_json(result: CheckResult) -> str:
    return json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "violations": [v.to_dict() for v in result.violations],
            "exemptions": result.exemptions,
            "remediations": result.remediations,
            "undecided": result.undecided,
            "not_evaluated": [n.to_dict() for n in result.not_evaluated],
            "summary": result.summary(),
            **({"framework": section} if (section := result.framework_section()) else {}),
        },
        indent=2,
    )


def _violations_table(result: CheckResult) -> str:
    """The violations as plain text, 200 columns wide (it goes to files and CI logs)."""
    drawn = table("ENFORCEMENT", "SEVERITY", "RULE", "RESOURCE", "MESSAGE", listing=True)
    for v in result.violations:
        drawn.add_row(v.enforcement, v.severity or "-", v.rule_id, v.resource_name or "(stack)", v.message)
    return render(drawn)


def render_table(result: CheckResult) -> str:
    lines = [_violations_table(result)] if result.violations else []
    for exemption in result.exemptions:
        lines.append(f"exempted  {exemption['rule_id']}: {exemption['detail']}")
    for pending in result.undecided:
        lines.append(f"undecided {pending['rule_id']}: {pending['detail']}")
    for skipped in result.not_evaluated:
        where = f" ({skipped.source_file}:{skipped.source_line})" if skipped.source_file else ""
        lines.append(
            f"not evaluated {skipped.resource_type} {skipped.resource_name}{where}: {skipped.reason}"
        )
    for remediation in result.remediations:
        _type, name = parse_urn(remediation["urn"])
        if remediation["diagnostic"]:
            lines.append(f"remediation {remediation['policy']} on {name}: {remediation['diagnostic']}")
        else:
            lines.append(f"remediated {name}: {remediation['description']}")
    section = result.framework_section()
    if section:
        for control in section["controls"]:
            if control["status"] != "not_covered":
                failing = sorted({f["resource_name"] for f in control["failing"]})
                lines.append(
                    f"{section['key']} {control['id']} {control['status']}: {control['title']}"
                    + (f" ({', '.join(failing)})" if failing else "")
                )
        score = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(section["score"].items()))
        lines.append(f"{section['name']}: {score} (scope: {section['scope']})")
    s = result.summary()
    lines.append(
        f"{s['resources']} resources checked by {s['pack']} "
        f"({result.stack}{', preview' if result.preview else ''}): "
        f"{s['mandatory']} mandatory, {s['advisory']} advisory violations, {s['exempted']} exempted, "
        f"{s['undecided']} undecided until apply"
        + (f", {s['not_evaluated']} not evaluated" if s["not_evaluated"] else "")
    )
    return "\n".join(lines)


_SARIF_LEVEL = {"mandatory": "error", "advisory": "warning"}


def _display_path(result: CheckResult, source_file: str) -> str:
    """The constructing file as code scanning resolves it: relative to the working directory (the
    repository root in CI) when the program lies under it."""
    path = result.program / source_file
    return path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else path.as_posix()


def _where(result: CheckResult, violation: Violation) -> tuple[str, int]:
    if violation.source_file:
        return _display_path(result, violation.source_file), violation.source_line
    # A stack-level finding: the project file (the first template).
    return _display_path(result, result.default_source), 1


def _not_evaluated_where(result: CheckResult, skipped: NotEvaluated) -> tuple[str, int]:
    if skipped.source_file:
        return _display_path(result, skipped.source_file), skipped.source_line
    return _display_path(result, result.default_source), 1


def render_sarif(result: CheckResult) -> str:
    rule_ids = sorted({v.rule_id for v in result.violations})
    rules = []
    for rule_id in rule_ids:
        meta = result.rules.get(rule_id, {})
        severity = meta.get("severity") or "low"
        rules.append(
            {
                "id": rule_id,
                "name": rule_id,
                "shortDescription": {"text": meta.get("description") or rule_id},
                "help": {"text": meta.get("remediation") or meta.get("description") or rule_id},
                "properties": {
                    "tags": ["security", *meta.get("tags", [])],
                    "security-severity": SECURITY_SEVERITY[Severity(severity)],
                },
            }
        )
    results = []
    for v in result.violations:
        path, line = _where(result, v)
        found = location(path, line)
        found["logicalLocations"] = [
            {
                "fullyQualifiedName": v.urn or result.stack,
                "name": v.resource_name or result.stack,
                "kind": "resource",
            }
        ]
        results.append(
            {
                "ruleId": v.rule_id,
                "level": _SARIF_LEVEL.get(v.enforcement, "note"),
                "message": plain_text(f"{v.resource_name or 'stack'}: {v.message}"),
                "locations": [found],
                "partialFingerprints": {"bucketguard/v1": fingerprint(v.rule_id, v.urn, v.message)},
                "properties": {
                    "severity": v.severity,
                    "enforcement": v.enforcement,
                    "references": dict(v.references),
                },
            }
        )
    log = sarif_log(
        automation_id=f"bucketguard/policy/{result.stack}/",
        rules=rules,
        results=results,
        properties={"summary": result.summary()},
    )
    if result.not_evaluated:
        # What the run could not analyze is a tool notification, not a result of some rule.
        log["runs"][0]["invocations"] = [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {
                        "level": "note",
                        "message": plain_text(
                            f"not evaluated: {n.resource_type} {n.resource_name}: {n.reason}"
                        ),
                        "locations": [location(*_not_evaluated_where(result, n))],
                    }
                    for n in result.not_evaluated
                ],
            }
        ]
    return json.dumps(log, indent=2)


def render_junit(result: CheckResult) -> str:
    """JUnit XML for CI test reports: one test case per rule of the pack, one failure per mandatory
    violation of it; advisory violations and undecided rules are the case's output, not failures."""
    cases = []
    for rule_id in sorted(result.rules):
        case = JUnitCase(f"bucketguard.{result.stack}", rule_id)
        for v in (v for v in result.violations if v.rule_id == rule_id):
            if v.enforcement == "mandatory":
                path, line = _where(result, v)
                message = f"{v.resource_name or 'stack'}: {v.message}"
                case.failures.append(Failure(message, v.severity or "-", f"{v.urn}\n{path}:{line}"))
            else:
                case.output.append(f"{v.enforcement} {v.resource_name or 'stack'}: {v.message}")
        case.output += [u["detail"] for u in result.undecided if u["rule_id"] == rule_id]
        cases.append(case)
    for skipped in result.not_evaluated:
        path, line = _not_evaluated_where(result, skipped)
        cases.append(
            JUnitCase(
                f"bucketguard.{result.stack}.not_evaluated",
                f"{skipped.resource_type} {skipped.resource_name}",
                skipped=Failure(skipped.reason, "", f"{path}:{line}"),
            )
        )
    seconds = result.program_seconds + result.analysis_seconds
    return junit_xml(f"bucketguard policy check ({result.stack})", cases, seconds)


CSV_COLUMNS = (
    "rule_id",
    "severity",
    "enforcement",
    "resource_type",
    "resource_name",
    "urn",
    "file",
    "line",
    "message",
)


def render_csv(result: CheckResult) -> str:
    rows: list[tuple[object, ...]] = []
    for v in result.violations:
        path, line = _where(result, v)
        rows.append(
            (
                v.rule_id,
                v.severity,
                v.enforcement,
                v.resource_type,
                v.resource_name,
                v.urn,
                path,
                line,
                v.message,
            )
        )
    for skipped in result.not_evaluated:
        path, line = _not_evaluated_where(result, skipped)
        rows.append(
            (
                "",
                "",
                "not-evaluated",
                skipped.resource_type,
                skipped.resource_name,
                "",
                path,
                line,
                skipped.reason,
            )
        )
    return csv_text(CSV_COLUMNS, rows)


RENDERERS = {
    "table": render_table,
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
    "csv": render_csv,
}
