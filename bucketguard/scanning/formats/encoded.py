"""Text encodings that carry files: uuencode, BinHex 4.0, SZDD (the MS-DOS `COMPRESS` format), and text in
UTF-16 or UTF-32, which rules written for UTF-8 text do not read."""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterator

from bucketguard.scanning.blobs import CHUNK, Blob, BlobWriter, Expansion, read_whole
from bucketguard.scanning.limits import ContainerProblem, RatioGuard
from bucketguard.scanning.result import Reason

# --- uuencode ----------------------------------------------------------------------------------------

_UU_BEGIN = re.compile(rb"(?m)^begin [0-7]{3,4} ([^\r\n]+)\r?\n")
_UU_END = re.compile(rb"(?m)^end\r?$")


def is_uuencoded(head: bytes) -> bool:
    return _UU_BEGIN.match(head) is not None


def uudecoded_blocks(text: bytes) -> Iterator[tuple[str, bytes]]:
    """Every `begin MODE NAME` ... `end` block in `text`, decoded."""
    for match in _UU_BEGIN.finditer(text):
        end = _UU_END.search(text, match.end())
        body = text[match.end() : end.start() if end else len(text)]
        decoded = bytearray()
        for line in body.splitlines():
            if not line.strip() or line in (b"`", b" "):
                continue
            try:
                decoded += binascii.a2b_uu(line)
            except binascii.Error:  # writers that pad lines differently: decode what the length says
                length = (line[0] - 32) & 63
                decoded += binascii.a2b_uu(line[: 1 + (length * 4 + 2) // 3])
        yield match.group(1).decode("latin-1").strip(), bytes(decoded)


def open_uuencoded(blob: Blob, expansion: Expansion) -> None:
    for name, data in uudecoded_blocks(read_whole(blob, expansion.name, "uuencoded text")):
        expansion.emit(f"{expansion.name}!{name}", data)


# --- BinHex 4.0 --------------------------------------------------------------------------------------

BINHEX_BANNER = b"(This file must be converted with BinHex"
_BINHEX_ALPHABET = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
_BINHEX_VALUE = {char: value for value, char in enumerate(_BINHEX_ALPHABET)}
_RUN = 0x90


def is_binhex(head: bytes) -> bool:
    return BINHEX_BANNER in head[:256]


def open_binhex(blob: Blob, expansion: Expansion) -> None:
    name = expansion.name
    text = read_whole(blob, name, "BinHex")
    start = text.find(b":", text.find(BINHEX_BANNER) + len(BINHEX_BANNER))
    end = text.find(b":", start + 1)
    if start < 0 or end < 0:
        raise ContainerProblem(Reason.CORRUPT, f"{name}: unreadable BinHex: no data between colons")
    packed = _binhex_bits([char for char in text[start + 1 : end] if char not in b"\r\n\t "], name)
    data = _binhex_runs(packed)
    length = data[0] if data else 0
    header_end = 1 + length + 1 + 4 + 4 + 2 + 8 + 2
    if len(data) < header_end:
        raise ContainerProblem(Reason.CORRUPT, f"{name}: unreadable BinHex: header cut short")
    file_name = data[1 : 1 + length].decode("latin-1")
    data_length = int.from_bytes(data[header_end - 10 : header_end - 6], "big")
    resource_length = int.from_bytes(data[header_end - 6 : header_end - 2], "big")
    forks = (
        ("", header_end, data_length),
        ("<resource fork>", header_end + data_length + 2, resource_length),
    )
    for suffix, offset, size in forks:
        if offset + size > len(data):
            raise ContainerProblem(Reason.CORRUPT, f"{name}: unreadable BinHex: a fork runs past the data")
        if size:
            expansion.emit(
                f"{name}!{file_name}{'!' + suffix if suffix else ''}", data[offset : offset + size]
            )


def _binhex_bits(chars: list[int], name: str) -> bytes:
    out = bytearray()
    accumulator = bits = 0
    for char in chars:
        value = _BINHEX_VALUE.get(char)
        if value is None:
            raise ContainerProblem(Reason.CORRUPT, f"{name}: unreadable BinHex: character {chr(char)!r}")
        accumulator = (accumulator << 6) | value
        bits += 6
        if bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    return bytes(out)


def _binhex_runs(packed: bytes) -> bytes:
    out = bytearray()
    index = 0
    while index < len(packed):
        byte = packed[index]
        if byte == _RUN and index + 1 < len(packed):
            count = packed[index + 1]
            if count == 0:
                out.append(_RUN)
            elif out:
                out += out[-1:] * (count - 1)
            index += 2
            continue
        out.append(byte)
        index += 1
    return bytes(out)


# --- SZDD (COMPRESS.EXE) -----------------------------------------------------------------------------

SZDD_MAGIC = b"SZDD\x88\xf0\x27\x33"


def is_szdd(head: bytes) -> bool:
    return head.startswith(SZDD_MAGIC)


def open_szdd(blob: Blob, expansion: Expansion) -> None:
    """LZSS with a 4 KiB window filled with spaces, as `expand.exe` decodes it."""
    name = expansion.name
    data = read_whole(blob, name, "SZDD")
    if len(data) < 14 or data[8:9] != b"A":
        raise ContainerProblem(Reason.UNSUPPORTED, f"{name}: SZDD compression method {data[8:9]!r}")
    declared = int.from_bytes(data[10:14], "little")
    base = name.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    missing = chr(data[9]) if data[9] else ""
    inner = base[:-1] + missing if base.endswith("_") and missing else base + ".out"
    window = bytearray(b" " * 4096)
    position = 4096 - 16
    out = bytearray()
    index = 14
    guard = RatioGuard(len(data), expansion.budget.limits, name, ContainerProblem)
    if guard.exceeded_by(declared) or declared > expansion.budget.limits.max_extracted_bytes:
        raise ContainerProblem(
            Reason.RATIO_EXCEEDED, f"{name}: SZDD declares {declared} bytes from {len(data)}"
        )
    while index < len(data) and len(out) < declared:
        control = data[index]
        index += 1
        for bit in range(8):
            if index >= len(data) or len(out) >= declared:
                break
            if control & (1 << bit):
                byte = data[index]
                index += 1
                out.append(byte)
                window[position] = byte
                position = (position + 1) & 4095
            else:
                if index + 1 >= len(data):
                    break
                low, high = data[index], data[index + 1]
                index += 2
                match = low | ((high & 0xF0) << 4)
                for step in range((high & 0x0F) + 3):
                    byte = window[(match + step) & 4095]
                    out.append(byte)
                    window[position] = byte
                    position = (position + 1) & 4095
    if len(out) != declared:
        raise ContainerProblem(
            Reason.CORRUPT, f"{name}: unreadable SZDD: declares {declared} bytes, holds {len(out)}"
        )
    expansion.emit(f"{name}!{inner}", bytes(out), guard)


# --- UTF-16 and UTF-32 text --------------------------------------------------------------------------

# Longest first: UTF-32LE's mark starts with UTF-16LE's.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ASCII_TEXT = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}
_UNMARKED_UNITS = 64  # code units of plain ASCII text (high bytes zero) that make unmarked UTF-16


def wide_text_encoding(head: bytes) -> tuple[str, int] | None:
    """The codec of text in UTF-16 or UTF-32 and the length of its byte-order mark. A browser decodes a
    script with a UTF-16 mark as UTF-16 whatever the server says, and one without a mark as the
    Content-Type's charset (an uploader sets it), so UTF-16 text without a mark is recognised too, by its
    first code units: ASCII characters each followed (LE) or preceded (BE) by a zero byte."""
    for mark, codec in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return codec, len(mark)
    units = head[: 2 * _UNMARKED_UNITS]
    if len(units) < 2 * _UNMARKED_UNITS:
        units = units[: len(units) & ~1]
        if len(units) < 16:
            return None
    for codec, text, high in (
        ("utf-16-le", units[0::2], units[1::2]),
        ("utf-16-be", units[1::2], units[0::2]),
    ):
        if not high.strip(b"\0") and _ASCII_TEXT.issuperset(text):
            return codec, 0
    return None


def is_wide_text(head: bytes) -> bool:
    return wide_text_encoding(head) is not None


def open_wide_text(blob: Blob, expansion: Expansion) -> None:
    """The text decoded to UTF-8 (`app.js!<utf-8>`), as the program running it reads it; what does not
    decode becomes U+FFFD and the rest is still read."""
    found = wide_text_encoding(blob.head())
    if found is None:
        return
    codec, mark = found
    where = f"{expansion.name}!<utf-8>"
    expansion.budget.count_members(1, where)

    def fill(writer: BlobWriter) -> None:
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        with blob.open() as raw:
            raw.seek(mark)
            while chunk := raw.read(CHUNK):
                writer.write(decoder.decode(chunk).encode())
        writer.write(decoder.decode(b"", final=True).encode())

    member = expansion.expand(where, fill)
    if member is not None:
        expansion.visit(where, member)
