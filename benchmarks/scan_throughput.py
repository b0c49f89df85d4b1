"""Scan throughput, start-up and memory: bucketguard against the bare backend, the yara CLI and clamscan.

Prints figures and ratios measured in the same run and writes benchmarks/results/scan_throughput.json.
Not a test: run it by hand (files go to /tmp and are deleted afterwards).

    .venv/bin/python benchmarks/scan_throughput.py [--large-mib 1024] [--small-files 10000]
    .venv/bin/python benchmarks/scan_throughput.py --startup-only [--tree DIR]... [--runs 9]

--startup-only measures the start-up parts alone (the one-file process, its CPU by phase, the start-up, the
scanner's cold start); --tree names other source trees (a `git worktree add` of another commit) whose
one-file process is measured in the same run, taking turns with this one (the load drifts between them).

Every Python process runs with bytecode (written under the run's temporary directory by its first run), as an
installed bucketguard and the Lambda artifact do. On one file of --large-mib MiB of random bytes and on
--small-files files of 1.5-2.5 KiB (JavaScript-like text), with the bundled rules:
- full scan: `python -m bucketguard scan --format json TARGET` as a new process (start-up, imports, rules
  loaded, scan, output), wall time and CPU time (all its threads and its match workers), and the same
  scan pinned to one CPU (no match worker: the path before bucketguard.scanning.workers);
- bare yara-x: yara_x.Scanner(rules).scan_file over the same bytes and rules in this process (rules
  compiled beforehand, no hash, no result): the backend's own speed. ratio = bare / full (goal >= 0.9 on
  the large file, >= 0.8 on the small files);
- what bounds the ratio, measured beside it: sha256 of the large file alone, the CPU time of the engine's
  main thread (Engine.scan_file in this process: the match plus whatever the helper threads did not take
  off it) against the bare match's, and the start-up a new process pays before its first file (its CPU
  time by phase: interpreter, imports, the command, the exit);
- the yara CLI (Debian package yara) with the same rule files, when installed;
- clamscan (Debian package clamav) with an equivalent signature (EICAR as a body signature) and its size
  limits raised so it reads the whole file; ratio = clamscan / full (goal >= 6);
- where the time goes inside one scan (cProfile of Engine.scan_file, main thread, grouped);
- start-up: interpreter, imports (with the scan command's parser), rules compiled, rules loaded from the
  compiled-rules cache;
- the scanner Lambda's cold start (the handler module functions/scanner/app.py and boto3 imported, then the
  ruleset artifact loaded into an engine: its compiled rules deserialised after their checksum is
  checked) with the bundled rules and with a generated 5,000-rule ruleset (goals < 0.5 s and < 1.5 s),
  beside a bare yara-x deserialisation of the same compiled rules (the floor);
- memory of `bucketguard scan` on a 2 GiB file (goal < 300 MiB), over all its processes: the peak of their
  summed PSS (a page shared by several counted once, in shares) and each one's own peak RSS (shared pages
  counted in each), sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yara_x  # noqa: E402

from benchmarks.ruleset_load import generated_rules  # noqa: E402
from bucketguard.demo import pranks  # noqa: E402
from bucketguard.scanning.engine import Engine  # noqa: E402
from bucketguard.scanning.ruleset import BUNDLED_RULES_DIR, load_ruleset, write_artifact  # noqa: E402
from bucketguard.scanning.workers import usable_cpus  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
EXTERNALS = ("filename", "filepath", "extension", "filetype", "owner")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def thread_cpu(action: Callable[[], object]) -> float:
    """CPU seconds of this thread alone: what a busy machine's other processes do not inflate much."""
    started = time.thread_time()
    action()
    return time.thread_time() - started


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_seconds(command: list[str], ok: tuple[int, ...] = (0, 1)) -> tuple[float, float]:
    """Wall and CPU time (all threads) of a command; an exit status outside `ok` is an error."""
    cpu, started = children_cpu(), time.perf_counter()
    completed = subprocess.run(command, capture_output=True, check=False, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if completed.returncode not in ok:
        raise SystemExit(f"{command[0]} failed ({completed.returncode}): {completed.stderr.decode()[-400:]}")
    return elapsed, children_cpu() - cpu


def make_large(path: Path, mib: int) -> None:
    with path.open("wb") as stream:
        for _ in range(mib):
            stream.write(os.urandom(1 << 20))


def make_small(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    seed = pranks.clean_js() * 8
    for index in range(count):
        (directory / f"f{index:05d}.js").write_bytes(seed[: 1500 + index % 1000] + str(index).encode())


def bucketguard_scan(target: Path, *, one_cpu: bool = False) -> tuple[float, float]:
    pinned = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] if one_cpu else []
    return run_seconds([*pinned, PYTHON, "-m", "bucketguard", "scan", "--format", "json", str(target)])


def files_of(target: Path) -> list[Path]:
    return sorted(target.iterdir()) if target.is_dir() else [target]


def bare_yara_x(rules: object, target: Path) -> tuple[float, float]:
    """Wall and CPU time of the bare match (one thread)."""
    scanner = yara_x.Scanner(rules)
    files = files_of(target)
    cpu, started = time.thread_time(), time.perf_counter()
    for path in files:
        scanner.scan_file(str(path))
    return time.perf_counter() - started, time.thread_time() - cpu


def sha256_alone(path: Path) -> float:
    """sha256 of a file read in 1 MiB chunks (hashlib, OpenSSL): a floor for any scan that hashes every byte
    on one core."""
    with path.open("rb") as stream:
        return timed(lambda: hashlib.file_digest(stream, "sha256"))


def yara_cli(target: Path) -> tuple[float, float] | None:
    if shutil.which("yara") is None:
        return None
    defines = [part for name in EXTERNALS for part in ("-d", f"{name}=")]
    rules = [str(p) for p in sorted(BUNDLED_RULES_DIR.glob("*.yar"))]
    return run_seconds(["yara", "-w", "-r", *defines, *rules, str(target)], ok=(0,))


def clamscan(target: Path, signatures: Path) -> tuple[float, float] | None:
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
    ("waiting for the helper threads", ("acquire", "wait", "result")),
    ("window copy (bytes.join)", ("join",)),
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
started, started_cpu = time.perf_counter(), time.process_time()
import functions.scanner.app  # the deployed handler module: Powertools' logger and batch, the pipeline
import boto3  # ScannerFunction.from_environment makes its clients from it
from bucketguard.pipeline.scanner import engine_for
from bucketguard.pipeline.settings import ScannerSettings
imported, imported_cpu = time.perf_counter(), time.process_time()
settings = {"BUCKETGUARD_RULESET_PATH": sys.argv[1], "BUCKETGUARD_ENGINE": sys.argv[2]}
engine_for(ScannerSettings.resolve(settings))
print(imported - started, time.perf_counter() - imported, imported_cpu - started_cpu,
      time.process_time() - imported_cpu)
"""

STARTUP = """
import sys, time
from pathlib import Path
started, started_cpu = time.perf_counter(), time.process_time()
import bucketguard.cli
bucketguard.cli._parser(["scan"])  # the command's module and its options, as `bucketguard scan` builds them
from bucketguard.scanning.ruleset import load_ruleset
imported, imported_cpu = time.perf_counter(), time.process_time()
load_ruleset(cache_dir=Path(sys.argv[1])).matcher()
print(imported - started, time.perf_counter() - imported, imported_cpu - started_cpu,
      time.process_time() - imported_cpu)
"""


ONE_FILE = """
import sys, time
started = time.process_time()
import bucketguard.cli
bucketguard.cli._parser(["scan"])
imported = time.process_time()
sys.argv = ["bucketguard", "scan", "--format", "json", sys.argv[1]]
code = bucketguard.cli.main()
sys.stdout.flush()
print(started, imported, time.process_time(), file=sys.stderr)
sys.exit(code)
"""


def one_file_phases(
    target: Path, trees: Sequence[Path] = (ROOT,), runs: int = 5
) -> dict[Path, dict[str, float]]:
    """CPU seconds of a new process scanning one file, by phase: the interpreter's start, the imports (the
    scan command's parser with them), the command (rules loaded, the file scanned, the output written)
    and the exit after it (atexit, the interpreter's finalisation, the kernel's teardown): each the least
    of `runs` runs, and the median total (steadier than the least on a loaded machine), per source tree
    (`python -c` imports bucketguard from its working directory), the trees taking turns."""
    measured: dict[Path, list[dict[str, float]]] = {tree: [] for tree in trees}
    for _ in range(runs):
        for tree in trees:
            cpu = children_cpu()
            completed = subprocess.run(
                [PYTHON, "-c", ONE_FILE, str(target)], capture_output=True, text=True, cwd=tree, check=False
            )
            total = children_cpu() - cpu
            if completed.returncode not in (0, 1):
                raise SystemExit(f"one-file scan failed ({completed.returncode}): {completed.stderr[-400:]}")
            started, imported, ended = map(float, completed.stderr.split()[-3:])
            measured[tree].append(
                {
                    "interpreter_s": started,
                    "imports_s": imported - started,
                    "command_s": ended - imported,
                    "exit_s": total - ended,
                    "total_s": total,
                }
            )
    return {
        tree: {name: round(min(run[name] for run in rows), 3) for name in rows[0]}
        | {"total_median_s": round(statistics.median(run["total_s"] for run in rows), 3)}
        for tree, rows in measured.items()
    }


def _phases_line(phases: dict[str, float]) -> str:
    return ", ".join(
        f"{name.removesuffix('_s').replace('_', ' ')} {value:.3f} s" for name, value in phases.items()
    )


def workers_for() -> int:
    """How many match workers a scan forks here (as Engine.start_workers counts them)."""
    cpus = usable_cpus()
    return cpus if cpus > 1 else 0


DESERIALIZE = """
import io, json, sys, time, zipfile
import yara_x
with zipfile.ZipFile(sys.argv[1]) as archive:
    blob = archive.read(json.loads(archive.read("manifest.json"))["compiled"]["yara-x"]["member"])
started, started_cpu = time.perf_counter(), time.process_time()
yara_x.Rules.deserialize_from(io.BytesIO(blob))
print(time.perf_counter() - started, time.process_time() - started_cpu)
"""


def python_figures(code: str, *args: str) -> list[float]:
    out = subprocess.run([PYTHON, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, check=True)
    return [float(x) for x in out.stdout.split()]


def with_bytecode(work: Path) -> None:
    """Every Python child from here on runs with bytecode, as an installed bucketguard does (pip compiles
    it) and as the Lambda artifact ships it, written under `work` by each script's first run, whatever
    PYTHONDONTWRITEBYTECODE the caller has."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")


