"""Deploying stack configs into the embedded AWS with the real program (a script, not a test): prints the
seconds, the resources created and resources per second for the dev example and an N-storage stack.

    .venv/bin/python benchmarks/sandbox_deploy.py [--storages 10] [--artifact-dir build/lambda]

The artifact is built first when missing or stale (not counted); each deployment runs in a fresh process
against a fresh moto server, as `bucketguard sandbox up` does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bucketguard import packaging
from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.deployer import EXAMPLE_STACKS, deploy, read_stack_config


def storages_config(count: int) -> dict[str, Any]:
    """The dev example with `count` storages, each protecting a bucket of its own that the stack creates."""
    config = read_stack_config(EXAMPLE_STACKS / "Pulumi.dev.yaml")
    (teaching,) = config["bucketguard:storages"]
    config["bucketguard:storages"] = [
        {
            **teaching,
            "name": f"camp-{i}",
            "bucket": f"camp-material-{i}",
            "accessLogBucket": f"camp-material-{i}-logs",
            "quarantineBucket": f"camp-material-{i}-quarantine",
        }
        for i in range(count)
    ]
    return config


def measure(label: str, config: dict[str, Any], artifact_dir: Path) -> None:
    with EmbeddedAws() as aws:
        started = time.monotonic()
        deployment = deploy(aws, config, stack="bench", artifact_dir=artifact_dir)
        seconds = time.monotonic() - started
    count = len(deployment.resources)
    print(f"{label}: {count} resources in {seconds:.1f} s ({count / seconds:.1f} resources/s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--storages", type=int, default=10)
    parser.add_argument("--artifact-dir", type=Path, default=packaging.DEFAULT_OUTPUT)
    args = parser.parse_args()
    directory = packaging.artifact_dir(args.artifact_dir, "arm64")
    if packaging.problems(directory, "arm64"):
        packaging.build("arm64", args.artifact_dir)
    print(f"machine: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    measure(
        "dev example (1 storage)", read_stack_config(EXAMPLE_STACKS / "Pulumi.dev.yaml"), args.artifact_dir
    )
    measure(f"{args.storages} storages", storages_config(args.storages), args.artifact_dir)


if __name__ == "__main__":
    main()
