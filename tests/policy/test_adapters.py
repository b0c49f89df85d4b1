"""The Pulumi -> facts adapters, on resources recorded from real programs under the mock runtime, read
through the SDK's own deserialiser and unknown-checking proxy."""

from __future__ import annotations

from pathlib import Path

from bucketguard_pack import adapters

from bucketguard.policy.program import PulumiProject, record
from bucketguard.policy.records import RecordedStack
from bucketguard.rules import get_rule
from bucketguard.rules.facts import ALL_USERS_URI, AclGrant, Encryption, Logging, PublicAccessBlock


def recorded(directory: Path, *, preview: bool = False) -> RecordedStack:
    return record(
        PulumiProject.load(directory), stack="dev", config={"aws:region": "eu-west-1"}, preview=preview
    )


def resources(stack: RecordedStack) -> list[adapters.Resource]:
    by_urn = stack.by_urn()
    result = []
    for r in stack.resources:
        provider = by_urn.get(r.provider.rsplit("::", 1)[0]) if r.provider else None
        result.append(
            adapters.from_wire(
                type=r.type,
                name=r.name,
                urn=r.urn,
                properties=r.outputs,
                provider_properties=provider.inputs if provider else None,
                parent=r.parent,
                property_dependencies=r.property_dependencies,
                dependencies=r.dependencies,
            )
        )
    return result


BUCKET_WITH_EVERYTHING = """
b = aws.s3.Bucket("b", tags={"team": "camp"})
logs = aws.s3.Bucket("logs")
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
aws.s3.BucketAcl("acl", bucket=b.id, access_control_policy={"owner": {"id": "o"}, "grants": [
    {"grantee": {"type": "Group", "uri": ALL_USERS}, "permission": "READ"}]})
aws.s3.BucketPublicAccessBlock("bpa", bucket=b.id, block_public_acls=True, block_public_policy=True)
aws.s3.BucketOwnershipControls("own", bucket=b.id, rule={"object_ownership": "ObjectWriter"})
aws.s3.BucketServerSideEncryptionConfiguration("sse", bucket=b.id, rules=[{
    "apply_server_side_encryption_by_default": {
        "sse_algorithm": "aws:kms", "kms_master_key_id": "alias/camp"},
    "bucket_key_enabled": True}])
aws.s3.BucketVersioning("ver", bucket=b.id,
                        versioning_configuration={"status": "Enabled", "mfa_delete": "Enabled"})
aws.s3.BucketLogging("log", bucket=b.id, target_bucket=logs.id, target_prefix="b/")
aws.s3.BucketWebsiteConfiguration("web", bucket=b.id, index_document={"suffix": "index.html"})
aws.s3.BucketObjectLockConfiguration("lock", bucket=b.id, object_lock_enabled="Enabled")
aws.s3.BucketNotification("n", bucket=b.id, eventbridge=True)
aws.s3.BucketPolicy("pol", bucket=b.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}]}))
"""


def test_bucket_joined_with_every_separate_resource(program) -> None:  # type: ignore[no-untyped-def]
    facts = adapters.stack_facts(resources(recorded(program(BUCKET_WITH_EVERYTHING))))
    by_name = {b.name: b for b in facts.buckets}
    b, logs = by_name["b"], by_name["logs"]
    assert b.acl_grants == (AclGrant("Group", ALL_USERS_URI, "READ"),)
    assert b.public_access_block == PublicAccessBlock(True, False, True, False)
    assert b.object_ownership == "ObjectWriter"
    assert b.encryption == Encryption("aws:kms", "alias/camp", True)
    assert (b.versioning, b.mfa_delete, b.object_lock_enabled, b.website) == ("Enabled", True, True, True)
    assert b.logging == Logging(str(logs.bucket_name), "b/")
    assert logs.receives_access_logs and not b.receives_access_logs
    assert [n.kind for n in b.notifications] == ["eventbridge"]
    assert b.policy[0].principal_is_everyone and b.policy[0].actions == ("s3:putobject",)
    assert b.region == "eu-west-1" and b.tags == {"team": "camp"}
    # The other bucket has nothing joined: absent settings stay None (AWS defaults).
    assert (logs.public_access_block, logs.object_ownership, logs.encryption, logs.versioning) == (None,) * 4


