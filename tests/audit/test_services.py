"""IAM, EC2, Lambda, SQS, SNS, KMS and CloudTrail collectors against moto's server: real resources,
pagination past one page, denied calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bucketguard.audit.permissions import read_statements
from bucketguard.audit.run import ACCESS_DENIED_RULE, required_actions
from bucketguard.rules.facts import IngressRule
from bucketguard.sandbox.aws import EmbeddedAws
from tests.audit.conftest import (
    ACCOUNT,
    REGION,
    audit,
    client,
    document,
    iam_enforced,
    prank_function,
    role_session,
    rule_ids,
)

ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}
PUBLIC_READ = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::camp-site/*",
}
ANYONE_ASSUMES = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
LAMBDA_TRUST = {
    "Effect": "Allow",
    "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole",
}


def test_iam_roles_users_groups_and_their_policies(aws: EmbeddedAws) -> None:
    iam = client(aws, "iam")
    iam.create_role(RoleName="helper", AssumeRolePolicyDocument=document([ANYONE_ASSUMES]))
    iam.put_role_policy(RoleName="helper", PolicyName="everything", PolicyDocument=document([ADMIN]))
    scoped = iam.create_policy(
        PolicyName="scoped",
        PolicyDocument=document([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
    )["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=scoped, PolicyDocument=document([ADMIN]), SetAsDefault=True)
    iam.create_user(UserName="intern")
    iam.attach_user_policy(UserName="intern", PolicyArn=scoped)
    iam.create_group(GroupName="staff")
    iam.put_group_policy(GroupName="staff", PolicyName="read", PolicyDocument=document([ADMIN]))

    result = audit(aws, services=["iam"])

    [role] = result.facts.iam_roles
    assert (role.name, role.ref) == ("helper", f"arn:aws:iam::{ACCOUNT}:role/helper")
    assert role.trust_policy[0].principal_is_everyone
    policies = {p.name: p for p in result.facts.iam_policies}
    assert policies["scoped"].statements[0].actions == ("*",)  # the default version, not v1
    assert policies["helper/everything"].attached_to == "helper"
    assert "staff/read" in policies
    [attachment] = result.facts.iam_attachments
    assert (attachment.principal_type, attachment.principal_name, attachment.policy_arn) == (
        "user",
        "intern",
        scoped,
    )
    assert result.facts.iam_roles[0].region is None  # IAM is global
    found = {(f.rule_id, f.resource_name) for f in result.findings}
    assert {
        ("iam_role_public_trust_prohibited", "helper"),
        ("iam_policy_admin_access_prohibited", "scoped"),
        ("iam_policy_admin_access_prohibited", "helper/everything"),
        ("iam_policy_admin_access_prohibited", "staff/read"),
    } <= found
    assert {f.region for f in result.findings} == {"global"}


def test_security_groups_and_instances(aws: EmbeddedAws) -> None:
    ec2 = client(aws, "ec2")
    group = ec2.create_security_group(GroupName="rdp", Description="camp pc")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}],
            },
        ],
    )
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "AssociatePublicIpAddress": True, "SubnetId": _subnet(ec2)}],
    )["Instances"][0]["InstanceId"]

    result = audit(aws, services=["ec2"])

    groups = {g.name: g for g in result.facts.security_groups}
    assert set(groups[group].ingress) == {
        IngressRule("tcp", 3389, 3389, ("0.0.0.0/0",), ()),
        IngressRule("tcp", 22, 22, (), ("2001:db8::/32",)),
    }
    assert groups[group].ref == f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group}"
    [facts] = [i for i in result.facts.ec2_instances if i.name == instance]
    assert facts.associate_public_ip_address is True
    found = {(f.rule_id, f.resource_name) for f in result.findings}
    assert ("ec2_security_group_rdp_restricted", group) in found
    assert ("ec2_security_group_ssh_restricted", group) not in found
    assert ("ec2_instance_public_ip_prohibited", instance) in found


def _subnet(ec2: object) -> str:
    return str(ec2.describe_subnets()["Subnets"][0]["SubnetId"])  # type: ignore[attr-defined]


def test_lambda_functions_permissions_urls_and_execution_roles(aws: EmbeddedAws) -> None:
    iam = client(aws, "iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=document([LAMBDA_TRUST]))["Role"][
        "Arn"
    ]
    iam.put_role_policy(RoleName="fn-role", PolicyName="all", PolicyDocument=document([ADMIN]))
    lam = prank_function(aws, role, "arn:aws:s3:::camp-site")
    lam.create_function_url_config(FunctionName="prank", AuthType="NONE")

    result = audit(aws, services=["lambda"])

    permissions = {p.name: p for p in result.facts.lambda_permissions}
    assert permissions["prank/anyone"].principal == "*"
    s3_permission = permissions["prank/from-s3"]
    assert (s3_permission.principal, s3_permission.source_arn, s3_permission.source_account) == (
        "s3.amazonaws.com",
        "arn:aws:s3:::camp-site",
        ACCOUNT,
    )
    [url] = result.facts.lambda_function_urls
    assert url.authorization_type == "NONE"
    [function] = result.facts.lambda_functions
    assert function.role == role and function.role_statements[0].actions == ("*",)
    assert {
        "lambda_permission_public_access_prohibited",
        "lambda_function_url_auth_required",
        "lambda_function_role_admin_prohibited",
    } <= rule_ids(result)
    assert "lambda_permission_source_restricted" not in rule_ids(result)


def test_queues_topics_and_keys(aws: EmbeddedAws) -> None:
    sqs, sns, kms = client(aws, "sqs"), client(aws, "sns"), client(aws, "kms")
    public = {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
    sqs.create_queue(
        QueueName="open", Attributes={"Policy": document([public]), "SqsManagedSseEnabled": "false"}
    )
    sqs.create_queue(QueueName="sealed", Attributes={"KmsMasterKeyId": "alias/camp"})
    sns.create_topic(Name="alerts")
    key = kms.create_key(Description="camp")["KeyMetadata"]["KeyId"]
    rotated = kms.create_key(Description="rotated")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=rotated)

    result = audit(aws, services=["sqs", "sns", "kms"])

    queues = {q.name: q for q in result.facts.sqs_queues}
    assert queues["open"].policy[0].principal_is_everyone and queues["open"].sqs_managed_sse_enabled is False
    assert queues["sealed"].kms_master_key_id == "alias/camp"
    [topic] = result.facts.sns_topics
    assert topic.kms_master_key_id is None
    keys = {k.name: k for k in result.facts.kms_keys}
    assert (keys[key].rotation_enabled, keys[rotated].rotation_enabled) == (False, True)
    assert keys[key].policy  # the key policy as read, not the empty "default" of a program
    found = {(f.rule_id, f.resource_name) for f in result.findings}
    assert {
        ("sqs_queue_public_access_prohibited", "open"),
        ("sqs_queue_encrypted_at_rest", "open"),
        ("sns_topic_encrypted_at_rest", "alerts"),
        ("kms_key_rotation_enabled", key),
    } <= found
    assert ("kms_key_rotation_enabled", rotated) not in found
    assert ("sqs_queue_encrypted_at_rest", "sealed") not in found


def test_trails_and_their_event_selectors(aws: EmbeddedAws) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-trail")
    trail = client(aws, "cloudtrail")
    trail.create_trail(
        Name="org", S3BucketName="camp-trail", IsMultiRegionTrail=True, EnableLogFileValidation=True
    )
    trail.start_logging(Name="org")  # CreateTrail alone leaves the trail stopped
    trail.put_event_selectors(
        TrailName="org",
        EventSelectors=[
            {
                "ReadWriteType": "WriteOnly",
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
            }
        ],
    )

    result = audit(aws, services=["cloudtrail", "s3"])

    [facts] = result.facts.trails
    assert (facts.is_multi_region, facts.log_file_validation, facts.s3_data_events) == (True, True, {"write"})
    assert facts.is_logging
    [bucket] = result.facts.buckets
    assert bucket.receives_access_logs  # the trail writes there: no access-logging finding on it
    assert "s3_bucket_access_logging_enabled" not in rule_ids(result)
    assert "cloudtrail_trail_s3_data_events_enabled" in rule_ids(result)
    assert "cloudtrail_trail_enabled" not in rule_ids(result)


def test_every_page_of_a_list_is_read(aws: EmbeddedAws) -> None:
    sqs, sns = client(aws, "sqs"), client(aws, "sns")
    for n in range(5):
        sqs.create_queue(QueueName=f"q{n}")
        sns.create_topic(Name=f"t{n}")

    small_pages = audit(aws, services=["sqs", "sns"], page_size=2)

    assert sorted(q.name for q in small_pages.facts.sqs_queues) == [f"q{n}" for n in range(5)]
    assert sorted(t.name for t in small_pages.facts.sns_topics) == [f"t{n}" for n in range(5)]
    pages = client(aws, "sqs").list_queues(MaxResults=2)
    assert len(pages["QueueUrls"]) == 2 and "NextToken" in pages  # the emulator really paginates


def test_many_topics_past_the_api_page(aws: EmbeddedAws) -> None:
    sns = client(aws, "sns")
    for n in range(105):  # ListTopics returns 100 per page
        sns.create_topic(Name=f"topic-{n}")

    result = audit(aws, services=["sns"])

    assert len(result.facts.sns_topics) == 105


def test_denied_regional_calls_are_findings(aws: EmbeddedAws) -> None:
    client(aws, "ec2").create_security_group(GroupName="g", Description="d")
    client(aws, "sqs").create_queue(QueueName="q1")
    auditor = role_session(
        aws,
        "auditor",
        [{"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "sqs:ListQueues"], "Resource": "*"}],
    )

    with iam_enforced(aws):
        result = audit(aws, session=auditor, services=["ec2", "sqs"])

    messages = sorted(f.message for f in result.findings if f.rule_id == ACCESS_DENIED_RULE)
    assert any("AccessDenied on ec2:DescribeSecurityGroups" in m for m in messages)
    assert any(m.endswith("on q1: AccessDenied on sqs:GetQueueAttributes") for m in messages)
    assert rule_ids(result) == {ACCESS_DENIED_RULE}
    assert json.dumps([f.finding_id for f in result.findings])  # ids exist and are strings


# moto names some S3 reads differently from IAM: the encryption, object-lock, ownership-controls and
# public-access-block sub-resources as s3:ListBucket, the account's block as s3:GetPublicAccessBlock.
MOTO_ACTION_NAMES = ["s3:ListBucket", "s3:GetPublicAccessBlock"]


def test_the_listed_actions_are_all_an_audit_role_needs(aws: EmbeddedAws) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="camp-site")
    s3.put_bucket_policy(Bucket="camp-site", Policy=document([PUBLIC_READ]))
    client(aws, "sqs").create_queue(QueueName="q1")
    client(aws, "sns").create_topic(Name="t1")
    client(aws, "kms").create_key()
    client(aws, "ec2").create_security_group(GroupName="g", Description="d")
    client(aws, "iam").create_role(RoleName="helper", AssumeRolePolicyDocument=document([ANYONE_ASSUMES]))
    client(aws, "cloudtrail").create_trail(Name="org", S3BucketName="camp-site")
    actions = required_actions()
    assert not any("*" in a for a in actions) and "lambda:ListFunctions" in actions
    auditor = role_session(
        aws, "auditor", [{"Effect": "Allow", "Action": [*actions, *MOTO_ACTION_NAMES], "Resource": "*"}]
    )

    with iam_enforced(aws):
        # Not Lambda: under IAM enforcement moto rejects every Lambda request's signature.
        result = audit(aws, session=auditor, services=["s3", "iam", "ec2", "sqs", "sns", "kms", "cloudtrail"])

    assert [f.message for f in result.findings if f.rule_id == ACCESS_DENIED_RULE] == []
    assert result.facts.buckets and result.facts.iam_roles and result.facts.trails and result.facts.kms_keys
    assert result.facts.sqs_queues and result.facts.sns_topics and result.facts.security_groups


def test_bad_credentials_are_an_error_not_a_denial(aws: EmbeddedAws) -> None:
    client(aws, "sqs").create_queue(QueueName="q1")
    auditor = role_session(
        aws, "auditor", [{"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}]
    )

    with iam_enforced(aws), pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        audit(aws, session=auditor, services=["lambda"])  # moto answers Lambda with a signature error


def test_the_documented_audit_policy_is_the_programs() -> None:
    documented = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    block = documented.split("For account 111111111111:\n\n```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(block)["Statement"] == read_statements("111111111111")
