"""The path most files take: read whole into memory, matched, sniffed, and clean without the walk when
there is nothing to walk. Whatever the rules, a container or the hash list would find must still be found."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import tarfile
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.backends import BackendError, RuleMatch
from bucketguard.scanning.hashes import HashList
from bucketguard.scanning.result import Reason, ScanResult, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from tests.scanning.engine_support import BACKENDS, EICAR, engine, tar_of, zip_of

TEXT = pranks.clean_js()


def v7_tar(name: str, data: bytes, checksum_tail: bytes) -> bytes:
    """A tar of one member with a V7 header (no ustar magic: its checksum is its only mark), the checksum
    field's last byte, after the NUL that ends the digits, set to `checksum_tail` (GNU tar and tarfile
    read the digits up to the NUL)."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    header[257:265] = bytes(8)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0" % sum(header) + checksum_tail
    return bytes(header) + data + bytes(-len(data) % 512) + bytes(1024)


# Small files whose raw bytes the rules do not match: what makes them malicious is inside, found only
# when the first look at the file (a table of first bytes, marks at fixed offsets, a zip at the end)
# hands it to the walk.
HIDDEN = {
    "zip of EICAR behind text (the first bytes say text)": TEXT + zip_of({"e.com": EICAR}),
    "zip of EICAR behind an image's signature": pranks.clean_png() + zip_of({"e.com": EICAR}),
    "ustar tar of gzipped EICAR": tar_of({"e.gz": gzip.compress(EICAR)}),
    "V7 tar of gzipped EICAR": v7_tar("e.gz", gzip.compress(EICAR), b" "),
    "V7 tar, a byte after the checksum's NUL": v7_tar("e.gz", gzip.compress(EICAR), b"x"),
    "injected script in UTF-16 without a mark": pranks.injected_js().decode().encode("utf-16-le"),
    "injected script in UTF-16 with a mark": b"\xff\xfe" + pranks.injected_js().decode().encode("utf-16-le"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("data", HIDDEN.values(), ids=HIDDEN.keys())
def test_what_a_small_file_holds_is_found(tmp_path: Path, backend: str, data: bytes) -> None:
    path = tmp_path / "upload.js"
    path.write_bytes(data)
    result = engine(backend).scan_file(path)
    assert result.verdict is Verdict.MALICIOUS, result


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_plain_small_file_matched_by_a_rule_is_malicious(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "eicar.txt"
    path.write_bytes(EICAR)
    result = engine(backend).scan_file(path)
    assert result.verdict is Verdict.MALICIOUS
    assert [f.rule for f in result.findings] == ["EICAR_Test_File"]


def test_a_plain_small_file_on_the_hash_list_is_malicious(tmp_path: Path) -> None:
    path = tmp_path / "site.js"
    path.write_bytes(TEXT)
    listed = HashList.from_hashes([hashlib.sha256(TEXT).hexdigest()], label="camp")
    result = engine(hashes=listed).scan_file(path)
    assert result.verdict is Verdict.MALICIOUS
    assert [f.rule for f in result.findings] == ["sha256_blocklist"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clean_small_file_gets_the_whole_result(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "site.js"
    path.write_bytes(TEXT)
    scanner = engine(backend)
    result = scanner.scan_file(path, name="camp/site.js")
    expected = ScanResult(
        "camp/site.js",
        Verdict.CLEAN,
        sha256=hashlib.sha256(TEXT).hexdigest(),
        size=len(TEXT),
        backend=backend,
        ruleset_version=load_ruleset().version,
        duration_ms=result.duration_ms,
    )
    assert result == expected
    assert result.duration_ms > 0


class _FailingMatcher:
    """The real matcher, but whose match of bytes in memory fails as a backend does (a timeout)."""

    def __init__(self, real: object) -> None:
        self.backend = getattr(real, "backend")  # noqa: B009 - any matcher's

    def match_bytes(self, data: bytes | memoryview, *, name: str) -> list[RuleMatch]:
        raise BackendError(f"yara-x could not scan {name}: timeout")


def test_a_small_file_whose_match_fails_is_an_error_not_clean(tmp_path: Path) -> None:
    path = tmp_path / "site.js"
    path.write_bytes(TEXT)
    scanner = engine()
    scanner.matcher = _FailingMatcher(scanner.matcher)  # type: ignore[assignment]
    result = scanner.scan_file(path)
    assert result.verdict is Verdict.ERROR
    assert result.reason is Reason.INTERNAL_ERROR
    assert "timeout" in result.detail


def test_a_clean_result_made_directly_is_a_scan_result_like_any_other() -> None:
    made = ScanResult.clean("a.js", "ab" * 32, 3, "yara-x", "v1", 0.5)
    usual = ScanResult("a.js", Verdict.CLEAN, (), None, "", "ab" * 32, 3, "yara-x", "v1", 0.5)
    assert made == usual
    assert hash(made) == hash(usual)
    assert made.to_dict() == usual.to_dict()
    assert made.is_clean
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.verdict = Verdict.MALICIOUS  # type: ignore[misc]
