"""Fixtures: the program run in a fresh process (the Lambda artifact comes from tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_STACKS = ROOT / "examples" / "stacks"
Program = Callable[..., dict[str, Any]]


def stack_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLE_STACKS / f"Pulumi.{stack}.yaml").read_text())
    config: dict[str, Any] = document["config"]
    return config


def run_program(
    config: dict[str, Any],
    artifacts: Path,
    tmp_path: Path,
    *,
    stack: str = "dev",
    stack_outputs: Any = None,
    env: dict[str, str] | None = None,
    buckets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    request = {
        "config": {**config, "bucketguard:artifactDir": str(artifacts)},
        "stack": stack,
        "stack_outputs": stack_outputs or {},
        "buckets": buckets or {},  # existing buckets: name -> policy document or None
    }
    request_file = tmp_path / f"request-{stack}.json"
    request_file.write_text(json.dumps(request))
    completed = subprocess.run(
        [sys.executable, "-m", "tests.infra.harness", str(request_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@pytest.fixture
def program(lambda_artifacts: Path, tmp_path: Path) -> Program:
    def run(config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return run_program(config, lambda_artifacts, tmp_path, **kwargs)

    return run
