"""Containers opened recursively: zip, tar, gzip, bzip2, xz and 7z.

Every member is expanded under the object's `Budget` into a `Blob`: kept in memory up to `IN_MEMORY_MAX`
bytes, spilled to a temporary file beyond that, hashed (SHA-256) while it is written. Members are handed
to a `Visitor` one at a time and their temporary file is deleted as soon as the visitor returns, so
temporary space never holds more than the members along the current nesting path.

Member names are never used as filesystem paths (no zip-slip): they only name findings
(`outer.zip!docs/inner.zip!evil.js`).

Problems are raised or reported with a reason code, never swallowed:
- a member that cannot be read (encrypted, corrupt, a bomb, too large) is reported to the visitor and its
  siblings are still scanned;
- a container that cannot be read any further raises `ContainerProblem`;
- a budget for the whole object that is spent raises `ScanStop`.
"""

from __future__ import annotations

import bz2
import contextlib
import copy
import gzip
import hashlib
import io
import lzma
import os
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol

import py7zr
import py7zr.io

from bucketguard.scanning.limits import (
    Budget,
    ContainerProblem,
    MemberProblem,
    RatioGuard,
    ScanFailure,
    ScanProblem,
)
from bucketguard.scanning.result import Reason

CHUNK = 1 << 20
IN_MEMORY_MAX = 1 << 20  # members up to this size stay in memory; larger ones go to a temporary file
HEAD_BYTES = 512  # enough to recognise every container type (tar's magic sits at offset 257)
_TAR_BLOCK = 512


class Kind(StrEnum):
    ZIP = "zip"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    SEVEN_ZIP = "7z"


