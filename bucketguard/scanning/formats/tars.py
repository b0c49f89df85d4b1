"""Tar archives: POSIX, GNU and the old V7 layout, which carries no `ustar` magic and is recognised by a
valid header checksum instead (GNU tar and Python's tarfile both extract it)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import IO

from bucketguard.scanning.blobs import Blob, BlobWriter, Expansion, corrupt
from bucketguard.scanning.limits import Budget, ContainerProblem, RatioGuard, ScanProblem
from bucketguard.scanning.result import Reason

_BLOCK = 512
_CHECKSUM = slice(148, 156)


def is_tar(head: bytes) -> bool:
    """A tar's first header: the ustar magic, or a name and a checksum that adds up (V7)."""
    if head[257:262] == b"ustar":
        return True
    if len(head) < _BLOCK or head[0] == 0:
        return False
    field = head[_CHECKSUM].split(b"\0", 1)[0].strip(b" ")
    if not field or field.strip(b"01234567"):  # cheap, and what rules out nearly every other file
        return False
    block = head[:148] + b" " * 8 + head[156:_BLOCK]
    unsigned = sum(block)
    stored = int(field, 8)
    if stored == unsigned:
        return True
    return stored == unsigned - 256 * sum(byte > 127 for byte in block)  # old tars summed signed chars


def open_tar(blob: Blob, expansion: Expansion) -> None:
    name, budget = expansion.name, expansion.budget
    limit = budget.limits.max_file_bytes
    # A tar is not compressed, but sparse members can still expand: guard the archive as a whole.
    guard = RatioGuard(blob.size, budget.limits, name, ContainerProblem)
    with blob.open() as raw:
        try:
            archive = tarfile.open(fileobj=raw, mode="r:")  # noqa: SIM115 - closed by the `with` below
        except ScanProblem:
            raise
        except Exception as exc:
            raise corrupt(name, "tar", exc) from None
        with archive:
            for info in _members(archive, name, budget):
                where = f"{name}!{info.name}"
                if limit is not None and info.size > limit:
                    expansion.visitor.problem(where, Reason.TOO_LARGE, f"{where}: larger than {limit} bytes")
                    continue

                def fill(writer: BlobWriter, info: tarfile.TarInfo = info) -> None:
                    stream = archive.extractfile(info)
                    if stream is not None:
                        with stream:
                            writer.copy_from(stream.read)

                member = expansion.expand(where, fill, guard)
                if member is not None:
                    expansion.visit(where, member)
            end = _end_of_archive(archive, raw, name)
    with blob.mapped() as view:
        expansion.unattributed(view, end, blob.size)  # bytes after the end marker: a glued-on archive?


def _members(archive: tarfile.TarFile, name: str, budget: Budget) -> Iterator[tarfile.TarInfo]:
    while True:
        try:
            info = archive.next()
        except Exception as exc:
            raise corrupt(name, "tar", exc) from None
        if info is None:
            return
        # Every entry counts: tarfile keeps each one it reads in memory (200,000 directories, 115 MiB).
        budget.count_members(1, f"{name}!{info.name}")
        # Directories, links and device entries carry no bytes of their own. Members of a type tarfile
        # does not know (vendor extensions, GNU volume/multi-volume headers) do, and other tar readers
        # extract them as files: tarfile skips over their data, so they are read here like files.
        if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES:
            yield info


def _end_of_archive(archive: tarfile.TarFile, raw: IO[bytes], name: str) -> int:
    """Where the archive's bytes end. tarfile stops quietly at a bad header after the first member or at
    a missing end marker, which is how a truncated or tampered tar looks: demand the zero block that ends
    every well-formed tar."""
    raw.seek(archive.offset)
    end = raw.read(_BLOCK)
    if len(end) < _BLOCK or any(end):
        raise ContainerProblem(
            Reason.CORRUPT, f"{name}: unreadable tar: no end-of-archive marker at offset {archive.offset}"
        )
    return archive.offset + _BLOCK
