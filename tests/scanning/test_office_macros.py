"""VBA macros in real VBA projects (MS-OVBA: a compressed `dir` stream and compressed module streams inside
a compound file), as Word keeps them in a .doc and in a .docm's vbaProject.bin: the source is decompressed
and scanned, an auto-executing macro that writes, downloads or executes is flagged whichever backend is
loaded (MacroRaptor's logic), and a VBA project that cannot be read is never clean."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import olefile
import pytest
from msoffcrypto.format.ooxml import OOXMLFile
from oletools import olevba

from bucketguard.demo import pranks
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.formats.office import AUTOEXEC_MACRO_RULE
from bucketguard.scanning.result import FindingSource, Reason, ScanResult, Severity, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from tests.scanning.engine_support import BACKENDS, engine, zip_of
from tests.scanning.format_samples import compound_file, vba_project, xlsm_workbook

SHELL_ON_OPEN = 'Sub AutoOpen()\r\n  Shell "cmd /c calc"\r\nEnd Sub\r\n'
MESSAGE_ON_OPEN = 'Sub AutoOpen()\r\n  MsgBox "Welcome to camp"\r\nEnd Sub\r\n'
SHELL_ON_CLICK = 'Sub OpenTimetable()\r\n  Shell "notepad timetable.txt"\r\nEnd Sub\r\n'


def legacy_doc(macro: str) -> bytes:
    """A Word 97-2003 document: the VBA project sits in the Macros storage."""
    return compound_file({"WordDocument": b"camp timetable", **vba_project({"NewMacros": macro}, "Macros/")})


def docm(macro: str) -> bytes:
    """A Word 2007+ macro document: the VBA project is the root of word/vbaProject.bin."""
    return zip_of(
        {
            "word/document.xml": b"<w:document/>",
            "word/vbaProject.bin": compound_file(vba_project({"NewMacros": macro})),
        }
    )


def _scan(tmp_path: Path, name: str, data: bytes, backend: str = "yara-x") -> ScanResult:
    (tmp_path / name).write_bytes(data)
    return engine(backend).scan_file(tmp_path / name, name=name)


def _heuristic(result: ScanResult) -> list[tuple[str, str]]:
    return [(f.path, f.severity.value) for f in result.findings if f.rule == AUTOEXEC_MACRO_RULE]


def test_olevba_reads_the_written_project() -> None:
    """The writer checked by the field's own reader: olevba finds the project and decompresses the source."""
    long_module = "' camp timetable\r\n" * 400  # more than one 4 KiB chunk
    document = compound_file(vba_project({"NewMacros": SHELL_ON_OPEN, "Timetable": long_module}, "Macros/"))
    parser = olevba.VBA_Parser("plan.doc", data=document)
    modules = {name: code for _, _, name, code in parser.extract_macros()}
    assert modules == {
        "NewMacros.bas": 'Attribute VB_Name = "NewMacros"\r\n' + SHELL_ON_OPEN,
        "Timetable.bas": 'Attribute VB_Name = "Timetable"\r\n' + long_module,
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("name", "build", "where"),
    [
        ("plan.doc", legacy_doc, "plan.doc!<vba>"),
        ("plan.docm", docm, "plan.docm!word/vbaProject.bin!<vba>"),
    ],
)
def test_macro_that_runs_a_command_on_opening_is_malicious(
    tmp_path: Path, backend: str, name: str, build, where: str
) -> None:
    result = _scan(tmp_path, name, build(SHELL_ON_OPEN), backend)
    assert result.verdict is Verdict.MALICIOUS, result
    assert _heuristic(result) == [(where, Severity.HIGH.value)]
    finding = next(f for f in result.findings if f.rule == AUTOEXEC_MACRO_RULE)
    assert finding.source is FindingSource.YARA  # the event schema's source for a named detection rule
    assert "'AutoOpen'" in finding.detail and "'Shell'" in finding.detail
    # The decompressed source reaches the rules too: the YARA macro rules are the second line.
    assert any(f.path == f"{where}/NewMacros.bas" for f in result.findings if f.rule != AUTOEXEC_MACRO_RULE)


