"""Parity: the same bucket, security group, IAM role, Lambda function and permissions, queue and key,
described as Pulumi resources (the policy pack's adapter, under the SDK's mock runtime) and created in moto
(the audit's collectors), give equal facts and the same findings. A difference is a bug in one adapter.

Identity differs by design and is left out of the comparison: Pulumi names and URNs against AWS names and
ARNs, provider type tokens against CloudFormation types, the account (unknown to a program)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from bucketguard_pack import adapters

from bucketguard.audit.clients import ClientFactory
from bucketguard.policy.program import PulumiProject, record
from bucketguard.rules.facts import BucketFacts, LambdaFunctionFacts, StackFacts
from bucketguard.rules.model import evaluate_stack
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session
from tests.audit.conftest import ACCOUNT, REGION, audit, client, document, prank_function
from tests.policy.conftest import write_program
from tests.policy.test_adapters import resources

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
PUBLIC_PUT = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::camp-site/*",
}
PUBLIC_SEND = {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
TRUST = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
KEY_POLICY = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}
RDP = {"protocol": "tcp", "from_port": 3389, "to_port": 3389, "cidr_blocks": ["0.0.0.0/0"]}
SOURCE = "arn:aws:s3:::camp-site"
GROUPS = (
    "buckets",
    "security_groups",
    "iam_roles",
    "iam_policies",
    "iam_attachments",
    "lambda_functions",
    "lambda_permissions",
    "sqs_queues",
    "kms_keys",
)

PROGRAM = f"""
ALL_USERS = {ALL_USERS!r}
site = aws.s3.Bucket("site", bucket="camp-site", object_lock_enabled=False, tags={{"team": "camp"}})
aws.s3.BucketAcl("site-acl", bucket=site.id, access_control_policy={{"owner": {{"id": "owner"}}, "grants": [
    {{"grantee": {{"type": "Group", "uri": ALL_USERS}}, "permission": "READ"}}]}})
aws.s3.BucketPolicy("site-policy", bucket=site.id, policy={document([PUBLIC_PUT])!r})
aws.s3.BucketPublicAccessBlock("site-bpa", bucket=site.id, block_public_acls=True, ignore_public_acls=True,
                               block_public_policy=False, restrict_public_buckets=False)
aws.s3.BucketOwnershipControls("site-own", bucket=site.id,
                               rule={{"object_ownership": "BucketOwnerPreferred"}})
aws.s3.BucketServerSideEncryptionConfiguration("site-sse", bucket=site.id, rules=[
    {{"apply_server_side_encryption_by_default": {{"sse_algorithm": "AES256"}},
      "bucket_key_enabled": False}}])
aws.s3.BucketVersioning("site-ver", bucket=site.id,
                        versioning_configuration={{"status": "Suspended", "mfa_delete": "Disabled"}})
aws.s3.AccountPublicAccessBlock("account-bpa", block_public_acls=True, ignore_public_acls=True,
                                block_public_policy=True, restrict_public_buckets=False)
aws.ec2.SecurityGroup("rdp", name="rdp", description="camp pc", ingress=[{RDP!r}])
role = aws.iam.Role("helper", name="helper", assume_role_policy={document([TRUST])!r})
aws.iam.RolePolicy("helper-all", role=role.name, name="all", policy={document([ADMIN])!r})
aws.iam.RolePolicyAttachment("helper-admin", role=role.name, policy_arn={ADMIN_ARN!r})
fn = aws.lambda_.Function("prank", name="prank", role=role.arn, runtime="python3.12",
                          handler="handler.handler",
                          code=pulumi.AssetArchive({{"handler.py": pulumi.StringAsset("x = 1")}}))
aws.lambda_.Permission("anyone", function="prank", statement_id="anyone", action="lambda:InvokeFunction",
                       principal="*")
aws.lambda_.Permission("from-s3", function="prank", statement_id="from-s3", action="lambda:InvokeFunction",
                       principal="s3.amazonaws.com", source_arn={SOURCE!r}, source_account={ACCOUNT!r})
aws.sqs.Queue("open", name="open", policy={document([PUBLIC_SEND])!r}, sqs_managed_sse_enabled=False)
aws.kms.Key("camp", policy={document([KEY_POLICY])!r}, enable_key_rotation=False,
            customer_master_key_spec="SYMMETRIC_DEFAULT", key_usage="ENCRYPT_DECRYPT")
