"""The flapping guard: someone who keeps undoing the fixer is fighting it. After ``limit`` reverts of the
same resource within ``window``, stop fixing it and raise a critical alert instead."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

FLAPPING_LIMIT = 3
FLAPPING_WINDOW = timedelta(hours=1)


def is_flapping(
    reverts: Iterable[datetime],
    now: datetime,
    *,
    limit: int = FLAPPING_LIMIT,
    window: timedelta = FLAPPING_WINDOW,
) -> bool:
    """``reverts``: when the fixer put this resource back before. True: do not fix it again now."""
    return sum(1 for at in reverts if now - window < at <= now) >= limit
