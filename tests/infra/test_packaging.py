"""The Lambda artifact: built for real (pip, platform wheels), then imported in a clean interpreter."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bucketguard import packaging
from bucketguard.packaging import HANDLERS, PackagingError, build, pip_command, problems

LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
LOCAL_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]


@pytest.fixture(scope="module")
def local_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built through the CLI for this machine's architecture and Python, so this interpreter can import it."""
    output = tmp_path_factory.mktemp("local")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bucketguard",
            "build",
            "--architecture",
            LOCAL_ARCH,
            "--output",
            str(output),
            "--python-version",
            LOCAL_PYTHON,
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["schema_version"] == 1
    return Path(report["artifact"])


def test_every_handler_imports_from_the_artifact_in_a_clean_interpreter(local_artifact: Path) -> None:
    # -I: no user site, no PYTHONPATH; -S: no site-packages at all. Only the stdlib and the artifact.
    script = f"""
import importlib, json, sys
sys.path.insert(0, {str(local_artifact / "package")!r})
handlers = {dict(HANDLERS)!r}
for name, dotted in handlers.items():
    module_name, function = dotted.rsplit(".", 1)
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function)), dotted
    assert module.__file__.startswith(sys.path[0]), module.__file__
import yara, yara_x, boto3, aws_lambda_powertools, py7zr
from pathlib import Path
from bucketguard.scanning.ruleset import load_artifact
ruleset = load_artifact(Path(sys.path[0]) / "bucketguard-ruleset.zip")
eicar = rb"X5O!P%@AP[4\\PZX54(P^)7CC)7}}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
found = {{}}
for engine in ("yara", "yara-x"):
    found[engine] = sorted(m.rule for m in ruleset.matcher(engine).match_bytes(eicar, name="eicar.com"))
print(json.dumps({{"version": ruleset.version, "matches": found, "yara_from": yara.__file__}}))
"""
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=False, cwd="/"
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    manifest = packaging.read_manifest(local_artifact)
    assert report["version"] == manifest.ruleset_version
    assert report["yara_from"].startswith(str(local_artifact))
    for engine, rules in report["matches"].items():
        assert any("eicar" in rule.lower() for rule in rules), (engine, rules)


def test_the_handlers_run_from_the_bytecode_the_build_compiled(local_artifact: Path) -> None:
    # Lambda's /var/task is read-only: a module without its bytecode is compiled at every cold start.
    # Every module the handlers and the engine import from the artifact must come from its .pyc.
    script = f"""
import importlib, json, sys
from importlib import _bootstrap_external
compiled = []
source_to_code = _bootstrap_external.SourceLoader.source_to_code
def recorded(self, data, path, *args, **kwargs):
    compiled.append(path)
    return source_to_code(self, data, path, *args, **kwargs)
_bootstrap_external.SourceLoader.source_to_code = recorded
sys.path.insert(0, {str(local_artifact / "package")!r})
for dotted in {sorted(HANDLERS.values())!r}:
    importlib.import_module(dotted.rpartition(".")[0])
import boto3
from pathlib import Path
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.ruleset import load_artifact
Engine(load_artifact(Path(sys.path[0]) / "bucketguard-ruleset.zip"))
print(json.dumps({{"compiled": [p for p in compiled if p.startswith(sys.path[0])],
                   "loaded": len([m for m in sys.modules.values()
                                  if (getattr(m, "__file__", None) or "").startswith(sys.path[0])])}}))
"""
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", script], capture_output=True, text=True, check=False, cwd="/"
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    assert report["loaded"] > 300  # boto3, pydantic, Powertools, yara-x, bucketguard
    assert report["compiled"] == []


def test_manifest_describes_the_build(local_artifact: Path) -> None:
    manifest = packaging.read_manifest(local_artifact)
    assert manifest.architecture == LOCAL_ARCH and manifest.python_version == LOCAL_PYTHON
    assert manifest.bytecode == f"cpython-{LOCAL_PYTHON.replace('.', '')}"
    assert manifest.content_sha256 == packaging.tree_sha256(local_artifact / "package")[0]
    assert manifest.handlers == HANDLERS
    assert problems(local_artifact, LOCAL_ARCH, python_version=LOCAL_PYTHON) == []


def test_problems_name_a_wrong_architecture_runtime_or_a_modified_package(lambda_artifacts: Path) -> None:
    directory = packaging.artifact_dir(lambda_artifacts, "arm64")
    assert problems(directory, "arm64") == []
    found = problems(directory, "x86_64", python_version="3.13")
    assert "built for arm64, the scanner is configured for x86_64" in found
    assert "built for Python 3.12, the Lambda runtime is Python 3.13" in found
    # The wheels really are the Lambda platform's: aarch64 / cp312 native modules.
    assert list((directory / "package").glob("yara.cpython-312-aarch64-linux-gnu.so"))
    assert list((directory / "package" / "yara_x").glob("*.so"))


