"""Locate a Pulumi program and its stack config, and record it under the mock runtime in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketguard.errors import UserError
from bucketguard.policy.mock_runtime import EXIT_PROGRAM_FAILED
from bucketguard.policy.records import RecordedStack
from bucketguard.validation import read_stack_config, read_yaml

SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 (a marker, not a password)


class ProgramError(UserError):
    """The program could not be loaded or failed while running. `detail` is the program's own error."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class PulumiProject:
    directory: Path
    name: str
    main: Path

    @classmethod
    def load(cls, directory: Path) -> PulumiProject:
        project_file = next(
            (directory / n for n in ("Pulumi.yaml", "Pulumi.yml") if (directory / n).is_file()), None
        )
        if project_file is None:
            raise ProgramError(f"no Pulumi.yaml in {directory}")
        raw = read_yaml(project_file) or {}
        if not isinstance(raw, dict) or not raw.get("name"):
            raise ProgramError(f"{project_file}: missing 'name'")
        runtime = raw.get("runtime")
        runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
        if runtime_name != "python":
            raise ProgramError(
                f"{project_file}: runtime is {runtime_name!r}; only python programs can be checked"
            )
        main = (directory / str(raw.get("main") or ".")).resolve()
        if main.is_dir() and not (main / "__main__.py").is_file():
            raise ProgramError(f"{main}: no __main__.py (the program's entry point)")
        if not main.exists():
            raise ProgramError(f"{project_file}: main {raw.get('main')!r} does not exist")
        return cls(directory=directory.resolve(), name=str(raw["name"]), main=main)


def _config_value(value: Any) -> str:
    # The CLI passes every value as a string; objects and lists as JSON, booleans/numbers as text.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def load_stack_config(path: Path, project: str) -> tuple[dict[str, str], list[str]]:
    """`Pulumi.<stack>.yaml` -> (PULUMI_CONFIG map, secret keys). Keys without a namespace belong to the
    project, as the CLI resolves them. Encrypted values can't be read here and become a placeholder."""
    section = read_stack_config(path)
    config: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in section.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full_key] = SECRET_PLACEHOLDER
            secrets.append(full_key)
            continue
        if isinstance(value, dict) and "value" in value and set(value) <= {"value", "secret"}:
            value = value["value"]
        config[full_key] = _config_value(value)
    return config, secrets


def record(
    project: PulumiProject,
    *,
    stack: str,
    config: dict[str, str],
    secret_keys: Sequence[str] = (),
    preview: bool = False,
    timeout: float = 600.0,
) -> RecordedStack:
    """Run the program in a fresh interpreter (set_mocks registers one root stack per process)."""
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps(config)
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(secret_keys))
    env["PYTHONUNBUFFERED"] = "1"
    # The program imports bucketguard (infra does); make this checkout importable whatever the cwd.
    repo_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="bucketguard-record-") as tmp:
        out = Path(tmp) / "stack.json"
        command = [
            sys.executable,
            "-m",
            "bucketguard.policy.mock_runtime",
            str(project.directory),
            str(project.main),
            "--project",
            project.name,
            "--stack",
            stack,
            "--out",
            str(out),
        ]
        if preview:
            command.append("--preview")
        # The child's stdin: it ends (the child exits) when parent_end closes, here or with this process.
        child_stdin, parent_end = os.pipe()
        try:
            completed = subprocess.run(
                command,
                stdin=child_stdin,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        finally:
            os.close(child_stdin)
            os.close(parent_end)
        if completed.returncode == EXIT_PROGRAM_FAILED:
            lines = completed.stderr.strip().splitlines()
            raise ProgramError(
                f"the program in {project.directory} failed: {lines[-1] if lines else 'unknown error'}",
                detail=completed.stderr.strip(),
            )
        if completed.returncode != 0 or not out.is_file():
            raise ProgramError(
                f"running the program in {project.directory} under the mock runtime failed "
                f"(exit {completed.returncode})",
                detail=completed.stderr.strip(),
            )
        return RecordedStack.load(out)
