"""Real samples of the formats the engine decodes, written by small writers kept here (harmless payloads).
The compound-file and VBA project writers live in the package (bucketguard/demo/office_files.py): the
pranks' macro document uses them too."""

from __future__ import annotations

import html
import struct
import uuid
import zlib

from bucketguard.demo import pranks
from bucketguard.demo.office_files import compound_file, vba_project
from tests.scanning.engine_support import zip_of

__all__ = ["compound_file", "vba_project"]


def ole_package(file_name: str, data: bytes) -> bytes:
    """An OLE Package's native data (MS-OLEDS OLENativeStream without its size): the file it carries."""
    name = file_name.encode() + b"\x00"
    return (
        struct.pack("<H", 2) + name + b"C:\\camp\\" + name + struct.pack("<II", 0, 0)
        + b"C:\\temp\\" + name + struct.pack("<I", len(data)) + data
    )  # fmt: skip


def ole10native(file_name: str, data: bytes) -> bytes:
    package = ole_package(file_name, data)
    return struct.pack("<I", len(package)) + package


def rtf_with_package(file_name: str, data: bytes) -> bytes:
    """An RTF document embedding `data` as an OLE Package object (OLE 1.0 in hex, as Word writes it)."""
    package = ole_package(file_name, data)
    ole1 = struct.pack("<II", 0x0501, 2) + struct.pack("<I", 8) + b"Package\x00" + struct.pack("<II", 0, 0)
    ole1 += struct.pack("<I", len(package)) + package
    return (
        b"{\\rtf1\\ansi{\\object\\objemb{\\*\\objclass Package}{\\*\\objdata " + ole1.hex().encode() + b"}}}"
    )


def powerpoint_stream(embedded: bytes) -> bytes:
    """A PowerPoint Document stream holding one compressed embedded object (ExOleObjStg, instance 1)."""
    body = struct.pack("<I", len(embedded)) + zlib.compress(embedded)
    return struct.pack("<HHI", 0x0FF0, 0x03E8, 0) + struct.pack("<HHI", 0x0010, 0x1011, len(body)) + body


BINHEX_ALPHABET = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"


