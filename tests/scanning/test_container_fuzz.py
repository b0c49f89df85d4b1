"""Malformed, truncated and mutated archives: the container code raises only its own reasoned problems,
and a truncated archive is never reported clean."""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketguard.scanning.containers import Blob, detect, open_container, sniff
from bucketguard.scanning.limits import Budget, Limits, ScanProblem
from bucketguard.scanning.result import Reason, Verdict
from tests.scanning.engine_support import (
    EICAR,
    Recorder,
    bzip2_of,
    engine,
    gzip_of,
    jpeg,
    seven_zip_of,
    tar_of,
    v7_tar_of,
    xz_of,
    zip_of,
)
from tests.scanning.format_samples import (
    biff8_workbook,
    compound_file,
    pdf_with_stream,
    upx_packed,
    xlm_call,
    xlm_string,
    xlsm_workbook,
)

MEMBERS = {"docs/a.txt": b"alpha " * 300, "docs/b.txt": b"bravo " * 200, "c.bin": bytes(range(256)) * 4}
ARCHIVES = {
    "zip": zip_of(MEMBERS),
    "tar": tar_of(MEMBERS),
    "tar.gz": gzip_of(tar_of(MEMBERS)),
    "bz2": bzip2_of(tar_of(MEMBERS)),
    "xz": xz_of(tar_of(MEMBERS)),
    "7z": seven_zip_of(MEMBERS),
    "v7 tar": v7_tar_of(MEMBERS),
    "spanned zip": b"PK\x07\x08" + zip_of(MEMBERS),
}
# Shortest prefix that still carries the format's magic (tar's sits at offset 257; a V7 tar is recognised
# by its whole first header).
MAGIC_LENGTH = {
    "zip": 4,
    "tar": 262,
    "tar.gz": 3,
    "bz2": 4,
    "xz": 6,
    "7z": 6,
    "v7 tar": 512,
    "spanned zip": 8,
}


def _open(data: bytes) -> Recorder:
    recorder = Recorder()
    blob = Blob(len(data), hashlib.sha256(data).hexdigest(), data=data)
    for kind in sniff(blob):
        try:
            open_container(kind, blob, name="fuzz", budget=Budget(Limits()), visitor=recorder)
        except ScanProblem as problem:  # the only exceptions allowed out: they carry a reason code
            recorder.problems.append(problem.reason)
    return recorder


fuzz_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("kind", ARCHIVES)
@fuzz_settings
@given(data=st.data())
def test_truncated_archive_is_never_clean(tmp_path: Path, kind: str, data: st.DataObject) -> None:
    original = ARCHIVES[kind]
    cut = data.draw(st.integers(min_value=MAGIC_LENGTH[kind], max_value=len(original) - 1))
    truncated = original[:cut]
    recorder = _open(truncated)
    (tmp_path / "t").write_bytes(truncated)
    result = engine().scan_file(tmp_path / "t", name="t")
    assert result.reason is not Reason.INTERNAL_ERROR, result
    every_member_read = not recorder.problems and sorted(recorder.members) == sorted(_open(original).members)
    if not every_member_read:  # (cutting a tar's zero padding after its end marker loses nothing)
        assert result.verdict is not Verdict.CLEAN, (kind, cut, result)


def _mutated(original: bytes, data: st.DataObject) -> bytearray:
    """`original` with one to eight bytes changed."""
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        position = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        mutated[position] = data.draw(st.integers(min_value=0, max_value=255))
    return mutated


@pytest.mark.parametrize("kind", ARCHIVES)
@fuzz_settings
@given(data=st.data())
def test_mutated_archive_raises_nothing_but_reasoned_problems(
    tmp_path: Path, kind: str, data: st.DataObject
) -> None:
    mutated = _mutated(ARCHIVES[kind], data)
    _open(bytes(mutated))  # any exception other than ScanProblem fails the test
    (tmp_path / "m").write_bytes(bytes(mutated))
    result = engine().scan_file(tmp_path / "m", name="m")
    assert result.reason is not Reason.INTERNAL_ERROR, result


@fuzz_settings
@given(blob=st.binary(min_size=0, max_size=2048), kind=st.sampled_from(sorted(MAGIC_LENGTH)))
def test_random_bytes_behind_a_magic_number(tmp_path: Path, blob: bytes, kind: str) -> None:
    data = ARCHIVES[kind][: MAGIC_LENGTH[kind]] + blob
    _open(data)
    (tmp_path / "r").write_bytes(data)
    assert engine().scan_file(tmp_path / "r", name="r").reason is not Reason.INTERNAL_ERROR


# EICAR where only opening the archive shows it (deflated, or in a gzip stream inside the archive).
HOLDING_EICAR = {
    "zip": zip_of({"docs/eicar.com": EICAR}),
    "tar": tar_of({"docs/eicar.com.gz": gzip_of(EICAR)}),
    "v7 tar": v7_tar_of({"docs/eicar.com.gz": gzip_of(EICAR)}),
    "gz": gzip_of(zip_of({"eicar.com": EICAR})),
    "bz2": bzip2_of(zip_of({"eicar.com": EICAR})),
    "xz": xz_of(zip_of({"eicar.com": EICAR})),
    "7z": seven_zip_of({"docs/eicar.com": EICAR}),
}


