"""Documents LibreOffice writes: clean ones scan clean in every format (never unscannable), and a macro it
writes into a document that runs it by itself and executes something is flagged. `make test` installs
LibreOffice (Debian's libreoffice-writer, -calc, -impress) when it can."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bucketguard.scanning.result import Reason, Verdict
from tests.scanning.engine_support import engine
from tests.scanning.libreoffice import (
    SOFFICE,
    basic_macro_fodt,
    convert,
    office_documents,
    saved_with_password,
    uno_available,
)

pytestmark = [
    pytest.mark.slow,  # each LibreOffice run costs seconds
    pytest.mark.skipif(
        SOFFICE is None,
        reason="LibreOffice missing: apt-get install libreoffice-writer (make test installs it)",
    ),
]
OPEN_DOCUMENT_EVENT = (
    '<office:scripts><office:event-listeners><script:event-listener script:language="ooo:script" '
    'script:event-name="dom:load" xlink:href="vnd.sun.star.script:Standard.Module1.OpenCamp?'
    'language=Basic&amp;location=document" xlink:type="simple"/></office:event-listeners></office:scripts>'
)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return office_documents(tmp_path_factory.mktemp("libreoffice"))


def test_every_document_libreoffice_writes_is_clean(documents: list[Path]) -> None:
    assert {path.suffix for path in documents} == {
        ".docx", ".odt", ".doc", ".rtf", ".pdf", ".xlsx", ".ods", ".xls", ".pptx", ".odp", ".ppt",
    }  # fmt: skip
    verdicts = {path.name: engine().scan_file(path).verdict for path in documents}
    assert verdicts == dict.fromkeys(verdicts, Verdict.CLEAN)


MACROS = {
    "autorun": ("AutoOpen", 'Shell("cmd.exe /c start camp.exe")'),
    "unbound": ("OpenCamp", 'Shell("cmd.exe /c start camp.exe")'),
    "greeting": ("AutoOpen", 'MsgBox "Welcome to camp"'),
}


@pytest.fixture(scope="module")
def macro_documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each macro saved into an .odt by LibreOffice (one run for all)."""
    folder = tmp_path_factory.mktemp("macros")
    for name, (sub, body) in MACROS.items():
        (folder / f"{name}.fodt").write_text(basic_macro_fodt(sub, body))
    converted = convert([folder / f"{name}.fodt" for name in MACROS], "odt", folder / "out")
    return dict(zip(MACROS, converted, strict=True))


def test_auto_run_macro_that_executes_is_flagged(macro_documents: dict[str, Path]) -> None:
    document = macro_documents["autorun"]
    result = engine().scan_file(document, name="camp.odt")
    assert result.verdict is Verdict.MALICIOUS, result
    assert {(f.rule, f.path) for f in result.findings} == {
        ("office_macro_autoexec_writes_or_executes", "camp.odt!<basic>")
    }


def test_macro_bound_to_the_open_event_is_flagged(macro_documents: dict[str, Path], tmp_path: Path) -> None:
    """LibreOffice binds a macro to "Open Document" with an event listener in content.xml."""
    written = macro_documents["unbound"]
    assert engine().scan_file(written).verdict is Verdict.CLEAN  # not bound to any event: it never runs alone
    bound = tmp_path / "bound.odt"
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(bound, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "content.xml":
                data = data.replace(b"<office:body>", OPEN_DOCUMENT_EVENT.encode() + b"<office:body>", 1)
                data = data.replace(
                    b"<office:document-content ",
                    b'<office:document-content xmlns:xlink="http://www.w3.org/1999/xlink" ',
                    1,
                )
            target.writestr(info, data)
    result = engine().scan_file(bound)
    assert result.verdict is Verdict.MALICIOUS, result


def test_auto_run_macro_that_only_greets_is_clean(macro_documents: dict[str, Path]) -> None:
    document = macro_documents["greeting"]
    result = engine().scan_file(document)
    assert result.verdict is Verdict.CLEAN, result


def _field(instruction_runs: list[str]) -> bytes:
    """A Word field as Word writes it: begin, the instruction split over runs, separate, result, end."""
    runs = "".join(
        f'<w:r><w:instrText xml:space="preserve">{text}</w:instrText></w:r>' for text in instruction_runs
    )
    return (
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        + runs
        + '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        '<w:r><w:t>1</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>'
    ).encode()


def _with_field(docx: Path, field: bytes, out: Path) -> Path:
    """The LibreOffice .docx with one field put before its first run."""
    with zipfile.ZipFile(docx) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                first_run = data.index(b"<w:r>")
                data = data[:first_run] + field + data[first_run:]
            target.writestr(info, data)
    return out


def _docx(documents: list[Path]) -> Path:
    return next(path for path in documents if path.suffix == ".docx")


def test_dde_field_split_over_runs_is_found(documents: list[Path], tmp_path: Path) -> None:
    field = _field([" DDE", 'AUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe" '])
    assert b"DDEAUTO" not in field  # no rule reading the XML sees the instruction whole
    result = engine().scan_file(
        _with_field(_docx(documents), field, tmp_path / "letter.docx"), name="letter.docx"
    )
    assert {(f.rule, f.path) for f in result.findings} == {("office_dde_field", "letter.docx!<fields>")}


def test_other_fields_are_clean(documents: list[Path], tmp_path: Path) -> None:
    page_number = _with_field(
        _docx(documents), _field([" PAGE ", " \\* MERGEFORMAT "]), tmp_path / "page.docx"
    )
    assert engine().scan_file(page_number).verdict is Verdict.CLEAN


@pytest.mark.skipif(
    not uno_available(), reason="python3-uno missing: apt-get install python3-uno (make test installs it)"
)
def test_a_document_saved_with_a_password_is_unscannable_never_clean(tmp_path: Path) -> None:
    """An OpenDocument saved with a password keeps its content and macros encrypted in zip members the zip
    does not flag as encrypted: its manifest says so. It was clean."""
    source = tmp_path / "timetable.fodt"
    source.write_text(basic_macro_fodt("OpenCamp", 'Shell("calc.exe")'))
    locked = saved_with_password(source, "writer8", tmp_path / "timetable.odt", "camp")
    with zipfile.ZipFile(locked) as package:
        assert b"encryption-data" in package.read("META-INF/manifest.xml")  # LibreOffice encrypted it
    result = engine().scan_file(locked, name="timetable.odt")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.ENCRYPTED), result
    assert "OpenDocument encrypted with a password" in result.detail
    unlocked = convert([source], "odt", tmp_path / "plain")[0]
    assert engine().scan_file(unlocked).reason is not Reason.ENCRYPTED
