"""Benchmark `policy check` on a 50-storage fleet: total time, time per resource, split between the program
run (mock runtime, own process) and the analysis (pack process over gRPC).

    .venv/bin/python -m benchmarks.policy_check [--storages 50] [--program DIR --stack NAME] [--preview]

Without --program, a synthetic fleet program is generated: per storage a bucket with its ACL, policy,
public-access-block, ownership, encryption, versioning and logging resources, a queue and a notification.
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

from bucketguard.policy.check import run_check

FLEET = textwrap.dedent(
    """
    import json
    import pulumi
    import pulumi_aws as aws

    logs = aws.s3.Bucket("access-logs", tags={{"bucketguard:role": "logs"}})
    for i in range({storages}):
        name = f"storage-{{i:02d}}"
        bucket = aws.s3.Bucket(name, tags={{"bucketguard:protected": "true"}})
        aws.s3.BucketOwnershipControls(f"{{name}}-ownership", bucket=bucket.id,
                                       rule={{"object_ownership": "BucketOwnerEnforced"}})
        aws.s3.BucketPublicAccessBlock(f"{{name}}-bpa", bucket=bucket.id, block_public_acls=True,
                                       ignore_public_acls=True, block_public_policy=True,
                                       restrict_public_buckets=True)
        aws.s3.BucketServerSideEncryptionConfiguration(f"{{name}}-sse", bucket=bucket.id, rules=[{{
            "apply_server_side_encryption_by_default": {{"sse_algorithm": "aws:kms"}}}}])
        aws.s3.BucketVersioning(f"{{name}}-versioning", bucket=bucket.id,
                                versioning_configuration={{"status": "Enabled"}})
        aws.s3.BucketLogging(f"{{name}}-logging", bucket=bucket.id, target_bucket=logs.id, target_prefix=name)
        tls_only = bucket.arn.apply(lambda arn: json.dumps({{
            "Version": "2012-10-17", "Statement": [{{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, arn + "/*"], "Condition": {{"Bool": {{"aws:SecureTransport": "false"}}}}}}]}}))
        aws.s3.BucketPolicy(f"{{name}}-tls", bucket=bucket.id, policy=tls_only)
        queue = aws.sqs.Queue(f"{{name}}-listener", tags={{"bucketguard:role": "listener"}})
        aws.s3.BucketNotification(f"{{name}}-notification", bucket=bucket.id, queues=[{{
            "queue_arn": queue.arn, "events": ["s3:ObjectCreated:*"]}}])
    """
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storages", type=int, default=50)
    parser.add_argument("--program", type=Path)
    parser.add_argument("--stack")
    parser.add_argument("--preview", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        program = args.program
        if program is None:
            program = Path(tmp)
            (program / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
            (program / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n")
            (program / "__main__.py").write_text(FLEET.format(storages=args.storages))
        for run in range(1, args.repeat + 1):
            started = time.perf_counter()
            result = run_check(program, stack=args.stack, preview=args.preview)
            total = time.perf_counter() - started
            print(
                f"run {run}: {result.resources} resources, total {total:.2f} s "
                f"({1000 * total / result.resources:.1f} ms/resource); "
                f"program {result.program_seconds:.2f} s "
                f"({1000 * result.program_seconds / result.resources:.1f} ms/resource), analysis "
                f"{result.analysis_seconds:.2f} s ({1000 * result.analysis_seconds / result.resources:.1f} "
                f"ms/resource, pack start included); {len(result.mandatory)} mandatory, "
                f"{len(result.violations)} violations"
            )


if __name__ == "__main__":
    main()
