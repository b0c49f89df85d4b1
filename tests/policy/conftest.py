"""Helpers for the policy pack tests: write a tiny Pulumi program, record it under the mock runtime (in a
subprocess, as `policy check` does), and analyze it with the real pack over gRPC."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACK_DIR = REPO / "policy_pack"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))  # bucketguard_pack, as the pack process sees it


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
