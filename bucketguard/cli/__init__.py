"""`python -m bucketguard <command>`: one module per command, each exposing `register(subparsers)`.

Exit status (a contract): 0 nothing found, 1 findings, 2 usage or runtime error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bucketguard import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

# Command modules are imported lazily so `scan` does not pay for pulumi's import time.
COMMANDS = {
    "scan": "bucketguard.cli.scan",
    "rules": "bucketguard.cli.rules",
    "policy": "bucketguard.cli.policy",
    "audit": "bucketguard.cli.audit",
    "build": "bucketguard.cli.build",
    "demo": "bucketguard.cli.demo",
}


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bucketguard",
        description="Keep Amazon S3 buckets safe: malware scanning and misconfiguration guard rails.",
    )
    parser.add_argument("--version", action="version", version=f"bucketguard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, module_name in COMMANDS.items():
        if wanted in COMMANDS and name != wanted:
            subparsers.add_parser(name)  # keep the name known without importing its module
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(args_list)
    args = parser.parse_args(args_list)
    try:
        result: int = args.run(args)
        return result
    except UsageError as exc:
        print(f"bucketguard {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"bucketguard {args.command}: interrupted", file=sys.stderr)
        return EXIT_ERROR