def binhex(file_name: str, data: bytes) -> bytes:
    """BinHex 4.0 (run-length marker escaped, no runs compressed; CRCs left zero)."""
    name = file_name.encode()
    raw = bytes([len(name)]) + name + b"\x00" + b"TEXTttxt" + bytes(2)
    raw += struct.pack(">II", len(data), 0) + bytes(2) + data + bytes(2) + bytes(2)
    escaped = raw.replace(b"\x90", b"\x90\x00")
    bits = "".join(f"{byte:08b}" for byte in escaped)
    bits += "0" * (-len(bits) % 6)
    chars = bytes(BINHEX_ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    lines = b"\n".join(chars[i : i + 64] for i in range(0, len(chars), 64))
    return b"(This file must be converted with BinHex 4.0)\n:" + lines + b":\n"


def szdd(data: bytes, *, declared: int | None = None) -> bytes:
    """SZDD (`COMPRESS.EXE -r`), every byte written as a literal: a valid stream `expand` decodes."""
    body = bytearray()
    for start in range(0, len(data), 8):
        chunk = data[start : start + 8]
        body += bytes([(1 << len(chunk)) - 1]) + chunk
    size = len(data) if declared is None else declared
    return b"SZDD\x88\xf0\x27\x33A" + b"m" + struct.pack("<I", size) + bytes(body)


def deflate64_zip(name: str, data: bytes) -> bytes:
    """A one-member zip compressed with Deflate64 (method 9), which zipfile does not implement."""
    import inflate64

    deflater = inflate64.Deflater()
    packed = deflater.deflate(data) + deflater.flush()
    crc, encoded = zlib.crc32(data), name.encode()
    local = struct.pack(
        "<4s5H3I2H", b"PK\x03\x04", 21, 0, 9, 0, 0, crc, len(packed), len(data), len(encoded), 0
    )
    central = struct.pack(
        "<4s6H3I5H2I",
        b"PK\x01\x02",
        21,
        21,
        0,
        9,
        0,
        0,
        crc,
        len(packed),
        len(data),
        len(encoded),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    directory_offset = len(local) + len(encoded) + len(packed)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(encoded), directory_offset, 0)
    return local + encoded + packed + central + encoded + end


def iso_image(files: dict[str, bytes], *, joliet: bool = True) -> bytes:
    """An ISO 9660 image written by pycdlib (level 1 names: `SETUP.EXE;1`)."""
    import io

    import pycdlib

    image = pycdlib.PyCdlib()
    image.new(interchange_level=3, joliet=3 if joliet else None)
    for name, data in files.items():
        kwargs = {"joliet_path": "/" + name.lower()} if joliet else {}
        image.add_fp(io.BytesIO(data), len(data), "/" + name.upper() + ";1", **kwargs)
    out = io.BytesIO()
    image.write_fp(out)
    image.close()
    return out.getvalue()


def pdf_with_attachment(file_name: str, data: bytes, *, password: str | None = None) -> bytes:
    """A one-page PDF written by pypdf with `data` as an embedded file (a FlateDecode stream)."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment(file_name, data)
    if password is not None:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_stream(body: bytes, filters: str) -> bytes:
    """A minimal PDF whose one stream object holds `body` under `filters` (e.g. `[/ASCIIHexDecode
    /FlateDecode]`); the cross-reference table is left out, as readers repair it."""
    stream = b"1 0 obj\n<< /Length %d /Filter %s >>\nstream\n" % (len(body), filters.encode()) + body
    return b"%PDF-1.4\n" + stream + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


class _LE32Bits:
    """UCL's bit writer: bits fill 32-bit little-endian words (most significant first) reserved in the
    stream where the decoder will need them, bytes go between them."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.word_at = 0
        self.free = 0

    def bit(self, value: int) -> None:
        if self.free == 0:
            self.word_at, self.free = len(self.out), 32
            self.out += bytes(4)
        self.free -= 1
        word = int.from_bytes(self.out[self.word_at : self.word_at + 4], "little") | (value << self.free)
        self.out[self.word_at : self.word_at + 4] = word.to_bytes(4, "little")


def nrv2b_literals(data: bytes) -> bytes:
    """An NRV2B stream holding `data` as literals, then the end marker (offset 0x1000002 and 0xFF). Real
    UPX output, with its matches, is ClamAV's clam-upx.exe."""
    bits = _LE32Bits()
    for byte in data:
        bits.bit(1)
        bits.out.append(byte)
    bits.bit(0)
    end = 0x1000002
    for position in range(end.bit_length() - 2, -1, -1):  # the gamma code: each bit, then "last?"
        bits.bit(end >> position & 1)
        bits.bit(int(position == 0))
    bits.out.append(0xFF)
    return bytes(bits.out)


def upx_packed(image: bytes, *, method: int = 2, declared_size: int | None = None) -> bytes:
    """A PE as UPX lays it out: sections UPX0 (no raw data) and UPX1 (the packed image), UPX's header
    after the section table."""
    packed = nrv2b_literals(image)
    header = struct.pack(
        "<4s4B5I4B", b"UPX!", 13, 9, method, 8, zlib.adler32(image), zlib.adler32(packed),
        len(image) if declared_size is None else declared_size, len(packed), len(image), 0, 0, 0, 0,
    )  # fmt: skip
    pe = bytearray(pranks.pe_header())
    coff = 0x80
    pe[coff + 6 : coff + 8] = struct.pack("<H", 2)  # sections
    pe[coff + 24 + 60 : coff + 24 + 64] = struct.pack("<I", 0x200)  # SizeOfHeaders
    image_size = (len(image) + 0xFFF) & ~0xFFF
    for name, size, address, raw_size, raw_at in (
        (b"UPX0", image_size, 0x1000, 0, 0),
        (b"UPX1", 0x1000, 0x1000 + image_size, len(packed), 0x200),
    ):
        pe += name.ljust(8, b"\x00") + struct.pack(
            "<6I2HI", size, address, raw_size, raw_at, 0, 0, 0, 0, 0xE0000060
        )
    return bytes(pe.ljust(0x1E0, b"\x00") + header).ljust(0x200, b"\x00") + packed


XLM_FUNCTIONS = {"HALT": 0x36, "RETURN": 0x37, "EXEC": 0x6E, "CHAR": 0x6F, "REGISTER": 0x95, "CALL": 0x96}


def xlm_string(text: str) -> bytes:
    """ptgStr: a string constant in a formula (8-bit characters)."""
    return struct.pack("<BBB", 0x17, len(text), 0) + text.encode("latin-1")


def xlm_call(function: str, *arguments: bytes) -> bytes:
    """ptgFuncVarV: the arguments' tokens, then the function with their count."""
    return b"".join(arguments) + struct.pack("<BBH", 0x42, len(arguments), XLM_FUNCTIONS[function])


def _biff(kind: int, data: bytes) -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def _bof(sheet_type: int) -> bytes:
    return _biff(0x0809, struct.pack("<HHHHII", 0x0600, sheet_type, 0x0DBB, 1996, 0, 0x0406))


def biff8_workbook(
    sheets: dict[str, tuple[str, dict[str, bytes]]], names: dict[str, str] | None = None
) -> bytes:
    """An Excel 97-2003 workbook (a BIFF8 `Workbook` stream in a compound file): `sheets` maps each sheet's
    name to its kind ("worksheet" or "macro sheet", "hidden"/"very hidden" appended for its state) and its
    formulas by row (`"3"` -> the tokens of the formula in column A of row 3); `names` maps a defined name
    (`Auto_Open` is written as Excel's built-in name) to the `Sheet!row` it points at."""
    sheet_streams, boundsheets = [], []
    for sheet, (kind, formulas) in sheets.items():
        state = 2 if "very hidden" in kind else 1 if "hidden" in kind else 0
        cells = b"".join(
            _biff(
                0x0006, struct.pack("<HHH8sHIH", int(row) - 1, 0, 0x0F, bytes(8), 0, 0, len(tokens)) + tokens
            )
            for row, tokens in formulas.items()
        )
        macro = kind.startswith("macro sheet")
        sheet_streams.append(_bof(0x0040 if macro else 0x0010) + cells + _biff(0x000A, b""))
        boundsheets.append((state, int(macro), sheet))
    sheet_order = list(sheets)
    supbook = _biff(0x01AE, struct.pack("<HH", len(sheets), 0x0401))
    externsheet = _biff(0x0017, struct.pack("<H", len(sheets)) + b"".join(
        struct.pack("<HHH", 0, at, at) for at in range(len(sheets))
    ))  # fmt: skip
    defined = b""
    for name, target in (names or {}).items():
        sheet, row = target.split("!")
        builtin = {"Auto_Open": 1, "Auto_Close": 2}.get(name)
        body = bytes([builtin]) if builtin else name.encode("latin-1")
        formula = struct.pack("<BHHH", 0x3A, sheet_order.index(sheet), int(row) - 1, 0xC000)
        flags = 0x20 if builtin else 0
        defined += _biff(
            0x0018, struct.pack("<HBBHHHBBBBB", flags, 0, len(body), len(formula), 0, 0, 0, 0, 0, 0, 0)
            + body + formula
        )  # fmt: skip

    def globals_with(offsets: list[int]) -> bytes:
        records = b"".join(
            _biff(0x0085, struct.pack("<IBBBB", at, state, macro, len(sheet), 0) + sheet.encode("latin-1"))
            for at, (state, macro, sheet) in zip(offsets, boundsheets, strict=True)
        )
        return _bof(0x0005) + records + supbook + externsheet + defined + _biff(0x000A, b"")

    offsets, at = [], len(globals_with([0] * len(sheets)))
    for stream in sheet_streams:
        offsets.append(at)
        at += len(stream)
    return compound_file({"Workbook": globals_with(offsets) + b"".join(sheet_streams)})


def xlsm_workbook(formulas: dict[str, str], names: dict[str, str], *, part: str = "xl/macrosheets/sheet1.xml",
                  content_type: str = "application/vnd.ms-excel.macrosheet+xml") -> bytes:  # fmt: skip
    """An Excel 2007+ macro-enabled workbook whose one sheet is an Excel 4.0 macro sheet at `part`
    (`formulas`: cell -> formula as Excel writes it, without `=`) and defined names (`_xlnm.Auto_Open`)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    cells = "".join(
        f'<row r="{cell[1:]}"><c r="{cell}"><f>{html.escape(formula, quote=False)}</f></c></row>'
        for cell, formula in formulas.items()
    )
    defined = "".join(f'<definedName name="{name}">{target}</definedName>' for name, target in names.items())
    members = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
            '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
            'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.'
            f'main+xml"/><Override PartName="/{part}" ContentType="{content_type}"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{relationships}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{relationships}">'
            f'<sheets><sheet name="Macro1" sheetId="1" state="hidden" r:id="rId1"/></sheets>'
            f"<definedNames>{defined}</definedNames></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.microsoft.com/office/'
            f'2006/relationships/xlMacrosheet" Target="/{part}"/></Relationships>'
        ),
        part: (
            f'<?xml version="1.0" encoding="UTF-8"?><xm:macrosheet xmlns="{main}" '
            'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
            f"<sheetData>{cells}</sheetData></xm:macrosheet>"
        ),
    }
    return zip_of({name: text.encode() for name, text in members.items()})


def pdf_with_object_stream(compressed: dict[int, bytes], plain: dict[int, bytes] | None = None) -> bytes:
    """A PDF 1.5+ as current writers save it: the objects `compressed` (number -> dictionary) in one
    Flate object stream, `plain` ones as usual, found through a cross-reference stream; object 1 is the
    catalog."""
    plain = plain or {}
    body, positions = b"", []
    for number, content in compressed.items():
        positions.append(b"%d %d" % (number, len(body)))
        body += content + b"\n"
    index = b" ".join(positions) + b"\n"
    packed = zlib.compress(index + body)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number, content in plain.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, content)
    stream_number = max([*compressed, *plain]) + 1
    offsets[stream_number] = len(out)
    out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
        stream_number, len(compressed), len(index), len(packed)
    ) + packed + b"\nendstream\nendobj\n"  # fmt: skip
    xref_number = stream_number + 1
    offsets[xref_number] = len(out)
    rows = b"\x00\x00\x00\x00\x00\xff\xff"
    slots = {number: slot for slot, number in enumerate(compressed)}
    for number in range(1, xref_number + 1):
        if number in slots:
            rows += b"\x02" + struct.pack(">IH", stream_number, slots[number])
        else:
            rows += b"\x01" + struct.pack(">IH", offsets.get(number, 0), 0)
    table = zlib.compress(rows)
    start = len(out)
    out += b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length %d >>" % (
        xref_number, xref_number + 1, len(table)
    ) + b"\nstream\n" + table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % start  # fmt: skip
    return bytes(out)


def onenote_section(files: list[bytes]) -> bytes:
    """A OneNote section (`.one`) holding `files` as OneNote embeds a file: a FileDataStoreObject (MS-ONESTORE
    2.6.13) each, after the section's 1,024-byte header (only its file type GUID filled here)."""
    header = uuid.UUID("7B5C52E4-D88C-4DA7-AEB1-5378D02996D3").bytes_le.ljust(1024, b"\0")
    stores = b"".join(
        uuid.UUID("BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC").bytes_le
        + struct.pack("<QI8x", len(data), 0)
        + data.ljust(-(-len(data) // 8) * 8, b"\0")
        + uuid.UUID("71FBA722-0F79-4A0B-BB13-899256426B24").bytes_le
        for data in files
    )
    return header + stores + bytes(64)
