"""Containers opened recursively, recognised by their bytes (never by their name: names lie).

`FORMATS` is the one table from what a container looks like to the code that opens it; each format family
lives in its own module under `bucketguard.scanning.formats`, imported the first time a file's first bytes
might be of its format (a plain file needs almost none of them, and importing them all was a third of a
scan's start-up). Member names are never used as filesystem paths (no zip-slip): they only name findings
(`outer.zip!docs/inner.zip!evil.js`).

Problems are raised or reported with a reason code, never swallowed:
- a member that cannot be read (encrypted, corrupt, a bomb, too large) is reported to the visitor and its
  siblings are still scanned;
- a container that cannot be read any further raises `ContainerProblem`;
- a budget for the whole object that is spent raises `ScanStop`.
Bytes of a container that no member accounts for (a carrier before an appended archive, trailing data)
are scanned as a member of their own.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from bucketguard.scanning.blobs import (
    CHUNK,
    HEAD_BYTES,
    IN_MEMORY_MAX,
    Blob,
    BlobWriter,
    Expansion,
    Visitor,
    corrupt,
)
from bucketguard.scanning.formats import disk_images, encoded, mail, recognised, zips
from bucketguard.scanning.limits import Budget, ScanProblem


class Kind(StrEnum):
    ZIP = "zip"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    LZMA_ALONE = "lzma"
    AR = "ar"
    SEVEN_ZIP = "7z"
    ZSTD = "zstd"
    CAB = "cab"
    OLE2 = "ole2"
    RTF = "rtf"
    SYLK = "sylk"
    MAIL = "mail"
    UUENCODE = "uuencode"
    BINHEX = "binhex"
    SZDD = "szdd"
    MARKUP = "html"
    EXECUTABLE = "executable"
    UNDECODED = "undecoded"
    LZ4 = "lz4"
    DISK_IMAGE = "iso"
    PDF = "pdf"
    WIDE_TEXT = "utf-16"
    ONENOTE = "onenote"


Opener = Callable[[Blob, Expansion], None]


@functools.cache
def _formats(path: str) -> Any:
    """`module.name` of bucketguard.scanning.formats, its module imported now."""
    module, _, name = path.partition(".")
    return getattr(importlib.import_module(f"bucketguard.scanning.formats.{module}"), name)


class Format(NamedTuple):  # not a frozen dataclass: see bucketguard.scanning.backends.RuleSource
    kind: Kind
    recognises: str  # `module.function` of the formats package: bytes (the first HEAD_BYTES) -> bool
    opens: str  # `module.function`: an Opener
    reads_to_the_end: bool = False  # its opener scans whatever follows the format's own end
    first_bytes: bytes | None = None  # the bytes a file of this format can start with (None: any)

    def recognise(self, head: bytes) -> bool:
        return bool(_formats(self.recognises)(head))

    @property
    def opener(self) -> Opener:
        return _formats(self.opens)  # type: ignore[no-any-return]


# Most specific first: a tar is recognised by a checksum, after every magic number.
FORMATS = (
    Format(Kind.ZIP, "zips.starts_zip", "office.open_zip", True, b"P"),  # office packages are zips
    Format(Kind.GZIP, "streams.is_gzip", "streams.open_gzip", True, b"\x1f"),
    Format(Kind.BZIP2, "streams.is_bzip2", "streams.open_bzip2", True, b"B"),
    Format(Kind.XZ, "streams.is_xz", "streams.open_xz", True, b"\xfd"),
    Format(Kind.SEVEN_ZIP, "sevenzip.is_7z", "sevenzip.open_7z", True, b"7"),
    Format(Kind.ZSTD, "streams.is_zstd", "streams.open_zstd", True, b"\x28" + bytes(range(0x50, 0x60))),
    Format(Kind.LZ4, "streams.is_lz4", "streams.open_lz4", True, b"\x04"),
    Format(Kind.LZMA_ALONE, "streams.is_lzma_alone", "streams.open_lzma_alone", True, b"\x5d"),
    Format(Kind.CAB, "cabinets.is_cab", "cabinets.open_cab", first_bytes=b"M"),
    Format(Kind.AR, "ar.is_ar", "ar.open_ar", first_bytes=b"!"),
    Format(Kind.ONENOTE, "onenote.is_onenote", "onenote.open_onenote", first_bytes=b"\xe4"),
    Format(Kind.OLE2, "office.is_ole2", "office.open_ole2", reads_to_the_end=True, first_bytes=b"\xd0"),
    Format(Kind.RTF, "office.is_rtf", "office.open_rtf", first_bytes=b"{"),
    Format(Kind.SYLK, "excel4.is_sylk", "office.open_sylk", first_bytes=b"I"),
    Format(Kind.SZDD, "encoded.is_szdd", "encoded.open_szdd", first_bytes=b"S"),
    Format(Kind.BINHEX, "encoded.is_binhex", "encoded.open_binhex"),
    Format(Kind.UUENCODE, "encoded.is_uuencoded", "encoded.open_uuencoded", first_bytes=b"b"),
    Format(Kind.PDF, "pdf.is_pdf", "pdf.open_pdf"),
    Format(Kind.MAIL, "mail.is_mail", "mail.open_mail", first_bytes=mail.FIRST_BYTES),
    Format(Kind.MARKUP, "web.is_markup", "web.open_markup", first_bytes=b"<\xef \t\r\n"),
    Format(
        Kind.EXECUTABLE,
        "executables.is_executable",
        "executables.open_executable",
        first_bytes=b"M\x7f\xfe\xce\xcf",
    ),
    Format(Kind.UNDECODED, "recognised.is_undecoded", "recognised.open_undecoded"),
    Format(Kind.TAR, "tars.is_tar", "tars.open_tar", reads_to_the_end=True),
    Format(Kind.WIDE_TEXT, "encoded.is_wide_text", "encoded.open_wide_text"),
)
# Recognised by sniff from further into the blob than its head.
_DISK_IMAGE = Format(Kind.DISK_IMAGE, "disk_images.is_disk_image", "disk_images.open_disk_image")
_BY_KIND = {entry.kind: entry for entry in (*FORMATS, _DISK_IMAGE)}
_PDF_HEADER = b"%PDF-"
_PDF_FURTHER = 1024 - HEAD_BYTES + len(_PDF_HEADER) - 1  # the rest of the first 1,024 bytes, overlapping
_SUFFIXES = {
    Kind.GZIP: "streams.GZIP_SUFFIXES",
    Kind.BZIP2: "streams.BZIP2_SUFFIXES",
    Kind.XZ: "streams.XZ_SUFFIXES",
    Kind.LZMA_ALONE: "streams.LZMA_ALONE_SUFFIXES",
    Kind.ZSTD: "streams.ZSTD_SUFFIXES",
    Kind.LZ4: "streams.LZ4_SUFFIXES",
}


# For each first byte, the formats a file starting with it can be (in table order). The formats that can
# start with any byte are tested only when a few C-level looks at the head say they might be there, so a
# plain file costs a table lookup, one regular expression and two searches, not a call per format.
_CANDIDATES = tuple(
    tuple(entry for entry in FORMATS if entry.first_bytes is not None and first in entry.first_bytes)
    for first in range(256)
)
_ANYWHERE = tuple(entry for entry in FORMATS if entry.first_bytes is None)
# What those formats have at fixed offsets, in one anchored match: the magic numbers of the undecoded
# formats (recognised.HINT), UTF-16 or UTF-32 text (a byte-order mark, or a zero high byte), a tar's ustar
# magic or the first digit of its checksum (a V7 tar's only mark: tars.is_tar reads the field up to a
# NUL, so bytes after one may be anything).
_AT_OFFSETS = re.compile(
    recognised.HINT.pattern + rb"|[\x00\xfe\xff]|.\x00|.{257}ustar|.{148} *[0-9]", re.DOTALL
)


def _might_start_anywhere(head: bytes) -> bool:
    # find, not `in`: bytes.__contains__ first tries its operand as an integer, and raising and clearing
    # that TypeError costs more than the search (Python 3.11).
    return (
        _AT_OFFSETS.match(head) is not None
        or head.find(_PDF_HEADER) >= 0
        or head.find(encoded.BINHEX_BANNER) >= 0
    )


def detect(head: bytes) -> Kind | None:
    """The container type from the first bytes."""
    if not head:
        return None
    candidates = _CANDIDATES[head[0]]
    if _might_start_anywhere(head):
        candidates += _ANYWHERE
    for entry in candidates:
        if entry.recognise(head):
            return entry.kind
    return None


def sniff(blob: Blob) -> tuple[Kind, ...]:
    """The containers a blob holds: what its first bytes say, and a zip glued to its end unless the
    format's own opener reads what follows it."""
    kind = detect(blob.head() if blob.data is None else blob.data[:HEAD_BYTES])
    if kind is None and disk_images.is_disk_image(blob):  # its identifier sits after 32 KiB of system area
        kind = Kind.DISK_IMAGE
    # Readers (Acrobat, PDFium, pdf.js) take a PDF header anywhere in the first 1,024 bytes.
    if (
        kind is None
        and blob.size > HEAD_BYTES
        and blob.read_at(HEAD_BYTES - 4, _PDF_FURTHER).find(_PDF_HEADER) >= 0
    ):
        kind = Kind.PDF
    if kind is not None and _BY_KIND[kind].reads_to_the_end:
        return (kind,)
    appended = (Kind.ZIP,) if zips.ends_with_zip(blob) else ()
    return (kind, *appended) if kind is not None else appended


