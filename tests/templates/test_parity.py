"""One camp, three ways: the insecure camp as a Pulumi program (recorded under the mock runtime), as a
CloudFormation template and as a Terraform plan gives the same findings through the same pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.policy.conftest import write_program
from tests.policy.test_pack_e2e import policy_check
from tests.templates.test_check import CAMP_MANDATORY, FIXTURES

pytestmark = pytest.mark.e2e

# conftest prepends the imports of json, pulumi and pulumi_aws.
CAMP_PROGRAM = """
site = aws.s3.Bucket("site", bucket="camp-site")
aws.s3.BucketAclV2("site-acl", bucket=site.id, acl="public-read")
aws.s3.BucketPublicAccessBlock("site-pab", bucket=site.id, block_public_acls=False, ignore_public_acls=False,
                               block_public_policy=False, restrict_public_buckets=False)
aws.s3.BucketOwnershipControls("site-ownership", bucket=site.id, rule={"object_ownership": "ObjectWriter"})
anyone = {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
          "Resource": "arn:aws:s3:::camp-site/*"}
aws.s3.BucketPolicy("site-policy", bucket=site.id,
                    policy=json.dumps({"Version": "2012-10-17", "Statement": [anyone]}))
aws.ec2.SecurityGroup("desktop", description="remote desktop for a minute", ingress=[
    {"protocol": "tcp", "from_port": 3389, "to_port": 3389, "cidr_blocks": ["0.0.0.0/0"]}])
trust = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
helper = aws.iam.Role("helper", name="helper",
                      assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [trust]}))
aws.iam.RolePolicyAttachment("admin", role=helper.name,
                             policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")
"""


def findings(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """What was found, without the names each tool gives the resources."""
    return {(v["rule_id"], v["enforcement"], v["severity"], v["message"]) for v in report["violations"]}


def test_pulumi_cloudformation_and_terraform_find_the_same(tmp_path: Path) -> None:
    program = write_program(tmp_path / "camp", CAMP_PROGRAM)
    reports = {}
    for name, args in {
        "pulumi": ("--program", program),
        "cloudformation": ("--cloudformation", FIXTURES / "insecure.yaml", "--region", "eu-west-1"),
        "terraform": ("--terraform-plan", FIXTURES / "insecure.tfplan.json"),
    }.items():
        code, report, err = policy_check(*args, "--format", "json")
        assert code == 1, (name, err)
        reports[name] = report
    pulumi = findings(reports["pulumi"])
    assert {rule for rule, level, *_ in pulumi if level == "mandatory"} == CAMP_MANDATORY
    assert findings(reports["cloudformation"]) == pulumi
    assert findings(reports["terraform"]) == pulumi
    assert all(r["undecided"] == [] for r in reports.values()), json.dumps(
        {k: r["undecided"] for k, r in reports.items()}
    )
