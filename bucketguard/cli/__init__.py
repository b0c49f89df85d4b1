"""`python -m bucketguard <command>`: one module per command, each exposing `register(subparsers)`.

Exit status (a contract): 0 nothing found, 1 findings, 2 usage or runtime error. Errors the user can act on
(`UserError`, and files that can't be read or written) are printed here, once, as one line
`bucketguard: <what and where>`; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from bucketguard import __version__
from bucketguard.errors import UserError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

# Command modules are imported lazily so `scan` does not pay for pulumi's import time.
COMMANDS = {
    "scan": "bucketguard.cli.scan",
    "rules": "bucketguard.cli.rules",
    "policy": "bucketguard.cli.policy",
    "audit": "bucketguard.cli.audit",
    "monitor": "bucketguard.cli.monitor",
    "build": "bucketguard.cli.build",
    "demo": "bucketguard.cli.demo",
    "sandbox": "bucketguard.cli.sandbox",
}


class UsageError(UserError):
    """Bad input on the command line: printed as one line, exit status 2."""


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bucketguard",
        description="Keep Amazon S3 buckets safe: malware scanning and misconfiguration guard rails.",
    )
    parser.add_argument("--version", action="version", version=f"bucketguard {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, module_name in COMMANDS.items():
        if wanted in COMMANDS and name != wanted:
            subparsers.add_parser(name)  # keep the name known without importing its module
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(args_list)
    args = parser.parse_args(args_list)
    try:
        result: int = args.run(args)
        return result
    except (UserError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
            if isinstance(exc, UserError) and exc.detail:
                print(exc.detail, file=sys.stderr)
        print(f"bucketguard: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"bucketguard {args.command}: interrupted", file=sys.stderr)
        return EXIT_ERROR
