"""7z archives through py7zr, which writes each member into a writer we hand it (never to a path)."""

from __future__ import annotations

import contextlib
import re
import stat
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bucketguard.scanning.blobs import DECODE_IN_MEMORY_MAX, Blob, Expansion, View, corrupt
from bucketguard.scanning.limits import (
    Budget,
    ContainerProblem,
    MemberProblem,
    RatioGuard,
    ScanProblem,
    ScanStop,
)
from bucketguard.scanning.result import Reason

if TYPE_CHECKING:  # py7zr is imported when a 7z archive turns up: most scans never need it (cold start)
    import py7zr

MAGIC = b"7z\xbc\xaf\x27\x1c"


def is_7z(head: bytes) -> bool:
    return head.startswith(MAGIC)


def open_7z(blob: Blob, expansion: Expansion) -> None:
    import py7zr

    from bucketguard.scanning.formats.sevenzip_writers import MemberWriters

    name, limits = expansion.name, expansion.budget.limits
    guard = RatioGuard(blob.size, limits, name, ContainerProblem)
    factory = MemberWriters(expansion, guard)
    with blob.mapped() as view:
        _check_header_size(view, name)
    with blob.open() as raw:
        try:
            # A file object (not a path) keeps py7zr single-threaded: members arrive in order, here.
            with _header_caps(expansion.budget):
                archive = py7zr.SevenZipFile(raw, mode="r")
            with archive:
                if archive.needs_password():
                    raise ContainerProblem(Reason.ENCRYPTED, f"{name}: encrypted 7z")
                # Every entry counts, directories too (py7zr keeps each: 200,000 in a 100 KB 7z).
                expansion.budget.count_members(len(archive.files), name)
                with_data = _entries_with_data(archive)
                declared = sum(entry.uncompressed for entry in with_data)
                if guard.exceeded_by(declared):
                    raise ContainerProblem(
                        Reason.RATIO_EXCEEDED,
                        f"{name}: declares {declared} bytes from {blob.size} "
                        f"(more than {limits.max_ratio:g} times)",
                    )
                archive.extractall(factory=factory)  # into our writers, never to disk paths
        except MemberProblem as exc:
            # py7zr cannot skip one member of a solid block and go on: the rest of the archive is unread.
            raise ContainerProblem(exc.reason, exc.detail) from None
        except ScanProblem:
            raise
        except py7zr.Bad7zFile as exc:
            raise _over_a_cap(exc, name) or corrupt(name, "7z", exc) from None
        except py7zr.PasswordRequired:
            raise ContainerProblem(
                Reason.ENCRYPTED, f"{name}: encrypted 7z (the file list is encrypted)"
            ) from None
        except Exception as exc:
            raise corrupt(name, "7z", exc) from None
        finally:
            for writer in factory.writers:
                writer.abandon()
    with blob.mapped() as view:
        expansion.unattributed(view, _end_of_archive(view), blob.size)  # a glued-on archive?
    missing = Counter(f"{name}!{entry.filename.lstrip('/')}" for entry in with_data) - factory.completed
    if missing:
        raise ContainerProblem(
            Reason.CORRUPT,
            f"{name}: unreadable 7z: {missing.total()} of {len(with_data)} entries holding data were not "
            "extracted",
        )


_START_HEADER = struct.Struct("<6s2BI2QI")  # signature, version, CRC, next header offset, size and CRC
# py7zr's own caps on what a header may declare, read when it parses one: it makes an object of each file,
# folder and substream a header declares (up to 8 million files, a million folders) and decodes an encoded
# header of up to 256 MiB, all before a member is counted. Lowered to the object's member budget and to
# the size of what is parsed in memory, under a lock (they are module globals).
_CAPS = ("MAX_NUMFILES", "MAX_NUMFOLDERS", "MAX_SUBSTREAMS", "MAX_HEADER_SIZE")
_CAPS_LOCK = threading.Lock()
_OVER_A_CAP = re.compile(
    r"(numfiles|numfolders|total number of unpack streams|decoded header size) .*exceeds limit"
)


@contextlib.contextmanager
def _header_caps(budget: Budget) -> Iterator[None]:
    from py7zr import archiveinfo

    members = budget.limits.max_members - budget.members + 1  # one more: the count itself then refuses
    with _CAPS_LOCK:
        saved = [getattr(archiveinfo, cap) for cap in _CAPS]
        for cap, value in zip(_CAPS, (members, members, members, DECODE_IN_MEMORY_MAX), strict=True):
            setattr(archiveinfo, cap, min(value, getattr(archiveinfo, cap)))
        try:
            yield
        finally:
            for cap, value in zip(_CAPS, saved, strict=True):
                setattr(archiveinfo, cap, value)


def _over_a_cap(exc: Exception, name: str) -> ScanProblem | None:
    """py7zr's refusal of a header past the caps above, said as the limit it hit."""
    match = _OVER_A_CAP.search(str(exc))
    if match is None:
        return None
    if match.group(1) == "decoded header size":
        return ContainerProblem(
            Reason.TOO_LARGE, f"{name}: 7z header decodes to more than {DECODE_IN_MEMORY_MAX} bytes"
        )
    return ScanStop(Reason.TOO_MANY_MEMBERS, f"{name}: 7z header declares too many entries: {exc}")


def _check_header_size(view: View, name: str) -> None:
    """py7zr reads the header (its size as the start header records it) into memory whole."""
    if len(view) < _START_HEADER.size:
        return  # py7zr says what is wrong
    size = _START_HEADER.unpack(view[: _START_HEADER.size])[5]
    if size > DECODE_IN_MEMORY_MAX:
        raise ContainerProblem(
            Reason.TOO_LARGE,
            f"{name}: 7z header of {size} bytes is not parsed (more than {DECODE_IN_MEMORY_MAX})",
        )


def _end_of_archive(view: View) -> int:
    """Where the archive's bytes end: its header, which the start header locates, comes last."""
    _, _, _, _, offset, size, _ = _START_HEADER.unpack(view[: _START_HEADER.size])
    end: int = _START_HEADER.size + offset + size
    return min(end, len(view))


def _entries_with_data(archive: py7zr.SevenZipFile) -> list[py7zr.py7zr.ArchiveFile]:
    """Every entry that holds data, made a plain file for py7zr: it hands a writer factory only the
    entries it takes for files or links, and skips one flagged as a directory or a socket unread, whatever
    data it carries."""
    with_data = [entry for entry in archive.files if not entry.emptystream]
    for entry in with_data:
        if entry.is_directory or entry.is_socket:
            entry._file_info["attributes"] = stat.FILE_ATTRIBUTE_ARCHIVE
    return with_data
