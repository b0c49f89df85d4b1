"""`python -m bucketguard scan TARGET...`: scan files and directories with the rules, hashes and limits.

Exit status: 0 every target clean; 1 any malicious, unscannable or errored target; 2 usage or runtime error.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from bucketguard.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from bucketguard.scanning.engine import CleanRun, Engine, workers_would_help
from bucketguard.scanning.hashes import HashList, HashListError
from bucketguard.scanning.limits import Limits
from bucketguard.scanning.output import (
    NO_ACTIONS,
    JsonDocument,
    ObjectActions,
    all_clean,
    json_document,
    results_table,
    summary_line,
    to_sarif,
)
from bucketguard.scanning.result import Reason, ScanResult, Severity, Verdict
from bucketguard.scanning.ruleset import Ruleset, RulesetError, load_artifact, load_ruleset

PROGRESS_THRESHOLD = 10  # a progress bar (stderr, terminals only) from this many files on

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from `1048576`, `512K`, `10MiB`, `2G` (binary units)."""
    found = _SIZE.match(text)
    if not found:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 1048576, 512K, 10MiB, 2G)")
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return value


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 1:
        raise argparse.ArgumentTypeError(f"must be more than 1: {value}")
    return value


def add_ruleset_arguments(parser: argparse.ArgumentParser) -> None:
    """The rule-selection flags every command shares."""
    parser.add_argument(
        "--rules",
        dest="rules_dirs",
        metavar="DIR",
        type=Path,
        action="append",
        default=[],
        help="add the .yar/.yara files under DIR (recursive) to the bundled rules; repeatable",
    )
    parser.add_argument(
        "--no-bundled-rules",
        dest="include_bundled",
        action="store_false",
        help="use only the --rules directories, not bucketguard's bundled rules",
    )


def ruleset_from_args(args: argparse.Namespace) -> Ruleset:
    """The ruleset the flags ask for; an invalid rule is a one-line usage error naming file and line."""
    try:
        return load_ruleset(args.rules_dirs, include_bundled=args.include_bundled)
    except RulesetError as exc:
        raise UsageError(str(exc)) from None


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The rules, hashes, backend and limits options, shared by every command that scans."""
    defaults = Limits()
    add_ruleset_arguments(parser)
    parser.add_argument(
        "--ruleset",
        type=Path,
        metavar="FILE",
        help="a ruleset artifact (rules update/compile) instead of --rules",
    )
    parser.add_argument(
        "--hashes",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="SHA-256 blocklist: one digest a line or a MalwareBazaar CSV (repeatable)",
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "yara", "yara-x"),
        default="auto",
        help="YARA backend; auto = yara-x when every rule compiles under it (default)",
    )
    parser.add_argument(
        "--min-severity",
        choices=[s.value for s in Severity],
        default=Severity.LOW.value,
        help="lowest finding severity that makes an object malicious (default: low)",
    )
    limits = parser.add_argument_group("limits (exceeding one makes the object unscannable, never clean)")
    limits.add_argument(
        "--max-depth",
        type=_non_negative,
        default=defaults.max_depth,
        metavar="N",
        help=f"containers opened inside each other (default {defaults.max_depth})",
    )
    limits.add_argument(
        "--max-members",
        type=_non_negative,
        default=defaults.max_members,
        metavar="N",
        help=f"archive members per object (default {defaults.max_members})",
    )
    limits.add_argument(
        "--max-extracted",
        type=parse_size,
        default=defaults.max_extracted_bytes,
        metavar="BYTES",
        help="bytes expanded from archives per object (default 1GiB)",
    )
    limits.add_argument(
        "--max-ratio",
        type=_ratio,
        default=defaults.max_ratio,
        metavar="R",
        help=f"compression ratio of a member past 1MiB (default {defaults.max_ratio:g})",
    )
    limits.add_argument(
        "--max-size",
        type=parse_size,
        default=None,
        metavar="BYTES",
        help="size of an object or of any member (default: no limit)",
    )


def build_engine(args: argparse.Namespace) -> Engine:
    """The engine the options ask for; bad rules, hash lists or limits become one-line usage errors."""
    try:
        if args.ruleset is not None and (args.rules_dirs or not args.include_bundled):
            raise UsageError("--ruleset brings its own rules: drop --rules and --no-bundled-rules")
        if args.ruleset is not None:
            ruleset = load_artifact(args.ruleset)
        else:
            ruleset = load_ruleset(args.rules_dirs, include_bundled=args.include_bundled)
        hashes = None
        for path in args.hashes:
            loaded = HashList.load(path)
            hashes = loaded if hashes is None else hashes.merged(loaded)
        limits = Limits(
            max_depth=args.max_depth,
            max_members=args.max_members,
            max_extracted_bytes=args.max_extracted,
            max_ratio=args.max_ratio,
            max_file_bytes=args.max_size,
        )
        return Engine(
            ruleset,
            engine=args.engine,
            hashes=hashes,
            limits=limits,
            min_severity=Severity(args.min_severity),
        )
    except (RulesetError, HashListError) as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# --- targets: the one place a TARGET argument becomes things to scan ---------------------------------


class ScanTarget(Protocol):
    """Something to scan: `name` is what results call it (a path as typed, an S3 URL)."""

    @property
    def name(self) -> str: ...

    @property
    def actions(self) -> ObjectActions: ...  # what was done to it besides scanning (after scan)

    def scan(self, engine: Engine) -> ScanResult: ...


class LocalFile(NamedTuple):  # not a frozen dataclass: a walk makes one per file, and its init cost more
    name: str
    path: str | Path
    actions: ObjectActions = NO_ACTIONS

    def scan(self, engine: Engine) -> ScanResult:
        return engine.scan_file(self.path, name=self.name)


class UnlistedDirectory(NamedTuple):
    """A directory we could not list: its files were not read, so it is reported, not skipped."""

    name: str
    detail: str
    actions: ObjectActions = NO_ACTIONS

    def scan(self, engine: Engine) -> ScanResult:
        return ScanResult(
            self.name,
            Verdict.UNSCANNABLE,
            reason=Reason.UNREADABLE,
            detail=self.detail,
            backend=engine.backend,
            ruleset_version=engine.ruleset_version,
        )


def expand_targets(
    arguments: Sequence[str], s3_targets: Callable[[str], Sequence[ScanTarget]] | None = None
) -> list[ScanTarget]:
    """Every TARGET argument expanded into what to scan, in a stable order. A missing path is a usage
    error, found before anything is scanned. s3:// URLs are listed by `s3_targets` (bucketguard.pipeline)."""
    targets: list[ScanTarget] = []
    for argument in arguments:
        if argument.startswith("s3://"):
            if s3_targets is None:
                raise UsageError(f"{argument}: S3 targets are not available here")
            targets.extend(s3_targets(argument))
        else:
            targets.extend(_local_targets(argument))
    return targets


