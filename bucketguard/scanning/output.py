"""Scan results rendered for people (a table), for programs (JSON) and for code scanning (SARIF 2.1.0)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bucketguard.sarif import SECURITY_SEVERITY, fingerprint, location, sarif_log
from bucketguard.scanning.result import Finding, ScanResult, Severity, Verdict

if TYPE_CHECKING:  # rich is imported when a table is drawn, not by every scan (JSON, SARIF, the Lambda)
    from rich.text import Text

    from bucketguard.tables import Table

JSON_SCHEMA_VERSION = 1

VERDICT_STYLES = {
    Verdict.CLEAN: "green",
    Verdict.MALICIOUS: "bold red",
    Verdict.UNSCANNABLE: "yellow",
    Verdict.ERROR: "magenta",
}
_SARIF_LEVEL = {
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}


@dataclasses.dataclass(frozen=True)
class ObjectActions:
    """What was done to a scanned object besides scanning it (`scan s3://... --apply`)."""

    tagged: bool = False
    quarantined_to: str | None = None  # s3://bucket/key of the verified copy
    promoted_to: str | None = None
    deleted_version: str | None = None  # the scanned version, removed from its bucket ("null": unversioned)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # not dataclasses.asdict: its deep copy cost more than encoding the result


NO_ACTIONS = ObjectActions()


def _with_actions(
    results: Sequence[ScanResult], actions: Sequence[ObjectActions] | None
) -> list[tuple[ScanResult, ObjectActions]]:
    return list(zip(results, actions or [NO_ACTIONS] * len(results), strict=True))


# What a summary counts of one result: verdict, findings, size, backend, ruleset version, duration (ms).
_Counted = tuple[str, int, int | None, str, str, float]


def summarize(results: Sequence[ScanResult]) -> dict[str, Any]:
    counted = [(r.verdict.value, len(r.findings), r.size, r.backend, r.ruleset_version, r.duration_ms)
               for r in results]  # fmt: skip
    return _summary(counted)


def _summary(counted: Sequence[_Counted]) -> dict[str, Any]:
    # Columns by zip (a starred name in a loop would make a list per result: 2 us of each).
    verdicts, findings, sizes, backends, versions, durations = list(zip(*counted, strict=True)) or [()] * 6
    found = Counter(verdicts)
    used_backends = sorted(set(backends) - {""})
    used_versions = sorted(set(versions) - {""})
    return {
        "targets": len(counted),
        **{verdict.value: found.get(verdict.value, 0) for verdict in Verdict},
        "findings": sum(findings),
        "bytes": sum(filter(None, sizes)),
        "backend": used_backends[0] if len(used_backends) == 1 else used_backends,
        "ruleset_version": used_versions[0] if len(used_versions) == 1 else used_versions,
        "duration_ms": round(sum(durations), 3),
    }


def all_clean(results: Sequence[ScanResult]) -> bool:
    return all(result.is_clean for result in results)


class JsonDocument:
    """The `--format json` document, written as results come: `schema_version`, `results` (one a line: a
    result's dictionary form with what was done to its object) and, at `close`, `summary`. Each result is
    encoded by json's C encoder; an indented document falls back to its Python encoder, which took longer
    than scanning 10,000 small files."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write
        self._counted: list[_Counted] = []
        self._encode = json.JSONEncoder().encode
        self._nothing_done = NO_ACTIONS.to_dict()  # what most results carry: made once
        write(f'{{"schema_version": {JSON_SCHEMA_VERSION},\n"results": [\n')

    def add(self, fields: dict[str, Any], done: ObjectActions = NO_ACTIONS) -> None:
        """One result in its dictionary form (`ScanResult.to_dict`), which gains its `actions`."""
        fields["actions"] = self._nothing_done if done is NO_ACTIONS else done.to_dict()
        self._write((",\n" if self._counted else "") + self._encode(fields))
        self._counted.append((fields["verdict"], len(fields["findings"]), fields["size"], fields["backend"],
                              fields["ruleset_version"], fields["duration_ms"]))  # fmt: skip

    @property
    def all_clean(self) -> bool:
        return all(counted[0] == Verdict.CLEAN for counted in self._counted)

    def close(self) -> None:
        self._write(f'\n],\n"summary": {self._encode(_summary(self._counted))}}}')


def json_document(results: Sequence[ScanResult], actions: Sequence[ObjectActions] | None = None) -> str:
    """The `--format json` document of `results` (see JsonDocument)."""
    parts: list[str] = []
    document = JsonDocument(parts.append)
    for result, done in _with_actions(results, actions):
        document.add(result.to_dict(), done)
    document.close()
    return "".join(parts)


def what_was_found(result: ScanResult) -> str:
    """One line on why a result is not clean: the rules that matched, or the reason and its context."""
    if result.findings:
        shown = []
        for finding in result.findings:
            where = f" in {_inner_path(result.target, finding.path)}" if finding.path else ""
            shown.append(f"{finding.rule} ({finding.severity.value}){where}")
        return "; ".join(shown)
    if result.reason is not None:
        # Details name the full path; next to the target column, what is inside it is enough.
        detail = result.detail.replace(f"{result.target}!", "").replace(f"{result.target}: ", "")
        return f"{result.reason.value}: {detail}" if detail else result.reason.value
    return result.detail


def _inner_path(target: str, path: str) -> str:
    # Findings name the full path (`outer.zip!docs/evil.js`); next to the target, the inner part suffices.
    return path[len(target) + 1 :] if path.startswith(target + "!") else path


def verdict_text(verdict: Verdict) -> Text:
    from rich.text import Text

    return Text(verdict.value, style=VERDICT_STYLES[verdict])


def results_table(results: Sequence[ScanResult], *, title: str | None = None) -> Table:
    from bucketguard.tables import table as new_table

    # keys and archive members' names are the uploader's: text, never console markup
    table = new_table("verdict", "target", "what was found", title=title)
    for result in results:
        table.add_row(verdict_text(result.verdict), result.target, what_was_found(result))
    return table


def summary_line(results: Sequence[ScanResult]) -> str:
    summary = summarize(results)
    parts = [f"{summary[v.value]} {v.value}" for v in Verdict if summary[v.value]]
    backend = summary["backend"] if isinstance(summary["backend"], str) else ", ".join(summary["backend"])
    version = summary["ruleset_version"]
    version_text = version if isinstance(version, str) else ", ".join(version)
    scanned = f"{summary['targets']} scanned" + (f": {', '.join(parts)}" if parts else "")
    engine = f" with {backend}, rules {version_text}" if backend else ""
    return f"{scanned}{engine}"


# --- SARIF -------------------------------------------------------------------------------------------


def _problem_rule_id(result: ScanResult) -> str:
    reason = result.reason.value if result.reason else "unknown"
    return f"bucketguard/{result.verdict.value}/{reason}"


def _finding_rule(finding: Finding) -> dict[str, Any]:
    description = finding.detail or finding.rule
    return {
        "id": finding.rule,
        "name": finding.rule,
        "shortDescription": {"text": description},
        "fullDescription": {"text": description},
        "help": {"text": f"Rule {finding.rule} ({finding.source.value}): {description}"},
        "defaultConfiguration": {"level": _SARIF_LEVEL[finding.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "tags": ["security", "malware", finding.source.value],
        },
    }


def _problem_rule(result: ScanResult) -> dict[str, Any]:
    verdict = result.verdict.value
    reason = result.reason.value if result.reason else "unknown"
    text = f"The object could not be scanned completely ({verdict}: {reason}); it is not known to be clean."
    return {
        "id": _problem_rule_id(result),
        "name": f"{verdict}-{reason}".replace("_", "-"),
        "shortDescription": {"text": f"Object {verdict}: {reason}"},
        "fullDescription": {"text": text},
        "help": {"text": text},
        "defaultConfiguration": {"level": "error"},
        "properties": {"security-severity": "5.0", "tags": ["security", verdict]},
    }


def to_sarif(results: Sequence[ScanResult], actions: Sequence[ObjectActions] | None = None) -> dict[str, Any]:
    """SARIF 2.1.0 as GitHub code scanning accepts it: one run, rules in tool.driver.rules, one result per
    finding and one per object that could not be scanned (never silently dropped), each with what was done
    to its object."""
    rules: dict[str, dict[str, Any]] = {}
    sarif_results: list[dict[str, Any]] = []
    for result, done in _with_actions(results, actions):
        for finding in result.findings:
            rules.setdefault(finding.rule, _finding_rule(finding))
            where = finding.path or result.target
            sarif_results.append(
                {
                    "ruleId": finding.rule,
                    "level": _SARIF_LEVEL[finding.severity],
                    "message": {"text": f"{finding.rule} matched {where}: {finding.detail or finding.rule}"},
                    "locations": [location(result.target)],
                    "partialFingerprints": {
                        "bucketguard/v1": fingerprint(result.target, finding.rule, finding.path)
                    },
                    "properties": {
                        "verdict": result.verdict.value,
                        "source": finding.source.value,
                        "severity": finding.severity.value,
                        "innerPath": finding.path,
                        "sha256": result.sha256,
                        "actions": done.to_dict(),
                    },
                }
            )
        if result.verdict in (Verdict.UNSCANNABLE, Verdict.ERROR):
            rule_id = _problem_rule_id(result)
            rules.setdefault(rule_id, _problem_rule(result))
            sarif_results.append(
                {
                    "ruleId": rule_id,
                    "level": "error",
                    "message": {"text": f"{result.target}: {what_was_found(result)}"},
                    "locations": [location(result.target)],
                    "partialFingerprints": {"bucketguard/v1": fingerprint(result.target, rule_id)},
                    "properties": {
                        "verdict": result.verdict.value,
                        "sha256": result.sha256,
                        "actions": done.to_dict(),
                    },
                }
            )
    return sarif_log(
        automation_id="bucketguard/scan/",
        rules=list(rules.values()),
        results=sarif_results,
        properties={"summary": summarize(results)},
    )
