"""Office documents and compound files, with olefile and oletools (the field's own libraries).

- OLE2 compound files (`.doc`, `.xls`, `.ppt`, `.msi`, `vbaProject.bin`, `oleObject*.bin`): every stream
  is scanned as a member (`report.doc!WordDocument`); an `Ole10Native` package stream is unwrapped to the
  file it carries; PowerPoint's compressed embedded objects (ExOleObjStg records) are inflated; the VBA
  macros olevba extracts and decompresses (MS-OVBA) are scanned as source text (`report.doc!<vba>/Module1`),
  so the macro rules read the code, not its compressed form.
- RTF: every embedded object rtfobj finds (OLE objects, OLE packages) is scanned as a member.
- Word's DDE fields (msodde: `.doc` field characters, `.docx` instructions reassembled from their runs):
  the instructions are scanned as text (`letter.docx!<fields>`) and are a finding of their own.
- OpenDocument (`.odt`, `.ods`, `.odp`, ...): a zip whose members are all scanned; its StarBasic modules
  (`Basic/<library>/<module>.xml`) are also scanned as source text (`camp.odt!<basic>/Standard/Module1`),
  and a module that writes or executes, in a document that runs a macro on an event (an event listener
  bound to a script, as LibreOffice writes "Open Document") or by an auto-run name, is flagged like VBA.
- Excel 4.0 macro sheets (`.xls`, `.xlsm`, `.slk`; read in excel4.py): their formulas scanned as text
  (`book.xls!<xlm>`) and flagged like VBA.
- An encrypted document is decrypted when Office would open it without asking (its transparent passwords);
  otherwise what is in the clear is still read and the document is `encrypted`.
OOXML documents are zips, so their `vbaProject.bin` and `oleObject*.bin` members arrive here as OLE2 files.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
import struct
import zipfile
from collections.abc import Callable
from functools import partial
from typing import Any

from bucketguard.scanning.blobs import DECODE_IN_MEMORY_MAX, Blob, Expansion, corrupt, read_whole
from bucketguard.scanning.formats import excel4, zips
from bucketguard.scanning.formats.streams import inflate
from bucketguard.scanning.limits import ContainerProblem, MemberProblem, ScanProblem
from bucketguard.scanning.result import Finding, FindingSource, Reason, Severity

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # olefile.MAGIC; oletools is imported on use
# MacroRaptor's verdict on a document's VBA: a rule of the engine's own, reported as a rule finding (the
# event schema's `yara` source: a named detection rule), so it fires whichever YARA backend is loaded.
AUTOEXEC_MACRO_RULE = "office_macro_autoexec_writes_or_executes"
# A field whose instruction starts with DDE, in a Word binary stream (field start 0x13, UTF-16 or not).
_DOC_DDE_FIELD = re.compile(rb"\x13[\s\x00]{0,64}[dD]\x00?[dD]\x00?[eE]")
DDE_FIELD_RULE = "office_dde_field"
_BASIC_MODULE = re.compile(r"Basic/[^/]+/[^/]+\.xml")
_BASIC_INDEXES = ("/script-lb.xml", "/script-lc.xml", "/dialog-lb.xml")
_MODULE_BODY = re.compile(r"<script:module\b[^>]*>(.*)</script:module>", re.DOTALL)
# Where ODF binds events to scripts (document events in content.xml or styles.xml, form controls too).
_EVENT_PARTS = ("content.xml", "styles.xml", "settings.xml", "meta.xml")
_BOUND_EVENT = re.compile(
    r'script:event-name="[^"]{1,64}"[^>]{0,512}?(?:vnd\.sun\.star\.script:|macro:)[^"]{0,256}'
)
_ODF_MANIFEST = "META-INF/manifest.xml"
_ODF_ENCRYPTION = re.compile(r"<(?:[\w.-]+:)?encryption-data\b")
_ODF_ENCRYPTED_PART = re.compile(r'full-path="([^"]*)"[^<>]*>\s*<(?:[\w.-]+:)?encryption-data\b')
_RTF_OBJECT_DATA = re.compile(rb"\\objdata(?![a-zA-Z])")  # the control word rtfobj makes an object of
_PPT_EMBEDDED = 0x1011  # ExOleObjStg
_PPT_RECORD = struct.Struct("<HHI")


def is_ole2(head: bytes) -> bool:
    return head.startswith(OLE2_MAGIC)


def open_zip(blob: Blob, expansion: Expansion) -> None:
    """Every zip's members; then, when it is an office package, its macros and fields. A package is known by
    its member names in whatever order the zip lists them (Office reads them in any): OpenDocument's Basic
    modules, OOXML's `[Content_Types].xml`."""
    names = zips.open_zip(blob, expansion)
    if _ODF_MANIFEST in names:
        _check_odf_encryption(blob, expansion)
    if any(_BASIC_MODULE.fullmatch(name) for name in names):
        _basic_macros(blob, expansion)
    elif any(name.lower() == "[content_types].xml" for name in names):
        _ooxml_macros(blob, expansion, word="word/document.xml" in names)


