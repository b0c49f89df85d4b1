"""What a directory scan of small files costs per file beyond the match, part by part, in this checkout and
(with --against REV) in an earlier commit, in alternating rounds of one run (a script, not a test).

    .venv/bin/python benchmarks/per_file_overhead.py [--files 10000] [--rounds 3] [--against REV]

On --files files of 1.5-2.5 KiB (JavaScript-like text, made as scan_throughput.py makes them), in a new
process per checkout and round, the CPU time of its one thread per file, the best of the rounds:
- bare: yara_x.Scanner(rules).scan_file, the backend alone (rules compiled beforehand);
- engine: Engine.scan_file (stat, open and read, sha256, the match, container sniffing, the result);
- walk: the scan command's directory walk (`expand_targets`);
- json: the scan command's `--format json` document of the results (`emit`);
- with two match workers, the scan command's whole `--format json` path after start-up (walk, scan,
  document): parent, the CPU of the parent's thread (walking, sending, checking what comes back, writing),
  and workers, the CPU of both workers (reaped at the end), each per file.
With --profile, then the parent's thread in that path by function (cProfile timing its CPU; the profiler's
own cost is in those figures, not in the table's).
CPU time of one thread is what a busy machine's other processes inflate least; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scan_throughput import make_small  # noqa: E402

PARTS = ("bare", "engine", "walk", "json", "parent", "workers")

# Run in the checkout measured (its directory first on sys.path): only names both old and new commits have.
CHILD = """
import contextlib, io, json, resource, sys, time
from pathlib import Path
import yara_x
from bucketguard.cli import scan
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.ruleset import load_ruleset

corpus = sys.argv[1]
ruleset = load_ruleset()
engine, rules = Engine(ruleset), ruleset.compiled("yara-x")
files = sorted(Path(corpus).iterdir())
results = [target.scan(engine) for target in scan.expand_targets([corpus])]


def bare():
    scanner = yara_x.Scanner(rules)
    for path in files:
        scanner.scan_file(str(path))


def json_output():
    with contextlib.redirect_stdout(io.StringIO()):
        scan.emit(results, "json")


def with_workers():  # the parent thread's and the workers' CPU of the scan command's JSON path
    spread = Engine(ruleset)
    spread.start_workers(2)
    started = time.thread_time()
    with contextlib.redirect_stdout(io.StringIO()):
        targets = scan.expand_targets([corpus])
        if hasattr(scan, "write_json"):
            scan.write_json(spread, targets)
        else:
            scan.emit(scan.scan_all(spread, targets), "json")
    parent = time.thread_time() - started
    spread.close()
    return parent, resource.getrusage(resource.RUSAGE_CHILDREN)


actions = {
    "bare": bare,
    "engine": lambda: [engine.scan_file(path) for path in files],
    "walk": lambda: scan.expand_targets([corpus]),
    "json": json_output,
}
seconds = {}
for part, action in actions.items():
    started = time.thread_time()
    action()
    seconds[part] = time.thread_time() - started
before = resource.getrusage(resource.RUSAGE_CHILDREN)
seconds["parent"], after = with_workers()
seconds["workers"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps(seconds))
if sys.argv[2:] == ["profile"]:  # once more, the parent's thread under cProfile (its CPU), on stderr
    import cProfile, pstats
    profile = cProfile.Profile(time.thread_time)
    profile.runcall(with_workers)
    pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(20)
"""


def measure(checkout: Path, corpus: Path, *, profile: bool = False) -> dict[str, float]:
    command = [sys.executable, "-c", CHILD, str(corpus), *(["profile"] if profile else [])]
    completed = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=True)
    if profile:
        print(completed.stderr)
    seconds: dict[str, float] = json.loads(completed.stdout)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", metavar="REV", help="an earlier commit measured in the same run")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then the parent thread's CPU by function (cProfile), this checkout",
    )
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bucketguard-per-file-", dir="/tmp") as temp:
        work = Path(temp)
        corpus = work / "small"
        make_small(corpus, args.files)
        checkouts = {"this checkout": ROOT}
        if args.against:
            earlier = work / "earlier"
            earlier.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.against], cwd=ROOT, capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(earlier)], input=archive.stdout, check=True)
            checkouts[args.against] = earlier
        best = {label: dict.fromkeys(PARTS, math.inf) for label in checkouts}
        for _ in range(args.rounds):
            for label, checkout in checkouts.items():
                for part, seconds in measure(checkout, corpus).items():
                    best[label][part] = min(best[label][part], seconds)
    end = os.getloadavg()
    print(
        f"{args.files} small files, CPU of one thread per file (best of {args.rounds} rounds), "
        f"load average {load[0]:.2f} at start, {end[0]:.2f} at end"
    )
    heading = "".join(f"{part:>10}" for part in PARTS)
    print(f"{'':16}{heading}   engine over bare   with workers over one")
    for label, parts in best.items():
        alone = parts["walk"] + parts["engine"] + parts["json"]
        print(
            f"{label:16}"
            + "".join(f"{parts[part] / args.files * 1e6:8.1f}us" for part in PARTS)
            + f"   {parts['engine'] / parts['bare']:16.2f}x"
            + f"   {(parts['parent'] + parts['workers']) / alone:20.2f}x"
        )
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="bucketguard-per-file-", dir="/tmp") as temp:
            corpus = Path(temp) / "small"
            make_small(corpus, args.files)
            measure(ROOT, corpus, profile=True)


if __name__ == "__main__":
    main()
