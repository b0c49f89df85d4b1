"""`python -m bucketguard rules <subcommand>`: work with rule sets.

    rules compile [--rules DIR]... [--no-bundled-rules] -o FILE [--format table|json]
        compile the bundled YARA rules plus user rule directories into a versioned artifact that the
        scanner Lambda loads once per container.
    rules update / publish / diff: rulesets built from feeds (bucketguard.cli.rules_update).

Sub-subcommands register themselves in SUBCOMMANDS. The `--rules DIR` flags are the scan command's
(`add_ruleset_arguments`), so every command reads them the same way.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bucketguard.cli import EXIT_OK, UsageError
from bucketguard.cli.rules_list import add_list_command
from bucketguard.cli.rules_update import register_diff, register_publish, register_update
from bucketguard.cli.scan import add_ruleset_arguments, ruleset_from_args
from bucketguard.scanning.backends import BACKENDS
from bucketguard.scanning.ruleset import Ruleset, write_artifact

SCHEMA_VERSION = 1


def _compile_summary(ruleset: Ruleset, output: Path) -> dict[str, Any]:
    refused = {}
    for backend in BACKENDS:
        failure = ruleset.failure(backend)
        if failure is not None:
            refused[backend] = str(failure)
    return {
        "schema_version": SCHEMA_VERSION,
        "artifact": str(output),
        "ruleset_version": ruleset.version,
        "rule_files": len(ruleset.sources),
        "rules": ruleset.rule_count,
        "backends": [b for b in BACKENDS if b not in refused],
        "auto_backend": ruleset.auto_backend,
        "refused": refused,
    }


def run_compile(args: argparse.Namespace) -> int:
    ruleset = ruleset_from_args(args)
    output: Path = args.output
    if output.is_dir():
        raise UsageError(f"{output}: is a directory; give the artifact's file name with -o")
    if not output.parent.is_dir():
        raise UsageError(f"{output.parent}: no such directory for the artifact")
    try:
        write_artifact(ruleset, output)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write the artifact: {exc.strerror or exc}") from None
    summary = _compile_summary(ruleset, output)
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(
        f"wrote {output}: ruleset {summary['ruleset_version']}, {summary['rules']} rules "
        f"in {summary['rule_files']} files, compiled for {', '.join(summary['backends'])} "
        f"(auto uses {summary['auto_backend']})"
    )
    for backend, why in summary["refused"].items():
        print(f"note: {backend} cannot compile these rules: {why}")
    return EXIT_OK


def _register_compile(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "compile",
        help="compile the rules into a versioned artifact for the scanner",
        description="Compile the bundled YARA rules and any --rules directories into one artifact "
        "(zip: manifest, sources, rules compiled by yara-x and yara-python) that the scanner loads once.",
    )
    add_ruleset_arguments(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="artifact to write")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run_compile)


# Each entry adds one `rules <subcommand>` parser that sets `run`.
SUBCOMMANDS: list[Callable[[Any], None]] = [
    _register_compile,
    add_list_command,
    register_update,
    register_publish,
    register_diff,
]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rules", help="compile and inspect rule sets", description="Work with bucketguard's rule sets."
    )
    commands = parser.add_subparsers(dest="rules_command", metavar="SUBCOMMAND", required=True)
    for register_subcommand in SUBCOMMANDS:
        register_subcommand(commands)
