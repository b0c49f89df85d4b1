"""Scan results rendered for people (a table), for programs (JSON) and for code scanning (SARIF 2.1.0)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from bucketguard.sarif import SECURITY_SEVERITY, fingerprint, location, plain_text, sarif_log
from bucketguard.scanning.result import Finding, ScanResult, Severity, Verdict

if TYPE_CHECKING:  # rich is imported when a table is drawn, not by every scan (JSON, SARIF, the Lambda)
    from rich.text import Text

    from bucketguard.scanning.engine import CleanRun
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


class _Totals:
    """What a summary counts, result by result or a run of clean results at once."""

    def __init__(self) -> None:
        self.verdicts: Counter[str] = Counter()
        self.findings = 0
        self.bytes = 0
        self.backends: set[str] = set()
        self.versions: set[str] = set()
        self.durations: list[float] = []  # summed at the end, in order: the same sum however they came

    def add(self, verdict: str, findings: int, size: int | None, backend: str, version: str,
            duration_ms: float) -> None:  # fmt: skip
        self.verdicts[verdict] += 1
        self.findings += findings
        self.bytes += size or 0
        self.backends.add(backend)
        self.versions.add(version)
        self.durations.append(duration_ms)

    def add_clean(self, run: CleanRun) -> None:
        self.verdicts[Verdict.CLEAN.value] += len(run)
        self.bytes += sum(run.size)
        self.backends.add(run.backend)
        self.versions.add(run.ruleset_version)
        self.durations += run.duration_ms

    @property
    def count(self) -> int:
        return len(self.durations)

    def summary(self) -> dict[str, Any]:
        used_backends = sorted(self.backends - {""})
        used_versions = sorted(self.versions - {""})
        return {
            "targets": self.count,
            **{verdict.value: self.verdicts.get(verdict.value, 0) for verdict in Verdict},
            "findings": self.findings,
            "bytes": self.bytes,
            "backend": used_backends[0] if len(used_backends) == 1 else used_backends,
            "ruleset_version": used_versions[0] if len(used_versions) == 1 else used_versions,
            "duration_ms": round(sum(self.durations), 3),
        }


def summarize(results: Sequence[ScanResult]) -> dict[str, Any]:
    totals = _Totals()
    for r in results:
        totals.add(r.verdict.value, len(r.findings), r.size, r.backend, r.ruleset_version, r.duration_ms)
    return totals.summary()


def all_clean(results: Sequence[ScanResult]) -> bool:
    return all(result.is_clean for result in results)


# Stand-ins for a clean result's own values in its line, replaced by `%` conversions (see _clean_line).
_TARGET, _SHA256, _SIZE, _DURATION = "\0target", "\0sha256", "\0size", "\0duration"


class JsonDocument:
    """The `--format json` document, written as results come: `schema_version`, `results` (one a line: a
    result's dictionary form with what was done to its object) and, at `close`, `summary`. Each result is
    encoded by json's C encoder; an indented document falls back to its Python encoder, which took longer
    than scanning 10,000 small files. A run of clean results is written from a template of their line,
    filled by `%` in C: no dictionary per file."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write
        self._totals = _Totals()
        self._encode = json.JSONEncoder().encode
        self._nothing_done = NO_ACTIONS.to_dict()  # what most results carry: made once
        self._clean_lines: dict[tuple[str, str], str | None] = {}
        write(f'{{"schema_version": {JSON_SCHEMA_VERSION},\n"results": [\n')

    def add(self, fields: dict[str, Any], done: ObjectActions = NO_ACTIONS) -> None:
        """One result in its dictionary form (`ScanResult.to_dict`), which gains its `actions`."""
        fields["actions"] = self._nothing_done if done is NO_ACTIONS else done.to_dict()
        self._write((",\n" if self._totals.count else "") + self._encode(fields))
        self._totals.add(fields["verdict"], len(fields["findings"]), fields["size"], fields["backend"],
                         fields["ruleset_version"], fields["duration_ms"])  # fmt: skip

    def add_clean_run(self, run: CleanRun) -> None:
        """The lines of a run of clean results, nothing done to their objects: those `add` writes of them."""
        key = (run.backend, run.ruleset_version)
        if key not in self._clean_lines:
            self._clean_lines[key] = self._clean_line(*key)
        line = self._clean_lines[key]
        if line is None:
            for result in run.results():
                self.add(result.to_dict())
            return
        encoded = map(encode_basestring_ascii, run.names), map(encode_basestring_ascii, run.sha256)
        lines = ",\n".join(map(line.__mod__, zip(*encoded, run.size, run.duration_ms, strict=True)))
        self._write((",\n" if self._totals.count else "") + lines)
        self._totals.add_clean(run)

    def _clean_line(self, backend: str, ruleset_version: str) -> str | None:
        """The line `add` writes of a clean result with no detail, as a `%` template of its target and
        sha256 (encoded strings), size and duration: made by the same encoder from the same dictionary
        form, with stand-ins for those four, so the two cannot differ. None should a stand-in not be found
        once (the backend or the ruleset version spelling one)."""
        fields = ScanResult("", Verdict.CLEAN, backend=backend, ruleset_version=ruleset_version).to_dict()
        fields.update(target=_TARGET, sha256=_SHA256, size=_SIZE, duration_ms=_DURATION)
        fields["actions"] = self._nothing_done
        line = self._encode(fields).replace("%", "%%")
        for stand_in, conversion in ((_TARGET, "%s"), (_SHA256, "%s"), (_SIZE, "%d"), (_DURATION, "%r")):
            encoded = self._encode(stand_in)
            if line.count(encoded) != 1:
                return None
            line = line.replace(encoded, conversion)
        return line

    @property
    def all_clean(self) -> bool:
        return set(self._totals.verdicts) <= {Verdict.CLEAN.value}

    def close(self) -> None:
        self._write(f'\n],\n"summary": {self._encode(self._totals.summary())}}}')


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
    description = finding.detail or finding.rule  # a rule's metadata, which a feed wrote
    return {
        "id": finding.rule,
        "name": finding.rule,
        "shortDescription": plain_text(description),
        "fullDescription": plain_text(description),
        "help": plain_text(f"Rule {finding.rule} ({finding.source.value}): {description}"),
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
                    "message": plain_text(
                        f"{finding.rule} matched {where}: {finding.detail or finding.rule}"
                    ),
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
                    "message": plain_text(f"{result.target}: {what_was_found(result)}"),
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
