"""The pack as `pulumi policy publish` ships it: `build --policy-pack OUT_DIR` outside the repository, started
the way the engine starts it (cwd OUT_DIR, no PYTHONPATH), must import only what OUT_DIR holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bucketguard.cli import main
from bucketguard.packaging import PackagingError, build_policy_pack, pack_modules
from bucketguard.policy.analyzer import PolicyPackProcess, analyze_stack, pack_environment
from bucketguard.policy.program import PulumiProject, record
from tests.policy.conftest import PACK_DIR, REPO, virtualenv_from

PUBLIC_ACL = 'b = aws.s3.Bucket("site")\naws.s3.BucketAcl("site-acl", bucket=b.id, acl="public-read")\n'


@pytest.fixture
def built_pack(tmp_path: Path) -> Path:
    output = tmp_path / "dist" / "policy-pack"
    assert main(["build", "--policy-pack", str(output)]) == 0
    assert REPO not in output.resolve().parents
    return output


def _violations(python: str, pack_dir: Path, program: Path) -> set[tuple[str, str]]:
    recorded = record(PulumiProject.load(program), stack="dev", config={"aws:region": "eu-west-1"})
    env = {k: v for k, v in pack_environment(recorded).items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with PolicyPackProcess(pack_dir, python=python, env=env) as pack:
        result = analyze_stack(pack.stub, recorded, pack_dir=pack_dir)
    return {(d.policy, d.enforcement) for d in result.diagnostics}


def test_built_pack_has_its_own_virtualenv_and_only_the_modules_it_imports(built_pack: Path) -> None:
    manifest = yaml.safe_load((built_pack / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert manifest["runtime"]["options"]["virtualenv"] == "venv"
    vendored = {p.relative_to(built_pack).as_posix() for p in (built_pack / "bucketguard").rglob("*.py")}
    assert "bucketguard/rules/catalogue/s3/public_access.py" in vendored  # the registry imports the catalogue
    assert not any(
        name.startswith(("bucketguard/pipeline", "bucketguard/cli", "bucketguard/audit")) for name in vendored
    )
    assert (built_pack / "requirements.txt").read_text() == (PACK_DIR / "requirements.txt").read_text()


def test_built_pack_runs_without_the_checkout(built_pack: Path, program) -> None:  # type: ignore[no-untyped-def]
    # The repository's interpreter, but the repository is neither cwd nor on PYTHONPATH nor installed.
    assert (
        subprocess.run(
            [sys.executable, "-c", "import bucketguard"], cwd=built_pack.parent, env={}, capture_output=True
        ).returncode
        != 0
    )
    assert ("s3_bucket_public_read_prohibited", "mandatory") in _violations(
        sys.executable, built_pack, program(PUBLIC_ACL)
    )


def test_a_pack_import_of_the_aws_sdk_refuses_the_build(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    (pack / "bucketguard_pack").mkdir(parents=True)
    (pack / "__main__.py").write_text("import bucketguard_pack.policies\n")
    (pack / "bucketguard_pack" / "policies.py").write_text("def f():\n    from bucketguard.x import y\n")
    (tmp_path / "bucketguard").mkdir()
    (tmp_path / "bucketguard" / "__init__.py").write_text("")
    (tmp_path / "bucketguard" / "x.py").write_text("import boto3\ny = 1\n")
    with pytest.raises(PackagingError, match=r"x\.py: imports boto3"):
        pack_modules(pack, tmp_path)


@pytest.mark.e2e
@pytest.mark.slow
def test_built_pack_runs_in_a_virtualenv_made_from_its_requirements_alone(  # type: ignore[no-untyped-def]
    built_pack: Path, program, tmp_path: Path
) -> None:
    python = virtualenv_from(built_pack / "requirements.txt", tmp_path / "venv")
    for sdk in ("boto3", "botocore"):
        found = subprocess.run([python, "-c", f"import {sdk}"], capture_output=True, cwd=tmp_path)
        assert found.returncode != 0, f"{sdk} is installed by the pack's requirements"
    assert ("s3_bucket_public_read_prohibited", "mandatory") in _violations(
        python, built_pack, program(PUBLIC_ACL)
    )


def test_policy_pack_output_that_is_a_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "pack"
    target.write_text("")
    assert main(["build", "--policy-pack", str(target)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


@pytest.mark.parametrize("target", ["policy_pack", ".", "tests"])
def test_policy_pack_never_replaces_sources_or_other_folders(target: str) -> None:
    with pytest.raises(PackagingError, match="give another directory"):
        build_policy_pack(REPO / target)
