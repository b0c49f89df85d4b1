"""`audit` of one moto account: seconds, API calls, calls per resource, peak RSS. Not a test: run it by hand.

    .venv/bin/python benchmarks/audit_moto.py [BUCKETS] [SECURITY_GROUPS]

Defaults: 200 buckets (every fourth with a policy, versioning and a public-access block, so the collector
reads set and unset configurations) and 50 security groups, in us-east-1, on moto's server in its own
process (the embedded AWS). Every service is collected; the time includes moto's own work.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bucketguard.audit.clients import ClientFactory  # noqa: E402
from bucketguard.audit.run import Account, audit_accounts  # noqa: E402
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session  # noqa: E402

REGION = "us-east-1"


def seed(endpoint_url: str, buckets: int, groups: int) -> None:
    session = bootstrap_session(REGION)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    ec2 = session.client("ec2", endpoint_url=endpoint_url)
    for n in range(buckets):
        name = f"camp-bench-{n:04d}"
        s3.create_bucket(Bucket=name)
        if n % 4 == 0:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True},
            )
            s3.put_bucket_policy(
                Bucket=name,
                Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",'
                f'"Resource":"arn:aws:s3:::{name}/*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}',
            )
    for n in range(groups):
        group = ec2.create_security_group(GroupName=f"bench-{n}", Description="bench")["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
            ],
        )


def main() -> None:
    buckets = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    groups = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with EmbeddedAws() as aws:
        seed(aws.endpoint_url, buckets, groups)
        clients = ClientFactory(bootstrap_session(REGION), endpoint_url=aws.endpoint_url)
        clients.client("ec2").describe_regions()  # moto builds its EC2 backend on the first call: not ours
        clients.calls = 0
        started = time.perf_counter()
        [result] = audit_accounts([Account("123456789012", clients, (REGION,))])
        seconds = time.perf_counter() - started
    resources = len(result.facts.resources)
    print(
        f"buckets {len(result.facts.buckets)}, security groups {len(result.facts.security_groups)}, "
        f"resources {resources}, findings {len(result.findings)}"
    )
    print(
        f"seconds {seconds:.1f}, API calls {clients.calls}, "
        f"calls per resource {clients.calls / resources:.1f}, resources per second {resources / seconds:.0f}"
    )
    # moto's server is another process: this is the audit's own peak
    print(f"peak RSS of the audit {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