def _check_odf_encryption(blob: Blob, expansion: Expansion) -> None:
    """An OpenDocument saved with a password keeps its parts (content, macros) encrypted in members the zip
    does not flag: its manifest says so, and what was encrypted is unread."""
    name = expansion.name
    with blob.open() as raw, zipfile.ZipFile(raw) as package:
        manifest = _member_text(package, package.getinfo(_ODF_MANIFEST), name)
    if _ODF_ENCRYPTION.search(manifest):
        parts = ", ".join(_ODF_ENCRYPTED_PART.findall(manifest)[:3])
        detail = f"{name}: OpenDocument encrypted with a password ({parts or 'its parts'})"
        expansion.problem(name, ContainerProblem(Reason.ENCRYPTED, detail))


def _ooxml_macros(blob: Blob, expansion: Expansion, *, word: bool) -> None:
    if word:  # DDE fields, their instructions reassembled from the runs Word splits them into
        from oletools import msodde

        with blob.open() as raw:
            _dde_fields(msodde.process_docx(raw, msodde.FIELD_FILTER_DDE), expansion)
        return
    with blob.open() as raw, zipfile.ZipFile(raw) as package:
        read = partial(_member_text, package, name=expansion.name)
        _xlm_macros(partial(excel4.package_macros, package, expansion.name, read), expansion)


def _basic_macros(blob: Blob, expansion: Expansion) -> None:
    name = expansion.name
    with blob.open() as raw, zipfile.ZipFile(raw) as package:
        modules = [
            info for info in package.infolist()
            if _BASIC_MODULE.fullmatch(info.filename) and not info.filename.endswith(_BASIC_INDEXES)
        ]  # fmt: skip
        sources = []
        for info in modules:
            text = _member_text(package, info, name)
            body = _MODULE_BODY.search(text)
            source = html.unescape(body.group(1) if body else text)
            sources.append(source)
            where = f"{name}!<basic>/{info.filename.removeprefix('Basic/').removesuffix('.xml')}"
            expansion.emit(where, source.encode("utf-8", "replace"))
        bound = next(
            (
                match.group(0)
                for info in package.infolist()
                if sources and info.filename in _EVENT_PARTS
                if (match := _BOUND_EVENT.search(_member_text(package, info, name)))
            ),
            None,
        )
    if sources:
        _autoexec_heuristic("\n".join(sources), name, expansion, bound, "<basic>")


def _dde_fields(fields: str, expansion: Expansion) -> None:
    """DDE fields msodde found: their instructions scanned as text, and a finding of their own (a document
    that asks Word to start a program and read its output)."""
    if not fields.strip():
        return
    where = f"{expansion.name}!<fields>"
    expansion.emit(where, fields.encode("utf-8", "replace"))
    first = fields.strip().splitlines()[0][:120]
    detail = f"DDE field starts a program when the document is opened or updated: {first!r}"
    expansion.flag(Finding(DDE_FIELD_RULE, FindingSource.YARA, Severity.HIGH, where, detail))