def _status_mib(pid: int, field: str) -> int:
    """A /proc/<pid>/status or smaps_rollup figure in MiB (0 once the process is gone)."""
    name = "smaps_rollup" if field == "Pss:" else "status"
    try:
        text = Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) >> 10 for line in text.splitlines() if line.startswith(field)), 0)


def scan_memory(work: Path, size: int) -> dict[str, object]:
    """`bucketguard scan` of a sparse file of `size` bytes: the peak of its processes' summed PSS and each
    one's own peak RSS (VmHWM), sampled every 20 ms until it exits."""
    big = work / "sparse.bin"
    with big.open("wb") as stream:
        stream.truncate(size)
    command = [PYTHON, "-m", "bucketguard", "scan", "--format", "json", str(big)]
    scan = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=ROOT)
    peak_pss, own_peaks = 0, {scan.pid: 0}
    while scan.poll() is None:
        try:
            workers = Path(f"/proc/{scan.pid}/task/{scan.pid}/children").read_text().split()
        except OSError:
            workers = []
        for pid in map(int, workers):
            own_peaks.setdefault(pid, 0)
        peak_pss = max(peak_pss, sum(_status_mib(pid, "Pss:") for pid in own_peaks))
        for pid in own_peaks:
            own_peaks[pid] = max(own_peaks[pid], _status_mib(pid, "VmHWM:"))
        time.sleep(0.02)
    big.unlink()
    parent, *workers_peaks = own_peaks.values()
    return {"peak_pss_sum_mib": peak_pss, "peak_rss_scan_mib": parent, "peak_rss_workers_mib": workers_peaks}


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
            imports, load, *_cpu = min(runs, key=lambda run: run[0] + run[1])
            figures[f"{label}_{engine}_imports_s"] = round(imports, 3)
            figures[f"{label}_{engine}_ruleset_s"] = round(load, 3)
            figures[f"{label}_{engine}_s"] = round(imports + load, 3)
            figures[f"{label}_{engine}_cpu_s"] = round(min(run[2] + run[3] for run in runs), 3)
        # The floor under the ruleset's part: yara-x deserialising the same compiled rules, nothing else.
        floor = min((python_figures(DESERIALIZE, str(artifact)) for _ in range(3)), key=lambda run: run[0])
        figures[f"{label}_yara_x_deserialize_s"] = round(floor[0], 3)
        figures[f"{label}_yara_x_deserialize_cpu_s"] = round(floor[1], 3)
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
    parser.add_argument("--startup-only", action="store_true", help="only the start-up and cold-start parts")
    parser.add_argument(
        "--tree", action="append", type=Path, default=[], help="another source tree to compare"
    )
    parser.add_argument("--runs", type=int, default=5, help="one-file processes per tree (the least counts)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    print(f"bucketguard scan forks {workers_for()} match workers here (one per usable CPU; none with one)")
    figures: dict[str, object] = {
        "large_mib": args.large_mib,
        "small_files": args.small_files,
        "load_at_start": [round(x, 2) for x in load],
        "match_workers": workers_for(),
    }
    ruleset = load_ruleset()
    rules = ruleset.compiled("yara-x")
    with tempfile.TemporaryDirectory(prefix="bucketguard-bench-", dir="/tmp") as temp:
        work = Path(temp)
        with_bytecode(work)
        large, small = work / "large.bin", work / "small"
        if not args.startup_only:
            make_large(large, args.large_mib)
        make_small(small, 1 if args.startup_only else args.small_files)
        signatures = work / "bench.ndb"
        signatures.write_text("Bench_EICAR:0:*:" + pranks.eicar().hex() + "\n")
        bucketguard_scan(small / "f00000.js")  # warm: the bytecode, the compiled-rules cache, the page cache
        # What a new process pays before its first file (interpreter, imports, rules, output): with a
        # scan at the bare match's speed, the ratio can be at most bare / (this + bare).
        one_file = min(bucketguard_scan(small / "f00000.js")[0] for _ in range(3))
        figures["one_file_process_s"] = round(one_file, 3)
        print(f"bucketguard scan of one small file as a new process: {one_file:.3f} s")
        trees = [ROOT, *(tree.resolve() for tree in args.tree)]
        by_tree = one_file_phases(small / "f00000.js", trees, args.runs)
        figures["one_file_process_cpu"] = by_tree[ROOT]
        print(f"its CPU time (min of {args.runs}): {_phases_line(by_tree[ROOT])}")
        figures["one_file_process_cpu_other_trees"] = {str(tree): by_tree[tree] for tree in trees[1:]}
        for tree in trees[1:]:
            ratio = by_tree[tree]["total_median_s"] / by_tree[ROOT]["total_median_s"]
            print(f"  {tree}, same run: {_phases_line(by_tree[tree])} (median total {ratio:.2f}x this one's)")
        engine = Engine(ruleset)
        for label, target in () if args.startup_only else (("large", large), ("small", small)):
            full, full_cpu = bucketguard_scan(target)
            one_cpu, one_cpu_cpu = bucketguard_scan(target, one_cpu=True)
            bare, bare_cpu = bare_yara_x(rules, target)
            files = files_of(target)
            engine_main_cpu = thread_cpu(lambda files=files: [engine.scan_file(path) for path in files])
            ceiling = bare / (one_file + bare)
            row: dict[str, float | None] = {
                "full_scan_s": round(full, 3),
                "full_scan_cpu_s": round(full_cpu, 3),
                "one_cpu_scan_s": round(one_cpu, 3),
                "one_cpu_scan_cpu_s": round(one_cpu_cpu, 3),
                "one_cpu_over_full": round(one_cpu / full, 3),
                "bare_yara_x_s": round(bare, 3),
                "bare_yara_x_cpu_s": round(bare_cpu, 3),
                "bare_over_full": round(bare / full, 3),
                "engine_main_thread_cpu_s": round(engine_main_cpu, 3),
                "bare_cpu_over_engine_main_thread_cpu": round(bare_cpu / engine_main_cpu, 3),
                "ceiling_bare_over_start_plus_bare": round(ceiling, 3),
            }
            line = (
                f"{label:5}: bucketguard scan {full:6.2f} s ({full_cpu:.2f} s CPU) | bare yara-x "
                f"{bare:6.2f} s ({bare_cpu:.2f} s CPU): {bare / full:.2f}x | on one CPU {one_cpu:.2f} s "
                f"({one_cpu_cpu:.2f} s CPU): workers {one_cpu / full:.2f}x faster | {ceiling:.2f}x if one "
                f"core matched at the bare speed after its start-up | CPU of the engine's main thread "
                f"(no workers) {engine_main_cpu:.2f} s: bare {bare_cpu / engine_main_cpu:.2f}x"
            )
            if label == "large":
                hashed = sha256_alone(target)
                row |= {"sha256_alone_s": round(hashed, 3), "bare_over_sha256": round(bare / hashed, 3)}
                line += f" | sha256 alone {hashed:.2f} s"
            for tool, timed_run in (
                ("yara_cli", None if "yara" in args.skip else yara_cli(target)),
                ("clamscan", None if "clamscan" in args.skip else clamscan(target, signatures)),
            ):
                if timed_run is None:
                    continue
                wall, cpu = timed_run
                row |= {
                    f"{tool}_s": round(wall, 3),
                    f"{tool}_cpu_s": round(cpu, 3),
                    f"{tool}_over_full": round(wall / full, 3),
                    f"{tool}_cpu_over_full_cpu": round(cpu / full_cpu, 3),
                }
                ratios = f"{wall / full:.2f}x, CPU {cpu / full_cpu:.2f}x"
                line += f" | {tool} {wall:.2f} s, {cpu:.2f} s CPU ({ratios})"
            if "clamscan" not in args.skip and shutil.which("clamscan") is None:
                line += " | clamscan: not installed (Debian package clamav), skipped"
            figures[label] = row
            print(line)
        paths = sorted(small.iterdir())
        if not args.startup_only:
            figures["profile_large"] = profile(lambda: engine.scan_file(large))
            figures["profile_small"] = profile(lambda: [engine.scan_file(p) for p in paths])
        for label in () if args.startup_only else ("large", "small"):
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
        compiling = python_figures(STARTUP, str(cache))  # the first run compiles the rules into the cache
        cached_runs = [python_figures(STARTUP, str(cache)) for _ in range(3)]
        imports, imports_cpu = (min(run[i] for run in [compiling, *cached_runs]) for i in (0, 2))
        cached, cached_cpu = (min(run[i] for run in cached_runs) for i in (1, 3))
        figures["startup"] = {
            "interpreter_s": round(interpreter, 3),
            "imports_s": round(imports, 3),
            "imports_cpu_s": round(imports_cpu, 3),
            "rules_compiled_s": round(compiling[1], 3),
            "rules_from_cache_s": round(cached, 3),
            "rules_from_cache_cpu_s": round(cached_cpu, 3),
        }
        print(
            f"start-up: interpreter {interpreter:.3f} s, imports {imports:.3f} s ({imports_cpu:.3f} s CPU), "
            f"bundled rules compiled {compiling[1]:.3f} s, loaded from the compiled-rules cache "
            f"{cached:.3f} s ({cached_cpu:.3f} s CPU)"
        )
        if "cold" not in args.skip:
            cold = cold_starts(work, args.generated_rules)
            figures["cold_start"] = cold
            print(
                "scanner cold start (imports + ruleset artifact): "
                + ", ".join(f"{k} {v:.3f} s" for k, v in cold.items())
            )
        if "rss" not in args.skip and not args.startup_only:
            large.unlink()
            memory = scan_memory(work, args.rss_gib << 30)
            figures["memory"] = memory
            print(
                f"memory of bucketguard scan on a {args.rss_gib} GiB file: peak of its processes' summed PSS "
                f"{memory['peak_pss_sum_mib']} MiB; own peak RSS (shared pages counted in each): scan "
                f"{memory['peak_rss_scan_mib']} MiB, workers {memory['peak_rss_workers_mib']} MiB"
            )
    load = os.getloadavg()
    figures["load_at_end"] = [round(x, 2) for x in load]
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scan_throughput.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written {RESULTS / 'scan_throughput.json'}")


if __name__ == "__main__":
    main()
