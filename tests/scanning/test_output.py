"""The `--format json` document (bucketguard.scanning.output.JsonDocument): a run of clean results a match
worker reported column by column is written exactly as the same results one by one."""

from __future__ import annotations

import json

import pytest

from bucketguard.scanning.engine import CleanRun
from bucketguard.scanning.output import JsonDocument, json_document
from bucketguard.scanning.result import Finding, FindingSource, Reason, ScanResult, Severity, Verdict

# Names as a directory can spell them: quotes, backslashes, control characters, percent signs (the run's
# lines are filled by `%`), non-ASCII, and bytes that are not UTF-8 (kept as surrogate escapes).
NAMES = ['up/"quoted".js', "up\\back\\slash", "up/tab\there\nnewline", "up/100%s%d%r%%.txt",
         "up/été/日本.txt", "up/\udcff\udcfe.bin", "\0target", ""]  # fmt: skip


def document(add: object) -> str:
    parts: list[str] = []
    written = JsonDocument(parts.append)
    add(written)  # type: ignore[operator]
    written.close()
    return "".join(parts)


def run_of(names: list[str], backend: str, version: str) -> CleanRun:
    digests = [f"{index:064x}" for index in range(len(names))]
    sizes = [index * 1000 for index in range(len(names))]
    durations = [round(index / 7, 3) for index in range(len(names))]
    return CleanRun(names, digests, sizes, durations, backend, version)


@pytest.mark.parametrize(
    ("backend", "version"),
    [
        ("yara-x", "sha256:f995088840fc"),
        ("yara", '100% "rules" %s'),  # a version spelling `%` and quotes
        ("yara-x", "\0target"),  # one spelling a stand-in of the line's template: written one by one
    ],
)
def test_a_clean_run_is_written_as_its_results_one_by_one(backend: str, version: str) -> None:
    malicious = ScanResult(
        "up/eicar.com",
        Verdict.MALICIOUS,
        (Finding("EICAR", FindingSource.YARA, Severity.HIGH, "", "test file"),),
        sha256="f" * 64,
        size=68,
        backend=backend,
        ruleset_version=version,
        duration_ms=1.5,
    )
    broken = ScanResult("up/pipe", Verdict.UNSCANNABLE, reason=Reason.NOT_A_REGULAR_FILE, detail="a pipe")

    first, second = run_of(NAMES[:3], backend, version), run_of(NAMES[3:], backend, version)

    def in_runs(written: JsonDocument) -> None:
        written.add_clean_run(first)
        written.add(malicious.to_dict())
        written.add_clean_run(second)
        written.add(broken.to_dict())

    written = document(in_runs)
    assert written == json_document([*first.results(), malicious, *second.results(), broken])
    parsed = json.loads(written)
    assert [result["target"] for result in parsed["results"]] == [*NAMES[:3], malicious.target,
                                                                  *NAMES[3:], broken.target]  # fmt: skip
    assert (parsed["summary"]["clean"], parsed["summary"]["malicious"]) == (len(NAMES), 1)


def test_a_document_is_all_clean_only_when_every_result_is() -> None:
    clean = JsonDocument(lambda text: None)
    clean.add_clean_run(run_of(NAMES, "yara-x", "v"))
    assert clean.all_clean
    clean.add(ScanResult("x", Verdict.ERROR, reason=Reason.INTERNAL_ERROR).to_dict())
    assert not clean.all_clean
