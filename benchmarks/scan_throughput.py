"""Scan throughput, start-up and memory: bucketguard against the bare backend, the yara CLI and clamscan.

Prints figures and ratios measured in the same run and writes benchmarks/results/scan_throughput.json.
Not a test: run it by hand (files go to /tmp and are deleted afterwards).

    .venv/bin/python benchmarks/scan_throughput.py [--large-mib 1024] [--small-files 10000]

On one file of --large-mib MiB of random bytes and on --small-files files of 1.5-2.5 KiB (JavaScript-like
text), with the bundled rules:
- full scan: `python -m bucketguard scan --format json TARGET` as a new process (start-up, imports, rules
  loaded, scan, output);
- bare yara-x: yara_x.Scanner(rules).scan_file over the same bytes and rules in this process (rules
  compiled beforehand, no hash, no result): the backend's own speed. ratio = bare / full (goal >= 0.9 on
  the large file, >= 0.8 on the small files);
- the yara CLI (Debian package yara) with the same rule files, when installed;
- clamscan (Debian package clamav) with an equivalent signature (EICAR as a body signature) and its size
  limits raised so it reads the whole file; ratio = clamscan / full (goal >= 6);
- where the time goes inside one scan (cProfile of Engine.scan_file, main thread, grouped);
- start-up: interpreter, imports, rules compiled, rules loaded from the compiled-rules cache;
- the scanner Lambda's cold start (imports + ruleset artifact loaded) with the bundled rules and with a
  generated 5,000-rule ruleset (goals < 0.5 s and < 1.5 s);
- peak RSS of `bucketguard scan` on a 2 GiB file (goal < 300 MiB).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yara_x  # noqa: E402

from benchmarks.ruleset_load import generated_rules  # noqa: E402
from bucketguard.demo import pranks  # noqa: E402
from bucketguard.scanning.engine import Engine  # noqa: E402
from bucketguard.scanning.ruleset import BUNDLED_RULES_DIR, load_ruleset, write_artifact  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
EXTERNALS = ("filename", "filepath", "extension", "filetype", "owner")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_seconds(command: list[str], ok: tuple[int, ...] = (0, 1)) -> float:
    """Wall time of a command; an exit status outside `ok` is an error in the benchmark."""
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, check=False, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if completed.returncode not in ok:
        raise SystemExit(f"{command[0]} failed ({completed.returncode}): {completed.stderr.decode()[-400:]}")
    return elapsed


def make_large(path: Path, mib: int) -> None:
    with path.open("wb") as stream:
        for _ in range(mib):
            stream.write(os.urandom(1 << 20))


def make_small(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    seed = pranks.clean_js() * 8
    for index in range(count):
        (directory / f"f{index:05d}.js").write_bytes(seed[: 1500 + index % 1000] + str(index).encode())


def bucketguard_scan(target: Path) -> float:
    return run_seconds([PYTHON, "-m", "bucketguard", "scan", "--format", "json", str(target)])


def bare_yara_x(rules: object, target: Path) -> float:
    scanner = yara_x.Scanner(rules)
    files = sorted(target.iterdir()) if target.is_dir() else [target]
    return timed(lambda: [scanner.scan_file(str(path)) for path in files])


def yara_cli(target: Path) -> float | None:
    if shutil.which("yara") is None:
        return None
    defines = [part for name in EXTERNALS for part in ("-d", f"{name}=")]
    rules = [str(p) for p in sorted(BUNDLED_RULES_DIR.glob("*.yar"))]
    return run_seconds(["yara", "-w", "-r", *defines, *rules, str(target)], ok=(0,))


def clamscan(target: Path, signatures: Path) -> float | None:
    if shutil.which("clamscan") is None:
        return None
    return run_seconds(
        # clamscan skips files past 100 MB unscanned by default: every limit raised to its maximum.
        [
            "clamscan",
            "--no-summary",
            "--infected",
            "-r",
            "--max-filesize=4000M",
            "--max-scansize=4000M",
            "--max-files=100000",
            "-d",
            str(signatures),
            str(target),
        ]
    )


CATEGORIES = (
    ("match (backend)", ("scan_file", "scan", "match", "set_global")),
    ("hash (sha256)", ("openssl_sha256", "update", "hexdigest")),
    ("waiting for the hash thread", ("acquire", "wait", "result")),
    (
        "read (windows, small files)",
        ("_read_exactly", "preadv", "pread", "read", "_read_up_to", "open", "fstat"),
    ),
    ("container sniffing", ("sniff", "detect", "ends_with_zip", "is_disk_image", "head", "tail", "read_at")),
    (
        "result building",
        (
            "_verdict",
            "replace",
            "_from_yara_x",
            "_from_yara",
            "normalise_meta",
            "__init__",
            "externals_for",
            "_add_matches",
            "_check_hash",
            "_stamped",
        ),
    ),
)


def profile(action: Callable[[], object]) -> dict[str, object]:
    """Where a scan's time goes (main thread, own time of each function, grouped by what it does)."""
    profiler = cProfile.Profile()
    profiler.runcall(action)
    stats = pstats.Stats(profiler)
    groups = dict.fromkeys([name for name, _ in CATEGORIES] + ["other (engine code)"], 0.0)
    total = 0.0
    for (_file, _line, function), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total += own
        group = next((name for name, functions in CATEGORIES if _bare_name(function) in functions), None)
        groups[group or "other (engine code)"] += own
    top = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:5]  # type: ignore[attr-defined]
    shares: dict[str, object] = {name: round(seconds / total, 3) for name, seconds in groups.items()}
    return shares | {
        "total_s": round(total, 3),
        "top": [f"{_bare_name(f[2])} {v[2] / total:.0%}" for f, v in top],
    }


