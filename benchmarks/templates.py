"""`policy check` on a large CloudFormation template and Terraform plan: seconds and ms per resource.
Not a test: run it by hand.

    .venv/bin/python benchmarks/templates.py [RESOURCES]

Default 2,000 resources: the insecure camp's bucket (with its policy), security group and role repeated.
Prints the recording time (parse, resolve, translate) and the pack's analysis over gRPC, per format.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bucketguard.templates.check import run_template_check  # noqa: E402

CAMP = json.loads((ROOT / "tests/templates/fixtures/insecure.tfplan.json").read_text())


def template(resources: int) -> dict[str, object]:
    body: dict[str, object] = {}
    for n in range(resources // 4):
        body[f"Site{n}"] = {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": f"camp-{n}", "AccessControl": "PublicRead"},
        }
        body[f"Policy{n}"] = {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": f"Site{n}"},
                "PolicyDocument": {
                    "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}
                    ]
                },
            },
        }
        body[f"Rdp{n}"] = {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "rdp",
                "SecurityGroupIngress": [
                    {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "CidrIp": "0.0.0.0/0"}
                ],
            },
        }
        body[f"Role{n}"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        }
    return {"Resources": body}


def plan(resources: int) -> dict[str, object]:
    """The camp's plan (8 resources) repeated in child modules."""
    copies = max(1, resources // 8)
    changes, modules, configured = [], [], {}
    for n in range(copies):
        prefix = f"module.camp{n}."
        root = CAMP["planned_values"]["root_module"]
        module_resources = [
            {**r, "address": prefix + r["address"]}
            for r in (*root["resources"], *root["child_modules"][0]["resources"])
        ]
        modules.append({"address": f"module.camp{n}", "resources": module_resources})
        changes += [{**c, "address": prefix + c["address"]} for c in CAMP["resource_changes"]]
        configured[f"camp{n}"] = {"module": CAMP["configuration"]["root_module"]}
    return {
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [], "child_modules": modules}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": CAMP["configuration"]["provider_config"],
            "root_module": {"module_calls": configured},
        },
    }


def measure(path: Path, *, terraform: bool) -> None:
    started = time.perf_counter()
    result = run_template_check([path], terraform=terraform)
    total = time.perf_counter() - started
    print(
        f"{'terraform plan' if terraform else 'cloudformation'}: {result.resources} resources, "
        f"{len(result.violations)} violations, recording {result.program_seconds:.2f} s, "
        f"analysis {result.analysis_seconds:.2f} s, total {total:.2f} s, "
        f"{1000 * total / max(result.resources, 1):.2f} ms per resource"
    )


def main() -> None:
    resources = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as directory:
        cfn = Path(directory) / "template.json"
        cfn.write_text(json.dumps(template(resources), indent=1))
        tf = Path(directory) / "plan.json"
        tf.write_text(json.dumps(plan(resources), indent=1))
        measure(cfn, terraform=False)
        measure(tf, terraform=True)


if __name__ == "__main__":
    main()
