"""Every command's bad input: exit 2 and exactly one line on stderr, `bucketguard: <what and where>`;
`--debug` adds the traceback. Through a real subprocess, as a user or a CI job runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAILING_PROGRAM = "import pulumi\nraise RuntimeError('the camp helper exploded')\n"


def bucketguard(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bucketguard", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # run from elsewhere: paths are the user's, not ours
    )


def program(tmp_path: Path, source: str) -> Path:
    directory = tmp_path / "program"
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text("name: camp\nruntime: python\n")
    (directory / "__main__.py").write_text(source)
    return directory


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


CASES: dict[str, tuple[Callable[[Path], list[str | Path]], str]] = {
    "scan a missing file": (lambda t: ["scan", t / "missing.bin"], "missing.bin: no such file or directory"),
    "scan with a broken hash list": (
        lambda t: ["scan", _write(t / "a.txt", "x"), "--hashes", _write(t / "h.txt", "not-a-hash\n")],
        "h.txt:1",
    ),
    "rules compile a broken rule": (
        lambda t: [
            "rules",
            "compile",
            "--rules",
            _write(t / "bad.yar", "rule Broken { condition: nope }\n").parent,
            "-o",
            t / "r.zip",
        ],
        "bad.yar:1",
    ),
    "build into a file": (
        lambda t: ["build", "--output", _write(t / "afile", "")],
        "--output {t}/afile: is a file; give a directory for the artifact",
    ),
    "build into an unwritable path": (
        lambda t: ["build", "--output", "/proc/bucketguard"],
        "--output /proc/bucketguard: cannot write the artifact",
    ),
    "policy check a failing program": (
        lambda t: ["policy", "check", "--program", program(t, FAILING_PROGRAM)],
        "failed: RuntimeError: the camp helper exploded",
    ),
    "policy check an invalid stack config": (
        lambda t: [
            "policy",
            "check",
            "--program",
            REPO,
            "--config",
            _write(t / "Pulumi.x.yaml", "config: [\n"),
        ],
        "Pulumi.x.yaml:2:1: invalid YAML",
    ),
    "policy check a stack config typo": (
        lambda t: [
            "policy",
            "check",
            "--program",
            REPO,
            "--config",
            _write(
                t / "Pulumi.y.yaml",
                "config:\n  bucketguard:scanner: {region: eu-west-1}\n"
                "  bucketguard:allowedRegion: [eu-west-1]\n",
            ),
        ],
        "bucketguard:allowedRegion: unknown key; did you mean allowedRegions?",
    ),
    "policy check an invalid policy config": (
        lambda t: [
            "policy",
            "check",
            "--program",
            program(t, "import pulumi\n"),
            "--policy-config",
            _write(t / "p.json", '{"all": "strict"}'),
        ],
        "p.json: all: 'strict' is not an enforcement level",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    arguments, expected = CASES[case]
    completed = bucketguard(*arguments(tmp_path), cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("bucketguard: ")
    assert expected.format(t=tmp_path) in lines[0]


def test_debug_shows_the_traceback_and_the_programs_own_error(tmp_path: Path) -> None:
    directory = program(tmp_path, FAILING_PROGRAM)
    completed = bucketguard("--debug", "policy", "check", "--program", directory, cwd=tmp_path)
    assert completed.returncode == 2
    assert "Traceback (most recent call last)" in completed.stderr
    assert "__main__.py" in completed.stderr  # the program's own traceback, not just ours
    assert completed.stderr.splitlines()[-1].startswith("bucketguard: the program in ")
