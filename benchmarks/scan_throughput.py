"""Scan throughput and memory: the engine against the raw backend (and ClamAV's clamscan when available).

Prints figures and writes benchmarks/results/scan_throughput.json. Not a test: run it by hand.

    .venv/bin/python benchmarks/scan_throughput.py [--large-mib 1024] [--small-files 10000]

- large file: one file of --large-mib MiB; raw = the backend matching the file (Matcher.match_file, one
  mmap of the whole file); engine = Engine.scan_file (windows, sha256 in the same pass, hash list,
  container detection). ratio = raw time / engine time (1.0 = no overhead).
- small files: --small-files files of ~2 KiB each, same comparison per file.
- clamscan: the same corpora with an equivalent signature (EICAR as an .ndb body signature); installs the
  Debian package clamav when it is missing and apt-get is usable, else skipped.
- peak RSS scanning a 2 GiB (sparse) file, in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bucketguard.demo import pranks  # noqa: E402
from bucketguard.scanning.engine import Engine  # noqa: E402
from bucketguard.scanning.ruleset import load_ruleset  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def timed(function, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def best_of(runs: int, function, *args) -> float:  # type: ignore[no-untyped-def]
    return min(timed(function, *args) for _ in range(runs))


def make_large(path: Path, mib: int) -> None:
    # Web-asset-like bytes (text with some binary), EICAR-free so every rule runs to the end.
    chunk = (pranks.clean_js() * 400 + os.urandom(1 << 19))[: 1 << 20]
    with path.open("wb") as stream:
        for _ in range(mib):
            stream.write(chunk)


def make_small(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    seed = pranks.clean_js() * 8
    for index in range(count):
        path = directory / f"f{index:05d}.js"
        path.write_bytes(seed[: 1500 + index % 1000] + str(index).encode())
        paths.append(path)
    return paths


def ensure_clamscan() -> bool:
    """Install Debian's clamav when it is missing and we may (root with apt-get); False when impossible."""
    if shutil.which("clamscan"):
        return True
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "clamav"], capture_output=True, check=False, env=env)
    return shutil.which("clamscan") is not None


def clamscan_seconds(target: Path, signatures: Path) -> float | None:
    if not ensure_clamscan():
        return None
    started = time.perf_counter()
    completed = subprocess.run(
        # Raise clamscan's size limits (100 MB by default: larger files would be skipped unscanned).
        [
            "clamscan",
            "--no-summary",
            "--infected",
            "-r",
            "--max-filesize=4000M",
            "--max-scansize=4000M",
            "-d",
            str(signatures),
            str(target),
        ],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    return elapsed if completed.returncode in (0, 1) else None


def peak_rss_mib(size: int, backend: str, work: Path) -> int:
    big = work / "sparse.bin"
    with big.open("wb") as stream:
        stream.truncate(size)
    code = (
        "import resource,sys;from pathlib import Path;"
        "from bucketguard.scanning.engine import Engine;"
        "from bucketguard.scanning.ruleset import load_ruleset;"
        "Engine(load_ruleset(),engine=sys.argv[2]).scan_file(Path(sys.argv[1]));"
        # VmHWM: this process's own peak (ru_maxrss after fork+exec also counts the parent's pages).
        "print(next(int(l.split()[1])//1024 for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(big), backend], capture_output=True, text=True,
                         cwd=ROOT, check=True)  # fmt: skip
    big.unlink()
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()
    ruleset = load_ruleset()
    figures: dict[str, object] = {"large_mib": args.large_mib, "small_files": args.small_files}
    with tempfile.TemporaryDirectory(prefix="bucketguard-bench-") as temp:
        work = Path(temp)
        large = work / "large.js"
        make_large(large, args.large_mib)
        small = make_small(work / "small", args.small_files)
        for backend in ("yara", "yara-x"):
            engine = Engine(ruleset, engine=backend)
            matcher = ruleset.matcher(backend)
            raw = best_of(args.runs, lambda: matcher.match_file(large, name="large.js"))  # noqa: B023
            full = best_of(args.runs, lambda: engine.scan_file(large, name="large.js"))  # noqa: B023
            raw_small = timed(lambda: [matcher.match_file(p, name=p.name) for p in small])  # noqa: B023
            full_small = timed(lambda: [engine.scan_file(p, name=p.name) for p in small])  # noqa: B023
            figures[backend] = {
                "large_raw_s": round(raw, 3),
                "large_engine_s": round(full, 3),
                "large_engine_mib_s": round(args.large_mib / full, 1),
                "large_ratio": round(raw / full, 3),
                "small_raw_s": round(raw_small, 3),
                "small_engine_s": round(full_small, 3),
                "small_engine_files_s": round(len(small) / full_small, 1),
                "small_ratio": round(raw_small / full_small, 3),
            }
            print(
                f"{backend:7} large: raw {raw:.2f}s engine {full:.2f}s ratio {raw / full:.2f} | small: raw "
                f"{raw_small:.2f}s engine {full_small:.2f}s ratio {raw_small / full_small:.2f}"
            )
        signatures = work / "bench.ndb"
        signatures.write_text("Bench_EICAR:0:0:" + pranks.eicar().hex() + "\n")
        clam_large = clamscan_seconds(large, signatures)
        clam_small = clamscan_seconds(work / "small", signatures)
        if clam_large is None or clam_small is None:
            print("clamscan: not available (Debian package clamav not installed): skipped")
            figures["clamscan"] = None
        else:
            engine = Engine(ruleset)
            ours_large = best_of(1, lambda: engine.scan_file(large, name="large.js"))
            ours_small = timed(lambda: [engine.scan_file(p, name=p.name) for p in small])
            figures["clamscan"] = {
                "large_s": round(clam_large, 3),
                "small_s": round(clam_small, 3),
                "engine_vs_clamscan_large": round(clam_large / ours_large, 3),
                "engine_vs_clamscan_small": round(clam_small / ours_small, 3),
            }
            print(f"clamscan large {clam_large:.2f}s (engine {ours_large:.2f}s), "
                  f"small {clam_small:.2f}s (engine {ours_small:.2f}s); >1 = engine faster")  # fmt: skip
        if not args.skip_rss:
            for backend in ("yara", "yara-x"):
                peak = peak_rss_mib(2 << 30, backend, work)
                figures[f"peak_rss_2gib_{backend}_mib"] = peak
                print(f"peak RSS scanning a 2 GiB file with {backend}: {peak} MiB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scan_throughput.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written {RESULTS / 'scan_throughput.json'}")


if __name__ == "__main__":
    main()
