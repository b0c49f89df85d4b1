"""Programs that went through `pulumi preview` without a word: each runs under the mock runtime with
preview's unknowns and is judged by the real pack over gRPC (`policy check`), as the engine would."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.policy.test_pack_e2e import policy_check

pytestmark = pytest.mark.e2e

TRUST = """
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "lambda.amazonaws.com"}}]})
"""


def judged(program: Any, source: str) -> tuple[set[tuple[str, str]], list[dict[str, str]]]:
    """(mandatory rule, resource) pairs and the undecided entries of a preview of `source`."""
    code, report, stderr = policy_check("--program", program(source), "--format", "json")
    assert code in (0, 1), stderr
    mandatory = {
        (v["rule_id"], v["resource_name"]) for v in report["violations"] if v["enforcement"] == "mandatory"
    }
    return mandatory, report["undecided"]


def test_administrator_rights_in_every_shape_fail(program) -> None:  # type: ignore[no-untyped-def]
    mandatory, undecided = judged(
        program,
        TRUST
        + """
def policy(action):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})

aws.iam.Policy("iam-star", policy=policy("iam:*"))
aws.iam.Policy("iam-put", policy=policy(["s3:GetObject", "iam:Put*"]))
aws.iam.Policy("reader", policy=policy("s3:Get*"))
role = aws.iam.Role("helper", assume_role_policy=trust)
aws.iam.RolePolicyAttachment("iam-full", role=role.name, policy_arn="arn:aws:iam::aws:policy/IAMFullAccess")
# roles computed from the role's id, unknown at preview: it must not silence the other attachments
aws.iam.PolicyAttachment("shared-admin", roles=[role.id],
                         policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")
aws.iam.RolePolicyAttachmentsExclusive("exclusive-role", role_name=role.name,
                                       policy_arns=["arn:aws:iam::aws:policy/AdministratorAccess"])
user = aws.iam.User("intern")
aws.iam.UserPolicyAttachmentsExclusive("exclusive-user", user_name=user.name,
                                       policy_arns=["arn:aws:iam::aws:policy/IAMFullAccess"])
group = aws.iam.Group("campers")
aws.iam.GroupPolicyAttachmentsExclusive("exclusive-group", group_name=group.name,
                                        policy_arns=["arn:aws:iam::aws:policy/AdministratorAccess"])
""",
    )
    attached = "iam_principal_administrator_access_prohibited"
    assert mandatory == {
        ("iam_policy_admin_access_prohibited", "iam-star"),
        ("iam_policy_admin_access_prohibited", "iam-put"),
        (attached, "iam-full"),
        (attached, "shared-admin"),
        (attached, "exclusive-role"),
        (attached, "exclusive-user"),
        (attached, "exclusive-group"),
    }
    assert undecided == []


def test_a_region_unknown_at_preview_leaves_only_the_region_rule_undecided(program, tmp_path) -> None:  # type: ignore[no-untyped-def]
    directory = program("""
logs = aws.s3.Bucket("logs")
regional = aws.Provider("regional", region=logs.region)  # computed: unknown at preview
in_region = pulumi.ResourceOptions(provider=regional)
site = aws.s3.Bucket("site", opts=in_region)
aws.s3.BucketAclV2("site-acl", bucket=site.id, acl="public-read", opts=in_region)
""")
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"aws_resource_region_allowed": {"allowedRegions": ["eu-west-1"]}}))
    code, report, stderr = policy_check("--program", directory, "--policy-config", config, "--format", "json")
    assert code == 1, stderr
    mandatory = {
        (v["rule_id"], v["resource_name"]) for v in report["violations"] if v["enforcement"] == "mandatory"
    }
    assert ("s3_bucket_public_read_prohibited", "site") in mandatory
    assert {u["rule_id"] for u in report["undecided"]} == {"aws_resource_region_allowed"}
    (region,) = report["undecided"]
    assert "site:" in region["detail"] and "site-acl:" in region["detail"] and "logs:" not in region["detail"]


def test_a_region_left_to_the_environment_is_undecided_not_allowed(program, tmp_path) -> None:  # type: ignore[no-untyped-def]
    directory = program('aws.s3.Bucket("site")')
    (directory / "Pulumi.dev.yaml").write_text("config: {}\n")  # no aws:region: AWS_REGION decides
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"aws_resource_region_allowed": {"allowedRegions": ["eu-west-1"]}}))
    code, report, stderr = policy_check("--program", directory, "--policy-config", config, "--format", "json")
    assert code in (0, 1), stderr
    (region,) = [u for u in report["undecided"] if u["rule_id"] == "aws_resource_region_allowed"]
    assert "site" in region["detail"] and "AWS_REGION" in region["detail"]


def test_settings_on_a_bucket_the_stack_does_not_create_are_judged(program) -> None:  # type: ignore[no-untyped-def]
    mandatory, undecided = judged(
        program,
        """
existing = "camp-teaching-material"  # created by another stack, or by hand
aws.s3.BucketPolicy("anyone-may-upload", bucket=existing, policy=json.dumps({"Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:Put*",
                   "Resource": f"arn:aws:s3:::{existing}/*"}]}))
