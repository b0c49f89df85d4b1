"""The scanner Lambda's cold start when the rules bucket holds a published ruleset: the handler module and
boto3 imported, then `ScannerFunction.from_environment()` (the function's init: settings, clients, the
watcher's HEAD and GET against moto's server, the artifact verified and checked on the bundled samples, the
engine built). The existing cold start of scan_throughput.py loads the artifact from a path and never goes
through the watcher.

Prints, per source tree (this checkout by default; give others with --tree to compare in one run, taking
turns), the min of --runs fresh interpreters: wall and CPU time of the imports and of the init (and the median
total CPU, steadier on a loaded machine), and the load average.
Not a test: run it by hand.

    .venv/bin/python benchmarks/cold_start_published.py [--tree DIR]... [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bucketguard.pipeline.rules_bucket import publish_artifact
from bucketguard.sandbox.aws import SCANNER_ACCOUNT, EmbeddedAws
from bucketguard.scanning.ruleset import load_ruleset, write_artifact

ROOT = Path(__file__).resolve().parents[1]

COLD_START = """
import time
started, started_cpu = time.perf_counter(), time.process_time()
import functions.scanner.app  # the deployed handler module
import boto3
from bucketguard.pipeline.lambda_functions import ScannerFunction
imported, imported_cpu = time.perf_counter(), time.process_time()
ScannerFunction.from_environment()
print(imported - started, time.perf_counter() - imported, imported_cpu - started_cpu,
      time.process_time() - imported_cpu)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tree", action="append", type=Path, help="a checkout to measure (default: this one)"
    )
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    trees = args.tree or [ROOT]
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="bucketguard-bench-") as temp, EmbeddedAws() as aws:
        work = Path(temp)
        artifact = work / "ruleset.zip"
        write_artifact(load_ruleset(cache_dir=work / "cache"), artifact)
        account = aws.account(SCANNER_ACCOUNT)
        s3 = account.client("s3")
        s3.create_bucket(Bucket="rules")
        publish_artifact(s3, artifact, "s3://rules/scanner")
        environment = {
            **os.environ,
            **account.environment(),
            "BUCKETGUARD_RULES_BUCKET": "rules",
            "BUCKETGUARD_RULES_KEY": "scanner/ruleset.zip",
            "PYTHONPYCACHEPREFIX": str(work / "pycache"),  # bytecode, as the Lambda artifact ships it
        }
        environment.pop("PYTHONDONTWRITEBYTECODE", None)
        runs: dict[Path, list[list[float]]] = {tree: [] for tree in trees}
        for run in range(args.runs + 1):  # the first writes the bytecode; trees take turns (the load drifts)
            for tree in trees:
                out = subprocess.run(
                    [sys.executable, "-c", COLD_START],
                    capture_output=True,
                    text=True,
                    cwd=tree,
                    env={**environment, "PYTHONPATH": str(tree)},
                    check=True,
                )
                if run:
                    runs[tree].append(
                        [float(x) for x in out.stdout.splitlines()[-1].split()]
                    )  # after the logs
        for tree, figures in runs.items():
            imports, init, imports_cpu, init_cpu = (min(run[i] for run in figures) for i in range(4))
            print(
                f"{tree}: imports {imports:.3f} s ({imports_cpu:.3f} CPU), init with the published ruleset "
                f"{init:.3f} s ({init_cpu:.3f} CPU); min of {args.runs}: total CPU "
                f"{min(run[2] + run[3] for run in figures):.3f} s, median "
                f"{statistics.median(run[2] + run[3] for run in figures):.3f} s"
            )
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