def _member_text(package: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> str:
    """A member the opener already scanned, read again as text: too large a one is not decoded."""
    if info.file_size > DECODE_IN_MEMORY_MAX:
        raise ContainerProblem(Reason.TOO_LARGE, f"{name}!{info.filename}: too large to read its macros")
    with package.open(info) as member:
        return member.read(DECODE_IN_MEMORY_MAX).decode("utf-8", "replace")


def is_rtf(head: bytes) -> bool:
    return head.startswith(b"{\\rt")


def open_ole2(blob: Blob, expansion: Expansion) -> None:
    import olefile

    name = expansion.name
    data = read_whole(blob, name, "compound file")
    _count_directory(data, expansion)
    try:
        document = olefile.OleFileIO(data)
    except Exception as exc:
        raise corrupt(name, "compound file", exc) from None
    with document:
        # Bytes after the last sector the file uses (a zip glued behind it) are read as a member; inside,
        # only the streams count (Word keeps its theme as a zip in one, PowerPoint shapes' XML, in sectors
        # that need not follow each other: read as a zip glued behind the file, they were corrupt).
        expansion.unattributed(data, _end_of_sectors(document), len(data))
        if _is_encrypted(document):
            decrypted = _decrypted(data)
            if decrypted is not None:
                expansion.emit(f"{name}!<decrypted>", decrypted)
                return
            # What is in the clear is still read (a finding outranks unscannable).
            expansion.problem(name, ContainerProblem(Reason.ENCRYPTED, f"{name}: encrypted with a password"))
        for path in document.listdir(streams=True, storages=False):
            where = f"{name}!{'/'.join(path)}"
            try:
                stream = document.openstream(path).read()
            except ScanProblem:
                raise
            except Exception as exc:
                expansion.problem(where, corrupt(where, "stream", exc))
                continue
            expansion.emit(where, stream)
            if path[-1] == "WordDocument" and _DOC_DDE_FIELD.search(stream):
                from oletools import msodde

                _dde_fields("\n".join(msodde.process_doc_stream(io.BytesIO(stream))), expansion)
            if len(path) == 1 and path[0].lower() in excel4.WORKBOOK_STREAMS:  # names compare without case
                _xlm_macros(partial(excel4.biff_macros, stream, where), expansion)
            if path[-1] == "\x01Ole10Native":
                _native_package(stream, where, expansion)
            elif path[-1] == "PowerPoint Document":
                _powerpoint_objects(stream, where, expansion)
    _macros(data, name, expansion)


def _count_directory(data: bytes, expansion: Expansion) -> None:
    """The compound file's storages and streams, counted from its directory sectors before olefile makes an
    object of every entry its tree reaches (up to half a million in 64 MiB): storages are charged as the
    other archives charge directories, streams as each is emitted, and a directory over the member budget
    is refused here. A chain olefile cannot follow is left for it to call corrupt."""
    budget = expansion.budget
    most = budget.limits.max_members - budget.members + 1  # one more: the count itself then refuses
    storages, streams = _directory_entries(data, most)
    budget.count_members(storages, expansion.name)
    budget.check_members(streams, expansion.name)


def _directory_entries(data: bytes, most: int) -> tuple[int, int]:
    """The storages and streams ([MS-CFB] object types 1 and 2) in the directory sectors' chain, the FAT
    read through the header's DIFAT and its DIFAT sectors; counted up to `most`."""
    size = 1 << max(int.from_bytes(data[30:32], "little"), 7)  # the sector shift (9 or 12; olefile's)
    sectors = len(data) // size
    per_sector = size // 4
    fat_sectors = sectors // per_sector + 1  # as many as the file's sectors need
    difat = [int.from_bytes(data[at : at + 4], "little") for at in range(76, 512, 4)]
    difat_sector, seen = int.from_bytes(data[68:72], "little"), set()
    while difat_sector < sectors and difat_sector not in seen and len(difat) < fat_sectors:
        # a DIFAT sector: FAT sector numbers, then the next DIFAT sector's
        seen.add(difat_sector)
        at = (difat_sector + 1) * size
        difat += [int.from_bytes(data[i : i + 4], "little") for i in range(at, at + size - 4, 4)]
        difat_sector = int.from_bytes(data[at + size - 4 : at + size], "little")

    def next_sector(sector: int) -> int:
        index, entry = divmod(sector, per_sector)
        fat = difat[index] if index < len(difat) else sectors
        at = (fat + 1) * size + entry * 4
        return int.from_bytes(data[at : at + 4], "little") if fat < sectors else sectors

    storages = streams = 0
    sector, seen = int.from_bytes(data[48:52], "little"), set()
    while sector < sectors and sector not in seen and storages + streams < most:
        seen.add(sector)
        types = data[(sector + 1) * size + 66 : (sector + 2) * size : 128]  # each 128-byte entry's type
        storages, streams = storages + types.count(1), streams + types.count(2)
        sector = next_sector(sector)
    return storages, streams


def _end_of_sectors(document: Any) -> int:
    """Where the compound file ends: after the last sector its FAT does not mark free (the header is one)."""
    import olefile

    used = [sector for sector, entry in enumerate(document.fat) if entry != olefile.FREESECT]
    return (max(used, default=-1) + 2) * int(document.sectorsize)


def _is_encrypted(document: Any) -> bool:
    from oletools import crypto

    return bool(crypto.is_encrypted(document))


def _decrypted(data: bytes) -> bytes | None:
    """An encrypted document decrypted with a password Office applies without asking (Excel's
    VelvetSweatshop, PowerPoint's), which malware uses to hide its macros from scanners; None otherwise."""
    import msoffcrypto
    from oletools import crypto

    for password in (crypto.EXCEL_TRANSPARENT_PASSWORD, crypto.POWERPOINT_TRANSPARENT_PASSWORD):
        decrypted = io.BytesIO()
        with contextlib.suppress(Exception):  # the wrong password, or an encryption msoffcrypto lacks
            document = msoffcrypto.OfficeFile(io.BytesIO(data))
            document.load_key(password=password)
            document.decrypt(decrypted)
            return decrypted.getvalue()
    return None


def open_rtf(blob: Blob, expansion: Expansion) -> None:
    from oletools import rtfobj

    name = expansion.name
    data = read_whole(blob, name, "RTF")
    # rtfobj makes an object of each embedded object (decoded, parsed) before one is counted: 50,000
    # `{\object{\*\objdata 01}}` in 1.2 MB took 24 MiB traced and 8 s of CPU to be refused at a cap of 1,000.
    expansion.budget.check_each(_RTF_OBJECT_DATA.finditer(data), name)
    parser = rtfobj.RtfObjParser(data)
    try:
        parser.parse()
    except Exception as exc:
        raise corrupt(name, "RTF", exc) from None
    for number, embedded in enumerate(parser.objects, 1):
        where = f"{name}!<object {number}>"
        if embedded.is_package:
            expansion.emit(f"{where}/{embedded.filename or 'package'}", embedded.olepkgdata)
        elif embedded.is_ole and embedded.oledata:
            expansion.emit(where, embedded.oledata)
        else:
            expansion.emit(where, embedded.rawdata)


def _native_package(stream: bytes, where: str, expansion: Expansion) -> None:
    from oletools import oleobj

    try:
        package = oleobj.OleNativeStream(stream)
    except Exception as exc:
        expansion.problem(where, corrupt(where, "OLE package", exc))
        return
    if package.data:
        expansion.emit(f"{where}!{package.filename or 'package'}", bytes(package.data))


def _powerpoint_objects(stream: bytes, where: str, expansion: Expansion) -> None:
    """ExOleObjStg records of instance 1 hold the decompressed size, then a zlib stream (which PowerPoint
    may end without zlib's end-of-stream marker once that size is out)."""
    position = stream.find(b"\x11\x10", 2)
    number = 0
    while position >= 2 and position + 10 <= len(stream):
        start = position - 2
        version, kind, length = _PPT_RECORD.unpack_from(stream, start)
        if kind == _PPT_EMBEDDED and version == 0x10:
            number += 1
            (size,) = struct.unpack_from("<I", stream, start + 8)
            compressed = stream[start + 12 : start + 8 + length]
            inflate(expansion, f"{where}!<embedded object {number}>", compressed, size=size)
        position = stream.find(b"\x11\x10", position + 1)


def _macros(data: bytes, name: str, expansion: Expansion) -> None:
    """VBA macros decompressed by olevba, scanned as source text; an auto-executing macro that also writes,
    downloads or executes is a finding of its own (mraptor's logic)."""
    from oletools import olevba

    try:
        parser = olevba.VBA_Parser(name, data=data)
    except Exception as exc:  # olefile opened it: what olevba cannot read may hold macros
        expansion.problem(name, corrupt(name, "VBA project", exc))
        return
    try:
        if not parser.detect_vba_macros():
            return
        _check_projects(parser)
        sources = []
        for _, _, module, code in parser.extract_macros():
            source = code if isinstance(code, str) else bytes(code).decode("latin-1")
            sources.append(source)
            expansion.emit(f"{name}!<vba>/{module}", source.encode("utf-8", "replace"))
        _autoexec_heuristic("\n".join(sources), name, expansion)
    except ScanProblem:
        raise
    except Exception as exc:
        expansion.problem(name, corrupt(name, "VBA project", exc))
    finally:
        parser.close()


def _check_projects(parser: Any) -> None:
    """olevba's extraction logs a module it cannot read and goes on; parsed here the same way (relaxed about
    values the specification fixes, as Office is) but a failure raises, so an unread macro is never clean."""
    from oletools import olevba

    for document in parser.ole_subfiles or [parser]:  # a PowerPoint 97's projects are its embedded storages
        for root, project_path, dir_path in document.find_vba_projects() or ():
            project = olevba.VBA_Project(document.ole_file, root, project_path, dir_path, relaxed=True)
            project.parse_project_stream()
            for stream, _, code in project.parse_modules():
                if code is None:
                    raise ValueError(f"module stream {stream or '?'} could not be read")


def open_sylk(blob: Blob, expansion: Expansion) -> None:
    """A SYLK file (text the rules read as it is) that is an Excel 4.0 macro sheet: judged like one."""
    data = read_whole(blob, expansion.name, "SYLK file")
    _xlm_macros(partial(excel4.sylk_macros, data), expansion)


def _xlm_macros(extract: Callable[[], excel4.XlmMacros | None], expansion: Expansion) -> None:
    """Excel 4.0 macro sheets: their formulas scanned as text (`book.xls!<xlm>`), and flagged like VBA when
    an Auto_Open name runs them and they execute, download or write. Formulas not read are a problem."""
    where = f"{expansion.name}!<xlm>"
    try:
        macros = extract()
    except MemberProblem as problem:
        expansion.problem(where, problem)
        return
    except ScanProblem:
        raise
    except Exception as exc:
        expansion.problem(where, corrupt(where, "Excel 4.0 macro sheet", exc))
        return
    if macros is None:
        return
    expansion.emit(where, macros.text().encode("utf-8", "replace"))
    auto_run, actions = macros.auto_run(), macros.actions()
    if auto_run and actions:
        _flag_autoexec(where, auto_run, actions, expansion)


def _autoexec_heuristic(
    source: str, name: str, expansion: Expansion, bound_event: str | None = None, kind: str = "<vba>"
) -> None:
    """mraptor's logic: a macro that runs by itself (an auto-run name, or an event bound to it) and also
    writes, downloads or executes."""
    from oletools.mraptor import MacroRaptor

    raptor = MacroRaptor(source)
    raptor.scan()
    runs_by_itself = raptor.autoexec_match or bound_event
    if runs_by_itself and (raptor.write or raptor.execute):
        actions = [m for m in (raptor.write_match, raptor.execute_match) if m]
        _flag_autoexec(f"{name}!{kind}", runs_by_itself, actions, expansion)


def _flag_autoexec(where: str, runs_by_itself: str, actions: list[str], expansion: Expansion) -> None:
    listed = ", ".join(repr(action) for action in actions)
    detail = f"macro runs on opening ({runs_by_itself!r}) and writes or executes ({listed})"
    expansion.flag(Finding(AUTOEXEC_MACRO_RULE, FindingSource.YARA, Severity.HIGH, where, detail))