aws.s3.BucketAclV2("open-acl", bucket="camp-photos", acl="public-read-write")
aws.s3.BucketPublicAccessBlock("unblocked", bucket="camp-photos")
aws.s3.BucketVersioning("kept", bucket="camp-archive", versioning_configuration={"status": "Enabled"})
""",
    )
    # Reported on the resource that makes the bucket public: the one to change.
    assert mandatory == {
        ("s3_bucket_public_write_prohibited", "anyone-may-upload"),
        ("s3_bucket_public_read_prohibited", "open-acl"),
        ("s3_bucket_public_write_prohibited", "open-acl"),
        ("s3_bucket_public_access_block_enabled", "unblocked"),
    }
    assert undecided == []


def test_the_deprecated_bucket_v2_inline_lists_are_read(program) -> None:  # type: ignore[no-untyped-def]
    source = """
aws.s3.BucketV2("site", versionings=[{"enabled": True}], websites=[{"index_document": "index.html"}])
"""
    code, report, stderr = policy_check("--program", program(source), "--format", "json")
    assert code == 0, stderr
    found = {v["rule_id"] for v in report["violations"] if v["resource_name"] == "site"}
    assert "s3_bucket_website_disabled" in found and "s3_bucket_versioning_enabled" not in found


def test_one_unknown_inline_setting_leaves_the_others_decided(program) -> None:  # type: ignore[no-untyped-def]
    mandatory, undecided = judged(
        program,
        """
other = aws.s3.Bucket("other")
aws.s3.Bucket("site", acl="public-read",
              policy=other.arn.apply(lambda arn: json.dumps({"Version": "2012-10-17", "Statement": []})))
""",
    )
    assert ("s3_bucket_public_read_prohibited", "site") in mandatory
    # Only the rules that read the unknown policy wait for it (it may still let anyone write).
    assert {u["rule_id"] for u in undecided} == {
        "s3_bucket_public_write_prohibited",
        "s3_bucket_secure_transport_required",
    }


def test_a_cidr_computed_at_preview_leaves_the_known_internet_range_decided(program) -> None:  # type: ignore[no-untyped-def]
    mandatory, undecided = judged(
        program,
        """
office = aws.ec2.Eip("office")
aws.ec2.SecurityGroup("admin", ingress=[{"protocol": "tcp", "from_port": 3389, "to_port": 3389,
    "cidr_blocks": [office.public_ip.apply(lambda ip: f"{ip}/32"), "0.0.0.0/0"]}])
aws.ec2.SecurityGroup("office-only", ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22,
    "cidr_blocks": [office.public_ip.apply(lambda ip: f"{ip}/32")]}])
""",
    )
    assert mandatory == {("ec2_security_group_rdp_restricted", "admin")}
    assert undecided == []  # an Elastic IP's /32 is one address, never the internet


def test_a_functions_role_given_admin_by_any_attachment_fails(program) -> None:  # type: ignore[no-untyped-def]
    mandatory, undecided = judged(
        program,
        TRUST
        + """
