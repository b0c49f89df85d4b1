"""Content an attacker hides from the rules in a format the engine claims to read: once decoded, the same
rules find it (or the file is unscannable), never a silent `clean`."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.result import ScanResult, Verdict
from tests.scanning.engine_support import engine
from tests.scanning.format_samples import pdf_with_object_stream

_PAGES = {
    2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
}
_SCRIPT = b"<< /Type /Action /S /JavaScript /JS (app.alert\\('Pranked!'\\);) >>"


def _scan(tmp_path: Path, name: str, data: bytes) -> ScanResult:
    (tmp_path / name).write_bytes(data)
    return engine().scan_file(tmp_path / name, name=name)


def _rules(result: ScanResult) -> set[str]:
    return {finding.rule for finding in result.findings}


def test_a_pdf_script_run_on_opening_from_an_object_stream_is_found(tmp_path: Path) -> None:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"
    pdf = pdf_with_object_stream({1: catalog, **_PAGES, 4: _SCRIPT})
    action = pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/OpenAction"].get_object()
    assert action["/S"] == "/JavaScript"  # a real reader runs it on opening

    result = _scan(tmp_path, "timetable.pdf", pdf)

    assert result.verdict is Verdict.MALICIOUS
    assert {"PDF_OpenAction_Script", "PDF_JavaScript"} <= _rules(result)


def test_an_open_action_in_the_plain_catalog_and_its_script_in_an_object_stream_are_judged_together(
    tmp_path: Path,
) -> None:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>"
    pdf = pdf_with_object_stream({**_PAGES, 4: _SCRIPT}, {1: catalog})
    assert pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/OpenAction"]["/S"] == "/JavaScript"

    result = _scan(tmp_path, "timetable.pdf", pdf)

    assert "PDF_OpenAction_Script" in _rules(result)
    assert any(finding.path == "timetable.pdf!<objects>" for finding in result.findings)


def test_a_pdf_with_object_streams_and_no_script_stays_clean(tmp_path: Path) -> None:
    catalog = b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>"
    result = _scan(tmp_path, "timetable.pdf", pdf_with_object_stream({1: catalog, **_PAGES}))
    assert result.verdict is Verdict.CLEAN, result


@pytest.mark.parametrize(
    "encoded",
    [
        lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
        lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        lambda text: codecs.BOM_UTF32_LE + text.encode("utf-32-le"),
        lambda text: text.encode("utf-16-le"),  # a browser honours `Content-Type: ...; charset=utf-16le`
    ],
    ids=["utf-16le", "utf-16be", "utf-32le", "utf-16le-unmarked"],
)
def test_an_injected_script_in_utf_16_or_utf_32_is_found(
    tmp_path: Path, encoded: Callable[[str], bytes]
) -> None:
    result = _scan(tmp_path, "overlayBanner.js", encoded(pranks.injected_js().decode()))

    assert result.verdict is Verdict.MALICIOUS
    assert {finding.path for finding in result.findings} == {"overlayBanner.js!<utf-8>"}


def test_wide_text_without_a_script_and_binaries_with_zero_bytes_stay_clean(tmp_path: Path) -> None:
    letter = codecs.BOM_UTF16_LE + "Dear parents,\r\nthe camp starts on Monday. \u00e9t\u00e9\r\n".encode(
        "utf-16-le"
    )
    assert _scan(tmp_path, "letter.txt", letter).verdict is Verdict.CLEAN
    assert (
        _scan(tmp_path, "icon.ico", pranks.clean_png()[:8] + bytes(range(256)) * 4).verdict is Verdict.CLEAN
    )
    assert _scan(tmp_path, "table.bin", b"\x01\x00" * 400).verdict is Verdict.CLEAN