@pytest.mark.parametrize("kind", HOLDING_EICAR)
@fuzz_settings
@given(trailing=st.binary(min_size=1, max_size=2048))
def test_anything_glued_after_an_archive_leaves_its_content_found(
    tmp_path: Path, kind: str, trailing: bytes
) -> None:
    (tmp_path / "t").write_bytes(HOLDING_EICAR[kind] + trailing)
    result = engine().scan_file(tmp_path / "t", name="t")
    assert result.verdict is Verdict.MALICIOUS, (kind, result)


@fuzz_settings
@given(carrier=st.binary(min_size=1, max_size=4096), image=st.booleans())
def test_zip_glued_behind_anything_is_found(tmp_path: Path, carrier: bytes, image: bool) -> None:
    prefix = jpeg() + carrier if image else carrier
    (tmp_path / "c").write_bytes(prefix + HOLDING_EICAR["zip"])
    result = engine().scan_file(tmp_path / "c", name="c")
    if detect(prefix[:512]) is None:
        assert result.verdict is Verdict.MALICIOUS, result
    else:  # the carrier looks like another container, which then does not read as one
        assert result.verdict is not Verdict.CLEAN, result


@fuzz_settings
@given(data=st.data())
def test_bytes_inserted_between_zip_members_are_never_skipped(tmp_path: Path, data: st.DataObject) -> None:
    # Member data, headers or gaps: wherever the bytes land, EICAR is found or the zip is not clean.
    original = zip_of({"readme.txt": b"welcome to camp\n" * 20, "docs/eicar.com": EICAR, "z.txt": b"z" * 300})
    position = data.draw(st.integers(min_value=4, max_value=original.index(b"PK\x01\x02")))
    inserted = data.draw(st.binary(min_size=1, max_size=512))
    (tmp_path / "i").write_bytes(original[:position] + inserted + original[position:])
    result = engine().scan_file(tmp_path / "i", name="i")
    assert result.verdict is not Verdict.CLEAN, (position, result)


def _decoded_formats() -> dict[str, bytes]:
    from tests.scanning import test_formats

    return {name: build() for name, build in test_formats.FOUND.items()}


DECODED_FORMATS = _decoded_formats()


@pytest.mark.parametrize("name", DECODED_FORMATS)
@fuzz_settings
@given(data=st.data())
def test_mutated_sample_of_every_decoded_format_gives_a_reasoned_verdict(
    tmp_path: Path, name: str, data: st.DataObject
) -> None:
    sample = bytearray(DECODED_FORMATS[name])
    if data.draw(st.booleans()):
        del sample[data.draw(st.integers(min_value=1, max_value=len(sample) - 1)) :]
    sample = _mutated(bytes(sample), data)
    _open(bytes(sample))  # any exception other than ScanProblem fails the test
    (tmp_path / "m").write_bytes(bytes(sample))
    result = engine().scan_file(tmp_path / "m", name=name)
    assert result.reason is not Reason.INTERNAL_ERROR, result


def _package(first: str, members: dict[str, bytes]) -> bytes:
    """An office package: a zip whose first member names its kind (ODF's mimetype, OOXML's content types)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(first, members.pop(first), zipfile.ZIP_STORED)
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


FIELD_RUNS = (
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
    b'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DDE</w:instrText></w:r>'
    b'<w:r><w:instrText>AUTO cmd "/k calc"</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>'
    b"</w:p></w:body></w:document>"
)
BASIC_MODULE = (
    b'<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1">'
    b"Sub AutoOpen\n Shell(&quot;calc&quot;)\nEnd Sub</script:module>"
)
# The decoders added for issue 11, each fed the same mutations: nothing but reasoned problems come out.
NEW_DECODER_SAMPLES = {
    "upx": upx_packed(zip_of(MEMBERS)),
    "odf": _package(
        "mimetype",
        {"mimetype": b"application/vnd.oasis.opendocument.text", "Basic/Standard/Module1.xml": BASIC_MODULE},
    ),
    "docx": _package(
        "[Content_Types].xml", {"[Content_Types].xml": b"<Types/>", "word/document.xml": FIELD_RUNS}
    ),
    "doc": compound_file({"WordDocument": b'\x13 DDEAUTO cmd "/k calc" \x141\x15' + bytes(600)}),
    "xls-xlm": biff8_workbook(
        {
            "Macro1": (
                "macro sheet hidden",
                {"1": xlm_call("EXEC", xlm_string("calc.exe")), "2": xlm_call("HALT")},
            )
        },
        {"Auto_Open": "Macro1!1"},
    ),
    "xlsm-xlm": xlsm_workbook({"A1": 'EXEC("calc.exe")', "A2": "HALT()"}, {"_xlnm.Auto_Open": "Macro1!$A$1"}),
    "sylk": b'ID;PWXL;N;E\r\nO;L;E\r\nNN;NAuto_open;ER1C1\r\nC;X1;Y1;K0;EEXEC("calc")\r\nE\r\n',
    "pdf": pdf_with_stream(
        zlib.compress(b"\x02camp" * 40), "/FlateDecode /DecodeParms << /Predictor 12 /Columns 4 >>"
    ),
}


@pytest.mark.parametrize("kind", NEW_DECODER_SAMPLES)
@fuzz_settings
@given(data=st.data())
def test_mutated_sample_of_each_new_decoder_raises_nothing_but_reasoned_problems(
    kind: str, data: st.DataObject
) -> None:
    assert _open(NEW_DECODER_SAMPLES[kind]).members  # the sample itself is decoded
    _open(bytes(_mutated(NEW_DECODER_SAMPLES[kind], data)))
