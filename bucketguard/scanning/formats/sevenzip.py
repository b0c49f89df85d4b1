"""7z archives through py7zr, which writes each member into a writer we hand it (never to a path)."""

from __future__ import annotations

import stat
import struct
from typing import TYPE_CHECKING

from bucketguard.scanning.blobs import Blob, Expansion, View, corrupt
from bucketguard.scanning.limits import ContainerProblem, MemberProblem, RatioGuard, ScanProblem
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
    with blob.open() as raw:
        try:
            # A file object (not a path) keeps py7zr single-threaded: members arrive in order, here.
            with py7zr.SevenZipFile(raw, mode="r") as archive:
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
    if factory.completed != len(with_data):
        raise ContainerProblem(
            Reason.CORRUPT,
            f"{name}: unreadable 7z: {len(with_data) - factory.completed} of {len(with_data)} entries "
            "holding data were not extracted",
        )


_START_HEADER = struct.Struct("<6s2BI2QI")  # signature, version, CRC, next header offset, size and CRC


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
