"""Issue 11's goals measured in one run. Not a test: run it by hand.

    .venv/bin/python benchmarks/issue11_goals.py [--baseline REV]... [--small-files 2000] [--random-mib 64]
                                                 [--npm-dir DIR] [--offline]

1. ClamAV's 44 test files with one rule for the test PE (benchmarks/clamav_testfiles.py): with the 7-Zip
   program, then without it (as in the Lambda runtime). Goal: 0 clean, at least 32 detected.
2. The false-positive corpus (benchmarks/fp_corpus.py). Goal: 0 flagged on at least 20,000 files.
3. The engine's CPU time on plain files (--small-files JavaScript-like text files of 1.5-2.5 KiB, as
   scan_throughput.py makes them, and one file of --random-mib MiB of random bytes), this checkout against
   each baseline revision's engine checked out in a temporary git worktree, each in its own process, best
   of --rounds, alternating, in this run. Once with each engine's own bundled rules (what a user gets),
   once with the same single rule (the engine's own cost: sniffing, decoders, hashing). Goal: no more than
   10 % slower than before issue 11's decoders.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import fp_corpus  # noqa: E402
from benchmarks.clamav_testfiles import TEST_PE_RULES, TESTFILES, report, scan_testfiles  # noqa: E402
from benchmarks.scan_throughput import make_large, make_small  # noqa: E402
from bucketguard.scanning.engine import Engine  # noqa: E402
from bucketguard.scanning.formats import seven_zip_program  # noqa: E402
from bucketguard.scanning.ruleset import load_ruleset  # noqa: E402

# main before issue 11's first decoders (ace8cd1), and main before its Excel 4.0 macro sheets (7682ae4).
BASELINES = ("ace8cd1~1", "7682ae4~1")
# CPU seconds of one engine scanning every file given, in a process of its own: the checkout on sys.path
# first, its bundled rules or only the rule directory given, compiled before the clock starts.
PLAIN_FILES = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.ruleset import load_ruleset
rules = [Path(sys.argv[2])] if sys.argv[2] else []
engine = Engine(load_ruleset(rules, include_bundled=not rules), engine="yara-x")
files = [Path(name) for name in sys.argv[3:]]
engine.scan_file(files[0])
started = time.process_time()
verdicts = {engine.scan_file(path).verdict.value for path in files}
print(time.process_time() - started, *sorted(verdicts))
"""


def clamav() -> None:
    if not TESTFILES.is_dir():
        print(f"1. {TESTFILES}: not found (Debian package clamav-testfiles): skipped")
        return
    for label, programs in (("with 7-Zip", seven_zip_program.PROGRAMS), ("without 7-Zip (Lambda)", ())):
        with mock.patch.object(seven_zip_program, "PROGRAMS", programs):
            started = time.perf_counter()
            verdicts = scan_testfiles(TESTFILES)
            elapsed = time.perf_counter() - started
        counts, *lists = report(verdicts)
        print(f"1. ClamAV test files {label} ({elapsed:.1f} s): {counts}")
        print("".join(f"   {line}\n" for line in lists), end="")


def false_positives(npm_dir: Path | None, offline: bool) -> None:
    corpus, results, elapsed = fp_corpus.scanned_corpus(Engine(load_ruleset()), npm_dir, offline)
    verdicts = Counter(result.verdict.value for result in results.values())
    sources = ", ".join(f"{n} {source}" for source, n in Counter(corpus.values()).items())
    print(f"2. false-positive corpus: {len(corpus)} files ({sources})")
    print(f"   verdicts {dict(verdicts)} in {elapsed:.0f} s ({len(corpus) / elapsed:.0f} files/s)")
    for path, result in results.items():
        if result.verdict.value != "clean":
            rules = " ".join(sorted({finding.rule for finding in result.findings}))
            print(f"   {result.verdict.value}: {path} {result.reason or ''} {rules}")


def checkout(revision: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(into), revision], check=True
    )
    return into


def engine_cpu_seconds(tree: Path, rules: Path | None, files: list[Path]) -> float:
    command = [sys.executable, "-c", PLAIN_FILES, str(tree), str(rules or ""), *map(str, files)]
    completed = subprocess.run(command, capture_output=True, text=True, check=True, cwd=tree)
    seconds, *verdicts = completed.stdout.split()
    if verdicts != ["clean"]:
        raise SystemExit(f"{tree}: plain files were not all clean: {verdicts}")
    return float(seconds)


def throughput(baselines: list[str], small_files: int, random_mib: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bucketguard-goals-") as temporary:
        work = Path(temporary)
        make_small(work / "small", small_files)
        make_large(work / "random.bin", random_mib)
        workloads = {
            f"{small_files} small files": sorted((work / "small").iterdir()),
            f"{random_mib} MiB random": [work / "random.bin"],
        }
        trees = {"this checkout": ROOT}
        try:
            for revision in baselines:
                trees[revision] = checkout(revision, work / f"tree-{len(trees)}")
            for rules_label, rules in (("bundled rules", None), ("one rule", TEST_PE_RULES)):
                for workload, files in workloads.items():
                    best = {label: float("inf") for label in trees}
                    for _ in range(rounds):  # alternating, so load changes spread over every engine
                        for label, tree in trees.items():
                            best[label] = min(best[label], engine_cpu_seconds(tree, rules, files))
                    now = best["this checkout"]
                    against = ", ".join(
                        f"{revision} {best[revision] * 1000:.0f} ms ({now / best[revision] - 1:+.0%})"
                        for revision in baselines
                    )
                    print(f"3. CPU time, {workload}, {rules_label}: now {now * 1000:.0f} ms; {against}")
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
                    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline", action="append", help=f"a git revision (default: {' '.join(BASELINES)})"
    )
    parser.add_argument("--small-files", type=int, default=2000)
    parser.add_argument("--random-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--npm-dir", type=Path, help="reuse (or keep) the npm install here")
    parser.add_argument("--offline", action="store_true", help="no npm install (node_modules left out)")
    parser.add_argument("--skip", action="append", default=[], choices=("clamav", "fp", "throughput"))
    args = parser.parse_args()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average at the start: {load} on {os.cpu_count()} cores")
    if "clamav" not in args.skip:
        clamav()
    if "fp" not in args.skip:
        false_positives(args.npm_dir, args.offline)
    if "throughput" not in args.skip:
        throughput(args.baseline or list(BASELINES), args.small_files, args.random_mib, args.rounds)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average at the end: {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
