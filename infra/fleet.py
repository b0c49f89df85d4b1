"""Which scanner admits each storage: pure Python over regions and names, tested without a Pulumi runtime.

The rule, for each storage in config order: its explicit `scanner` when set; else a scanner in the bucket's
region, then one on the same continent, then any scanner; among several, the least loaded so far (ties: the
first in config order); a scanner admits at most `capacity` storages.

Stable when buckets are added: a storage's scanner depends only on the storages before it in the config, so
a storage appended to the list (or one with an explicit scanner anywhere) never moves another. Inserting an
automatic storage in the middle may move the automatic ones after it: append, or pin with `scanner`. A
persisted assignment (read back from the stack's previous outputs) would survive reordering too, but it
would make the scanner of each storage unknown until the previous state is read, and a preview of a new
stack differ from its `up`; the config-order rule is decided from the config alone and printed at preview.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The first part of a region name, by continent (AWS's own grouping of its commercial regions).
_CONTINENTS = {
    "us": "north-america",
    "ca": "north-america",
    "mx": "north-america",
    "sa": "south-america",
    "eu": "europe",
    "il": "middle-east",
    "me": "middle-east",
    "af": "africa",
    "ap": "asia-pacific",
}


def continent(region: str) -> str:
    prefix = region.split("-", 1)[0]
    return _CONTINENTS.get(prefix, prefix)


@dataclass(frozen=True)
class Placement:
    scanner: int  # index into the scanners
    why: str  # "pinned" | "region" | "continent" | "least loaded"


class FleetFull(ValueError):
    """A storage cannot be placed: `index` is the storage's position in the config."""

    def __init__(self, index: int, message: str, *, pinned: bool) -> None:
        super().__init__(message)
        self.index = index
        self.pinned = pinned


def assign(
    scanner_regions: Sequence[str],
    storages: Sequence[tuple[str, int | None]],
    *,
    capacity: int,
    reserved: Sequence[int] = (),
) -> list[Placement]:
    """`storages`: (region, pinned scanner index or None) in config order; `reserved[i]`: slots of scanner i
    already taken (storage stacks it admits). Raises FleetFull naming the first storage that does not fit."""
    loads = [reserved[i] if i < len(reserved) else 0 for i in range(len(scanner_regions))]
    placements: list[Placement] = []
    for index, (region, pinned) in enumerate(storages):
        if pinned is not None:
            if loads[pinned] >= capacity:
                raise FleetFull(index, f"already admits {capacity} storages (the limit)", pinned=True)
            chosen = Placement(pinned, "pinned")
        else:
            open_ = [i for i, load in enumerate(loads) if load < capacity]
            if not open_:
                raise FleetFull(index, "is the first storage over the limit", pinned=False)
            tiers = (
                ("region", [i for i in open_ if scanner_regions[i] == region]),
                ("continent", [i for i in open_ if continent(scanner_regions[i]) == continent(region)]),
                ("least loaded", open_),
            )
            why, pool = next((why, pool) for why, pool in tiers if pool)
            chosen = Placement(min(pool, key=lambda i: (loads[i], i)), why)
        loads[chosen.scanner] += 1
        placements.append(chosen)
    return placements
