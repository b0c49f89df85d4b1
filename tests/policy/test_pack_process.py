"""The processes `policy check` starts (the policy pack, the program under the mock runtime) end with it,
however it ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.policy.conftest import PACK_DIR, REPO, write_program
from tests.processes import assert_ended


def _child_of_a_killed_parent(script: str, argument: Path) -> int:
    """Runs script (which prints the pid of a child it started, then kills itself with SIGKILL)."""
    parent = subprocess.run(
        [sys.executable, "-c", script + "os.kill(os.getpid(), signal.SIGKILL)\n", str(argument)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert parent.returncode == -9, parent.stderr
    return int(parent.stdout)


def test_the_pack_exits_when_its_parent_is_killed() -> None:
    pack = _child_of_a_killed_parent(
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from bucketguard.policy.analyzer import PolicyPackProcess, read_pack_info\n"
        "pack = PolicyPackProcess(Path(sys.argv[1]))\n"
        "pack.start()\n"
        "read_pack_info(pack.stub)  # the pack answers over gRPC\n"
        "print(pack.process.pid, flush=True)\n",
        PACK_DIR,
    )
    assert_ended([pack])


def test_a_program_under_the_mock_runtime_exits_when_policy_check_is_killed(tmp_path: Path) -> None:
    """The parent's timeout dies with it: a program that never finishes must not run on without it."""
    write_program(tmp_path / "program", "import time\ntime.sleep(3600)\n")
    mock_runtime = _child_of_a_killed_parent(
        "import os, signal, sys, threading, time\n"
        "from pathlib import Path\n"
        "from bucketguard.policy.program import PulumiProject, record\n"
        "project = PulumiProject.load(Path(sys.argv[1]))\n"
        "settings = {'stack': 'dev', 'config': {}}\n"
        "threading.Thread(target=record, args=(project,), kwargs=settings).start()\n"
        "def children():  # the thread calling record() is the child's parent\n"
        "    tasks = Path('/proc/self/task').iterdir()\n"
        "    return [c for t in tasks for c in (t / 'children').read_text().split()]\n"
        "for _ in range(6000):\n"
        "    if children():\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        "print(*children(), flush=True)\n",
        tmp_path / "program",
    )
    assert_ended([mock_runtime])
