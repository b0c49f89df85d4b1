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
