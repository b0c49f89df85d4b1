"""`python -m bucketguard demo`: the camp's pranks, generated, scanned and shown as a table.

Exits 0 when every sample gets the verdict it should (pranks caught, clean files clean), 1 otherwise.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bucketguard.cli import EXIT_FINDINGS, EXIT_OK
from bucketguard.demo.pranks import Sample, all_samples
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.output import verdict_text, what_was_found
from bucketguard.scanning.result import ScanResult
from bucketguard.scanning.ruleset import load_ruleset


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="generate the camp's prank files, scan them and show the verdicts"
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="write the sample files to DIR and keep them"
    )
    parser.set_defaults(run=run)


def write_samples(directory: Path, samples: Sequence[Sample]) -> list[tuple[Sample, Path]]:
    """Each sample written under its key (`photos/camp-photo.jpg`), as a child would upload it."""
    written = []
    for sample in samples:
        path = directory / sample.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.data)
        written.append((sample, path))
    return written


def scan_samples(engine: Engine, written: Sequence[tuple[Sample, Path]]) -> list[tuple[Sample, ScanResult]]:
    return [(sample, engine.scan_file(path, name=sample.key)) for sample, path in written]


def as_expected(sample: Sample, result: ScanResult) -> bool:
    if result.verdict is not sample.expected:
        return False
    return sample.expected_reason is None or result.reason is sample.expected_reason


def verdicts_table(scanned: Sequence[tuple[Sample, ScanResult]], *, title: str) -> Table:
    table = Table(title=title)
    table.add_column("uploaded as", overflow="fold")
    table.add_column("what it is", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("why", overflow="fold")
    table.add_column("", no_wrap=True)
    for sample, result in scanned:
        mark = (
            Text("as expected", style="green")
            if as_expected(sample, result)
            else Text("WRONG", style="bold red")
        )
        table.add_row(
            sample.key, sample.description, verdict_text(result.verdict), what_was_found(result), mark
        )
    return table


def run(args: argparse.Namespace) -> int:
    console = Console()
    engine = Engine(load_ruleset())
    samples = all_samples()
    if args.keep is not None:
        scanned = scan_samples(engine, write_samples(args.keep, samples))
    else:
        with tempfile.TemporaryDirectory(prefix="bucketguard-demo-") as directory:
            scanned = scan_samples(engine, write_samples(Path(directory), samples))
    title = f"The camp's uploads, scanned with {engine.backend} (rules {engine.ruleset_version})"
    console.print(verdicts_table(scanned, title=title))
    wrong = [sample.key for sample, result in scanned if not as_expected(sample, result)]
    if wrong:
        console.print(
            f"[bold red]{len(wrong)} sample(s) did not get the expected verdict:[/] {', '.join(wrong)}"
        )
        return EXIT_FINDINGS
    console.print(
        f"All {len(scanned)} uploads got the verdict they should: pranks caught or held as unscannable, "
        "clean files clean.",
        highlight=False,
    )
    return EXIT_OK