def detect(head: bytes) -> Kind | None:
    """The container type from the first bytes (magic numbers, not the name: names lie)."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Kind.ZIP
    if head.startswith(b"\x1f\x8b"):
        return Kind.GZIP
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[3:4] != b"0":
        return Kind.BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Kind.XZ
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Kind.SEVEN_ZIP
    if head[257:262] == b"ustar":
        return Kind.TAR
    return None


@dataclass
class Blob:
    """Bytes to scan: in memory (`data`) or on disk (`path`), with their size and SHA-256."""

    size: int
    sha256: str | None
    data: bytes | None = None
    path: Path | None = None
    owned: bool = False  # a temporary file we created and must delete
    _digest: Callable[[], str] | None = field(default=None, repr=False)

    def head(self, size: int = HEAD_BYTES) -> bytes:
        if self.data is not None:
            return self.data[:size]
        assert self.path is not None
        with self.path.open("rb") as stream:
            return stream.read(size)

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")

    def digest(self) -> str:
        """The SHA-256, waiting for a concurrent hash to finish when there is one."""
        if self.sha256 is None and self._digest is not None:
            self.sha256 = self._digest()
        if self.sha256 is None:
            raise ScanFailure(Reason.INTERNAL_ERROR, "no digest computed")
        return self.sha256

    def discard(self) -> None:
        if self.owned and self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.path = None


class Visitor(Protocol):
    def member(self, where: str, blob: Blob) -> None: ...

    def problem(self, where: str, reason: Reason, detail: str) -> None: ...


class BlobWriter:
    """Expands one member under the budget and the ratio guards, hashing as it writes."""

    def __init__(
        self, where: str, budget: Budget, guards: tuple[RatioGuard, ...], work_dir: Path | None
    ) -> None:
        self.where = where
        self.budget = budget
        self.guards = guards
        self.work_dir = work_dir
        self.hash = hashlib.sha256()
        self.size = 0
        self.buffer = bytearray()
        self.file: IO[bytes] | None = None
        self.path: Path | None = None

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        size = len(chunk)
        if not size:
            return
        self.size += size
        limit = self.budget.limits.max_file_bytes
        if limit is not None and self.size > limit:
            raise MemberProblem(Reason.TOO_LARGE, f"{self.where}: larger than {limit} bytes")
        self.budget.charge(size, self.where)
        for guard in self.guards:
            guard.add(size)
        self.hash.update(chunk)
        if self.file is None and len(self.buffer) + size <= IN_MEMORY_MAX:
            self.buffer += chunk
            return
        try:
            if self.file is None:
                descriptor, name = tempfile.mkstemp(prefix="bucketguard-", dir=self.work_dir)
                self.path = Path(name)
                self.file = os.fdopen(descriptor, "wb")
                self.file.write(self.buffer)
                self.buffer = bytearray()
            self.file.write(chunk)
        except OSError as exc:
            self.abandon()
            raise ScanFailure(Reason.INTERNAL_ERROR, f"{self.where}: no temporary space: {exc}") from None

    def copy_from(self, read: Callable[[int], bytes]) -> Blob:
        try:
            while chunk := read(CHUNK):
                self.write(chunk)
            return self.finish()
        except BaseException:
            self.abandon()
            raise

    def finish(self) -> Blob:
        sha256 = self.hash.hexdigest()
        if self.file is None:
            return Blob(self.size, sha256, data=bytes(self.buffer))
        self.file.close()
        return Blob(self.size, sha256, path=self.path, owned=True)

    def abandon(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def open_container(
    kind: Kind, blob: Blob, *, name: str, budget: Budget, visitor: Visitor, work_dir: Path | None = None
) -> None:
    """Expand every member of `blob` (a container of `kind` called `name`) and hand it to `visitor`."""
    opener = _OPENERS[kind]
    opener(blob, name, budget, visitor, work_dir)


def _visit(visitor: Visitor, where: str, blob: Blob) -> None:
    try:
        visitor.member(where, blob)
    finally:
        blob.discard()


def _corrupt(name: str, kind: str, exc: BaseException) -> ContainerProblem:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ContainerProblem(Reason.CORRUPT, f"{name}: unreadable {kind}: {message}")


# --- zip ---------------------------------------------------------------------------------------------

_ZIP_ENCRYPTED = 0x1


def _open_zip(blob: Blob, name: str, budget: Budget, visitor: Visitor, work_dir: Path | None) -> None:
    limits = budget.limits
    with blob.open() as raw:
        try:
            archive = zipfile.ZipFile(raw)
            members = [info for info in archive.infolist() if not info.is_dir()]
        except ScanProblem:
            raise
        except Exception as exc:  # a parser fed untrusted bytes: any failure means "corrupt"
            raise _corrupt(name, "zip", exc) from None
        with archive:
            budget.count_members(len(members), name)
            for info in members:
                where = f"{name}!{info.filename}"
                if info.flag_bits & _ZIP_ENCRYPTED:
                    visitor.problem(where, Reason.ENCRYPTED, f"{where}: encrypted member")
                    continue
                if limits.max_file_bytes is not None and info.file_size > limits.max_file_bytes:
                    visitor.problem(
                        where, Reason.TOO_LARGE, f"{where}: larger than {limits.max_file_bytes} bytes"
                    )
                    continue
                guard = RatioGuard(info.compress_size, limits, where, MemberProblem)
                if guard.exceeded_by(info.file_size):  # the header admits it: no need to inflate
                    visitor.problem(
                        where,
                        Reason.RATIO_EXCEEDED,
                        f"{where}: declares {info.file_size} bytes from {info.compress_size} "
                        f"(more than {limits.max_ratio:g} times)",
                    )
                    continue
                writer = BlobWriter(where, budget, (guard,), work_dir)
                try:
                    with archive.open(_read_to_the_end(info)) as stream:
                        member = writer.copy_from(stream.read)
                except MemberProblem as exc:
                    visitor.problem(where, exc.reason, exc.detail)
                    continue
                except ScanProblem:
                    raise
                except Exception as exc:  # bad CRC, truncated data, unsupported method
                    problem = _corrupt(where, "zip member", exc)
                    visitor.problem(where, problem.reason, problem.detail)
                    continue
                if member.size != info.file_size:
                    visitor.problem(
                        where,
                        Reason.CORRUPT,
                        f"{where}: corrupt zip member: declares {info.file_size} bytes, holds {member.size}",
                    )
                _visit(visitor, where, member)  # what it holds is scanned all the same


def _read_to_the_end(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """The member's header with its declared size lifted: zipfile stops at the declared size, so a member
    declaring fewer bytes than its data holds (with the CRC of that prefix) would hide the rest. Read to
    the end of the compressed data instead; the CRC, then the size, are checked against what came out."""
    unbounded = copy.copy(info)
    unbounded.file_size = _UNBOUNDED
    return unbounded


_UNBOUNDED = 1 << 62


# --- tar ---------------------------------------------------------------------------------------------


def _open_tar(blob: Blob, name: str, budget: Budget, visitor: Visitor, work_dir: Path | None) -> None:
    limits = budget.limits
    # A tar is not compressed, but sparse members can still expand: guard the archive as a whole.
    guard = RatioGuard(blob.size, limits, name, ContainerProblem)
    with blob.open() as raw:
        try:
            archive = tarfile.open(fileobj=raw, mode="r:")  # noqa: SIM115 - closed by the `with` below
        except ScanProblem:
            raise
        except Exception as exc:
            raise _corrupt(name, "tar", exc) from None
        with archive:
            members = _tar_members(archive, name)
            for info in members:
                where = f"{name}!{info.name}"
                budget.count_members(1, where)
                if limits.max_file_bytes is not None and info.size > limits.max_file_bytes:
                    visitor.problem(
                        where, Reason.TOO_LARGE, f"{where}: larger than {limits.max_file_bytes} bytes"
                    )
                    continue
                writer = BlobWriter(where, budget, (guard,), work_dir)
                try:
                    stream = archive.extractfile(info)
                    if stream is None:
                        continue
                    with stream:
                        member = writer.copy_from(stream.read)
                except MemberProblem as exc:
                    visitor.problem(where, exc.reason, exc.detail)
                    continue
                except ScanProblem:
                    raise
                except Exception as exc:
                    raise _corrupt(where, "tar member", exc) from None
                _visit(visitor, where, member)
            _check_tar_end(archive, raw, name)


def _tar_members(archive: tarfile.TarFile, name: str) -> Iterator[tarfile.TarInfo]:
    while True:
        try:
            info = archive.next()
        except Exception as exc:
            raise _corrupt(name, "tar", exc) from None
        if info is None:
            return
        # Directories, links and device entries carry no bytes of their own. Members of a type tarfile
        # does not know (vendor extensions, GNU volume/multi-volume headers) do, and other tar readers
        # extract them as files: tarfile skips over their data, so they are read here like files.
        if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES:
            yield info


def _check_tar_end(archive: tarfile.TarFile, raw: IO[bytes], name: str) -> None:
    # tarfile stops quietly at a bad header after the first member or at a missing end marker, which is
    # how a truncated or tampered tar looks: demand the zero block that ends every well-formed tar.
    raw.seek(archive.offset)
    end = raw.read(_TAR_BLOCK)
    if len(end) < _TAR_BLOCK or any(end):
        raise ContainerProblem(
            Reason.CORRUPT, f"{name}: unreadable tar: no end-of-archive marker at offset {archive.offset}"
        )


# --- single-stream compressors: gzip, bzip2, xz ------------------------------------------------------

_STREAM_SUFFIXES = {
    Kind.GZIP: (".gz", ".gzip", ".z"),
    Kind.BZIP2: (".bz2", ".bzip2", ".bz"),
    Kind.XZ: (".xz", ".lzma"),
}
_TAR_SHORTHANDS = (".tgz", ".tbz2", ".tbz", ".txz", ".tlz")


def decompressed_name(name: str, kind: Kind) -> str:
    """The name of what a compressed stream holds: `songs.tar.gz` -> `songs.tar`, `a.tgz` -> `a.tar`."""
    base = name.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    lower = base.lower()
    for suffix in _STREAM_SUFFIXES.get(kind, ()):
        if lower.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    for suffix in _TAR_SHORTHANDS:
        if lower.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)] + ".tar"
    return base + ".out"


def _stream_opener(kind: Kind) -> Callable[[IO[bytes]], io.BufferedIOBase]:
    if kind is Kind.GZIP:
        return lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")
    if kind is Kind.BZIP2:
        return lambda raw: bz2.BZ2File(raw, mode="rb")
    return lambda raw: lzma.LZMAFile(raw, mode="rb")


def _open_stream(kind: Kind) -> Callable[[Blob, str, Budget, Visitor, Path | None], None]:
    def open_compressed(
        blob: Blob, name: str, budget: Budget, visitor: Visitor, work_dir: Path | None
    ) -> None:
        where = f"{name}!{decompressed_name(name, kind)}"
        budget.count_members(1, where)
        guard = RatioGuard(blob.size, budget.limits, name, ContainerProblem)
        writer = BlobWriter(where, budget, (guard,), work_dir)
        try:
            with blob.open() as raw, _stream_opener(kind)(raw) as stream:
                member = writer.copy_from(stream.read)
        except MemberProblem as exc:
            visitor.problem(where, exc.reason, exc.detail)
            return
        except ScanProblem:
            raise
        except Exception as exc:  # truncated stream, bad CRC, trailing garbage
            raise _corrupt(name, kind.value, exc) from None
        _visit(visitor, where, member)

    return open_compressed


# --- 7z ----------------------------------------------------------------------------------------------


class _SevenZipMember(py7zr.io.Py7zIO):
    """py7zr writes each member here; `close()` (called once the member's CRC checked) scans it."""

    def __init__(self, where: str, writer: BlobWriter, on_complete: Callable[[str, Blob], None]) -> None:
        self.where = where
        self.writer = writer
        self.on_complete = on_complete

    def write(self, s: bytes | bytearray) -> int:
        self.writer.write(s)
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.writer.size

    def close(self) -> None:
        self.on_complete(self.where, self.writer.finish())


class _SevenZipFactory(py7zr.io.WriterFactory):
    def __init__(self, name: str, budget: Budget, guard: RatioGuard, visitor: Visitor, work_dir: Path | None):
        self.name = name
        self.budget = budget
        self.guard = guard
        self.visitor = visitor
        self.work_dir = work_dir
        self.writers: list[BlobWriter] = []

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        where = f"{self.name}!{filename.lstrip('/')}"
        writer = BlobWriter(where, self.budget, (self.guard,), self.work_dir)
        self.writers.append(writer)
        return _SevenZipMember(where, writer, lambda w, blob: _visit(self.visitor, w, blob))


def _open_7z(blob: Blob, name: str, budget: Budget, visitor: Visitor, work_dir: Path | None) -> None:
    limits = budget.limits
    guard = RatioGuard(blob.size, limits, name, ContainerProblem)
    with blob.open() as raw:
        try:
            # A file object (not a path) keeps py7zr single-threaded: members arrive in order, here.
            archive = py7zr.SevenZipFile(raw, mode="r")
        except py7zr.PasswordRequired:
            raise ContainerProblem(
                Reason.ENCRYPTED, f"{name}: encrypted 7z (the file list is encrypted)"
            ) from None
        except ScanProblem:
            raise
        except Exception as exc:
            raise _corrupt(name, "7z", exc) from None
        factory = _SevenZipFactory(name, budget, guard, visitor, work_dir)
        try:
            with archive:
                if archive.needs_password():
                    raise ContainerProblem(Reason.ENCRYPTED, f"{name}: encrypted 7z")
                entries = [entry for entry in archive.list() if not entry.is_directory]
                budget.count_members(len(entries), name)
                declared = sum(entry.uncompressed for entry in entries)
                if guard.exceeded_by(declared):
                    raise ContainerProblem(
                        Reason.RATIO_EXCEEDED,
                        f"{name}: declares {declared} bytes from {blob.size} "
                        f"(more than {limits.max_ratio:g} times)",
                    )
                archive.extractall(factory=factory)  # noqa: S202 - into our writers, never to disk paths
        except MemberProblem as exc:
            # py7zr cannot skip one member of a solid block and go on: the rest of the archive is unread.
            raise ContainerProblem(exc.reason, exc.detail) from None
        except ScanProblem:
            raise
        except py7zr.PasswordRequired:
            raise ContainerProblem(Reason.ENCRYPTED, f"{name}: encrypted 7z") from None
        except Exception as exc:
            raise _corrupt(name, "7z", exc) from None
        finally:
            for writer in factory.writers:
                writer.abandon()


_OPENERS: dict[Kind, Callable[[Blob, str, Budget, Visitor, Path | None], None]] = {
    Kind.ZIP: _open_zip,
    Kind.TAR: _open_tar,
    Kind.GZIP: _open_stream(Kind.GZIP),
    Kind.BZIP2: _open_stream(Kind.BZIP2),
    Kind.XZ: _open_stream(Kind.XZ),
    Kind.SEVEN_ZIP: _open_7z,
}

__all__ = ["HEAD_BYTES", "IN_MEMORY_MAX", "Blob", "BlobWriter", "Kind", "Visitor", "detect", "open_container"]