def test_v2_tokens_and_literal_bucket_names_join(program) -> None:  # type: ignore[no-untyped-def]
    facts = adapters.stack_facts(
        resources(
            recorded(
                program("""
        aws.s3.BucketV2("old", bucket="camp-old")
        aws.s3.BucketAclV2("old-acl", bucket="camp-old", acl="public-read")
        aws.s3.BucketVersioningV2("old-ver", bucket="camp-old",
                                  versioning_configuration={"status": "Suspended"})
        aws.s3.BucketAclV2("elsewhere", bucket="someone-elses", acl="public-read")
    """)
            )
        )
    )
    old, elsewhere = facts.buckets
    assert (old.type, old.canned_acl, old.versioning) == (
        "aws:s3/bucketV2:BucketV2",
        "public-read",
        "Suspended",
    )
    # A bucket the stack does not create is still judged on what the stack sets on it.
    assert (elsewhere.name, elsewhere.created) == ("someone-elses", False)
    assert elsewhere.canned_acl == "public-read"


def test_preview_joins_by_dependency_and_marks_an_unknown_policy_undecided(program) -> None:  # type: ignore[no-untyped-def]
    directory = program("""
        b = aws.s3.Bucket("b")
        aws.s3.BucketAcl("acl", bucket=b.id, acl="public-read")
        aws.s3.BucketPolicy("pol", bucket=b.id, policy=b.arn.apply(lambda arn: json.dumps({"Statement": []})))
    """)
    stack = recorded(directory, preview=True)
    acl = next(r for r in stack.resources if r.name == "acl")
    assert acl.outputs["bucket"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # unknown at preview
    (bucket,) = adapters.stack_facts(resources(stack), ["buckets"]).buckets
    # The ACL joins its bucket through the property dependency; the policy is unknown, and says why.
    assert bucket.canned_acl == "public-read"
    assert bucket.unknown == {
        "policy": "the policy of pol (aws:s3/bucketPolicy:BucketPolicy), computed from b once created"
    }
    # A rule that decides without the policy decides; one that needs it says what it needs.
    read, undecided = get_rule("s3_bucket_public_read_prohibited").evaluate_known(bucket)
    assert [f.message for f in read] == ["canned ACL 'public-read' grants READ to AllUsers"] and not undecided
    write, undecided = get_rule("s3_bucket_public_write_prohibited").evaluate_known(bucket)
    assert write == [] and [u.missing for u in undecided] == [bucket.unknown["policy"]]
    versioning, undecided = get_rule("s3_bucket_versioning_enabled").evaluate_known(bucket)
    assert len(versioning) == 1 and not undecided


def test_preview_outputs_are_unknown_but_auto_names_are_known(program) -> None:  # type: ignore[no-untyped-def]
    directory = program("""
        b = aws.s3.Bucket("b")
        fn_role = aws.iam.Role("r", assume_role_policy="{}")
        q = aws.sqs.Queue("q")
    """)
    by_name = {r.name: r for r in recorded(directory, preview=True).resources}
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert by_name["b"].outputs["bucket"].startswith("b-") and by_name["b"].outputs["arn"] == unknown
    assert by_name["r"].outputs["name"].startswith("r-") and by_name["r"].outputs["arn"] == unknown
    assert by_name["q"].outputs["url"] == unknown and by_name["q"].outputs["id"] == unknown
    up = {r.name: r for r in recorded(directory).resources}
    assert up["b"].outputs["bucket"] == by_name["b"].outputs["bucket"]
    assert up["b"].outputs["arn"] == f"arn:aws:s3:::{up['b'].outputs['bucket']}"


def test_unknown_bucket_input_joins_by_parent_when_no_dependency_names_it(program) -> None:  # type: ignore[no-untyped-def]
    directory = program("""
        a = aws.s3.Bucket("a")
        b = aws.s3.Bucket("b")
        unknown_name = pulumi.Output.all(a.arn, b.arn).apply(lambda arns: arns[1].split(":")[-1])
        aws.s3.BucketAcl("acl", bucket=unknown_name, acl="public-read-write",
                         opts=pulumi.ResourceOptions(parent=b))
    """)
    stack = recorded(directory, preview=True)
    acl = next(r for r in stack.resources if r.name == "acl")
    assert len(acl.property_dependencies["bucket"]) == 2  # the dependency alone cannot tell
    buckets = {f.name: f for f in adapters.stack_facts(resources(stack), ["buckets"]).buckets}
    assert (buckets["a"].canned_acl, buckets["b"].canned_acl) == (None, "public-read-write")


def test_unknown_resource_in_a_known_statement_still_decides() -> None:
    # A document given as an object (a TypeScript program's PolicyDocument) with its Resource computed
    # from the bucket's ARN: at preview only that leaf is unknown, and public write does not depend on it.
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    bucket_urn = "urn:pulumi:dev::t::aws:s3/bucket:Bucket::b"
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": unknown}
    stack = [
        adapters.from_wire(
            type="aws:s3/bucket:Bucket", name="b", urn=bucket_urn, properties={"arn": unknown}
        ),
        adapters.from_wire(
            type="aws:s3/bucketPolicy:BucketPolicy",
            name="pol",
            urn="urn:pulumi:dev::t::aws:s3/bucketPolicy:BucketPolicy::pol",
            properties={"bucket": unknown, "policy": {"Version": "2012-10-17", "Statement": [statement]}},
            property_dependencies={"bucket": [bucket_urn], "policy": [bucket_urn]},
        ),
    ]
    (bucket,) = adapters.stack_facts(stack, ["buckets"]).buckets
    assert bucket.unknown == {} and bucket.policy[0].resources == ("computed(Resource)",)
    write, undecided = get_rule("s3_bucket_public_write_prohibited").evaluate_known(bucket)
    assert len(write) == 1 and not undecided


def test_permission_for_a_function_not_created_yet_still_decides(program) -> None:  # type: ignore[no-untyped-def]
    directory = program("""
        fn = aws.lambda_.Function("f", role="arn:aws:iam::123456789012:role/x", runtime="python3.12",
                                  handler="index.handler", code=pulumi.StringAsset("x"))
        aws.lambda_.Permission("p", action="lambda:InvokeFunction", function=fn.arn, principal="*")
    """)
    (permission,) = adapters.stack_facts(resources(recorded(directory, preview=True))).lambda_permissions
    assert permission.function_name == "computed(f)"
    public, undecided = get_rule("lambda_permission_public_access_prohibited").evaluate_known(permission)
    assert [f.message for f in public] == ["anyone may call lambda:InvokeFunction on computed(f)"]
    assert not undecided


def test_one_unknown_input_leaves_the_other_resources_of_its_kind_decided(program) -> None:  # type: ignore[no-untyped-def]
    directory = program("""
        role = aws.iam.Role("r", assume_role_policy="{}")
        mine = aws.iam.Policy("mine", policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
        aws.iam.RolePolicyAttachment("own", role=role.name, policy_arn=mine.arn)
        aws.iam.RolePolicyAttachment("admin", role=role.name,
                                     policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        aws.ec2.SecurityGroup("internal", ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                                    "cidr_blocks": [vpc.id.apply(lambda _: "10.0.0.0/16")]}])
        aws.ec2.SecurityGroup("open", ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                                "cidr_blocks": ["0.0.0.0/0"]}])
    """)
    facts = adapters.stack_facts(resources(recorded(directory, preview=True)))
    attachments = {a.name: a for a in facts.iam_attachments}
    assert attachments["own"].policy_arn == "computed(mine)"
    admin, _ = get_rule("iam_principal_administrator_access_prohibited").evaluate_known(attachments["admin"])
    assert len(admin) == 1
    groups = {g.name: g for g in facts.security_groups}
    ssh = get_rule("ec2_security_group_ssh_restricted")
    assert len(ssh.evaluate_known(groups["open"])[0]) == 1
    # A range computed from a resource the stack creates is that one network, never the internet.
    assert ssh.evaluate_known(groups["internal"]) == ([], [])


def test_a_role_listing_a_policy_it_creates_still_decides_at_preview(program) -> None:  # type: ignore[no-untyped-def]
    directory = program("""
        mine = aws.iam.Policy("mine", policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
        aws.iam.Role("r", assume_role_policy="{}", managed_policy_arns=[
            mine.arn, "arn:aws:iam::aws:policy/AdministratorAccess"])
    """)
    facts = adapters.stack_facts(resources(recorded(directory, preview=True)))
    assert [a.policy_arn for a in facts.iam_attachments] == [
        "computed(mine)",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    ]
    admin = get_rule("iam_principal_administrator_access_prohibited")
    assert [len(admin.evaluate_known(a)[0]) for a in facts.iam_attachments] == [0, 1]


def test_region_from_provider_and_resource_override(program) -> None:  # type: ignore[no-untyped-def]
    facts = adapters.stack_facts(
        resources(
            recorded(
                program("""
        far = aws.Provider("far", region="ap-southeast-2")
        aws.s3.Bucket("default-region")
        aws.s3.Bucket("provider-region", opts=pulumi.ResourceOptions(provider=far))
        aws.s3.Bucket("own-region", region="us-west-2", opts=pulumi.ResourceOptions(provider=far))
    """)
            )
        ),
        ["resources"],
    )
    assert {r.name: r.region for r in facts.resources} == {
        "default-region": "eu-west-1",
        "provider-region": "ap-southeast-2",
        "own-region": "us-west-2",
    }


def test_lambda_iam_and_network_facts(program) -> None:  # type: ignore[no-untyped-def]
    facts = adapters.stack_facts(
        resources(
            recorded(
                program("""
        role = aws.iam.Role("role", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
             "Action": "sts:AssumeRole"}]}))
        aws.iam.RolePolicyAttachment("admin", role=role.name,
                                     policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")
        fn = aws.lambda_.Function("fn", role=role.arn, runtime="python3.12", handler="i.h",
                                  code=pulumi.AssetArchive({"i.py": pulumi.StringAsset("")}))
        aws.lambda_.Permission("perm", action="lambda:InvokeFunction", function=fn.name, principal="*")
        aws.ec2.SecurityGroup("sg", ingress=[{"protocol": "tcp", "from_port": 3389, "to_port": 3389,
                                              "cidr_blocks": ["0.0.0.0/0"]}])
        aws.vpc.SecurityGroupIngressRule("ssh", security_group_id="sg-1", ip_protocol="tcp", from_port=22,
                                         to_port=22, cidr_ipv6="::/0")
    """)
            )
        )
    )
    (function,) = facts.lambda_functions
    assert function.role_managed_policy_arns == ("arn:aws:iam::aws:policy/AdministratorAccess",)
    (attachment,) = facts.iam_attachments
    assert attachment.principal_type == "role" and attachment.principal_name.startswith("role")
    (permission,) = facts.lambda_permissions
    assert permission.principal == "*" and permission.function_name.startswith("fn")
    groups = {g.name: g.ingress for g in facts.security_groups}
    assert groups["sg"][0].from_port == 3389 and groups["sg"][0].cidr_ipv4 == ("0.0.0.0/0",)
    assert groups["ssh"][0].cidr_ipv6 == ("::/0",) and groups["ssh"][0].protocol == "tcp"


def test_all_traffic_rules_reach_rdp_whatever_the_protocol_spelling(program) -> None:  # type: ignore[no-untyped-def]
    # ip_protocol typed as a number (-1, as in the AWS console's JSON) arrives as the float -1.0.
    facts = adapters.stack_facts(
        resources(
            recorded(
                program("""
        aws.vpc.SecurityGroupIngressRule("all-traffic", security_group_id="sg-1", ip_protocol=-1,
                                         cidr_ipv4="0.0.0.0/0")
        aws.ec2.SecurityGroupRule("every-port", type="ingress", security_group_id="sg-1", protocol="tcp",
                                  from_port=0, to_port=65535, ipv6_cidr_blocks=["::/0"])
    """)
            )
        )
    )
    rdp = get_rule("ec2_security_group_rdp_restricted")
    flagged = {g.name for g in facts.security_groups if rdp.evaluate(g)}
    assert flagged == {"all-traffic", "every-port"}
