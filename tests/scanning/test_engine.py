"""The engine on real rules and real bytes: verdicts, findings, hashes, severity, precedence."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.engine import WINDOW_BYTES, Engine
from bucketguard.scanning.hashes import HashList
from bucketguard.scanning.limits import Limits
from bucketguard.scanning.result import FindingSource, Reason, ScanResult, Severity, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from tests.scanning.engine_support import BACKENDS, EICAR, engine, nested_zip, zip_of


def scan(tmp_path: Path, name: str, data: bytes, scanner: Engine | None = None) -> ScanResult:
    path = tmp_path / name.replace("/", "_")
    path.write_bytes(data)
    return (scanner or engine()).scan_file(path, name=name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sample", pranks.all_samples(), ids=lambda s: s.key)
def test_every_prank_and_clean_file_gets_its_verdict(
    tmp_path: Path, backend: str, sample: pranks.Sample
) -> None:
    result = scan(tmp_path, sample.key, sample.data, engine(backend))
    assert result.verdict is sample.expected, result
    if sample.expected_reason is not None:
        assert result.reason is sample.expected_reason
    assert result.backend == backend
    assert result.ruleset_version == load_ruleset().version


def test_finding_names_the_inner_path_through_nested_archives(tmp_path: Path) -> None:
    result = scan(tmp_path, "outer.zip", pranks.eicar_nested_zip())
    assert result.verdict is Verdict.MALICIOUS
    assert [f.path for f in result.findings] == ["outer.zip!docs/inner.zip!eicar.com"]
    assert result.findings[0].rule == "EICAR_Test_File"
    assert result.findings[0].source is FindingSource.YARA


def test_result_carries_sha256_and_size_of_the_object(tmp_path: Path) -> None:
    data = pranks.clean_pdf()
    result = scan(tmp_path, "a.pdf", data)
    assert result.verdict is Verdict.CLEAN
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert result.duration_ms > 0


@pytest.mark.parametrize("size", [(1 << 20) + 1, 3 << 20])
def test_files_past_the_in_memory_size_are_hashed_concurrently_and_still_matched(
    tmp_path: Path, size: int
) -> None:
    data = os.urandom(size - len(EICAR) - 1) + b"\n" + EICAR
    result = scan(tmp_path, "big.bin", data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == size
    # EICAR must be at the start of the file to count: here it is not, so the big file is clean.
    assert result.verdict is Verdict.CLEAN


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_windowed_scan_finds_a_match_across_a_window_boundary_and_hashes_once(
    tmp_path: Path, backend: str
) -> None:
    from bucketguard.scanning.engine import WINDOW_OVERLAP

    path = tmp_path / "huge.js"
    loader = pranks.injected_js()
    # Put the injected script straddling the first window's end, inside the overlap.
    boundary = WINDOW_BYTES - WINDOW_OVERLAP // 2 - len(loader) // 2
    with path.open("wb") as stream:
        stream.write(b"/* padding */\n" + b" " * (boundary - 14))
        stream.write(loader)
        stream.write(b"\n" * (WINDOW_BYTES // 2))
    result = engine(backend).scan_file(path, name="huge.js")
    assert result.verdict is Verdict.MALICIOUS, result
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.size == path.stat().st_size


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_window_of_a_many_window_file_is_matched_and_hashed_in_order(
    tmp_path: Path, backend: str
) -> None:
    # Four windows: while one is matched the next is prepared and the one after read, through two
    # alternating buffers; a window read into the wrong buffer, hashed twice or skipped shows here.
    (tmp_path / "rules").mkdir()
    markers = [b"camp-window-%d" % index for index in range(4)]
    (tmp_path / "rules" / "windows.yar").write_text(
        "".join(
            f'rule Window_{i} {{ strings: $m = "{m.decode()}" condition: $m }}\n'
            for i, m in enumerate(markers)
        )
    )
    size = 3 * WINDOW_BYTES + (5 << 20)  # four windows of about 25 MiB
    data = bytearray(os.urandom(size))
    for index, marker in enumerate(markers):  # one in the middle of each quarter: each in one window
        at = index * size // 4 + size // 8
        data[at : at + len(marker)] = marker
    path = tmp_path / "poster.bin"
    path.write_bytes(data)
    scanner = Engine(load_ruleset([tmp_path / "rules"], include_bundled=False), engine=backend)
    result = scanner.scan_file(path, name="poster.bin")
    assert sorted(f.rule for f in result.findings) == [f"Window_{i}" for i in range(4)], result
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == size


def test_empty_file_is_scanned_and_clean(tmp_path: Path) -> None:
    result = scan(tmp_path, "empty.txt", b"")
    assert result.verdict is Verdict.CLEAN
    assert result.sha256 == hashlib.sha256(b"").hexdigest()
    assert result.size == 0


def test_hash_blocklist_hit_on_the_object_and_inside_an_archive(tmp_path: Path) -> None:
    payload = b"a perfectly ordinary looking file\n"
    digest = hashlib.sha256(payload).hexdigest()
    scanner = engine(hashes=HashList.from_hashes([digest], label="camp blocklist"))
    direct = scan(tmp_path, "plain.txt", payload, scanner)
    assert direct.verdict is Verdict.MALICIOUS
    assert [(f.rule, f.source, f.path) for f in direct.findings] == [
        ("sha256_blocklist", FindingSource.HASH, "")
    ]
    assert "camp blocklist" in direct.findings[0].detail
    inner = scan(tmp_path, "bundle.zip", zip_of({"docs/plain.txt": payload}), scanner)
    assert inner.verdict is Verdict.MALICIOUS
    assert inner.findings[0].path == "bundle.zip!docs/plain.txt"
    assert inner.findings[0].source is FindingSource.HASH


def test_hash_list_does_not_flag_other_files(tmp_path: Path) -> None:
    scanner = engine(hashes=HashList.from_hashes(["0" * 64]))
    assert scan(tmp_path, "plain.txt", b"hello", scanner).verdict is Verdict.CLEAN


def test_min_severity_drops_lower_findings_and_says_so(tmp_path: Path) -> None:
    # The injected loader matches a high and a medium rule.
    low = scan(tmp_path, "a.js", pranks.injected_js(), engine(min_severity=Severity.LOW))
    severities = {f.severity for f in low.findings}
    assert Severity.MEDIUM in severities and Severity.HIGH in severities
    high = scan(tmp_path, "a.js", pranks.injected_js(), engine(min_severity=Severity.HIGH))
    assert high.verdict is Verdict.MALICIOUS
    assert all(f.severity.at_least(Severity.HIGH) for f in high.findings)
    assert "ignored below high" in high.detail
    critical = scan(tmp_path, "a.js", pranks.injected_js(), engine(min_severity=Severity.CRITICAL))
    assert critical.verdict is Verdict.CLEAN
    assert critical.findings == ()
    assert "WebInject_Remote_Script_Writer" in critical.detail


def test_malicious_wins_over_unscannable_in_the_same_archive(tmp_path: Path) -> None:
    archive = zip_of({"secret.zip": pranks.encrypted_zip(), "eicar.com": EICAR})
    result = scan(tmp_path, "mixed.zip", archive)
    assert result.verdict is Verdict.MALICIOUS
    assert result.findings[0].path == "mixed.zip!eicar.com"


def test_unscannable_member_makes_the_archive_unscannable_not_clean(tmp_path: Path) -> None:
    archive = zip_of({"readme.txt": b"hello", "secret.zip": pranks.encrypted_zip()})
    result = scan(tmp_path, "mixed.zip", archive)
    assert result.verdict is Verdict.UNSCANNABLE
    assert result.reason is Reason.ENCRYPTED
    assert "mixed.zip!secret.zip!secret/eicar.com" in result.detail


def test_depth_limit_reached_after_a_malicious_member_still_malicious(tmp_path: Path) -> None:
    archive = zip_of({"eicar.com": EICAR, "deep.zip": nested_zip(4, b"harmless")})
    result = scan(tmp_path, "a.zip", archive, engine(limits=Limits(max_depth=2)))
    assert result.verdict is Verdict.MALICIOUS


def test_large_member_spills_to_a_temporary_file_that_is_deleted(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    big = os.urandom(3 << 20)
    archive = zip_of({"big.bin": big, "eicar.com": EICAR}, compression=0)
    result = scan(tmp_path, "a.zip", archive, engine(work_dir=work))
    assert result.verdict is Verdict.MALICIOUS
    assert list(work.iterdir()) == []


def test_engine_rejects_an_unknown_backend() -> None:
    with pytest.raises(ValueError):
        Engine(load_ruleset(), engine="clamav")
