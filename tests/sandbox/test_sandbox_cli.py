"""`python -m bucketguard sandbox up`: a stack config deployed by infra/ into a fresh embedded AWS, as a user
runs it (a process of its own), and a config it cannot deploy refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bucketguard.sandbox.deployer import EXAMPLE_STACKS

pytestmark = pytest.mark.e2e


def _sandbox_up(config: Path, artifacts: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bucketguard", "sandbox", "up", "--config", str(config)]
    return subprocess.run(
        [*command, "--artifact-dir", str(artifacts)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},  # the storage table unwrapped
        check=False,
    )


def test_sandbox_up_deploys_the_dev_stack_and_prints_its_endpoint_and_buckets(lambda_artifacts: Path) -> None:
    done = _sandbox_up(EXAMPLE_STACKS / "Pulumi.dev.yaml", lambda_artifacts)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Embedded AWS at http://127.0.0.1:" in done.stdout
    assert "deployed by infra/" in done.stdout
    assert "camp-teaching-material-dev" in done.stdout  # the storage table lists the config's bucket


def test_sandbox_up_refuses_a_bad_config_in_one_line(lambda_artifacts: Path, tmp_path: Path) -> None:
    config = tmp_path / "Pulumi.bad.yaml"
    config.write_text("config:\n  bucketguard:storages:\n    - name: teaching\n      bukket: x\n")
    done = _sandbox_up(config, lambda_artifacts)
    assert done.returncode == 2
    assert done.stderr.startswith("bucketguard: ") and done.stderr.count("\n") == 1, done.stderr


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in map(int, (task / "children").read_text().split()):
            found |= {child, *_descendants(child)}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def test_sandbox_up_keep_stopped_by_sigterm_leaves_no_server_or_function_running(
    lambda_artifacts: Path,
) -> None:
    """A supervisor's stop (SIGTERM, as `timeout` or systemd send it) cleans up as Ctrl-C does: the embedded
    AWS's server and the function workers stopped too, never left running with no parent."""
    command = [sys.executable, "-m", "bucketguard", "sandbox", "up", "--keep"]
    command += ["--config", str(EXAMPLE_STACKS / "Pulumi.dev.yaml"), "--artifact-dir", str(lambda_artifacts)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as up:
        assert up.stdout is not None
        for line in up.stdout:
            if "Ctrl-C to stop" in line:
                break
        started = _descendants(up.pid)
        assert started  # the server and the workers
        up.terminate()
        up.wait(timeout=120)
    assert not [pid for pid in started if _alive(pid)]
