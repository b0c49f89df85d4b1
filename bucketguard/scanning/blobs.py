"""Bytes to scan and how members are written: the vocabulary every format opener shares.

A `Blob` is kept in memory up to `IN_MEMORY_MAX` bytes and spilled to a temporary file beyond that; a
`BlobWriter` expands one member under the object's `Budget`, hashing (SHA-256) while it writes. Members
are handed to a `Visitor` one at a time and their temporary file is deleted as soon as the visitor
returns, so temporary space never holds more than the members along the current nesting path.

A blob may also be bytes read by offset from a `RandomAccess` source (an S3 object through ranged GETs):
its parsers read it through `open()` (a seekable file over the source) and `mapped()` (a `SourceView`
that slices and searches it), so an archive is opened where it lies, with no copy. Only the parsers that
need the whole of it in one buffer or as a file on disk get a local copy (`local()`: pefile; the 7-Zip
program).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple, Protocol

from bucketguard.scanning.limits import (
    Budget,
    ContainerProblem,
    MemberProblem,
    RatioGuard,
    ScanFailure,
    ScanProblem,
)
from bucketguard.scanning.result import Finding, Reason

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK = 1 << 20
IN_MEMORY_MAX = 1 << 20  # members up to this size stay in memory; larger ones go to a temporary file
HEAD_BYTES = 512  # enough to recognise every container type by its first bytes (tar's magic sits at 257)
TAIL_BYTES = (1 << 16) + 22  # a zip's end record with the longest comment
DECODE_IN_MEMORY_MAX = 64 << 20  # formats parsed whole in memory (mail, documents, encoded text)
SOURCE_BUFFER_BYTES = 64 << 10  # a parser's small reads of a source (headers) share one read
COPY_BYTES = 8 << 20


class SourceFailed(Exception):
    """A RandomAccess source could not give its bytes (the object changed while it was read, the network
    failed): raised through the engine, so no verdict is built from part of an object."""


class RandomAccess(Protocol):
    """Bytes read by offset from elsewhere (an object read through ranged GETs), never copied whole."""

    @property
    def size(self) -> int: ...

    @property
    def failure(self) -> SourceFailed | None:
        """The first read that failed: every later read fails the same, and the engine raises it after
        the walk whatever a parser made of it (parsers turn exceptions into "corrupt")."""
        ...

    def read_into(self, into: memoryview, offset: int) -> None:
        """Fill `into` with the bytes at `offset`; raises SourceFailed when they cannot all be read."""
        ...

    def read_at(self, offset: int, size: int) -> bytes: ...


class SourceFile(io.RawIOBase):
    """A seekable, read-only file over a source, for parsers that take a file object (zipfile, py7zr,
    tarfile, pycdlib); wrapped in a BufferedReader by `Blob.open`."""

    def __init__(self, source: RandomAccess) -> None:
        self.source = source
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.source.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self.position = base + offset
        return self.position

    def readinto(self, into: WriteableBuffer) -> int:
        view = memoryview(into).cast("B")
        count = max(min(len(view), self.source.size - self.position), 0)
        if not count:
            return 0  # at or past the end (a parser may seek anywhere): never a read out of range
        self.source.read_into(view[:count], self.position)
        self.position += count
        return count

    def readall(self) -> bytes:
        data = bytearray(max(self.source.size - self.position, 0))
        self.readinto(data)
        return bytes(data)


class SourceView:
    """A source as `mapped()` gives it: sliced and searched like bytes, each slice a read by offset."""

    def __init__(self, source: RandomAccess) -> None:
        self.source = source

    def __len__(self) -> int:
        return self.source.size

    def __getitem__(self, index: slice) -> bytes:
        start, stop, step = index.indices(self.source.size)
        if step != 1:
            raise ValueError("a source is sliced with step 1 only")
        return self.source.read_at(start, max(stop - start, 0))

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        start, end, _ = slice(start, end).indices(self.source.size)
        for at in range(start, end, CHUNK):
            found = self[at : min(at + CHUNK + len(sub) - 1, end)].find(sub)
            if found >= 0:
                return at + found
        return -1

    def rfind(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        start, end, _ = slice(start, end).indices(self.source.size)
        for stop in range(end, start, -CHUNK):
            at = max(stop - CHUNK, start)
            found = self[at : min(stop + len(sub) - 1, end)].rfind(sub)
            if found >= 0:
                return at + found
        return -1


View = bytes | mmap.mmap | SourceView


@dataclass
class Blob:
    """Bytes to scan: in memory (`data`), on disk (`path`) or read by offset from a `source`, with their
    size and SHA-256."""

    size: int
    sha256: str | None
    data: bytes | None = None
    path: Path | None = None
    owned: bool = False  # a temporary file we created and must delete
    source: RandomAccess | None = None

    def head(self, size: int = HEAD_BYTES) -> bytes:
        return self.read_at(0, size)

    def tail(self, size: int = TAIL_BYTES) -> tuple[int, bytes]:
        """The last `size` bytes and the offset they start at."""
        start = max(self.size - size, 0)
        return start, self.read_at(start, size)

    def read_at(self, offset: int, size: int) -> bytes:
        if self.data is not None:
            return self.data[offset : offset + size]
        if self.source is not None:
            if not 0 <= offset < self.size:
                return b""
            return self.source.read_at(offset, min(size, self.size - offset))
        assert self.path is not None
        with self.path.open("rb") as stream:
            stream.seek(offset)
            return stream.read(size)

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.source is not None:
            return io.BufferedReader(SourceFile(self.source), buffer_size=SOURCE_BUFFER_BYTES)
        assert self.path is not None
        return self.path.open("rb")

    @contextlib.contextmanager
    def mapped(self) -> Iterator[View]:
        """The whole blob, searchable and sliceable (a read-only mapping for files on disk, a SourceView
        for a source)."""
        if self.source is not None:
            yield SourceView(self.source)
            return
        with self.local(None) as view:
            yield view

    @contextlib.contextmanager
    def local(self, work_dir: Path | None) -> Iterator[bytes | mmap.mmap]:
        """The whole blob as one buffer of this process, for parsers that need that (pefile): a source
        is copied to a temporary file in `work_dir` first, removed afterwards."""
        if self.data is not None or self.size == 0:
            yield self.data or b""
            return
        if self.source is not None:
            copy = copy_source(self.source, work_dir)
            try:
                with _mapping(copy) as view:
                    yield view
            finally:
                copy.unlink(missing_ok=True)
            return
        assert self.path is not None
        with _mapping(self.path) as view:
            yield view

    def digest(self) -> str:
        """The SHA-256 (computed while the blob was read or matched)."""
        if self.sha256 is None:
            raise ScanFailure(Reason.INTERNAL_ERROR, "no digest computed")
        return self.sha256

    def discard(self) -> None:
        if self.owned and self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.path = None


@contextlib.contextmanager
def _mapping(path: Path) -> Iterator[mmap.mmap]:
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as view:
        yield view


class Visitor(Protocol):
    def member(self, where: str, blob: Blob) -> None: ...

    def problem(self, where: str, reason: Reason, detail: str) -> None: ...

    def finding(self, finding: Finding) -> None: ...


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
                descriptor, self.path = temporary_file(self.work_dir)
                self.file = os.fdopen(descriptor, "wb")
                self.file.write(self.buffer)
                self.buffer = bytearray()
            self.file.write(chunk)
        except OSError as exc:
            self.abandon()
            raise ScanFailure(Reason.INTERNAL_ERROR, f"{self.where}: no temporary space: {exc}") from None

    def copy_from(self, read: Callable[[int], bytes]) -> None:
        while chunk := read(CHUNK):
            self.write(chunk)

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


class Expansion(NamedTuple):  # not a frozen dataclass: see bucketguard.scanning.backends.RuleSource
    """Where one container is being expanded: its name, the object's budget, the visitor, temp space."""

    name: str
    budget: Budget
    visitor: Visitor
    work_dir: Path | None

    def writer(self, where: str, *guards: RatioGuard) -> BlobWriter:
        return BlobWriter(where, self.budget, guards, self.work_dir)

    def visit(self, where: str, blob: Blob) -> None:
        try:
            self.visitor.member(where, blob)
        finally:
            blob.discard()

    def problem(self, where: str, problem: ScanProblem) -> None:
        self.visitor.problem(where, problem.reason, problem.detail)

    def flag(self, finding: Finding) -> None:
        """A finding of a decoder's own (a heuristic over what it decoded), not of the rules."""
        self.visitor.finding(finding)

    def expand(self, where: str, fill: Callable[[BlobWriter], None], *guards: RatioGuard) -> Blob | None:
        """Write one member with `fill`. A member that cannot be read is reported (and None returned) so
        its siblings go on; any failure of a parser fed untrusted bytes means the member is corrupt."""
        writer = self.writer(where, *guards)
        try:
            fill(writer)
            return writer.finish()
        except MemberProblem as exc:
            writer.abandon()
            self.problem(where, exc)
        except ScanProblem:
            writer.abandon()
            raise
        except Exception as exc:
            writer.abandon()
            self.problem(where, corrupt(where, "member", exc))
        return None

    def emit(self, where: str, data: bytes, *guards: RatioGuard) -> None:
        """A member decoded in memory (a mail part, an embedded object, decoded text)."""
        self.budget.count_members(1, where)
        member = self.expand(where, lambda writer: writer.write(data), *guards)
        if member is not None:
            self.visit(where, member)

    def unattributed(self, view: View, start: int, end: int) -> None:
        """Bytes of a container that no member accounts for (a carrier before an appended archive, data
        between members, trailing data): scanned as a member of their own, so nothing is left unread.
        Zero padding hides nothing and is skipped."""
        if all(not view[at : min(at + CHUNK, end)].strip(b"\0") for at in range(start, end, CHUNK)):
            return
        where = f"{self.name}!<bytes {start}-{end}>"
        self.budget.count_members(1, where)

        def fill(writer: BlobWriter) -> None:
            for at in range(start, end, CHUNK):
                writer.write(view[at : min(at + CHUNK, end)])

        member = self.expand(where, fill)
        if member is not None:
            self.visit(where, member)


