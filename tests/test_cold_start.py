"""What a deployed function's cold start imports: each handler module loads its own function's code and none
of the others' (a container runs one function), and the CLI's `scan` loads the scan engine only.

Each import runs in a fresh interpreter (the modules a test process already holds would hide a regression).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bucketguard.packaging import HANDLERS

REPO = Path(__file__).resolve().parents[1]

# Never needed by a function that is not the listener, post-scan, monitor or audit, nor by the CLI's scan.
OTHER_FUNCTIONS = {
    "bucketguard.pipeline.listener",
    "bucketguard.pipeline.postscan",
    "bucketguard.pipeline.notify",
    "bucketguard.monitor",
    "bucketguard.audit",
    "bucketguard.scheduled_audit",
    "bucketguard.remediation",
    "bucketguard.policy",
}
# Never needed by any function: Powertools' pydantic event models (loaded by its batch utility when pydantic
# was imported before it), its parameters utility (a webhook's secret is read only when one is configured),
# the terminal, Pulumi, the rule catalogue's documentation.
NO_FUNCTION = {
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.parameters",
    "bucketguard.cli",
    "bucketguard.rules.docs",
    "rich",
    "pulumi",
    "pulumi_aws",
}
SCANNER_ONLY = {
    "bucketguard.pipeline.lambda_functions",
    "bucketguard.pipeline.scanner",
    "bucketguard.pipeline.download",
    "bucketguard.scanning.engine",
    "yara",
    "yara_x",
}
MUST_NOT_LOAD = {
    "scanner": OTHER_FUNCTIONS | NO_FUNCTION,
    "listener": OTHER_FUNCTIONS - {"bucketguard.pipeline.listener", "bucketguard.pipeline.postscan"}
    | NO_FUNCTION
    | SCANNER_ONLY - {"bucketguard.pipeline.lambda_functions"},
    "postscan": OTHER_FUNCTIONS - {"bucketguard.pipeline.postscan", "bucketguard.pipeline.notify"}
    | NO_FUNCTION
    | SCANNER_ONLY - {"bucketguard.pipeline.lambda_functions"},
    # The monitor validates EventBridge events with Powertools' model of them.
    "monitor": NO_FUNCTION - {"aws_lambda_powertools.utilities.parser"} | SCANNER_ONLY,
    "audit": NO_FUNCTION | SCANNER_ONLY,
    "audit_fanout": NO_FUNCTION | SCANNER_ONLY,
    "rules_update": OTHER_FUNCTIONS | NO_FUNCTION | {"bucketguard.pipeline.lambda_functions"},
}


# What a scan of plain text never needs: the format modules that open containers (imported the first time a
# file's first bytes might be one of theirs), what they decode with, the package metadata lookup, and the
# thread pool (with logging) that only a file of several windows uses.
FORMAT_MODULES = {
    f"bucketguard.scanning.formats.{name}"
    for name in ("autoit", "cabinets", "excel4", "executables", "office", "pdf", "sevenzip", "tars", "web")
}
DECODERS = {"backports.zstd", "lz4", "olefile", "oletools", "py7zr", "pycdlib", "subprocess", "tarfile"}
# Imported where they are first used, so a scan on yara-x of a local file never loads them.
NOT_ON_THE_SCAN_PATH = {
    "yara",  # yara-python (and libyara's libcrypto): for --engine yara, or rules yara-x refuses
    "tempfile",  # and random: a member spilled to disk, the match workers' directory, a rules cache write
    "random",
    "csv",  # a --hashes list in MalwareBazaar's CSV
    "bucketguard.scanning.formats.seven_zip_program",  # the formats only 7-Zip decodes
    "zipfile",  # a zip found (every file is sniffed for one appended), a ruleset artifact read
}


def modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return set(json.loads(completed.stdout))


def loaded(modules: set[str], names: set[str]) -> list[str]:
    """The names (or any submodule of them) among the modules."""
    return sorted(m for m in modules if m in names or any(m.startswith(f"{n}.") for n in names))


def test_every_handler_is_checked() -> None:
    assert set(MUST_NOT_LOAD) == set(HANDLERS)


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_a_handler_module_imports_only_its_own_function(function: str) -> None:
    module, _, handler = HANDLERS[function].rpartition(".")
    modules = modules_after(f"import {module}\nassert callable({module}.{handler})")
    assert module in modules
    assert loaded(modules, MUST_NOT_LOAD[function]) == []


def test_the_scanner_built_from_its_environment_loads_nothing_of_the_other_functions(tmp_path: Path) -> None:
    # What the first event does before any record: settings, clients, the ruleset artifact into an engine.
    from bucketguard.scanning.ruleset import load_ruleset, write_artifact

    artifact = tmp_path / "ruleset.zip"
    write_artifact(load_ruleset(cache_dir=tmp_path / "cache"), artifact)
    modules = modules_after(
        "import os\n"
        f"os.environ.update(BUCKETGUARD_RULESET_PATH={str(artifact)!r}, AWS_DEFAULT_REGION='us-east-1')\n"
        "from bucketguard.pipeline.lambda_functions import ScannerFunction\n"
        "function = ScannerFunction.from_environment()\n"
        "assert function.scanner.engine is not None"
    )
    assert "yara_x" in modules  # built: the engine is there
    # Nor a format module: each is imported by the first object that might be of its format; nor
    # yara-python, whose version the artifact's yara-x rules do not depend on.
    assert loaded(modules, OTHER_FUNCTIONS | NO_FUNCTION | FORMAT_MODULES | {"yara"}) == []


def test_the_scanner_swapping_in_a_published_ruleset_at_cold_start_imports_no_rule_update(
    tmp_path: Path,
) -> None:
    # The rules bucket's watcher checks a published ruleset on the bundled samples before the scanner uses
    # it, at the function's init: with the engine and the samples, not the rule update's feeds and gates.
    from bucketguard.pipeline.rules_bucket import publish_artifact
    from bucketguard.sandbox.aws import SCANNER_ACCOUNT, EmbeddedAws
    from bucketguard.scanning.ruleset import load_ruleset, write_artifact

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "camp.yar").write_text('rule CampMarker { strings: $a = "camp-marker" condition: $a }\n')
    ruleset = load_ruleset([rules], cache_dir=tmp_path / "cache")
    artifact = tmp_path / "ruleset.zip"
    write_artifact(ruleset, artifact)
    with EmbeddedAws() as aws:
        account = aws.account(SCANNER_ACCOUNT)
        s3 = account.client("s3")
        s3.create_bucket(Bucket="rules")
        publish_artifact(s3, artifact, "s3://rules/scanner")
        environment = {
            **account.environment(),
            "BUCKETGUARD_RULES_BUCKET": "rules",
            "BUCKETGUARD_RULES_KEY": "scanner/ruleset.zip",
        }
        modules = modules_after(
            f"import os\nos.environ.update({environment!r})\n"
            "from bucketguard.pipeline.lambda_functions import ScannerFunction\n"
            "function = ScannerFunction.from_environment()\n"
            f"assert function.scanner.engine.ruleset_version == {ruleset.version!r}, 'not the published one'"
        )
    assert loaded(modules, {"bucketguard.scanning.update", "bucketguard.scanning.feeds"}) == []
    assert "bucketguard.scanning.sample_gate" in modules  # checked on the samples all the same


def _after_a_cli_scan(tmp_path: Path, check: str, *options: str, content: bytes | None = None) -> set[str]:
    """The modules a fresh interpreter holds after `bucketguard scan --format json` of a small text file
    (or of `content`), run in it as the command runs; `check` is asserted there (on `code` and the output
    `out`)."""
    target = tmp_path / "lesson.js"
    target.write_bytes(b"document.title = 'camp';\n" if content is None else content)
    return modules_after(
        "import contextlib, io\n"
        "from bucketguard.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    code = main(['scan', '--format', 'json', *{list(options)!r}, {str(target)!r}])\n"
        f"assert {check}, out.getvalue()"
    )


def test_a_local_scan_by_the_cli_loads_the_engine_and_no_cloud_library(tmp_path: Path) -> None:
    # The whole command (its parser holds the S3 options too), as `bucketguard scan --format json FILE`.
    modules = _after_a_cli_scan(tmp_path, "code == 0 and json.loads(out.getvalue())['summary']['clean'] == 1")
    assert "bucketguard.scanning.engine" in modules
    assert loaded(modules, {"boto3", "botocore", "pydantic", "bucketguard.pipeline", "rich", "pulumi"}) == []


def test_a_scan_of_plain_text_imports_no_format_it_does_not_hold(tmp_path: Path) -> None:
    modules = _after_a_cli_scan(tmp_path, "code == 0")
    assert "bucketguard.scanning.containers" in modules
    unneeded = FORMAT_MODULES | DECODERS | {"xml", "email", "importlib.metadata", "concurrent", "logging"}
    assert loaded(modules, unneeded) == []


def test_a_scan_on_yara_x_imports_nothing_of_what_only_other_paths_use(tmp_path: Path) -> None:
    from bucketguard.scanning.ruleset import load_ruleset

    load_ruleset()  # the compiled rules in the cache, as every scan after the first finds them
    modules = _after_a_cli_scan(tmp_path, "code == 0")
    assert "yara_x" in modules
    assert loaded(modules, NOT_ON_THE_SCAN_PATH) == []


def test_the_yara_backend_chosen_is_imported_and_finds_eicar(tmp_path: Path) -> None:
    from bucketguard.demo import pranks

    check = "code == 1 and json.loads(out.getvalue())['results'][0]['backend'] == 'yara'"
    check += " and json.loads(out.getvalue())['results'][0]['verdict'] == 'malicious'"
    modules = _after_a_cli_scan(tmp_path, check, "--engine", "yara", content=pranks.eicar())
    assert "yara" in modules


def forks_of_a_scan(paths: list[Path]) -> int:
    """How many processes `bucketguard scan --format json PATH...` forks, run in a fresh interpreter."""
    script = (
        "import contextlib, io, os\n"
        "forks = []\n"
        "os.register_at_fork(after_in_parent=lambda: forks.append(1))\n"
        "from bucketguard.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    code = main(['scan', '--format', 'json', *{[str(p) for p in paths]!r}])\n"
        "assert code == 0, out.getvalue()\n"
        "print(len(forks))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return int(completed.stdout)


def test_match_workers_are_forked_only_for_what_they_take_part_in(tmp_path: Path) -> None:
    from bucketguard.scanning.engine import WINDOW_BYTES
    from bucketguard.scanning.workers import usable_cpus

    lessons = [tmp_path / "lesson1.js", tmp_path / "lesson2.js"]
    for lesson in lessons:
        lesson.write_text("document.title = 'camp';\n")
    assert forks_of_a_scan(lessons[:1]) == 0  # one small file: scanned before workers would have started
    if usable_cpus() < 2:
        pytest.skip("one usable CPU: no match worker is ever forked")
    large = tmp_path / "video.bin"
    with large.open("wb") as stream:
        stream.truncate(WINDOW_BYTES + 1)  # two windows
    assert forks_of_a_scan(lessons) == usable_cpus()
    assert forks_of_a_scan([large]) == usable_cpus()


def test_the_process_leaves_its_objects_to_the_exit_and_a_caller_keeps_its_own() -> None:
    # Run as the process's own command line (argv from sys.argv), its objects are frozen: the collections
    # at exit skip them. Called with arguments (a library caller, these tests), nothing of the caller is.
    script = (
        "import contextlib, gc, io, sys\n"
        "from bucketguard.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['rules', 'list'])\n"
        "    called = gc.get_freeze_count()\n"
        "    sys.argv = ['bucketguard', 'rules', 'list']\n"
        "    main()\n"
        "print(called, gc.get_freeze_count())"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    called, as_process = map(int, completed.stdout.split())
    assert called == 0
    assert as_process > 0


def test_a_scan_run_as_a_process_writes_everything_and_removes_its_workers_directory(tmp_path: Path) -> None:
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    for number in range(40):
        (lessons / f"lesson{number}.js").write_text(f"document.title = 'camp {number}';\n")
    work = tmp_path / "tmp"
    work.mkdir()
    completed = subprocess.run(
        [sys.executable, "-m", "bucketguard", "scan", "--format", "json", str(lessons)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(work)},  # where the match workers' directory is made
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert json.loads(completed.stdout)["summary"]["clean"] == 40
    assert list(work.iterdir()) == []
