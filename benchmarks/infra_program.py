"""Times the Pulumi program under the mock runtime: the dev stack, and 1/10/50 storages for one scanner.

    .venv/bin/python benchmarks/infra_program.py [--repeat 3]

Each run is a fresh interpreter (the mock root stack registers once per process) and includes its start-up
(imports of pulumi and pulumi_aws). The Lambda artifact is built once first (arm64, Python 3.12).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bucketguard import packaging  # noqa: E402
from tests.infra.conftest import run_program, stack_config  # noqa: E402


def storages(count: int) -> list[dict[str, object]]:
    return [
        {
            "name": f"s{index}",
            "bucket": f"camp-bucket-{index}",
            "region": "eu-west-1",
            "roleArn": f"arn:aws:iam::{200000000000 + index % 5}:role/bucketguard-deployer",
            "actions": ["tag", "quarantine", "notify"],
            "notifyEmails": ["security@camp.example"],
        }
        for index in range(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        started = time.perf_counter()
        packaging.build("arm64", work / "lambda")
        print(f"artifact build (arm64, cached wheels): {time.perf_counter() - started:.1f} s")
        cases = {"dev stack": stack_config("dev")}
        for count in (1, 10, 50):
            cases[f"{count} storages"] = {
                "bucketguard:scanner": {"region": "eu-west-1"},
                "bucketguard:storages": storages(count),
            }
        print(
            f"{'case':<12} {'resources':>9} {'providers':>9} {'median s':>9} {'min s':>7} {'ms/resource':>11}"
        )
        for label, config in cases.items():
            times, count, providers = [], 0, 0
            for _ in range(args.repeat):
                started = time.perf_counter()
                result = run_program(config, work / "lambda", work)
                times.append(time.perf_counter() - started)
                assert result["error"] is None, result["error"]
                count = len(result["resources"])
                providers = sum(r["type"] == "pulumi:providers:aws" for r in result["resources"])
            median = statistics.median(times)
            print(
                f"{label:<12} {count:>9} {providers:>9} {median:>9.2f} {min(times):>7.2f} "
                f"{1000 * median / count:>11.1f}"
            )
        print(json.dumps({"python": sys.version.split()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
