"""The package as a user gets it: a wheel built from a copy of the repository, installed into a fresh
virtualenv (the pinned versions of requirements.txt as constraints), its `bucketguard` command run from a
directory outside the repository. Needs the package index (or a pip configured to reach one)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bucketguard.demo import pranks

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=1800, check=False
    )


def test_wheel_installs_a_bucketguard_command_that_scans(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info next to the sources
    shutil.copytree(
        REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "__pycache__", "*.egg-info")
    )
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "dist", source, cwd=tmp_path
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("bucketguard-*.whl")

    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    # Constraints take no extras: moto[server]==x becomes moto==x.
    pins = re.sub(r"\[[\w,-]+\]", "", (REPO / "requirements.txt").read_text())
    (tmp_path / "constraints.txt").write_text(pins)
    installed = run(
        venv / "bin" / "pip", "install", "-q", "-c", tmp_path / "constraints.txt", wheel, cwd=tmp_path
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    work = tmp_path / "work"
    work.mkdir()
    (work / "eicar.com").write_bytes(pranks.eicar())
    (work / "notes.txt").write_text("camp timetable\n")
    command = venv / "bin" / "bucketguard"
    scanned = run(command, "scan", "eicar.com", "notes.txt", "--format", "json", cwd=work)
    assert scanned.returncode == 1, scanned.stderr
    assert '"EICAR_Test_File"' in scanned.stdout and '"clean"' in scanned.stdout
    missing = run(command, "scan", "nothing-here", cwd=work)
    assert (missing.returncode, missing.stderr.count("\n")) == (2, 1)
    # The bundled rules and the event schema are package data, read from the installed package.
    shown = run(
        venv / "bin" / "python",
        "-c",
        "import bucketguard.pipeline.messages as m; print(m.SCHEMA_PATH.is_file(), m.__file__)",
        cwd=work,
    )
    assert shown.stdout.startswith("True ") and str(venv) in shown.stdout
