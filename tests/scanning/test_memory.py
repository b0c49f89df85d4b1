"""Peak memory while scanning a 2 GiB file stays under 300 MiB (measured in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT_MIB = 300

MEASURE = """
import json, resource, sys
from pathlib import Path
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.ruleset import load_ruleset
engine = Engine(load_ruleset(), engine=sys.argv[2])
result = engine.scan_file(Path(sys.argv[1]), name="big.bin")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
# After fork+exec, ru_maxrss also counts the parent's (pytest's) pages: VmHWM is this process's own peak.
with open("/proc/self/status") as status:
    peak = min(peak, next(int(l.split()[1]) // 1024 for l in status if l.startswith("VmHWM")))
print(json.dumps({"peak_mib": peak, "verdict": result.verdict.value, "size": result.size,
                  "sha256": result.sha256, "detail": result.detail}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["yara", "yara-x"])
def test_peak_rss_scanning_a_2_gib_file(tmp_path: Path, backend: str) -> None:
    big = tmp_path / "big.bin"
    size = 2 << 30
    with big.open("wb") as stream:  # sparse apart from a marker at each end: no 2 GiB of disk needed
        stream.write(b"camp material start\n")
        stream.seek(size - 20)
        stream.write(b"camp material end \n\n")
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, str(big), backend],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    measured = json.loads(completed.stdout)
    assert measured["verdict"] == "clean", measured
    assert measured["size"] == size
    assert measured["sha256"] is not None
    assert measured["peak_mib"] < LIMIT_MIB, measured