@pytest.mark.parametrize("name", ["plan.doc", "plan.docm"])
def test_both_backends_report_the_same_findings(tmp_path: Path, name: str) -> None:
    data = (legacy_doc if name == "plan.doc" else docm)(SHELL_ON_OPEN)
    by_backend = [
        sorted(f.to_dict().items() for f in _scan(tmp_path, name, data, b).findings) for b in BACKENDS
    ]
    assert by_backend[0] == by_backend[1]


@pytest.mark.parametrize("macro", [MESSAGE_ON_OPEN, SHELL_ON_CLICK], ids=["autoexec-only", "shell-on-click"])
@pytest.mark.parametrize("build", [legacy_doc, docm], ids=["doc", "docm"])
def test_macro_without_autoexec_and_action_is_not_flagged_by_the_heuristic(
    tmp_path: Path, build, macro: str
) -> None:
    result = _scan(tmp_path, "plan.doc", build(macro))
    assert _heuristic(result) == []
    assert result.verdict is not Verdict.UNSCANNABLE, result


def test_benign_macro_document_is_clean(tmp_path: Path) -> None:
    result = _scan(
        tmp_path, "plan.docm", docm("Sub FormatTimetable()\r\n  Selection.Font.Bold = True\r\nEnd Sub\r\n")
    )
    assert result.verdict is Verdict.CLEAN, result


def _damaged(streams: dict[str, bytes], path: str) -> dict[str, bytes]:
    """The stream at `path` with its first chunk header broken (signature bits no longer 0b011)."""
    data = streams[path]
    at = data.index(b"\x01", 0 if path.endswith("dir") else 8) + 1  # past the container's signature byte
    return {**streams, path: data[:at] + b"\xff\xff" + data[at + 2 :]}


@pytest.mark.parametrize("stream", ["Macros/VBA/NewMacros", "Macros/VBA/dir"])
def test_damaged_vba_stream_is_unscannable(tmp_path: Path, stream: str) -> None:
    project = vba_project({"NewMacros": MESSAGE_ON_OPEN}, "Macros/")
    document = compound_file({"WordDocument": b"camp timetable", **_damaged(project, stream)})
    result = _scan(tmp_path, "plan.doc", document)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.CORRUPT), result
    assert "VBA project" in result.detail


def test_the_pranks_macro_document_is_found_by_decompressing_its_vba_project(tmp_path: Path) -> None:
    result = _scan(tmp_path, "timetable.docm", pranks.macro_docm())
    assert _heuristic(result) == [("timetable.docm!word/vbaProject.bin!<vba>", Severity.HIGH.value)]
    source = "timetable.docm!word/vbaProject.bin!<vba>/NewMacros.bas"
    assert ("Office_VBA_AutoExec_Source", source) in {(f.rule, f.path) for f in result.findings}


def _encrypted(document: bytes, password: str) -> bytes:
    """An OOXML document encrypted as Office does (ECMA-376 agile encryption, in a compound file)."""
    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(document)).encrypt(password, encrypted)
    return encrypted.getvalue()


# msoffcrypto's own decryption fails on packages under 4 KiB it encrypted (the mini stream): a larger one.
XLM_WORKBOOK = xlsm_workbook(
    {"A1": 'EXEC("calc.exe")', **{f"B{row}": f'ALERT("{row * 7919}")' for row in range(1, 400)}},
    {"_xlnm.Auto_Open": "Macro1!$A$1"},
)


def test_document_encrypted_with_excels_transparent_password_is_decrypted_and_scanned(tmp_path: Path) -> None:
    """Excel opens a workbook encrypted with VelvetSweatshop without asking: its macros must be read."""
    result = _scan(tmp_path, "book.xlsm", _encrypted(XLM_WORKBOOK, "VelvetSweatshop"))
    assert _heuristic(result) == [("book.xlsm!<decrypted>!<xlm>", Severity.HIGH.value)], result


def test_document_encrypted_with_a_password_is_unscannable(tmp_path: Path) -> None:
    result = _scan(tmp_path, "book.xlsm", _encrypted(XLM_WORKBOOK, "camp-2026"))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.ENCRYPTED), result


SPLIT_DDE_FIELD = (
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
    b'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DD</w:instrText></w:r>'
    b'<w:r><w:instrText>EAUTO cmd "/k calc"</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>'
    b"</w:p></w:body></w:document>"
)


