"""Excel 4.0 (XLM) macro sheets: the macros a workbook runs from cells instead of a VBA project.

- `.xls` (BIFF8, the `Workbook` stream of a compound file): the BOUNDSHEET records name each sheet, its
  state and whether it is a macro sheet; each macro sheet's FORMULA records are decoded to text with
  oletools' plugin_biff (the formula tokens), and the NAME records give the macros' entry points
  (Excel's built-in `Auto_Open` and `Auto_Close` names).
- `.xlsm` (OOXML): the parts `[Content_Types].xml` declares as macro sheets (`xl/macrosheets/*.xml`), their
  `<f>` formulas, and the workbook part's defined names.
- `.xlsb`: its macro sheets are binary (BIFF12) and no formula decoder is kept here: unsupported.
- SYLK (`.slk`, text): a macro sheet's NN (names) and C (cells) records.

The text (names, sheets, then `Sheet!A1 =FORMULA` lines) is scanned like any member, and a macro that runs by
itself (an Auto_Open name, whatever follows the prefix: Excel runs `auto_open2` too) and also executes,
downloads or writes (EXEC, CALL, REGISTER, URLDownloadToFile, FOPEN, FORMULA, which writes the next macro)
is a finding, mraptor's logic applied to XLM."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bucketguard.scanning.limits import MemberProblem
from bucketguard.scanning.result import Reason

WORKBOOK_STREAMS = ("workbook", "book")
_RECORD = struct.Struct("<HH")
_BOF, _EOF, _BOUNDSHEET, _NAME, _FORMULA, _FILEPASS = 0x0809, 0x000A, 0x0085, 0x0018, 0x0006, 0x002F
# Where a formula (its token count, then its tokens) starts in FORMULA, SHRFMLA and ARRAY records.
_FORMULA_AT = {_FORMULA: 20, 0x04BC: 8, 0x0221: 12}
_MACRO_SHEET, _MACRO_SUBSTREAM, _BIFF8 = 1, 0x0040, 0x0600
_STATES = {0: "visible", 1: "hidden", 2: "very hidden"}
_BUILTIN_NAMES = {1: "Auto_Open", 2: "Auto_Close", 0x0A: "Auto_Activate", 0x0B: "Auto_Deactivate"}
_UNDECODED = ("*UNKNOWN TOKEN*", "*INCOMPLETE FORMULA PARSING*")
_AUTO_RUN = re.compile(r"(?:_xlnm\.)?auto_(?:open|close|activate|deactivate)", re.IGNORECASE)
_EXECUTES = re.compile(
    r"\b(?:EXEC|CALL|REGISTER(?:\.ID)?|FOPEN|FWRITE(?:LN)?|FORMULA(?:\.FILL|\.ARRAY)?|FILE\.COPY)\s*\("
    r"|URLDownloadToFile|ShellExecute|WinExec|CreateProcess",
    re.IGNORECASE,
)
_MACRO_SHEET_TYPES = (
    "application/vnd.ms-excel.macrosheet+xml",
    "application/vnd.ms-excel.intlmacrosheet+xml",
)
_BINARY_MACRO_SHEET = "application/vnd.ms-excel.macrosheet"
# The workbook part of .xlsx, .xlsm, .xltm, .xlam: where the defined names are.
_WORKBOOK_TYPE = re.compile(r"(spreadsheetml|ms-excel)\.\w+(\.macroEnabled)?\.main\+xml$")


@dataclass
class XlmMacros:
    """What a workbook's macro sheets say: their names, the defined names, the formulas."""

    sheets: list[str] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)  # (name, where it points)
    formulas: list[str] = field(default_factory=list)  # "Sheet!A1 =EXEC(...)"

    def text(self) -> str:
        lines = [f"macro sheet {sheet}" for sheet in self.sheets]
        lines += [f"name {name} = {target}" for name, target in self.names] + self.formulas
        return "\n".join(lines) + "\n"

    def auto_run(self) -> str | None:
        return next((name for name, _ in self.names if _AUTO_RUN.match(name)), None)

    def actions(self) -> list[str]:
        return sorted({m.group(0).rstrip("( ") for f in self.formulas for m in _EXECUTES.finditer(f)})


