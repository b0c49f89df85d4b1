"""Formats recognised by their bytes that Python does not decode: ARJ, CHM, LZH, cpio, RPM, Unix compress
(.Z), xar, WIM, SquashFS and VHD go to the 7-Zip program where it is installed; the rest (and those where it
is not) are `unsupported`, never clean.

Their raw bytes are still matched by the rules; what they hold (compressed or encoded) is not seen.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from bucketguard.scanning.blobs import Blob, Expansion, read_whole
from bucketguard.scanning.formats.streams import inflate
from bucketguard.scanning.limits import ContainerProblem
from bucketguard.scanning.result import Reason


def _sis(head: bytes) -> bool:
    # Symbian installers: UID1 0x10000000 (or 0x10201A7A for SIS 9), UID2/UID3 the installer's UIDs.
    return head[4:8] in (b"\x12\x3a\x00\x10", b"\x6d\x00\x00\x10") or head[8:12] == b"\x19\x04\x00\x10"


def _binary_cpio(head: bytes) -> bool:
    # The old binary header (26 bytes, either byte order), then the name its header counts, NUL-terminated.
    order = {b"\xc7\x71": "little", b"\x71\xc7": "big"}.get(head[:2])
    if order is None or len(head) < 28:
        return False
    name_size = int.from_bytes(head[20:22], order)  # type: ignore[arg-type]
    return 1 <= name_size <= len(head) - 26 and head[26 + name_size - 1] == 0


def _unix_compress(head: bytes) -> bool:
    # .Z: the magic, then flags: 9 to 16 bits per code, the two reserved bits clear.
    return head.startswith(b"\x1f\x9d") and len(head) > 2 and 9 <= head[2] & 0x1F <= 16 and not head[2] & 0x60


# name -> (recognise from the first bytes, why not decoded)
UNDECODED: dict[str, Callable[[bytes], bool]] = {
    "RAR": lambda head: head.startswith((b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00")),
    "ARJ": lambda head: head.startswith(b"\x60\xea") and len(head) > 10 and head[10] in (2, 1),
    "CHM": lambda head: head.startswith(b"ITSF"),
    "LZH": lambda head: head[2:3] == b"-" and head[3:5] in (b"lh", b"lz") and head[6:7] == b"-",
    "SIS": _sis,
    "StuffIt": lambda head: head.startswith((b"SIT!", b"StuffIt")),
    "ACE": lambda head: head[7:14] == b"**ACE**",
    "ZOO": lambda head: head[20:24] == b"\xdc\xa7\xc4\xfd",
    "cpio": lambda head: head.startswith((b"070701", b"070702", b"070707")) or _binary_cpio(head),
    "RPM": lambda head: head.startswith(b"\xed\xab\xee\xdb") and head[4:5] in (b"\x03", b"\x04"),
    "compress": _unix_compress,
    "xar": lambda head: head.startswith(b"xar!\x00\x1c"),
    "WIM": lambda head: head.startswith(b"MSWIM\x00\x00\x00"),
    "SquashFS": lambda head: head.startswith(b"hsqs") and head[28:30] == b"\x04\x00",  # version 4
    "VHD": lambda head: head.startswith(b"conectix"),
    "lzip": lambda head: head.startswith(b"LZIP") and head[4:5] in (b"\x00", b"\x01"),
    "lzop": lambda head: head.startswith(b"\x89LZO\x00\r\n\x1a\n"),
    "ALZ": lambda head: head.startswith(b"ALZ\x01"),
    "EGG": lambda head: head.startswith(b"EGGA\x00\x01"),  # its version, 1.0
}


# Matched at the start of a file, more loosely than the tests above: a plain file is ruled out by it.
HINT = re.compile(
    rb"Rar!|\x60\xea|ITSF|..-l[hz].-|.{4}(?:\x12\x3a|\x6d\x00)\x00\x10|.{8}\x19\x04\x00\x10|"
    rb"SIT!|StuffIt|.{7}\*\*ACE\*\*|.{20}\xdc\xa7\xc4\xfd|07070[127]|\xc7\x71|\x71\xc7|\xed\xab\xee\xdb|"
    rb"\x1f\x9d|xar!|MSWIM|hsqs|conectix|LZIP|\x89LZO|ALZ\x01|EGGA",
    re.DOTALL,
)


def recognise(head: bytes) -> str | None:
    for name, test in UNDECODED.items():
        if test(head):
            return name
    return None


def is_undecoded(head: bytes) -> bool:
    return recognise(head) is not None


# Recognised formats the 7-Zip program decodes where it is installed: name -> 7-Zip's type name.
BY_SEVEN_ZIP = {
    "ARJ": "Arj",
    "CHM": "Chm",
    "LZH": "Lzh",
    "cpio": "Cpio",
    "RPM": "Rpm",
    "compress": "Z",
    "xar": "Xar",
    "WIM": "wim",
    "SquashFS": "SquashFS",
    "VHD": "VHD",
}


def open_undecoded(blob: Blob, expansion: Expansion) -> None:
    kind = recognise(blob.head())
    if kind in BY_SEVEN_ZIP:
        from bucketguard.scanning.formats import seven_zip_program  # with tempfile and shutil: rarely used

        seven_zip_program.extract(blob, expansion, BY_SEVEN_ZIP[kind])
        return
    if kind == "SIS":
        _inflate_zlib_streams(read_whole(blob, expansion.name, kind), expansion)
    raise ContainerProblem(Reason.UNSUPPORTED, f"{expansion.name}: {kind} content is not decoded here")


def _inflate_zlib_streams(data: bytes, expansion: Expansion) -> None:
    """SIS packages store their files as zlib streams: each one found is inflated and scanned, though the
    package's own records are not parsed (so the package stays `unsupported`)."""
    position, number = data.find(b"\x78"), 0
    while 0 <= position < len(data) - 2:
        end = position + 1
        if (data[position] << 8 | data[position + 1]) % 31 == 0 and _starts_zlib(data, position):
            number += 1
            inflate(expansion, f"{expansion.name}!<zlib stream {number}>", data[position:])
        position = data.find(b"\x78", end)


def _starts_zlib(data: bytes, position: int) -> bool:
    """A cheap first test: the first output byte decodes."""
    try:
        zlib.decompressobj().decompress(data[position : position + (1 << 16)], 1)
    except zlib.error:
        return False
    return True