def open_container(
    kind: Kind, blob: Blob, *, name: str, budget: Budget, visitor: Visitor, work_dir: Path | None = None
) -> None:
    """Expand every member of `blob` (a container of `kind` called `name`) and hand it to `visitor`."""
    opener = _BY_KIND[kind].opener  # imported outside the try: a broken installation is no corrupt file
    try:
        opener(blob, Expansion(name, budget, visitor, work_dir))
    except ScanProblem:
        raise
    except (
        Exception
    ) as exc:  # a decoder fed untrusted bytes: any other failure means the container is corrupt
        raise corrupt(name, kind.value, exc) from None


def decompressed_name(name: str, kind: Kind) -> str:
    """The name of what a compressed stream holds: `songs.tar.gz` -> `songs.tar`, `a.tgz` -> `a.tar`."""
    suffixes = _formats(_SUFFIXES[kind]) if kind in _SUFFIXES else ()
    return _formats("streams.decompressed_name")(name, suffixes)  # type: ignore[no-any-return]


__all__ = [
    "CHUNK",
    "FORMATS",
    "HEAD_BYTES",
    "IN_MEMORY_MAX",
    "Blob",
    "BlobWriter",
    "Kind",
    "Visitor",
    "decompressed_name",
    "detect",
    "open_container",
    "sniff",
]
