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
TEMPLATE = REPO / "tests" / "templates" / "fixtures" / "secure.json"
FAILING_PROGRAM = "import pulumi\nraise RuntimeError('the camp helper exploded')\n"


def bucketguard(
    *args: str | Path, cwd: Path = REPO, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bucketguard", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # run from elsewhere: paths are the user's, not ours
        env={**(os.environ if environment is None else environment), "PYTHONPATH": str(REPO)},
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


def _typo_stack(tmp_path: Path) -> Path:
    camp = (REPO / "examples" / "stacks" / "Pulumi.dev.yaml").read_text()
    return _write(tmp_path / "Pulumi.dev.yaml", camp.replace("blockUnscanned", "blockUnscaned"))


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
    # Every command reading a stack config reads it the same way: a file that is not one is one line.
    "audit a stack config that is a list": (
        lambda t: ["audit", "--config", _write(t / "Pulumi.l.yaml", "- teaching\n")],
        "Pulumi.l.yaml: not a stack config",
    ),
    "policy check a stack config that is a list": (
        lambda t: ["policy", "check", "--program", REPO, "--config", _write(t / "Pulumi.l.yaml", "- a\n")],
        "Pulumi.l.yaml: not a stack config",
    ),
    "rules update a stack config whose config is no mapping": (
        lambda t: [
            "rules",
            "update",
            "--config",
            _write(t / "Pulumi.n.yaml", "config: 5\n"),
            "-o",
            t / "r.zip",
        ],
        "Pulumi.n.yaml: not a stack config",
    ),
    "rules update a stack config whose scanner is no mapping": (
        lambda t: [
            "rules",
            "update",
            "--config",
            _write(t / "Pulumi.s.yaml", "config:\n  bucketguard:scanner: 5\n"),
            "-o",
            t / "r.zip",
        ],
        "Pulumi.s.yaml: bucketguard:scanner: input should be a valid dictionary",
    ),
    # A limit of 0 refused every ruleset (or, for the sample, measured nothing); -1 s was a traceback.
    "rules update a timeout below 0": (
        lambda t: ["rules", "update", "--source", t, "-o", t / "r.zip", "--timeout", "-1"],
        "argument --timeout: must be a number above 0: '-1'",
    ),
    "rules update an empty benchmark sample": (
        lambda t: ["rules", "update", "--source", t, "-o", t / "r.zip", "--sample-size", "0"],
        "argument --sample-size: must be above 0 bytes: '0'",
    ),
    "rules update a CA bundle that is missing": (
        lambda t: ["rules", "update", "--source", t, "-o", t / "r.zip", "--ca-certs", t / "ca.pem"],
        "ca.pem: no such file",
    ),
    "sandbox up an invalid stack config": (
        lambda t: ["sandbox", "up", "--config", _write(t / "Pulumi.x.yaml", "config: [\n")],
        "Pulumi.x.yaml:2:1: invalid YAML",
    ),
    "sandbox up a stack config with a misspelt namespace": (  # refused before anything is deployed
        lambda t: [
            "sandbox",
            "up",
            "--config",
            _write(
                t / "Pulumi.t.yaml",
                "config:\n  bucketguard:scanner: {region: eu-west-1}\n"
                "  bucketgaurd:storages: [{name: a, bucket: camp-a, region: eu-west-1}]\n",
            ),
        ],
        "Pulumi.t.yaml: bucketgaurd:storages: unknown namespace; did you mean bucketguard:storages?",
    ),
    "audit an invalid stack config": (
        lambda t: ["audit", "--config", _write(t / "Pulumi.x.yaml", "config: [\n")],
        "Pulumi.x.yaml:2:1: invalid YAML",
    ),
    # Options are checked as the config keys they mirror, and argparse's refusals are one line too.
    "audit a role that is no ARN": (
        lambda t: ["audit", "--role-arn", "camp-auditor"],
        "argument --role-arn: 'camp-auditor' is not an IAM role ARN",
    ),
    "audit a region that is none": (
        lambda t: ["audit", "--region", "mars-1"],
        "argument --region: 'mars-1' is not an AWS region name",
    ),
    "policy check a template in an account that is none": (
        lambda t: ["policy", "check", "--cloudformation", TEMPLATE, "--account-id", "12"],
        "argument --account-id: '12' is not a 12-digit AWS account id",
    ),
    "rules publish announcing on what is no topic": (  # refused before anything is published
        lambda t: ["rules", "publish", t / "r.zip", "--to", "s3://camp-rules/", "--announce", "camp-topic"],
        "argument --announce: 'camp-topic' is not an SNS topic ARN",
    ),
    "demo writing its dashboard into a missing directory": (  # refused before the demo starts
        lambda t: ["demo", "--output", t / "missing" / "audit.html"],
        "--output {t}/missing/audit.html: no such directory",
    ),
    "monitor replay ignoring a principal that is no ARN": (  # else it never matches and is judged
        lambda t: ["monitor", "replay", t / "e.json", "--ignore-principal", "camp-admin"],
        "argument --ignore-principal: 'camp-admin' is not an IAM role or user ARN",
    ),
    "scan s3:// with a result topic that is none": (
        lambda t: [
            "scan",
            "s3://camp/",
            "--enqueue",
            "https://sqs.eu-west-1.amazonaws.com/1/q",
            "--result-topic",
            "t",
        ],
        "argument --result-topic: 't' is not an SNS topic ARN",
    ),
    # botocore's "Invalid endpoint: camp" named no option; each command's --endpoint-url is checked alike.
    **{
        f"{' '.join(command)} with an endpoint that is no URL": (
            lambda t, command=command: [*command, "--endpoint-url", "127.0.0.1:5000"],
            "argument --endpoint-url: '127.0.0.1:5000' is not an http(s) URL such as http://127.0.0.1:5000",
        )
        for command in (
            ["scan", "s3://camp"],
            ["audit"],
            ["monitor", "replay", "e.json"],
            ["rules", "update", "-o", "r.zip"],
            ["rules", "publish", "r.zip", "--to", "s3://camp-rules/"],
        )
    },
    # Options that act only with --fix are refused without it, as scan's S3 options are.
    "audit --yes without --fix": (lambda t: ["audit", "--yes"], "--yes is only used with --fix"),
    "audit --undo-file without --fix": (
        lambda t: ["audit", "--undo-file", t / "u.json"],
        "--undo-file is only used with --fix",
    ),
    "audit --undo with --fix": (
        lambda t: ["audit", "--fix", "--undo", t / "u.json"],
        "--fix and --undo: give one (--undo puts back what a --fix changed)",
    ),
    "monitor replay --undo-file without --fix": (
        lambda t: ["monitor", "replay", t / "e.json", "--undo-file", t / "u.json"],
        "--undo-file is only used with --fix",
    ),
    "rules update forcing a kind that is none": (  # else read as a file named 'yara=https:/...'
        lambda t: ["rules", "update", "-o", t / "r.zip", "--source", "yara=https://feeds.example.org/r.zip"],
        "unknown kind 'yara'; expected one of yara-zip, yara-file, hash-list, malwarebazaar-csv, s3",
    ),
    "rules update from an ftp URL": (
        lambda t: ["rules", "update", "-o", t / "r.zip", "--source", "ftp://feeds.example.org/r.zip"],
        "ftp://feeds.example.org/r.zip: unsupported URL scheme 'ftp'",
    ),
    "scan with a ruleset artifact that is missing": (
        lambda t: ["scan", t, "--ruleset", t / "r.zip"],
        "bucketguard: {t}/r.zip: unreadable ruleset artifact: No such file or directory",
    ),
    "rules publish to what is no s3:// prefix": (  # refused before the artifact is read and judged
        lambda t: ["rules", "publish", t / "r.zip", "--to", "camp-rules/"],
        "argument --to: camp-rules/: expected s3://bucket/prefix",
    ),
    "rules update from a stack config with a misspelt key": (
        lambda t: ["rules", "update", "--config", _typo_stack(t), "-o", t / "r.zip"],
        "--config {t}/Pulumi.dev.yaml: bucketguard:storages[0].blockUnscaned (name 'teaching'): unknown key; "
        "did you mean blockUnscanned?",
    ),
    # the program's own one-line error, without the type it was raised as (RunError, ConfigError)
    "policy check of the program with a misspelt key": (
        lambda t: ["policy", "check", "--program", REPO, "--config", _typo_stack(t)],
        "failed: bucketguard:storages[0].blockUnscaned (name 'teaching'): unknown key",
    ),
    "sandbox up with a misspelt key": (
        lambda t: ["sandbox", "up", "--config", _typo_stack(t)],
        "Pulumi.dev.yaml: bucketguard:storages[0].blockUnscaned (name 'teaching'): unknown key",
    ),
    "scan with a negative depth": (
        lambda t: ["scan", "--max-depth", "-1", t],
        "argument --max-depth: must be 0 or more: -1 (see `bucketguard scan --help`)",
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


def test_a_message_over_several_lines_is_one_line_with_all_of_it() -> None:
    from botocore.exceptions import ParamValidationError

    from bucketguard.cli import _one_line

    exc = ParamValidationError(report="Invalid length for parameter RoleArn, value: 8, valid min length: 20")
    assert _one_line(exc) == (
        "Parameter validation failed: Invalid length for parameter RoleArn, value: 8, valid min length: 20"
    )


def test_a_name_in_an_error_is_shown_printable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bucketguard.cli import main

    # a file's name is anyone's: an ESC sequence (clearing the terminal) and U+202E must not reach it
    target = tmp_path / "homework\x1b[2J\u202egnp.exe"
    assert main(["scan", str(target)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.rstrip("\n").isprintable()
    assert r"homework\x1b[2J\u202egnp.exe" in error


@pytest.mark.parametrize(
    ("missing", "command"),
    [("yara_x", ["scan", "{t}"]), ("pulumi", ["policy", "check", "--program", "{t}"])],
)
def test_a_python_without_the_dependencies_is_told_which_and_how_to_get_them(
    missing: str, command: list[str], tmp_path: Path
) -> None:
    # The README's `python -m bucketguard` run by a Python outside `.venv`: the library cannot be imported.
    run = (
        f"import runpy, sys; sys.modules[{missing!r}] = None; "
        f"sys.argv = ['bucketguard', *{[part.format(t=tmp_path) for part in command]!r}]; "
        "runpy.run_module('bucketguard', run_name='__main__')"
    )
    completed = subprocess.run(
        [sys.executable, "-c", run],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.splitlines() == [
        f"bucketguard: this Python ({sys.executable}) lacks the library {missing!r}: run `make install` and "
        "use `.venv/bin/python -m bucketguard` (or activate .venv), or `pip install .`"
    ]


@pytest.mark.parametrize(
    ("arguments", "where"),
    [
        (["scan", "s3://camp-teaching-material"], "bucketguard: S3: no AWS credentials: set AWS_PROFILE"),
        (
            ["audit", "--no-history", "--region", "eu-west-1"],
            "bucketguard: no AWS credentials: set AWS_PROFILE",
        ),
        (
            ["monitor", "replay", REPO / "tests" / "events" / "cloudtrail-put-bucket-acl.json"],
            "bucketguard: no AWS credentials: set AWS_PROFILE",
        ),
    ],
)
def test_no_credentials_says_what_to_set(arguments: list[str | Path], where: str, tmp_path: Path) -> None:
    """botocore says only 'Unable to locate credentials'."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true")
    completed = bucketguard(*arguments, cwd=tmp_path, environment=environment)
    assert completed.returncode == 2, completed.stderr
    assert len(completed.stderr.splitlines()) == 1, completed.stderr
    assert completed.stderr.startswith(where), completed.stderr
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in completed.stderr