def biff_macros(stream: bytes, where: str) -> XlmMacros | None:
    """The macro sheets of a BIFF8 workbook stream, None when it has none. A record cut short, a sheet whose
    offset does not hold its BOF, or a formula token plugin_biff cannot decode is an unread macro: raised."""
    from oletools.thirdparty.oledump import plugin_biff

    records = _records(stream, 0, where)
    first = next(records, None)
    if first is None or first[0] != _BOF or len(first[1]) < 4:
        raise MemberProblem(Reason.CORRUPT, f"{where}: the workbook stream does not start with a BOF")
    biff8 = struct.unpack_from("<H", first[1])[0] == _BIFF8
    sheets: list[tuple[int, int, int, str]] = []  # (offset, state, type, name)
    names: list[tuple[str, bytes]] = []
    for kind, data in records:  # the workbook's globals, up to their EOF
        if kind == _EOF:
            break
        if kind == _FILEPASS:
            raise MemberProblem(Reason.ENCRYPTED, f"{where}: the workbook is encrypted")
        if kind == _BOUNDSHEET and len(data) >= 8:
            offset, state, sheet_type = struct.unpack_from("<IBB", data)
            sheets.append((offset, state & 3, sheet_type, _short_string(data, 6, biff8)))
        elif kind == _NAME and len(data) >= 15:
            names.append(_name(data))
    else:
        raise MemberProblem(Reason.CORRUPT, f"{where}: the workbook's globals have no end")
    sheet_names = [sheet for *_, sheet in sheets]
    defined = [name for name, _ in names]
    macros = XlmMacros()
    for offset, state, sheet_type, sheet in sheets:
        substream = _records(stream, offset, where)
        first = next(substream, None)
        if first is None or first[0] != _BOF or len(first[1]) < 4:
            raise MemberProblem(
                Reason.CORRUPT, f"{where}: sheet {sheet!r} does not start where it is said to"
            )
        if sheet_type != _MACRO_SHEET and struct.unpack_from("<H", first[1], 2)[0] != _MACRO_SUBSTREAM:
            continue
        if not biff8:  # BIFF5 (Excel 5 and 95) formulas are tokenised differently
            raise MemberProblem(Reason.UNSUPPORTED, f"{where}: BIFF5 macro sheet not decodable here")
        macros.sheets.append(f"{sheet} ({_STATES.get(state, 'state 3')})")
        for kind, data in substream:
            if kind == _EOF:
                break
            if kind in _FORMULA_AT:  # a cell's formula, or one shared by cells (their cells hold a ptgExp)
                cell = plugin_biff.ParseLoc(data, "LN", True)[0] if kind == _FORMULA else "shared"
                at = _FORMULA_AT[kind]
                if len(data) < at + 2:
                    raise MemberProblem(Reason.CORRUPT, f"{where}: formula record in {sheet} cut short")
                tokens = data[at + 2 : at + 2 + struct.unpack_from("<H", data, at)[0]]
                _, stack = _formula(tokens, defined, sheet_names, f"{where}: formula in {sheet}!{cell}")
                if stack:
                    macros.formulas.append(f"{sheet}!{cell} ={stack[0] if len(stack) == 1 else stack}")
        else:
            raise MemberProblem(Reason.CORRUPT, f"{where}: macro sheet {sheet!r} has no end")
    if not macros.sheets:
        return None
    for name, formula in names:
        parsed, stack = _formula(formula, defined, sheet_names, f"{where}: name {name!r}")
        macros.names.append((name, " ".join(stack) if stack else parsed.strip()))
    return macros


def _formula(tokens: bytes, defined: list[str], sheets: list[str], what: str) -> tuple[str, list[str]]:
    """plugin_biff's reading of formula tokens: its listing of them, and the formula as text (its stack)."""
    from oletools.thirdparty.oledump import plugin_biff

    try:
        parsed, stack = plugin_biff.ParseExpression(tokens, defined, sheets, "LN")
    except Exception as exc:  # a token running past the formula's end, a bad reference
        raise MemberProblem(Reason.CORRUPT, f"{what}: unreadable: {exc!r}") from None
    if any(marker in parsed for marker in _UNDECODED):
        raise MemberProblem(Reason.UNSUPPORTED, f"{what} not decodable here: {parsed[-120:]!r}")
    return parsed, stack


def _records(stream: bytes, start: int, where: str) -> Iterator[tuple[int, bytes]]:
    """(kind, data) of each record from `start`; a record running past the stream is corrupt."""
    position = start
    while position + _RECORD.size <= len(stream):
        kind, length = _RECORD.unpack_from(stream, position)
        end = position + _RECORD.size + length
        if end > len(stream):
            raise MemberProblem(Reason.CORRUPT, f"{where}: record 0x{kind:04x} at {position} is cut short")
        yield kind, stream[position + _RECORD.size : end]
        position = end


def _short_string(data: bytes, at: int, biff8: bool) -> str:
    """ShortXLUnicodeString: a character count, a flag byte (1: UTF-16; BIFF8 only), the characters."""
    count, wide = data[at], biff8 and data[at + 1] & 1
    start = at + 1 + biff8
    raw = data[start : start + count * (2 if wide else 1)]
    return raw.decode("utf-16-le" if wide else "latin-1", "replace")


