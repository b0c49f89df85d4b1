"""The pranks of the seed incidents, done by hand in the camp's account (not through Pulumi, so no policy pack
stopped them): what a live-account audit must find. Used by the demo's audit act and the dashboard's
screenshot.

AdministratorAccess must exist in the account: with moto, start it with MOTO_IAM_LOAD_MANAGED_POLICIES=true.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
ABROAD_REGION = "ap-southeast-2"  # a region the camp's policy config does not allow


@dataclass(frozen=True)
class Prank:
    what: str
    resource: str
    rule_id: str  # the rule that must find it


def seed_pranks(client: Callable[[str, str], Any], region: str) -> list[Prank]:
    """Misconfigure the account of ``client(service, region)`` (a boto3 client factory) the way the campers
    did; returns what was done and the rule that must report each."""
    s3 = client("s3", region)
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket="camp-prank-public", **location)
    s3.put_bucket_acl(Bucket="camp-prank-public", ACL="public-read")
    s3.create_bucket(Bucket="camp-prank-dropbox", **location)
    anyone_may_write = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AnyoneMayUpload",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::camp-prank-dropbox/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket="camp-prank-dropbox", Policy=json.dumps(anyone_may_write))
    client("s3", ABROAD_REGION).create_bucket(
        Bucket="camp-prank-abroad", CreateBucketConfiguration={"LocationConstraint": ABROAD_REGION}
    )
    ec2 = client("ec2", region)
    group = ec2.create_security_group(GroupName="camp-prank-rdp", Description="RDP for a minute")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group, IpProtocol="tcp", FromPort=3389, ToPort=3389, CidrIp="0.0.0.0/0"
    )
    iam = client("iam", region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName="camp-prank-helper", AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName="camp-prank-helper", PolicyArn=ADMINISTRATOR_ACCESS)
    return [
        Prank("a bucket made public-read", "camp-prank-public", "s3_bucket_public_read_prohibited"),
        Prank("a policy letting anyone PutObject", "camp-prank-dropbox", "s3_bucket_public_write_prohibited"),
        Prank(f"a bucket in {ABROAD_REGION}", "camp-prank-abroad", "aws_resource_region_allowed"),
        Prank("RDP open to the world", group, "ec2_security_group_rdp_restricted"),
        Prank(
            "AdministratorAccess on a helper role",
            "camp-prank-helper",
            "iam_principal_administrator_access_prohibited",
        ),
    ]