def temporary_file(work_dir: Path | None) -> tuple[int, Path]:
    """A new file only this user may read (mode 0600) in `work_dir`: its open descriptor and path."""
    import tempfile  # here: most scans write no temporary file, and its import (random) is start-up time

    descriptor, name = tempfile.mkstemp(prefix="bucketguard-", dir=work_dir)
    return descriptor, Path(name)


def copy_source(source: RandomAccess, work_dir: Path | None) -> Path:
    """A source's bytes in a new temporary file in `work_dir` (the caller removes it), for the parsers and
    programs that need a file."""
    path = None
    try:
        descriptor, path = temporary_file(work_dir)
        with os.fdopen(descriptor, "wb") as out:
            chunk = memoryview(bytearray(min(COPY_BYTES, source.size)))
            for offset in range(0, source.size, len(chunk)):
                piece = chunk[: min(len(chunk), source.size - offset)]
                source.read_into(piece, offset)
                out.write(piece)
    except BaseException as exc:
        if path is not None:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            detail = f"no temporary space for a copy: {exc.strerror or exc}"
            raise ScanFailure(Reason.INTERNAL_ERROR, detail) from None
        raise
    return path


def read_whole(blob: Blob, name: str, kind: str) -> bytes:
    """The blob's bytes, for parsers that need them all at once; too large a blob is not decoded."""
    if blob.size > DECODE_IN_MEMORY_MAX:
        raise ContainerProblem(
            Reason.TOO_LARGE, f"{name}: {kind} larger than {DECODE_IN_MEMORY_MAX} bytes is not decoded"
        )
    if blob.data is not None:
        return blob.data
    with blob.open() as stream:
        return stream.read()


def corrupt(name: str, kind: str, exc: BaseException) -> ContainerProblem:
    """What a parser's failure on untrusted bytes means: corrupt, or a method it does not implement."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, NotImplementedError):
        return ContainerProblem(Reason.UNSUPPORTED, f"{name}: {kind} not decodable here: {message}")
    return ContainerProblem(Reason.CORRUPT, f"{name}: unreadable {kind}: {message}")
