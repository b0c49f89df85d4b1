"""UPX-packed executables unpacked in Python (NRV2B/D/E, both checksums checked) and AutoIt-compiled
scripts extracted with autoit-ripper: what they hide is found; a damaged or foreign one stays `packed`.
Real UPX and AutoIt output is ClamAV's test files; the generated UPX samples are written by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bucketguard.scanning.blobs import DECODE_IN_MEMORY_MAX
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.formats import upx
from bucketguard.scanning.limits import Limits
from bucketguard.scanning.result import Reason, ScanResult, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from tests.scanning.engine_support import EICAR, engine, zip_of
from tests.scanning.format_samples import nrv2b_literals, upx_packed

TESTFILES = Path("/usr/share/clamav-testfiles")
TEST_PE_RULES = Path(__file__).resolve().parents[2] / "benchmarks" / "rules"
needs_testfiles = pytest.mark.skipif(
    not TESTFILES.is_dir(), reason="clamav-testfiles missing (make test installs it)"
)
HIDDEN = zip_of({"e.com": EICAR})


def _scan(tmp_path: Path, data: bytes, limits: Limits | None = None) -> ScanResult:
    (tmp_path / "setup.exe").write_bytes(data)
    return engine(limits=limits).scan_file(tmp_path / "setup.exe", name="setup.exe")


def test_upx_packed_image_is_unpacked_and_scanned(tmp_path: Path) -> None:
    packed = upx_packed(HIDDEN)
    assert EICAR not in packed  # NRV2B puts a word of flag bits between every 32 literal bytes
    result = _scan(tmp_path, packed)
    assert result.verdict is Verdict.MALICIOUS, result
    assert {finding.path for finding in result.findings} == {"setup.exe!<UPX-unpacked image>!e.com"}


def test_upx_packed_clean_image_is_clean(tmp_path: Path) -> None:
    result = _scan(tmp_path, upx_packed(b"camp timetable\n" * 40))
    assert result.verdict is Verdict.CLEAN, result


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (lambda: upx_packed(HIDDEN)[:-30], "packed data does not match"),
        (lambda: upx_packed(HIDDEN, method=14), "method 14"),  # LZMA
        (lambda: upx_packed(HIDDEN, declared_size=len(HIDDEN) + 1), "unpacked image does not match"),
        (lambda: upx_packed(HIDDEN, declared_size=DECODE_IN_MEMORY_MAX + 1), "declares"),
    ],
    ids=["cut", "lzma", "wrong-size", "bomb"],
)
def test_upx_that_does_not_check_out_stays_packed(tmp_path: Path, data: object, why: str) -> None:
    assert callable(data)
    result = _scan(tmp_path, data())
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.PACKED), result
    assert why in result.detail


def test_unpacked_image_counts_against_the_budget(tmp_path: Path) -> None:
    result = _scan(tmp_path, upx_packed(bytes(range(256)) * 64), Limits(max_extracted_bytes=4096))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.EXTRACTED_TOO_LARGE), result


@given(st.binary(max_size=512), st.integers(min_value=0, max_value=1 << 16), st.sampled_from("bde"))
def test_nrv_decoders_raise_only_their_own_error(data: bytes, limit: int, method: str) -> None:
    try:
        out = upx._decompress(data, limit, method)
    except upx.UnpackError:
        return
    assert len(out) <= limit


@given(st.binary(max_size=300))
def test_nrv2b_decodes_what_was_encoded(data: bytes) -> None:
    assert upx._decompress(nrv2b_literals(data), len(data) + 1, "b") == data


@needs_testfiles
@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("clam-upx.exe", "clam-upx.exe!<UPX-unpacked image>"),  # NRV2B with matches
        (
            "clam.ea05.exe",
            "clam.ea05.exe!<AutoIt record 2: C:\\clam.exe>",
        ),  # NRV2E stub, script in the overlay
        ("clam.ea06.exe", "clam.ea06.exe!<AutoIt record 2: C:\\clam.exe>"),  # script in UPX-packed resources
    ],
)
def test_clamav_test_pe_is_found_in_upx_and_autoit(name: str, where: str) -> None:
    result = Engine(load_ruleset([TEST_PE_RULES], include_bundled=False)).scan_file(
        TESTFILES / name, name=name
    )
    assert result.verdict is Verdict.MALICIOUS, result
    assert {finding.path for finding in result.findings} == {where}


@needs_testfiles
def test_autoit_script_without_a_payload_stays_packed(tmp_path: Path) -> None:
    """The script and files are scanned, but the extractor cannot prove it read every record."""
    result = engine().scan_file(TESTFILES / "clam.ea06.exe")  # the bundled rules: none is for this PE
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.PACKED), result
    assert "AutoIt compiled script (2 records extracted" in result.detail


@needs_testfiles
def test_a_second_packer_over_upx_stays_packed() -> None:
    result = engine().scan_file(TESTFILES / "clam-yc.exe")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.PACKED), result
    assert "UPX, yC" in result.detail