"""


def create_in_moto(aws: EmbeddedAws) -> str:
    """Create the resources; return the security group's id (moto also has the default VPC's group)."""
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="camp-site")
    s3.put_bucket_tagging(Bucket="camp-site", Tagging={"TagSet": [{"Key": "team", "Value": "camp"}]})
    owner = s3.get_bucket_acl(Bucket="camp-site")["Owner"]
    s3.put_bucket_acl(
        Bucket="camp-site",
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}],
        },
    )
    s3.put_bucket_policy(Bucket="camp-site", Policy=document([PUBLIC_PUT]))
    s3.put_public_access_block(
        Bucket="camp-site", PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True}
    )
    s3.put_bucket_ownership_controls(
        Bucket="camp-site", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
    )
    s3.put_bucket_encryption(
        Bucket="camp-site",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}
            ]
        },
    )
    s3.put_bucket_versioning(Bucket="camp-site", VersioningConfiguration={"Status": "Suspended"})
    control = ClientFactory(bootstrap_session(), endpoint_url=aws.endpoint_url).client("s3control")
    control.put_public_access_block(
        AccountId=ACCOUNT,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
        },
    )
    ec2 = client(aws, "ec2")
    group = ec2.create_security_group(GroupName="rdp", Description="camp pc")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    iam = client(aws, "iam")
    role = iam.create_role(RoleName="helper", AssumeRolePolicyDocument=document([TRUST]))["Role"]["Arn"]
    iam.put_role_policy(RoleName="helper", PolicyName="all", PolicyDocument=document([ADMIN]))
    iam.attach_role_policy(RoleName="helper", PolicyArn=ADMIN_ARN)
    prank_function(aws, role, SOURCE)
    client(aws, "sqs").create_queue(
        QueueName="open", Attributes={"Policy": document([PUBLIC_SEND]), "SqsManagedSseEnabled": "false"}
    )
    client(aws, "kms").create_key(Policy=document([KEY_POLICY]), KeyUsage="ENCRYPT_DECRYPT")
    return str(group)


def neutral(facts: Any) -> Any:
    """Facts without their identity (names, refs, types, account), which differ by design."""
    changes: dict[str, Any] = {"name": "", "ref": None, "type": ""}
    if isinstance(facts, BucketFacts):
        changes["account_id"] = None
    if isinstance(facts, LambdaFunctionFacts):
        changes["role"] = None  # the role's ARN: the mock runtime's account is not moto's
    return replace(facts, **changes)


def comparable(stack: StackFacts, group: str) -> list[str]:
    return sorted(repr(neutral(f)) for f in getattr(stack, group))


@pytest.fixture
def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StackFacts, Any]]:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # AdministratorAccess exists
    with EmbeddedAws() as aws:
        yield _both(aws, tmp_path)


def _both(aws: EmbeddedAws, tmp_path: Path) -> tuple[StackFacts, Any]:
    program = write_program(tmp_path / "program", PROGRAM, region=REGION)
    recorded = record(PulumiProject.load(program), stack="dev", config={"aws:region": REGION})
    preview = adapters.stack_facts(resources(recorded))
    group = create_in_moto(aws)
    live = audit(aws)
    live_stack = replace(
        live.facts, security_groups=tuple(g for g in live.facts.security_groups if g.name == group)
    )
    return preview, replace(live, facts=live_stack)


@pytest.mark.slow
def test_the_same_resources_give_equal_facts(both: tuple[StackFacts, Any]) -> None:
    preview, live = both
    for group in GROUPS:
        assert comparable(preview, group) == comparable(live.facts, group), group
    assert preview.account_public_access_block == live.facts.account_public_access_block


@pytest.mark.slow
def test_the_same_resources_give_the_same_findings(both: tuple[StackFacts, Any]) -> None:
    preview, live = both
    kinds = {"s3_bucket", "ec2_security_group", "iam_role", "iam_policy", "iam_attachment", "lambda_function"}
    kinds |= {"lambda_permission", "sqs_queue", "kms_key", "stack"}
    at_preview = {(f.rule_id, f.message) for f in evaluate_stack(preview) if f.resource_type in kinds}
    in_account = {(f.rule_id, f.message) for f in evaluate_stack(live.facts) if f.resource_type in kinds}
    assert at_preview == in_account
    assert {r for r, _ in at_preview} >= {
        "s3_bucket_public_read_prohibited",
        "s3_bucket_public_write_prohibited",
        "ec2_security_group_rdp_restricted",
        "iam_principal_administrator_access_prohibited",
        "lambda_permission_public_access_prohibited",
        "sqs_queue_public_access_prohibited",
        "kms_key_public_access_prohibited",
    }
