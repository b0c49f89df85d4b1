"""ClamAV's test files: how many of the 44 (one harmless test PE inside containers, encodings and packers)
bucketguard detects, reports unscannable, or reports clean. Not a test: run it by hand.

    .venv/bin/python benchmarks/clamav_testfiles.py [DIR]

DIR defaults to /usr/share/clamav-testfiles (Debian package clamav-testfiles; installed when missing and
apt-get is usable). The only rule is benchmarks/rules/clamav_test_pe.yar, as ClamAV uses one signature.
Goal (issue 11): 0 clean, at least 32 detected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bucketguard.scanning.engine import Engine  # noqa: E402
from bucketguard.scanning.ruleset import load_ruleset  # noqa: E402

TESTFILES = Path("/usr/share/clamav-testfiles")
TEST_PE_RULES = ROOT / "benchmarks" / "rules"


def scan_testfiles(directory: Path) -> dict[str, str]:
    """{file name: verdict} for every file of the directory, scanned with the test-PE rule only."""
    engine = Engine(load_ruleset([TEST_PE_RULES], include_bundled=False))
    return {path.name: engine.scan_file(path).verdict.value for path in sorted(directory.iterdir())}


def report(verdicts: dict[str, str]) -> list[str]:
    """The counts, then the files of each verdict but detected."""
    counts = Counter(verdicts.values())
    lines = [
        f"{len(verdicts)} files: {counts['malicious']} detected, {counts['unscannable']} unscannable, "
        f"{counts['error']} error, {counts['clean']} clean"
    ]
    for verdict in ("clean", "unscannable", "error"):
        names = [name for name, got in verdicts.items() if got == verdict]
        if names:
            lines.append(f"{verdict}: {' '.join(names)}")
    return lines


def throughput(files: int, size: int, seconds: float) -> str:
    """The rate of a scan, with the machine's load while it ran (other work shares the cores)."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{files} files, {size / 1e6:.1f} MB in {seconds:.2f} s: {files / seconds:.0f} files/s, "
        f"{size / 1e6 / seconds:.1f} MB/s (load average {load} on {os.cpu_count()} cores)"
    )


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else TESTFILES
    if not directory.is_dir() and directory == TESTFILES and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "clamav-testfiles"], check=False)
    if not directory.is_dir():
        print(f"{directory}: not found (Debian package clamav-testfiles)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    verdicts = scan_testfiles(directory)
    elapsed = time.perf_counter() - started
    counts, *lists = report(verdicts)
    print(counts)
    print(throughput(len(verdicts), sum(path.stat().st_size for path in directory.iterdir()), elapsed))
    print("\n".join(lists))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
