"""PDF streams under a PNG or TIFF predictor (/DecodeParms /Predictor): the predictor is undone, so the rules
read the stream's content, not its row differences. Samples are encoded here, row by row."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from bucketguard.scanning.result import Reason, ScanResult, Verdict
from tests.scanning.engine_support import EICAR, engine, gzip_of
from tests.scanning.format_samples import pdf_with_stream

HIDDEN = gzip_of(EICAR)
COLUMNS = 8


def _rows(data: bytes) -> list[bytes]:
    padded = data + bytes(-len(data) % COLUMNS)
    return [padded[at : at + COLUMNS] for at in range(0, len(padded), COLUMNS)]


def png_sub(data: bytes) -> bytes:
    """PNG predictor 1 (Sub) on every row: each byte minus the one before it."""
    return b"".join(
        b"\x01" + bytes((row[i] - (row[i - 1] if i else 0)) % 256 for i in range(len(row)))
        for row in _rows(data)
    )


def png_up(data: bytes) -> bytes:
    """PNG predictor 2 (Up) on every row: each byte minus the one above it."""
    out, above = bytearray(), bytes(COLUMNS)
    for row in _rows(data):
        out += b"\x02" + bytes((a - b) % 256 for a, b in zip(row, above, strict=True))
        above = row
    return bytes(out)


def tiff(data: bytes) -> bytes:
    """TIFF predictor 2: as PNG's Sub, with no tag byte per row."""
    return b"".join(
        bytes((row[i] - (row[i - 1] if i else 0)) % 256 for i in range(len(row))) for row in _rows(data)
    )


def _scan(tmp_path: Path, data: bytes) -> ScanResult:
    (tmp_path / "report.pdf").write_bytes(data)
    return engine().scan_file(tmp_path / "report.pdf", name="report.pdf")


@pytest.mark.parametrize(
    ("encode", "predictor"), [(png_sub, 12), (png_up, 12), (tiff, 2)], ids=["png-sub", "png-up", "tiff"]
)
def test_predictor_is_undone(tmp_path: Path, encode: object, predictor: int) -> None:
    assert callable(encode)
    parms = f"/FlateDecode /DecodeParms << /Predictor {predictor} /Columns {COLUMNS} >>"
    result = _scan(tmp_path, pdf_with_stream(zlib.compress(encode(HIDDEN)), parms))
    assert result.verdict is Verdict.MALICIOUS, result


def test_predictor_in_a_filter_array(tmp_path: Path) -> None:
    body = zlib.compress(png_up(HIDDEN)).hex().encode() + b">"
    parms = f"[/ASCIIHexDecode /FlateDecode] /DecodeParms [null << /Predictor 12 /Columns {COLUMNS} >>]"
    assert _scan(tmp_path, pdf_with_stream(body, parms)).verdict is Verdict.MALICIOUS


def test_image_pixels_are_left_predicted(tmp_path: Path) -> None:
    parms = f"/FlateDecode /Subtype /Image /DecodeParms << /Predictor 12 /Columns {COLUMNS} >>"
    assert _scan(tmp_path, pdf_with_stream(zlib.compress(png_up(HIDDEN)), parms)).verdict is Verdict.CLEAN


def test_unknown_predictor_is_unscannable(tmp_path: Path) -> None:
    parms = f"/FlateDecode /DecodeParms << /Predictor 7 /Columns {COLUMNS} >>"
    result = _scan(tmp_path, pdf_with_stream(zlib.compress(png_up(b"camp timetable")), parms))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.CORRUPT), result
