"""The writers py7zr extracts 7z members into (never to a path): its own module because their base classes
are py7zr's, imported only when a 7z archive turns up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import py7zr.io

from bucketguard.scanning.blobs import Blob, BlobWriter, Expansion
from bucketguard.scanning.limits import RatioGuard


class _Member(py7zr.io.Py7zIO):
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


class MemberWriters(py7zr.io.WriterFactory):
    def __init__(self, expansion: Expansion, guard: RatioGuard) -> None:
        self.expansion = expansion
        self.guard = guard
        self.writers: list[BlobWriter] = []
        self.completed: Counter[str] = Counter()  # members scanned, by where (py7zr hands empty files too)

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        where = f"{self.expansion.name}!{filename.lstrip('/')}"
        writer = self.expansion.writer(where, self.guard)
        self.writers.append(writer)
        return _Member(where, writer, self._complete)

    def _complete(self, where: str, blob: Blob) -> None:
        self.completed[where] += 1
        self.expansion.visit(where, blob)