def _bare_name(function: str) -> str:
    """'scan' from "<method 'scan' of 'yara_x.Scanner' objects>", 'preadv' from "<built-in method
    posix.preadv>", the name itself for Python functions."""
    if function.startswith("<method '"):
        return function.split("'")[1]
    if function.startswith("<built-in method "):
        return function.removeprefix("<built-in method ").rstrip(">").split(".")[-1]
    return function


COLD_START = """
import sys, time
started = time.perf_counter()
from bucketguard.pipeline.lambda_functions import ScannerFunction
from bucketguard.pipeline.scanner import engine_for
from bucketguard.pipeline.settings import ScannerSettings
import boto3
imported = time.perf_counter()
settings = {"BUCKETGUARD_RULESET_PATH": sys.argv[1], "BUCKETGUARD_ENGINE": sys.argv[2]}
engine_for(ScannerSettings.resolve(settings))
print(imported - started, time.perf_counter() - imported)
"""

STARTUP = """
import sys, time
from pathlib import Path
started = time.perf_counter()
import bucketguard.cli, bucketguard.cli.scan
from bucketguard.scanning.ruleset import load_ruleset
imported = time.perf_counter()
load_ruleset(cache_dir=Path(sys.argv[1])).matcher()
print(imported - started, time.perf_counter() - imported)
"""

PEAK_RSS = """
import runpy, sys
sys.argv = ["bucketguard", "scan", "--format", "json", sys.argv[1]]
try:
    runpy.run_module("bucketguard", run_name="__main__")
except SystemExit:
    pass
with open("/proc/self/status") as status:  # this process's own peak (not the parent's, as ru_maxrss)
    print(next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM")), file=sys.stderr)
"""