def _local_targets(argument: str) -> list[ScanTarget]:
    path = Path(argument)
    if not os.path.lexists(path):
        raise UsageError(f"{argument}: no such file or directory")
    if not path.is_dir():
        return [LocalFile(argument, path)]
    return _walk_directory(argument)


def _walk_directory(argument: str) -> list[ScanTarget]:
    # Follows links to directories (their files are uploaded too) but enters each real directory once.
    seen: set[tuple[int, int]] = set()
    found: list[ScanTarget] = []
    unlisted: list[ScanTarget] = []

    def on_error(error: OSError) -> None:
        where = error.filename or argument
        unlisted.append(UnlistedDirectory(str(where), f"{where}: cannot list directory: {error.strerror}"))

    # Paths stay strings, made in C a directory at a time: a Path per file cost more than scanning a
    # small file's bytes, and a generator's step per file a third of the walk.
    for directory, subdirectories, files in os.walk(argument, onerror=on_error, followlinks=True):
        try:
            info = os.stat(directory)  # noqa: PTH116
        except OSError:
            subdirectories.clear()
            continue
        if (info.st_dev, info.st_ino) in seen:
            subdirectories.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        subdirectories.sort()
        files.sort()
        full = list(map(_child_prefix(directory).__add__, files))
        found += map(LocalFile, full, full)
    return found + unlisted


def _child_prefix(directory: str) -> str:
    """What `str(Path(directory) / name)` puts before a name, as results have always named files (Path
    drops a leading `./` and doubled slashes)."""
    spelled = str(Path(directory))
    return "" if spelled == "." else os.path.join(spelled, "")  # noqa: PTH118


