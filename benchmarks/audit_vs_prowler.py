"""`audit --service s3` and Prowler's S3 checks on the same moto account, in the same run. Not a test.

    python -m venv /tmp/prowler && /tmp/prowler/bin/pip install prowler
    .venv/bin/python benchmarks/audit_vs_prowler.py /tmp/prowler/bin/prowler [BUCKETS]

The account: the camp's pranks (bucketguard.demo.camp_account) and BUCKETS plain buckets (default 50, every
fourth versioned) in eu-west-1. Prowler reaches moto through AWS_ENDPOINT_URL (botocore's global endpoint
setting). Prints each command's wall time (process start included) and, per rule, the failing buckets both
found, only bucketguard found and only Prowler found (through the rules' `prowler` references).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # the pranks attach AdministratorAccess

from bucketguard.audit.clients import ClientFactory  # noqa: E402
from bucketguard.demo.camp_account import seed_pranks  # noqa: E402
from bucketguard.rules.model import all_rules  # noqa: E402
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session  # noqa: E402

REGION = "eu-west-1"


def timed(command: list[str], environ: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=environ, cwd=ROOT, capture_output=True, check=False, timeout=1800)
    return time.perf_counter() - started


def main() -> None:
    prowler = sys.argv[1]
    buckets = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with EmbeddedAws() as aws, tempfile.TemporaryDirectory() as work:
        clients = ClientFactory(bootstrap_session(REGION), endpoint_url=aws.endpoint_url)
        seed_pranks(clients.client, REGION)
        s3 = clients.client("s3", REGION)
        for n in range(buckets):
            name = f"camp-bench-{n:03d}"
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            if n % 4 == 0:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        environ = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        ours_file = Path(work) / "bucketguard.json"
        ours_seconds = timed(
            [
                sys.executable,
                "-m",
                "bucketguard",
                "audit",
                "--endpoint-url",
                aws.endpoint_url,
                "--region",
                REGION,
                "--service",
                "s3",
                "--no-history",
                "--format",
                f"json={ours_file}",
            ],
            environ,
        )
        theirs_seconds = timed(
            [
                prowler,
                "aws",
                "--services",
                "s3",
                "-f",
                REGION,
                "--output-formats",
                "json-ocsf",
                "-o",
                work,
                "-F",
                "prowler",
                "--no-banner",
            ],
            {**environ, "AWS_ENDPOINT_URL": aws.endpoint_url},
        )
        ours: dict[str, set[str]] = defaultdict(set)
        for v in json.loads(ours_file.read_text())["violations"]:
            ours[v["rule_id"]].add(v["resource_name"])
        theirs: dict[str, set[str]] = defaultdict(set)
        checks = set()
        for f in json.loads((Path(work) / "prowler.ocsf.json").read_text()):
            checks.add(f["metadata"]["event_code"])
            if f["status_code"] == "FAIL":
                theirs[f["metadata"]["event_code"]].add(f["resources"][0]["name"])
    print(
        f"bucketguard audit --service s3: {ours_seconds:.1f} s; prowler --services s3: "
        f"{theirs_seconds:.1f} s (ratio {theirs_seconds / ours_seconds:.1f})"
    )
    for rule in all_rules():
        mapped = [c for c in rule.references.prowler if c in checks]
        if not rule.rule_id.startswith("s3_") or not mapped:
            continue
        mine, other = ours[rule.rule_id], set().union(*(theirs[c] for c in mapped))
        print(
            f"{rule.rule_id} ({', '.join(mapped)}): both {len(mine & other)}, only bucketguard "
            f"{sorted(mine - other)[:3]}, only prowler {sorted(other - mine)[:3]}"
        )


if __name__ == "__main__":
    main()
