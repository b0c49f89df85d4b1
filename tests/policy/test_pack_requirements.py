"""The pack on its own: a fresh virtualenv from only policy_pack/requirements.txt runs it over gRPC."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import bucketguard
from bucketguard.policy.analyzer import PolicyPackProcess, analyze_stack, pack_environment
from bucketguard.policy.program import PulumiProject, record
from tests.policy.conftest import PACK_DIR, REPO, virtualenv_from

PUBLIC_ACL = 'b = aws.s3.Bucket("site")\naws.s3.BucketAcl("site-acl", bucket=b.id, acl="public-read")\n'


@pytest.mark.e2e
@pytest.mark.slow
def test_pack_runs_in_a_virtualenv_made_from_its_requirements_alone(program, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    python = virtualenv_from(PACK_DIR / "requirements.txt", tmp_path / "venv")
    recorded = record(
        PulumiProject.load(program(PUBLIC_ACL)), stack="dev", config={"aws:region": "eu-west-1"}
    )
    env = {k: v for k, v in pack_environment(recorded).items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with PolicyPackProcess(PACK_DIR, python=python, env=env) as pack:
        result = analyze_stack(pack.stub, recorded, pack_dir=PACK_DIR)
    assert ("s3_bucket_public_read_prohibited", "mandatory") in {
        (d.policy, d.enforcement) for d in result.diagnostics
    }


def test_one_version_for_the_package_and_the_pack() -> None:
    manifest = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert str(manifest["version"]) == bucketguard.__version__
    assert re.search(r'^dynamic = \["version"\]', (REPO / "pyproject.toml").read_text(), re.M)