def test_a_modified_package_is_detected(tmp_path: Path, lambda_artifacts: Path) -> None:
    import shutil

    copy = tmp_path / "arm64"
    shutil.copytree(packaging.artifact_dir(lambda_artifacts, "arm64"), copy)
    (copy / "package" / "functions" / "scanner" / "app.py").write_text("def handler(e, c): return {}\n")
    assert any("content hash" in p for p in problems(copy, "arm64"))
    (copy / "manifest.json").unlink()
    assert problems(copy, "arm64")[0].endswith("no manifest (run `python -m bucketguard build`)")


def test_pip_asks_for_both_manylinux_tags_and_binary_wheels_only() -> None:
    command = pip_command("arm64", "3.12", Path("/t"), Path("r.txt"))
    assert command[command.index("--python-version") + 1] == "3.12"
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms == ["manylinux2014_aarch64", "manylinux_2_28_aarch64"]
    assert "--only-binary=:all:" in command and command[command.index("--implementation") + 1] == "cp"


def test_a_pip_failure_is_one_clear_error(tmp_path: Path) -> None:
    def failing(command: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            [], 1, "", "ERROR: Could not find a version that satisfies the requirement yara-x==9.9"
        )

    with pytest.raises(
        PackagingError,
        match=r"pip could not fetch the x86_64 wheels for Python 3.12 \(exit 1\): "
        r"ERROR: Could not find a version",
    ):
        build("x86_64", tmp_path, runner=failing)
    assert not (tmp_path / "x86_64").exists()


def test_custom_rules_and_hash_lists_reach_the_artifact(tmp_path: Path) -> None:
    # `build --rules DIR --hashes FILE`: compiled into the ruleset the scanner loads (pip is not needed
    # to check that, so it is skipped here).
    from bucketguard.scanning.ruleset import load_artifact

    rules = tmp_path / "camp-rules"
    rules.mkdir()
    (rules / "camp.yar").write_text('rule Camp_Prank { strings: $a = "marshmallow-42" condition: $a }\n')
    listed = b"a file the camp has seen before"
    digest = hashlib.sha256(listed).hexdigest()
    (tmp_path / "bad.txt").write_text(f"# camp blocklist\n{digest}\n")

    def no_pip(command: Any) -> subprocess.CompletedProcess[str]:
        if command[1:3] == ["-m", "pip"]:
            return subprocess.CompletedProcess(command, 0, "", "")
        return packaging._run(command)  # the bytecode of our own modules

    directory, manifest = build(
        LOCAL_ARCH,
        tmp_path / "out",
        python_version=LOCAL_PYTHON,
        runner=no_pip,
        rules=[rules],
        hashes=[tmp_path / "bad.txt"],
    )
    ruleset = load_artifact(directory / "package" / manifest.ruleset_file)
    assert [m.rule for m in ruleset.matcher().match_bytes(b"xx marshmallow-42 xx", name="a")] == [
        "Camp_Prank"
    ]
    assert ruleset.hashes is not None and ruleset.hashes.lookup(digest) is not None
    assert manifest.ruleset_version == ruleset.version
    assert manifest.rule_paths == [str(rules.resolve())]
    assert problems(directory, LOCAL_ARCH, python_version=LOCAL_PYTHON) == []
    (rules / "camp.yar").write_text('rule Camp_Prank { strings: $a = "marshmallow-43" condition: $a }\n')
    assert problems(directory, LOCAL_ARCH, python_version=LOCAL_PYTHON) == [
        "the --rules or --hashes it was built with changed since the build"
    ]


def test_a_module_of_ours_left_without_bytecode_fails_the_build(tmp_path: Path) -> None:
    def nothing_runs(command: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 0, "", "")

    with pytest.raises(PackagingError, match=r"^bucketguard/.*\.py: no bytecode compiled by "):
        build(LOCAL_ARCH, tmp_path, python_version=LOCAL_PYTHON, runner=nothing_runs)
    assert not (tmp_path / LOCAL_ARCH).exists()


def test_bytecode_is_compiled_only_by_an_interpreter_of_the_runtime_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert packaging.bytecode_python(LOCAL_PYTHON, packaging._run) == sys.executable
    assert packaging.bytecode_python("3.99", packaging._run) is None  # none on PATH
    interpreter = tmp_path / "python3.99"
    interpreter.write_text("#!/bin/sh\necho 'pyenv: python3.99: command not found' >&2\nexit 127\n")
    interpreter.chmod(0o755)
    assert packaging.bytecode_python("3.99", packaging._run) is None  # a shim that cannot run it
    interpreter.write_text("#!/bin/sh\necho 3.98\n")
    assert packaging.bytecode_python("3.99", packaging._run) is None  # another version
    interpreter.write_text("#!/bin/sh\necho 3.99\n")
    assert packaging.bytecode_python("3.99", packaging._run) == str(interpreter)
