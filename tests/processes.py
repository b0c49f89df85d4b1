"""Whether processes a test started (directly or through a parent it killed) have ended."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead; init reaps it


def assert_ended(pids: Iterable[int]) -> None:
    """Each of pids ends within a minute (a bound on the wait, not a threshold); one left is killed."""
    pids = list(pids)
    waited = 0.0
    while any(running(pid) for pid in pids) and waited < 60:
        time.sleep(0.05)
        waited += 0.05
    left = [pid for pid in pids if running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running: {left}"
