"""Times the Pulumi program of a fleet under the mock runtime: 200 storages over 5 regions and 5 accounts,
admitted by 4 scanners (2 in Europe, 1 in North America, 1 in Asia Pacific), beside 50 storages for one
scanner.

    .venv/bin/python benchmarks/fleet_program.py [--repeat 1] [--storages 200]

Each run is a fresh interpreter (the mock root stack registers once per process), start-up included; the
Lambda artifact is built once first (arm64, Python 3.12). Prints seconds, resources, ms per resource and the
assignment (storages per scanner).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.infra_program import storages  # noqa: E402
from bucketguard import packaging  # noqa: E402
from tests.infra.conftest import run_program  # noqa: E402

DEPLOYER = "arn:aws:iam::111111111111:role/bucketguard-deployer"
SCANNERS = [
    {"name": "dublin", "region": "eu-west-1", "roleArn": DEPLOYER},
    {"name": "frankfurt", "region": "eu-central-1", "roleArn": DEPLOYER},
    {"name": "virginia", "region": "us-east-1", "roleArn": DEPLOYER},
    {"name": "sydney", "region": "ap-southeast-2", "roleArn": DEPLOYER},
]
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-2", "eu-north-1")


def fleet_storages(count: int) -> list[dict[str, object]]:
    """infra_program's storages, spread over five regions."""
    return [{**s, "region": REGIONS[i % len(REGIONS)]} for i, s in enumerate(storages(count))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--storages", type=int, default=200)
    args = parser.parse_args()
    cases = {
        "50 storages, 1 scanner": {
            "bucketguard:scanner": {"region": "eu-west-1"},
            "bucketguard:storages": storages(50),
        },
        f"{args.storages} storages, {len(SCANNERS)} scanners": {
            "bucketguard:scanners": SCANNERS,
            "bucketguard:storages": fleet_storages(args.storages),
        },
    }
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        started = time.perf_counter()
        packaging.build("arm64", work / "lambda")
        print(f"artifact build (arm64, cached wheels): {time.perf_counter() - started:.1f} s")
        print(f"{'case':<26} {'resources':>9} {'median s':>9} {'ms/resource':>11}  storages per scanner")
        for label, config in cases.items():
            times, count, loads = [], 0, Counter[str]()
            for _ in range(args.repeat):
                started = time.perf_counter()
                result = run_program(config, work / "lambda", work)
                times.append(time.perf_counter() - started)
                assert result["error"] is None, result["error"]
                count = len(result["resources"])
                loads = Counter(
                    line.split("'")[1]
                    for line in result["log"]
                    if line.startswith("bucketguard: scanner ")
                    for _ in range(int(line.split(" admits ")[1].split()[0]))
                )
            median = statistics.median(times)
            print(
                f"{label:<26} {count:>9} {median:>9.1f} {1000 * median / count:>11.1f}  "
                f"{', '.join(f'{name} {n}' for name, n in loads.items())}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
