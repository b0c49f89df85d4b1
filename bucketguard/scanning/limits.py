"""Limits that bound the work one object can cause: every one has a default and a CLI flag.

A limit exceeded never yields `clean`: the object is `unscannable` with the limit's reason code.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from bucketguard.scanning.result import Reason

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    # How many containers deep we open: the object itself is level 0, `a.zip!b.zip` opens level 2. Every
    # layer counts (a .tar.gz is two, a macro in a .docm attached to a mail in a zip is five), so a user's
    # nested archives need more than a handful; ClamAV's MaxRecursion default. Bombs are bounded by the
    # member, byte and ratio budgets below, which span every level of the object together.
    max_depth: int = 17
    # Archive members across the whole object, every nesting level counted; every entry of a tar, zip or 7z
    # counts (directories and links too: each costs its reader an object; a zip's are counted first).
    max_members: int = 10_000
    # Bytes written while expanding members, across the whole object (bounds temp space and CPU).
    max_extracted_bytes: int = 1 * GiB
    # Expanded / compressed size above which a member is a decompression bomb...
    max_ratio: float = 100.0
    # ...once it has expanded past this many bytes (small, very compressible files are ordinary).
    ratio_floor_bytes: int = 1 * MiB
    # Size of the object itself and of any single member; None = no limit.
    max_file_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_members", "max_extracted_bytes", "ratio_floor_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_ratio <= 1:
            raise ValueError(f"max_ratio must be > 1, got {self.max_ratio}")
        if self.max_file_bytes is not None and self.max_file_bytes < 0:
            raise ValueError(f"max_file_bytes must be >= 0, got {self.max_file_bytes}")


class ScanProblem(Exception):
    """Something that stops part of a scan, with the reason code the verdict will carry."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class MemberProblem(ScanProblem):
    """One archive member cannot be scanned (encrypted, too large, a bomb): its siblings still can."""


class ContainerProblem(ScanProblem):
    """A container cannot be read any further (corrupt, encrypted as a whole, a bomb)."""


class ScanStop(ScanProblem):
    """A budget for the whole object is spent (members, extracted bytes): nothing more is opened."""


class ScanFailure(ScanProblem):
    """The scan itself failed (no temp space, backend error): the verdict is `error`, not `unscannable`."""


class Budget:
    """What one object has spent so far, across every nesting level."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.members = 0
        self.extracted_bytes = 0

    def count_members(self, count: int, where: str) -> None:
        self.members += count
        if self.members > self.limits.max_members:
            raise ScanStop(
                Reason.TOO_MANY_MEMBERS, f"{where}: more than {self.limits.max_members} archive members"
            )

    def check_members(self, count: int, where: str) -> None:
        """Refuses now when `count` more members would pass the cap: a parser about to build them all is
        not let to; they are counted as they are emitted."""
        if self.members + count > self.limits.max_members:
            self.count_members(count, where)

    def check_each(self, items: Iterable[object], where: str) -> None:
        """check_members for what `items` yields, read no further than the cap."""
        most = self.limits.max_members - self.members + 1
        self.check_members(sum(1 for _ in itertools.islice(items, most)), where)

    def charge(self, size: int, where: str) -> None:
        self.extracted_bytes += size
        if self.extracted_bytes > self.limits.max_extracted_bytes:
            raise ScanStop(
                Reason.EXTRACTED_TOO_LARGE,
                f"{where}: archives expand to more than {self.limits.max_extracted_bytes} bytes",
            )


class RatioGuard:
    """Stops an expansion once it outgrows its compressed size by more than the allowed ratio."""

    def __init__(self, compressed_size: int, limits: Limits, where: str, scope: type[ScanProblem]) -> None:
        self.compressed_size = max(compressed_size, 1)
        self.expanded = 0
        self.limits = limits
        self.where = where
        self.scope = scope

    def exceeded_by(self, expanded: int) -> bool:
        return (
            expanded > self.limits.ratio_floor_bytes
            and expanded > self.compressed_size * self.limits.max_ratio
        )

    def add(self, size: int) -> None:
        self.expanded += size
        if self.exceeded_by(self.expanded):
            raise self.scope(
                Reason.RATIO_EXCEEDED,
                f"{self.where}: expands more than {self.limits.max_ratio:g} times its compressed size "
                f"({self.compressed_size} bytes)",
            )
