"""Helpers for the policy pack tests: write a tiny Pulumi program, record it under the mock runtime (in a
subprocess, as `policy check` does), and analyze it with the real pack over gRPC."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACK_DIR = REPO / "policy_pack"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))  # bucketguard_pack, as the pack process sees it


def virtualenv_from(requirements: Path, directory: Path) -> str:
    """A fresh virtualenv in directory with only requirements installed (no PYTHONPATH, no repository cwd);
    returns its interpreter."""
    venv.create(directory, with_pip=True)
    python = str(directory / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        check=True,
        timeout=900,
        cwd=directory,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
    )
    return python


def write_program(directory: Path, source: str, *, region: str = "eu-west-1", name: str = "t") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\n")
    (directory / "Pulumi.dev.yaml").write_text(f"config:\n  aws:region: {region}\n")
    (directory / "__main__.py").write_text(
        "import json\nimport pulumi\nimport pulumi_aws as aws\n" + textwrap.dedent(source)
    )
    return directory


@pytest.fixture
def program(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(source: str, **kwargs: str) -> Path:
        return write_program(tmp_path / "program", source, **kwargs)

    return make