# --- the command -------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "scan",
        help="scan files and directories for malware (YARA rules, hash list, archives opened recursively)",
        description="Scan files and directories (recursively). Exit status: 0 every target clean; "
        "1 any target malicious, unscannable or errored; 2 usage or runtime error.",
    )
    parser.add_argument(
        "targets", nargs="+", metavar="TARGET", help="a file, a directory or s3://bucket[/prefix]"
    )
    parser.add_argument("--format", choices=("table", "json", "sarif"), default="table")
    add_engine_arguments(parser)
    from bucketguard.cli.scan_s3 import add_s3_arguments

    add_s3_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bucketguard.cli import scan_s3

    try:
        scan_s3.check_s3_options(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    engine = build_engine(args)
    # Workers are forked before anything starts a thread: a fork copies no lock another thread holds.
    if any(t.startswith("s3://") for t in args.targets):
        engine.start_workers()
        return scan_s3.run_s3_scan(args, engine, expand_targets, scan_all, emit)
    targets = expand_targets(args.targets)
    if workers_would_help([target.path for target in targets if isinstance(target, LocalFile)]):
        engine.start_workers()
    try:
        if args.format == "json":
            clean = write_json(engine, targets)
        else:
            results = scan_all(engine, targets)
            emit(results, args.format)
            clean = all_clean(results)
    except BrokenPipeError:
        raise UsageError("output closed before the results were written") from None
    except OSError as exc:
        raise UsageError(f"runtime error: {exc}") from None
    return EXIT_OK if clean else EXIT_FINDINGS


@contextlib.contextmanager
def _progress_bar(count: int) -> Iterator[Callable[[int], None]]:
    """`advance(done)` of a progress bar on a terminal's stderr when there are many targets, else a no-op."""
    if not (sys.stderr.isatty() and count >= PROGRESS_THRESHOLD):
        yield lambda done: None
        return
    # rich is imported only for a terminal: it costs a scan's start-up more than the bundled rules' load.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    stderr = Console(stderr=True)
    columns = (TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task("scan", total=count)
        yield lambda done: progress.advance(task, done)


def scan_all(engine: Engine, targets: Sequence[ScanTarget]) -> list[ScanResult]:
    """Every target scanned, in order; a progress bar on a terminal's stderr when there are many."""
    with _progress_bar(len(targets)) as advance:
        results: list[ScanResult] = []
        for local, group in _local_or_not(targets):
            if local:
                paths, names = _paths_and_names(group)
                results += engine.scan_files(paths, names=names, progress=advance)
            else:
                for target in group:
                    results.append(target.scan(engine))
                    advance(1)
        return results


def write_json(engine: Engine, targets: Sequence[ScanTarget]) -> bool:
    """Every target scanned, its line of the `--format json` document written as soon as it and those
    before it are done (the scan and the output overlap); True when every target is clean."""
    # The real stdout's write, taken before the progress bar replaces sys.stdout with its own (which
    # prints above the bar, on the terminal's stderr).
    document = JsonDocument(sys.stdout.write)
    with _progress_bar(len(targets)) as advance:
        for local, group in _local_or_not(targets):
            if local:
                paths, names = _paths_and_names(group)
                for item in engine.scan_files_in_runs(paths, names=names, progress=advance):
                    if isinstance(item, CleanRun):
                        document.add_clean_run(item)
                    else:
                        document.add(item.to_dict())
            else:
                for target in group:
                    document.add(target.scan(engine).to_dict())
                    advance(1)
    document.close()
    sys.stdout.write("\n")
    sys.stdout.flush()
    return document.all_clean


def _local_or_not(targets: Sequence[ScanTarget]) -> Iterator[tuple[bool, list[Any]]]:
    """The targets in order, in groups: local files (the engine scans each group together, spread over
    its match workers) and the others (one by one)."""
    for kind, group in itertools.groupby(targets, key=type):
        yield kind is LocalFile, list(group)


def _paths_and_names(files: list[LocalFile]) -> tuple[list[str | Path], list[str]]:
    return [file.path for file in files], [file.name for file in files]


def emit(
    results: Sequence[ScanResult], output_format: str, actions: Sequence[ObjectActions] | None = None
) -> None:
    if output_format == "json":
        print(json_document(results, actions))
    elif output_format == "sarif":
        print(json.dumps(to_sarif(results, actions), indent=2))
    else:
        from bucketguard.tables import console as tables_console

        console = tables_console()
        if results:
            console.print(results_table(results))
        console.print(summary_line(results), markup=False)
    sys.stdout.flush()
