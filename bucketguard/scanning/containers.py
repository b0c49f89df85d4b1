"""Containers opened recursively, recognised by their bytes (never by their name: names lie).

`FORMATS` is the one table from what a container looks like to the code that opens it; each format family
lives in its own module under `bucketguard.scanning.formats`. Member names are never used as filesystem
paths (no zip-slip): they only name findings (`outer.zip!docs/inner.zip!evil.js`).

Problems are raised or reported with a reason code, never swallowed:
- a member that cannot be read (encrypted, corrupt, a bomb, too large) is reported to the visitor and its
  siblings are still scanned;
- a container that cannot be read any further raises `ContainerProblem`;
- a budget for the whole object that is spent raises `ScanStop`.
Bytes of a container that no member accounts for (a carrier before an appended archive, trailing data)
are scanned as a member of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bucketguard.scanning.blobs import CHUNK, HEAD_BYTES, IN_MEMORY_MAX, Blob, BlobWriter, Expansion, Visitor
from bucketguard.scanning.formats import sevenzip, streams, tars, zips
from bucketguard.scanning.limits import Budget


class Kind(StrEnum):
    ZIP = "zip"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    SEVEN_ZIP = "7z"


Opener = Callable[[Blob, Expansion], None]


@dataclass(frozen=True)
class Format:
    kind: Kind
    recognise: Callable[[bytes], bool]  # from the first HEAD_BYTES bytes
    open: Opener


# Most specific first: a tar is recognised by a checksum, after every magic number.
FORMATS = (
    Format(Kind.ZIP, zips.starts_zip, zips.open_zip),
    Format(Kind.GZIP, streams.is_gzip, streams.open_gzip),
    Format(Kind.BZIP2, streams.is_bzip2, streams.open_bzip2),
    Format(Kind.XZ, streams.is_xz, streams.open_xz),
    Format(Kind.SEVEN_ZIP, sevenzip.is_7z, sevenzip.open_7z),
    Format(Kind.TAR, tars.is_tar, tars.open_tar),
)
_BY_KIND = {entry.kind: entry for entry in FORMATS}
_SUFFIXES = {
    Kind.GZIP: streams.GZIP_SUFFIXES,
    Kind.BZIP2: streams.BZIP2_SUFFIXES,
    Kind.XZ: streams.XZ_SUFFIXES,
}


def detect(head: bytes) -> Kind | None:
    """The container type from the first bytes."""
    return next((entry.kind for entry in FORMATS if entry.recognise(head)), None)


def sniff(blob: Blob) -> Kind | None:
    """The container type of a blob: by its first bytes, or a zip glued to its end."""
    kind = detect(blob.head())
    if kind is None and zips.ends_with_zip(blob):
        return Kind.ZIP
    return kind


def open_container(
    kind: Kind, blob: Blob, *, name: str, budget: Budget, visitor: Visitor, work_dir: Path | None = None
) -> None:
    """Expand every member of `blob` (a container of `kind` called `name`) and hand it to `visitor`."""
    _BY_KIND[kind].open(blob, Expansion(name, budget, visitor, work_dir))


def decompressed_name(name: str, kind: Kind) -> str:
    """The name of what a compressed stream holds: `songs.tar.gz` -> `songs.tar`, `a.tgz` -> `a.tar`."""
    return streams.decompressed_name(name, _SUFFIXES.get(kind, ()))


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
