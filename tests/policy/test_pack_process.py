"""The policy pack's process ends with the process that started it, however that one ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.policy.conftest import PACK_DIR, REPO


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead; init reaps it


def test_the_pack_exits_when_its_parent_is_killed() -> None:
    parent = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from pathlib import Path\n"
            "from bucketguard.policy.analyzer import PolicyPackProcess, read_pack_info\n"
            "pack = PolicyPackProcess(Path(sys.argv[1]))\n"
            "pack.start()\n"
            "read_pack_info(pack.stub)  # the pack answers over gRPC\n"
            "print(pack.process.pid, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
            str(PACK_DIR),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert parent.returncode == -9, parent.stderr
    pack = int(parent.stdout)
    waited = 0.0
    while _running(pack) and waited < 60:  # a bound on the wait, not a threshold
        time.sleep(0.05)
        waited += 0.05
    left = _running(pack)
    if left:
        os.kill(pack, signal.SIGKILL)
    assert not left
