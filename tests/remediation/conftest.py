"""Remediation fixtures: moto's server (the audit's fixture), and each fixable misconfiguration made in it
through boto3 as a scenario: make it, audit it, fix it, undo it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore import xform_name

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.run import AuditFinding
from bucketguard.rules.facts import ALL_USERS_URI
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session
from tests.audit.conftest import ACCOUNT, REGION, audit, client, document, lambda_zip

ANYONE = "*"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedAws]:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # AdministratorAccess exists
    with EmbeddedAws() as embedded:
        yield embedded


ROOT = f"arn:aws:iam::{ACCOUNT}:root"


@dataclass(frozen=True)
class Scenario:
    """A real misconfiguration: ``make`` creates it in moto and returns the ARN the audit names."""

    name: str
    rule_id: str
    make: Callable[[EmbeddedAws], str]
    services: tuple[str, ...]


def findings(aws: EmbeddedAws, services: tuple[str, ...]) -> list[AuditFinding]:
    return audit(aws, services=services).findings


def failing(aws: EmbeddedAws, services: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(f.rule_id, f.arn) for f in findings(aws, services)}


class RecordingFactory(ClientFactory):
    """Clients that note every operation they call (service, boto3 method name) while ``recording``."""

    def __init__(self, session: boto3.Session, **options: Any) -> None:
        super().__init__(session, **options)
        self.recorded: set[tuple[str, str]] = set()
        self.recording = False

    def _note(self, model: Any, **_: Any) -> None:
        if self.recording:
            self.recorded.add((model.service_model.service_name, xform_name(model.name)))

    def client(self, service: str, region: str | None = None) -> Any:
        made = super().client(service, region)
        made.meta.events.register_first("before-call", self._note, unique_id="recording")
        return made


def clients(aws: EmbeddedAws, session: boto3.Session | None = None) -> RecordingFactory:
    return RecordingFactory(session or bootstrap_session(), endpoint_url=aws.endpoint_url)


# ------------------------------------------------------------------------------------------- scenarios
def _bucket(aws: EmbeddedAws, name: str) -> Any:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=name)
    return s3


def public_acl(aws: EmbeddedAws) -> str:
    s3 = _bucket(aws, "acl-public")
    s3.put_bucket_ownership_controls(
        Bucket="acl-public", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_bucket_acl(Bucket="acl-public", ACL="public-read")
    return "arn:aws:s3:::acl-public"


def public_write_policy(aws: EmbeddedAws) -> str:
    s3 = _bucket(aws, "policy-public")
    statements = [
        {
            "Sid": "Team",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::policy-public/*",
        },
        {
            "Sid": "Anyone",
            "Effect": "Allow",
            "Principal": ANYONE,
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::policy-public/*",
        },
    ]
    s3.put_bucket_policy(Bucket="policy-public", Policy=document(statements))
    return "arn:aws:s3:::policy-public"


def only_public_policy(aws: EmbeddedAws) -> str:
    s3 = _bucket(aws, "policy-all-public")
    statement = {
        "Effect": "Allow",
        "Principal": ANYONE,
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::policy-all-public/*",
    }
    s3.put_bucket_policy(Bucket="policy-all-public", Policy=document([statement]))
    return "arn:aws:s3:::policy-all-public"


def public_read_policy(aws: EmbeddedAws) -> str:
    s3 = _bucket(aws, "policy-public-read")
    team = {
        "Sid": "Team",
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::policy-public-read/*",
    }
    anyone = {**team, "Sid": "Anyone", "Principal": ANYONE, "Action": "s3:GetObject"}
    s3.put_bucket_policy(Bucket="policy-public-read", Policy=document([team, anyone]))
    return "arn:aws:s3:::policy-public-read"


def public_write_acl_and_policy(aws: EmbeddedAws) -> str:
    """Anyone may write through the ACL (moto keeps a WRITE grant only when it is given whole) and through
    the policy's one statement."""
    s3 = _bucket(aws, "write-public")
    s3.put_bucket_ownership_controls(
        Bucket="write-public", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    owner = s3.get_bucket_acl(Bucket="write-public")["Owner"]
    s3.put_bucket_acl(
        Bucket="write-public",
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
                {"Grantee": {"Type": "Group", "URI": ALL_USERS_URI}, "Permission": "WRITE"},
            ],
        },
    )
    statement = {
        "Effect": "Allow",
        "Principal": ANYONE,
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::write-public/*",
    }
    s3.put_bucket_policy(Bucket="write-public", Policy=document([statement]))
    return "arn:aws:s3:::write-public"


def acls_enabled(aws: EmbeddedAws) -> str:
    s3 = _bucket(aws, "acls-on")
    s3.put_bucket_ownership_controls(
        Bucket="acls-on", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_bucket_acl(Bucket="acls-on", ACL="public-read")  # goes too: disabling ACLs drops it
    return "arn:aws:s3:::acls-on"


def public_access_block_off(aws: EmbeddedAws) -> str:
    s3 = _bucket(aws, "bpa-off")
    s3.put_public_access_block(
        Bucket="bpa-off",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    return "arn:aws:s3:::bpa-off"


def plain_http_allowed(aws: EmbeddedAws) -> str:
    _bucket(aws, "no-tls")
    return "arn:aws:s3:::no-tls"


def unusable_encryption(aws: EmbeddedAws) -> str:
    """Real S3 refuses an unknown algorithm; moto stores it: the nearest a live bucket gets to failing."""
    s3 = _bucket(aws, "bad-sse")
    sse = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "ROT13"}}]}
    s3.put_bucket_encryption(Bucket="bad-sse", ServerSideEncryptionConfiguration=sse)
    return "arn:aws:s3:::bad-sse"


def versioning_suspended(aws: EmbeddedAws) -> str:
    s3 = _bucket(aws, "suspended")
    s3.put_bucket_versioning(Bucket="suspended", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(Bucket="suspended", VersioningConfiguration={"Status": "Suspended"})
    return "arn:aws:s3:::suspended"


def public_queue(aws: EmbeddedAws) -> str:
    sqs = client(aws, "sqs")
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:open-queue"
    statements = [
        {
            "Sid": "Anyone",
            "Effect": "Allow",
            "Principal": ANYONE,
            "Action": "sqs:SendMessage",
            "Resource": arn,
        },
        {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sqs:*", "Resource": arn},
    ]
    sqs.create_queue(QueueName="open-queue", Attributes={"Policy": document(statements)})
    return arn


def public_topic(aws: EmbeddedAws) -> str:
    sns = client(aws, "sns")
    arn = str(sns.create_topic(Name="open-topic")["TopicArn"])
    policy = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
    policy["Statement"].append(
        {"Sid": "Anyone", "Effect": "Allow", "Principal": ANYONE, "Action": "sns:Publish", "Resource": arn}
    )
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy))
    return arn


def _key(aws: EmbeddedAws, policy: str | None = None) -> str:
    kms = client(aws, "kms")
    extra = {"Policy": policy} if policy else {}
    return str(kms.create_key(**extra)["KeyMetadata"]["Arn"])


def public_key(aws: EmbeddedAws) -> str:
    statements = [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Anyone", "Effect": "Allow", "Principal": ANYONE, "Action": "kms:Decrypt", "Resource": "*"},
    ]
    arn = _key(aws, document(statements))
    client(aws, "kms").enable_key_rotation(KeyId=arn)
    return arn


def unrotated_key(aws: EmbeddedAws) -> str:
    return _key(aws)


def _function(aws: EmbeddedAws, name: str) -> str:
    iam = client(aws, "iam")
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    try:
        role = iam.get_role(RoleName="fn-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=document([trust]))["Role"]["Arn"]
    function = client(aws, "lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": lambda_zip()},
    )
    return str(function["FunctionArn"])


def public_permission(aws: EmbeddedAws) -> str:
    arn = _function(aws, "open-fn")
    client(aws, "lambda").add_permission(
        FunctionName="open-fn", StatementId="anyone", Action="lambda:InvokeFunction", Principal=ANYONE
    )
    return f"{arn}#anyone"


def url_without_auth(aws: EmbeddedAws) -> str:
    arn = _function(aws, "url-fn")
    client(aws, "lambda").create_function_url_config(FunctionName="url-fn", AuthType="NONE")
    return arn


def _group(aws: EmbeddedAws, name: str, permissions: list[dict[str, Any]]) -> str:
    ec2 = client(aws, "ec2")
    group = ec2.create_security_group(GroupName=name, Description=name)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group}"


def ssh_open(aws: EmbeddedAws) -> str:
    return _group(
        aws,
        "ssh-open",
        [
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [
                    {"CidrIp": "0.0.0.0/0", "Description": "for a minute"},
                    {"CidrIp": "10.0.0.0/8"},
                ],
            },
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )


def rdp_open(aws: EmbeddedAws) -> str:
    return _group(
        aws,
        "rdp-open",
        [
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ],
    )


def trail_stopped(aws: EmbeddedAws) -> str:
    _bucket(aws, "trail-logs")
    cloudtrail = client(aws, "cloudtrail")
    arn = str(cloudtrail.create_trail(Name="camp-trail", S3BucketName="trail-logs")["TrailARN"])
    cloudtrail.start_logging(Name=arn)
    cloudtrail.stop_logging(Name=arn)  # "for maintenance"
    return arn


ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _admin(kind: str, policy_arn: str = ADMIN) -> Callable[[EmbeddedAws], str]:
    def make(aws: EmbeddedAws) -> str:
        iam = client(aws, "iam")
        name = f"helper-{kind}" if policy_arn == ADMIN else f"{policy_arn.rsplit('/', 1)[1].lower()}-{kind}"
        if kind == "role":
            trust = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}
            arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=document([trust]))["Role"]["Arn"]
        elif kind == "user":
            arn = iam.create_user(UserName=name)["User"]["Arn"]
        else:
            arn = iam.create_group(GroupName=name)["Group"]["Arn"]
        getattr(iam, f"attach_{kind}_policy")(**{f"{kind.title()}Name": name, "PolicyArn": policy_arn})
        return str(arn)

    return make


SCENARIOS = (
    Scenario("public-acl", "s3_bucket_public_read_prohibited", public_acl, ("s3",)),
    Scenario("public-write-policy", "s3_bucket_public_write_prohibited", public_write_policy, ("s3",)),
    Scenario("only-public-policy", "s3_bucket_public_read_prohibited", only_public_policy, ("s3",)),
    Scenario("public-read-policy", "s3_bucket_public_read_prohibited", public_read_policy, ("s3",)),
    Scenario(
        "public-write-acl-and-policy",
        "s3_bucket_public_write_prohibited",
        public_write_acl_and_policy,
        ("s3",),
    ),
    Scenario("acls-enabled", "s3_bucket_acls_disabled", acls_enabled, ("s3",)),
    Scenario(
        "public-access-block", "s3_bucket_public_access_block_enabled", public_access_block_off, ("s3",)
    ),
    Scenario("tls", "s3_bucket_secure_transport_required", plain_http_allowed, ("s3",)),
    Scenario("encryption", "s3_bucket_default_encryption_enabled", unusable_encryption, ("s3",)),
    Scenario("versioning", "s3_bucket_versioning_enabled", versioning_suspended, ("s3",)),
    Scenario("queue", "sqs_queue_public_access_prohibited", public_queue, ("sqs",)),
    Scenario("topic", "sns_topic_public_access_prohibited", public_topic, ("sns",)),
    Scenario("key-policy", "kms_key_public_access_prohibited", public_key, ("kms",)),
    Scenario("key-rotation", "kms_key_rotation_enabled", unrotated_key, ("kms",)),
    Scenario(
        "lambda-permission", "lambda_permission_public_access_prohibited", public_permission, ("lambda",)
    ),
    Scenario("function-url", "lambda_function_url_auth_required", url_without_auth, ("lambda",)),
    Scenario("ssh", "ec2_security_group_ssh_restricted", ssh_open, ("ec2",)),
    Scenario("rdp", "ec2_security_group_rdp_restricted", rdp_open, ("ec2",)),
    Scenario("trail-logging", "cloudtrail_trail_enabled", trail_stopped, ("cloudtrail",)),
    *(
        Scenario(f"admin-{kind}", "iam_principal_administrator_access_prohibited", _admin(kind), ("iam",))
        for kind in ("role", "user", "group")
    ),
    # iam:* attaches AdministratorAccess in one call: the same rule, the same fixer.
    Scenario(
        "iam-full-access",
        "iam_principal_administrator_access_prohibited",
        _admin("user", "arn:aws:iam::aws:policy/IAMFullAccess"),
        ("iam",),
    ),
)