@pytest.mark.parametrize("content_types_first", [True, False])
def test_office_package_is_known_by_its_members_in_any_order(
    tmp_path: Path, content_types_first: bool
) -> None:
    """Word opens a .docx whatever order its zip lists the parts in: the DDE field split over runs (which
    no rule over the XML sees whole) is found either way."""
    parts = {"[Content_Types].xml": b"<Types/>", "word/document.xml": SPLIT_DDE_FIELD}
    ordered = parts if content_types_first else dict(reversed(parts.items()))
    result = _scan(tmp_path, "letter.docx", zip_of(ordered))
    assert [f.rule for f in result.findings] == ["office_dde_field"], result


# oletools' own PowerPoint 97-2003 file with a VBA project (tests/scanning/data/README.md)
POWERPOINT_WITH_VBA = Path(__file__).parent / "data" / "sample_with_vba.ppt"
_EXOLEOBJSTG = 0x1011


def _module_source_rule(tmp_path: Path) -> Engine:
    """An engine whose one rule matches the module's source text, which the file holds only compressed."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "module.yar").write_text('rule module_source { strings: $a = "The action button clicked!" '
                                      "condition: $a }\n")  # fmt: skip
    return Engine(load_ruleset([rules], include_bundled=False), engine="yara-x")


def test_a_powerpoint_97_projects_are_read_from_its_embedded_storages(tmp_path: Path) -> None:
    """olevba keeps a .ppt's VBA projects in the storages its records embed: each is checked and read; the
    storage inflated here is a compound file of its own, whose project is read too."""
    result = _module_source_rule(tmp_path).scan_file(POWERPOINT_WITH_VBA, name="slides.ppt")
    assert {
        "slides.ppt!<vba>/Module1.bas",
        "slides.ppt!PowerPoint Document!<embedded object 1>!<vba>/Module1.bas",
    } <= {f.path for f in result.findings}


def test_a_powerpoint_97_file_with_a_harmless_macro_is_clean(tmp_path: Path) -> None:
    """PowerPoint ends its embedded objects' zlib streams without the end-of-stream marker once the size the
    record declares is out: the object is whole, not corrupt."""
    assert _scan(tmp_path, "slides.ppt", POWERPOINT_WITH_VBA.read_bytes()).verdict is Verdict.CLEAN


def test_a_document_olevba_cannot_read_after_olefile_opened_it_is_never_clean(tmp_path: Path) -> None:
    """The record embedding the VBA storage marked uncompressed (instance 0) while its data is still
    compressed: olefile opens the file, olevba cannot read the storage; the macros unread are a problem."""
    damaged = tmp_path / "slides.ppt"
    damaged.write_bytes(POWERPOINT_WITH_VBA.read_bytes())
    with olefile.OleFileIO(str(damaged), write_mode=True) as document:
        stream = bytearray(document.openstream("PowerPoint Document").read())
        at = stream.index(struct.pack("<HH", 0x10, _EXOLEOBJSTG))
        struct.pack_into("<H", stream, at, 0x00)
        document.write_stream("PowerPoint Document", bytes(stream))
    result = _module_source_rule(tmp_path).scan_file(damaged, name="slides.ppt")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.CORRUPT), result
    assert result.detail.startswith("slides.ppt: unreadable VBA project: "), result.detail


def test_a_word_document_with_its_theme_zipped_in_a_stream_is_clean(tmp_path: Path) -> None:
    """Word keeps the theme as a zip in 1Table: its end record near the file's end is no zip glued behind."""
    document = POWERPOINT_WITH_VBA.parent / "harmless-clean.doc"
    assert _scan(tmp_path, "letter.doc", document.read_bytes()).verdict is Verdict.CLEAN


def test_a_zip_glued_behind_a_compound_file_is_opened(tmp_path: Path) -> None:
    document = (POWERPOINT_WITH_VBA.parent / "harmless-clean.doc").read_bytes()
    glued = zip_of({"eicar.com": pranks.eicar()})
    result = _scan(tmp_path, "letter.doc", document + glued)
    assert result.verdict is Verdict.MALICIOUS, result
    end = len(document) + len(glued)
    assert result.findings[0].path == f"letter.doc!<bytes {len(document)}-{end}>!eicar.com"
