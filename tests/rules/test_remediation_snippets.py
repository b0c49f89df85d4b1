"""Every rule's Pulumi remediation snippet is a real pulumi-aws v7 program: it runs under the SDK's mock
runtime and creates resources (a wrong argument name or resource class fails here, not in a user's stack)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bucketguard.rules import all_rules

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh process: set_mocks registers one root stack per process.
RUNNER = """
import json, sys
import pulumi
from bucketguard.rules import all_rules

class Mocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.created = []
    def new_resource(self, args):
        self.created.append(args.typ)
        outputs = dict(args.inputs)
        outputs.setdefault("arn", f"arn:aws:mock:eu-west-1:111122223333:{args.name}")
        return [f"{args.name}-id", outputs]
    def call(self, args):
        return {"accountId": "111122223333", "arn": "arn:aws:iam::111122223333:root", "userId": "AIDA"}

mocks = Mocks()
pulumi.runtime.set_mocks(mocks, preview=False)
report = {}
for rule in all_rules():
    mocks.created = []

    @pulumi.runtime.test
    def program():
        exec(compile(rule.remediation.pulumi, f"<{rule.rule_id}>", "exec"), {})

    try:
        program()
        report[rule.rule_id] = {"types": mocks.created}
    except Exception as exc:
        report[rule.rule_id] = {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(report))
"""


def test_remediation_snippets_run_under_the_pulumi_mock_runtime() -> None:
    done = subprocess.run(
        [sys.executable, "-c", RUNNER], capture_output=True, text=True, cwd=ROOT, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert set(report) == {r.rule_id for r in all_rules()}
    errors = {rule_id: r["error"] for rule_id, r in report.items() if "error" in r}
    assert errors == {}
    assert all(r["types"] for r in report.values())  # each snippet declares at least one resource
    assert (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
        in report["s3_bucket_public_write_prohibited"]["types"]
    )