everything = aws.iam.Policy("everything", policy=json.dumps({"Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))
for name in ("exclusive", "shared", "own"):
    role = aws.iam.Role(name, assume_role_policy=trust)
    aws.lambda_.Function(f"{name}-fn", role=role.arn, runtime="python3.12", handler="h.h",
                         code=pulumi.AssetArchive({}))
    if name == "exclusive":
        aws.iam.RolePolicyAttachmentsExclusive("x", role_name=role.name,
                                               policy_arns=["arn:aws:iam::aws:policy/AdministratorAccess"])
    elif name == "shared":
        aws.iam.PolicyAttachment("pa", roles=[role.name], policy_arn="arn:aws:iam::aws:policy/IAMFullAccess")
    else:
        aws.iam.RolePolicyAttachmentsExclusive("y", role_name=role.name, policy_arns=[everything.arn])
""",
    )
    functions = {name for rule, name in mandatory if rule == "lambda_function_role_admin_prohibited"}
    assert functions == {"exclusive-fn", "shared-fn", "own-fn"}
    assert undecided == []


def test_a_policy_document_aws_would_refuse_is_one_line_and_exit_2(program) -> None:  # type: ignore[no-untyped-def]
    source = """
b = aws.s3.Bucket("site")
aws.s3.BucketPolicy("p", bucket=b.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}]}))
"""
    code, _, stderr = policy_check("--program", program(source), "--format", "json")
    assert code == 2  # a traceback and exit 1 on main
    assert stderr.strip().splitlines() == [
        "bucketguard: the policy pack failed on the stack: "
        "statement Effect must be Allow or Deny, got 'allow'"
    ]


def test_a_policy_arn_computed_from_another_resource_is_undecided_not_passed(program) -> None:  # type: ignore[no-untyped-def]
    """A policy ARN unknown at preview is a policy the stack creates only when it is computed from one; built
    from a role's ARN (its partition, say) it may be AdministratorAccess: it waits for its value."""
    mandatory, undecided = judged(
        program,
        TRUST
        + """
def admin_in_partition(arn):
    return f"arn:{arn.split(':')[1]}:iam::aws:policy/AdministratorAccess"

reader = aws.iam.Policy("reader", policy=json.dumps({"Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
helper = aws.iam.Role("helper", assume_role_policy=trust)
aws.iam.RolePolicyAttachment("by-partition", role=helper.name,
                             policy_arn=helper.arn.apply(admin_in_partition))
aws.iam.RolePolicyAttachment("own-policy", role=helper.name, policy_arn=reader.arn)
listed = aws.iam.Role("listed", assume_role_policy=trust,
                      managed_policy_arns=[helper.arn.apply(admin_in_partition), reader.arn])
aws.lambda_.Function("listed-fn", role=listed.arn, runtime="python3.12", handler="h.h",
                     code=pulumi.AssetArchive({}))
""",
    )
    assert mandatory == set()
    waiting = {u["rule_id"]: u["detail"] for u in undecided}
    attached = waiting["iam_principal_administrator_access_prohibited"]
    assert "by-partition:" in attached and "listed:" in attached and "own-policy" not in attached
    assert "listed-fn:" in waiting["lambda_function_role_admin_prohibited"]


def test_a_rule_forwarding_only_global_events_from_us_east_1_is_no_resource_there(program, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """IAM's calls reach EventBridge in us-east-1 alone: a rule there forwarding only global services' events
    (and its target) belongs to those services, as IAM itself does, whatever allowedRegions says; anything
    else in us-east-1 is still outside it."""
    directory = program("""
virginia = pulumi.ResourceOptions(provider=aws.Provider("virginia", region="us-east-1"))
home_bus = "arn:aws:events:eu-west-1:123456789012:event-bus/default"
role = aws.iam.Role("forwarder", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "events.amazonaws.com"}}]}))

def forward(name, sources):
    rule = aws.cloudwatch.EventRule(name, event_pattern=json.dumps({"source": sources,
        "detail-type": ["AWS API Call via CloudTrail"]}), opts=virginia)
    aws.cloudwatch.EventTarget(f"{name}-target", rule=rule.name, arn=home_bus, role_arn=role.arn,
                               opts=virginia)

forward("iam-calls", ["aws.iam"])
forward("s3-calls", ["aws.s3"])
forward("mixed-calls", ["aws.iam", "aws.ec2"])
aws.s3.Bucket("virginia-bucket", opts=virginia)
""")
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"aws_resource_region_allowed": {"allowedRegions": ["eu-west-1"]}}))
    code, report, stderr = policy_check("--program", directory, "--policy-config", config, "--format", "json")
    assert code == 1, stderr
    outside = {
        v["resource_name"] for v in report["violations"] if v["rule_id"] == "aws_resource_region_allowed"
    }
    assert outside == {
        "s3-calls",
        "s3-calls-target",
        "mixed-calls",
        "mixed-calls-target",
        "virginia-bucket",
    }