def _name(data: bytes) -> tuple[str, bytes]:
    """A NAME (Lbl) record: its name (a built-in one by its code) and its formula's tokens."""
    flags, _, count, size = struct.unpack_from("<HBBH", data)
    wide = data[14] & 1
    raw = data[15 : 15 + count * (2 if wide else 1)]
    if flags & 0x20 and raw:  # fBuiltin: one character, the built-in name's code
        name = _BUILTIN_NAMES.get(raw[0], f"built-in name {raw[0]}")
    else:
        name = raw.decode("utf-16-le" if wide else "latin-1", "replace")
    start = 15 + len(raw)
    return name, data[start : start + size]


def is_sylk(head: bytes) -> bool:
    return head.startswith(b"ID;P")


def sylk_macros(data: bytes) -> XlmMacros | None:
    """A SYLK file's macros, None when it is no macro sheet (an `O` record with `E` makes it one, as
    oletools' open_slk reads it): NN records name cells (`NN;NAuto_open;ER1C1`), C records hold formulas
    (`C;X1;Y2;EEXEC("calc")`; a row or column left out is the previous one's; `;;` is a literal `;`)."""
    macros, macro_sheet, row, column = XlmMacros(), False, "?", "?"
    for line in data.decode("latin-1").splitlines():
        kind, *fields = [field.replace("\0", ";") for field in line.replace(";;", "\0").split(";")]
        values = {field[:1]: field[1:] for field in fields if field}
        if kind == "O":
            macro_sheet = macro_sheet or "E" in values
        elif kind == "NN":
            macros.names.append((values.get("N", ""), values.get("E", "")))
        elif kind == "C":
            row, column = values.get("Y", row), values.get("X", column)
            if "E" in values:
                macros.formulas.append(f"R{row}C{column} ={values['E']}")
    if not macro_sheet:
        return None
    macros.sheets.append("SYLK macro sheet")
    return macros


def package_macros(
    package: zipfile.ZipFile, where: str, read: Callable[[zipfile.ZipInfo], str]
) -> XlmMacros | None:
    """The macro sheets of an OOXML workbook, None when it has none; `read(info)` gives a part's text. A
    part is what `[Content_Types].xml` says it is (its name may be anything); `xl/macrosheets/` always is."""
    parts = {info.filename: info for info in package.infolist()}
    types = _content_types(parts, where, read)
    sheets = [
        p
        for p in parts
        if types[p] in (*_MACRO_SHEET_TYPES, _BINARY_MACRO_SHEET)
        or (p.lower().startswith("xl/macrosheets/") and not p.endswith(".rels"))
    ]
    if not sheets:
        return None
    macros = XlmMacros()
    for part in sorted(sheets):
        if types[part] == _BINARY_MACRO_SHEET or part.endswith(".bin"):
            raise MemberProblem(
                Reason.UNSUPPORTED, f"{where}!{part}: binary (.xlsb) macro sheet not decodable here"
            )
        sheet = part.rsplit("/", 1)[-1].removesuffix(".xml")
        macros.sheets.append(sheet)
        for cell in _elements(_xml(read(parts[part]), f"{where}!{part}"), "c"):
            for formula in cell:
                if _local(formula.tag) == "f" and formula.text:
                    macros.formulas.append(f"{sheet}!{cell.get('r', '?')} ={formula.text}")
    for part in sorted(p for p in parts if _WORKBOOK_TYPE.search(types[p])):
        for defined in _elements(_xml(read(parts[part]), f"{where}!{part}"), "definedName"):
            macros.names.append((defined.get("name", ""), defined.text or ""))
    return macros


def _content_types(
    parts: dict[str, zipfile.ZipInfo], where: str, read: Callable[[zipfile.ZipInfo], str]
) -> dict[str, str]:
    """Each part's content type: its Override, else its extension's Default (part names compare without
    case, as in OPC)."""
    if "[Content_Types].xml" not in parts:
        return dict.fromkeys(parts, "")
    root = _xml(read(parts["[Content_Types].xml"]), f"{where}![Content_Types].xml")
    defaults = {e.get("Extension", "").lower(): e.get("ContentType", "") for e in _elements(root, "Default")}
    overrides = {
        e.get("PartName", "").lstrip("/").lower(): e.get("ContentType", "")
        for e in _elements(root, "Override")
    }
    return {p: overrides.get(p.lower(), defaults.get(p.rsplit(".", 1)[-1].lower(), "")) for p in parts}


def _elements(root: ET.Element, name: str) -> Iterator[ET.Element]:
    return (element for element in root.iter() if _local(element.tag) == name)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(text: str, where: str) -> ET.Element:
    try:  # expat >= 2.4.1 refuses entity expansion bombs; ElementTree never fetches an external entity
        return ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise MemberProblem(Reason.CORRUPT, f"{where}: unreadable XML: {exc}") from None
