"""`python -m bucketguard <command>`: one module per command, each exposing `register(subparsers)`.

Exit status (a contract): 0 nothing found, 1 findings, 2 usage or runtime error. Errors the user can act on
(`UserError`, and files that can't be read or written) are printed here, once, as one line
`bucketguard: <what and where>`; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from bucketguard import __version__
from bucketguard.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

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


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line too, naming the option and where its help is (not the usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"bucketguard: {message} (see `{self.prog} --help`)\n")


def checked(kind: Any) -> Callable[[str], Any]:
    """An option's `type` from an annotated type of bucketguard.validation (RegionName, AccountId,
    RoleArn): checked as a config key's value is, refused in one line saying what it should be."""
    from pydantic import TypeAdapter, ValidationError

    from bucketguard.validation import problem

    adapter = TypeAdapter(kind)

    def check(text: str) -> Any:
        try:
            return adapter.validate_python(text)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(problem(exc)) from None

    return check


def endpoint_url(text: str) -> str:
    """`--endpoint-url`: an http(s) URL with a host, refused in one line naming the option (botocore's own
    refusal, "Invalid endpoint", names none)."""
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a port that is not a number
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL such as http://127.0.0.1:5000")
    return text


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bucketguard",
        description="Keep Amazon S3 buckets safe: malware scanning and misconfiguration guard rails.",
    )
    parser.add_argument("--version", action="version", version=f"bucketguard {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, module_name in COMMANDS.items():
        if wanted in COMMANDS and name != wanted:
            continue  # neither imported nor built: each parser made costs every command's start-up
        importlib.import_module(module_name).register(subparsers)
    return parser


def _one_line(exc: BaseException) -> str:
    from bucketguard.printable import one_line  # only on an error: a file's or a key's name is anyone's

    if isinstance(exc, OSError) and exc.filename is not None:
        return one_line(f"{exc.filename}: {exc.strerror or exc}")
    # Some libraries' messages span lines (botocore: "Parameter validation failed:\n<which and why>").
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return one_line(" ".join(lines)) or type(exc).__name__


def stack_config(path: Path) -> Any:
    """The `bucketguard:` keys of a Pulumi.<stack>.yaml, validated as `pulumi preview` validates them (an
    infra.config.BucketguardConfig), or one line naming the file and the key: no key is skipped unread."""
    from bucketguard.validation import read_stack_config
    from infra.config import ConfigError, parse_config

    section = read_stack_config(path)
    raw = {key.split(":", 1)[1]: value for key, value in section.items() if key.startswith("bucketguard:")}
    try:
        return parse_config(raw)
    except ConfigError as exc:
        raise UsageError(f"--config {path}: {exc}") from None


def aws_problem(exc: Exception) -> str:
    """An AWS call's failure in one line, saying what to set when the credentials or the region are missing
    (botocore says only 'Unable to locate credentials')."""
    from botocore.exceptions import NoCredentialsError, NoRegionError  # loaded: the call that failed did

    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(for an embedded AWS at --endpoint-url, any pair it accepts)"
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region: set AWS_REGION (or give --region where the command has it)"
    return _one_line(exc)


def _missing_dependency(exc: ModuleNotFoundError) -> str | None:
    """One line for a library this Python lacks (run outside the virtualenv `make install` made); None for
    a module of bucketguard's own, which is a bug and keeps its traceback."""
    top = (exc.name or "").partition(".")[0]
    if not top or top in ("bucketguard", "functions", "infra", "policy_pack"):
        return None
    return (
        f"this Python ({sys.executable}) lacks the library {top!r}: run `make install` and use "
        "`.venv/bin/python -m bucketguard` (or activate .venv), or `pip install .`"
    )


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    # A supervisor's stop (SIGTERM) unwinds as Ctrl-C does, so what a command started (the sandbox's
    # server and function workers) is stopped with it rather than left running without a parent.
    if threading.current_thread() is not threading.main_thread():
        return _run(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if argv is None:
            # The process's own command line: it exits next. The collections at exit would walk every
            # object of every module to free nothing the exit does not (half of a one-file scan's exit).
            gc.freeze()


def _run(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        return _parse_and_run(args_list)
    except ModuleNotFoundError as exc:
        missing = _missing_dependency(exc)
        if missing is None or "--debug" in args_list:
            raise
        print(f"bucketguard: {missing}", file=sys.stderr)
        return EXIT_ERROR


def _parse_and_run(args_list: list[str]) -> int:
    parser = _parser(args_list)
    args = parser.parse_args(args_list)
    try:
        result: int = args.run(args)
        return result
    except (UserError, OSError) as exc:
        if args.debug:
            import traceback  # here: only --debug needs it, and every command's start-up paid for it

            traceback.print_exc()
            if isinstance(exc, UserError) and exc.detail:
                print(exc.detail, file=sys.stderr)
        print(f"bucketguard: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"bucketguard {args.command}: interrupted", file=sys.stderr)
        return EXIT_ERROR