def python_figures(code: str, *args: str) -> list[float]:
    out = subprocess.run([PYTHON, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, check=True)
    return [float(x) for x in out.stdout.split()]


def peak_rss_mib(work: Path, size: int) -> int:
    big = work / "sparse.bin"
    with big.open("wb") as stream:
        stream.truncate(size)
    completed = subprocess.run(
        [PYTHON, "-c", PEAK_RSS, str(big)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    big.unlink()
    return int(completed.stderr.strip().splitlines()[-1])


def cold_starts(work: Path, rules: int) -> dict[str, float]:
    bundled = work / "bundled.zip"
    write_artifact(load_ruleset(cache_dir=work / "unused-cache"), bundled)
    from bucketguard.scanning.feeds import FeedContent, FeedSource, FeedState
    from bucketguard.scanning.update import FeedInput, merge

    feed = FeedInput(
        FeedSource("generated", "https://feeds.example/generated.zip"),
        FeedContent("yara-zip", (("generated.yar", generated_rules(rules)),)),
        FeedState(),
        "fetched",
    )
    large = work / "large-ruleset.zip"
    write_artifact(merge([feed], "yara-x").ruleset, large)
    figures = {}
    for label, artifact in (("bundled", bundled), (f"{rules}_rules", large)):
        for engine in ("auto", "yara"):  # auto = yara-x when every rule compiles under it
            runs = [python_figures(COLD_START, str(artifact), engine) for _ in range(3)]
            imports, load = min(runs, key=sum)
            figures[f"{label}_{engine}_imports_s"] = round(imports, 3)
            figures[f"{label}_{engine}_ruleset_s"] = round(load, 3)
            figures[f"{label}_{engine}_s"] = round(imports + load, 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--rss-gib", type=int, default=2)
    parser.add_argument("--generated-rules", type=int, default=5000)
    parser.add_argument("--skip", action="append", default=[], choices=("clamscan", "yara", "rss", "cold"))
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    figures: dict[str, object] = {
        "large_mib": args.large_mib,
        "small_files": args.small_files,
        "load_at_start": [round(x, 2) for x in load],
    }
    ruleset = load_ruleset()
    rules = ruleset.compiled("yara-x")
    with tempfile.TemporaryDirectory(prefix="bucketguard-bench-", dir="/tmp") as temp:
        work = Path(temp)
        large, small = work / "large.bin", work / "small"
        make_large(large, args.large_mib)
        make_small(small, args.small_files)
        signatures = work / "bench.ndb"
        signatures.write_text("Bench_EICAR:0:*:" + pranks.eicar().hex() + "\n")
        bucketguard_scan(small / "f00000.js")  # warm: the compiled-rules cache and the page cache
        for label, target in (("large", large), ("small", small)):
            full = bucketguard_scan(target)
            bare = bare_yara_x(rules, target)
            row: dict[str, float | None] = {
                "full_scan_s": round(full, 3),
                "bare_yara_x_s": round(bare, 3),
                "bare_over_full": round(bare / full, 3),
            }
            line = (
                f"{label:5}: bucketguard scan {full:6.2f} s | bare yara-x {bare:6.2f} s ({bare / full:.2f}x)"
            )
            cli = None if "yara" in args.skip else yara_cli(target)
            if cli is not None:
                row |= {"yara_cli_s": round(cli, 3), "yara_cli_over_full": round(cli / full, 3)}
                line += f" | yara CLI {cli:6.2f} s ({cli / full:.2f}x)"
            clam = None if "clamscan" in args.skip else clamscan(target, signatures)
            if clam is not None:
                row |= {"clamscan_s": round(clam, 3), "clamscan_over_full": round(clam / full, 3)}
                line += f" | clamscan {clam:6.2f} s ({clam / full:.2f}x)"
            figures[label] = row
            print(line)
        engine = Engine(ruleset)
        paths = sorted(small.iterdir())
        figures["profile_large"] = profile(lambda: engine.scan_file(large))
        figures["profile_small"] = profile(lambda: [engine.scan_file(p) for p in paths])
        for label in ("large", "small"):
            shares = figures[f"profile_{label}"]
            assert isinstance(shares, dict)
            print(
                f"where the time goes ({label}, main thread, {shares['total_s']:.2f} s): "
                + ", ".join(
                    f"{k} {v:.0%}" for k, v in shares.items() if isinstance(v, float) and k != "total_s"
                )
                + f"; top functions: {', '.join(shares['top'])}"  # type: ignore[arg-type]
            )
        interpreter = min(timed(lambda: subprocess.run([PYTHON, "-c", "pass"], check=True)) for _ in range(3))
        cache = work / "cache"
        imports, compile_s = python_figures(STARTUP, str(cache))
        _, cached = min((python_figures(STARTUP, str(cache)) for _ in range(3)), key=lambda pair: pair[1])
        figures["startup"] = {
            "interpreter_s": round(interpreter, 3),
            "imports_s": round(imports, 3),
            "rules_compiled_s": round(compile_s, 3),
            "rules_from_cache_s": round(cached, 3),
        }
        print(
            f"start-up: interpreter {interpreter:.3f} s, imports {imports:.3f} s, bundled rules compiled "
            f"{compile_s:.3f} s, loaded from the compiled-rules cache {cached:.3f} s"
        )
        if "cold" not in args.skip:
            cold = cold_starts(work, args.generated_rules)
            figures["cold_start"] = cold
            print(
                "scanner cold start (imports + ruleset artifact): "
                + ", ".join(f"{k} {v:.3f} s" for k, v in cold.items())
            )
        if "rss" not in args.skip:
            large.unlink()
            peak = peak_rss_mib(work, args.rss_gib << 30)
            figures["peak_rss_mib"] = peak
            print(f"peak RSS of bucketguard scan on a {args.rss_gib} GiB file: {peak} MiB")
    load = os.getloadavg()
    figures["load_at_end"] = [round(x, 2) for x in load]
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scan_throughput.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written {RESULTS / 'scan_throughput.json'}")


if __name__ == "__main__":
    main()
