"""The fixers: for each rule an automatic change may fix, the aspects of the resource to change.

A fixer reads one aspect of one resource into a JSON value (the state recorded in the undo record), computes
the state that passes (a pure function, ``FixRefused`` when the change would not be safe), and writes a state
back; the same ``write`` restores the recorded state on undo. No fixer deletes data or a resource: the most a
fixer removes is a statement, an ACL grant, an ingress rule or a policy attachment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from bucketguard.audit.reader import GONE_CODES, Call, is_denied
from bucketguard.rules import policy_analysis as pa
from bucketguard.rules.catalogue.ec2 import opens_port_to_internet
from bucketguard.rules.catalogue.s3.public_access import (
    PUBLIC_GROUPS,
    READ_ACTIONS,
    READ_PERMISSIONS,
    WRITE_ACTIONS,
    WRITE_PERMISSIONS,
)
from bucketguard.rules.facts import IngressRule, parse_policy_document

State = Any  # a JSON value: what one fixer reads and writes


class FixRefused(Exception):
    """The change would not be safe; the message says why (reported as remediation_failed)."""


def describe_error(exc: Exception) -> str:
    """One line: what AWS refused and why."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in GONE_CODES:
            return f"the resource no longer exists ({code})"
        what = "AccessDenied" if is_denied(exc) else code
        message = str(error.get("Message", "")).splitlines()[0] if error.get("Message") else ""
        return f"{what} on {exc.operation_name}" + (f": {message}" if message else "")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Target:
    """The resource a finding names: its account, the region to call (None: the client's default, for
    IAM) and its ARN (``function-arn#sid`` for a Lambda permission, as the audit names it)."""

    account: str
    region: str | None
    arn: str

    @property
    def resource_id(self) -> str:
        """The last part of the ARN: a bucket, queue, group, key or principal name, or a function's."""
        return self.arn.split("#", 1)[0].rsplit(":", 1)[-1].rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Fixer:
    name: str
    service: str  # the boto3 client it uses
    change: str  # what the plan shows
    calls: tuple[Call, ...]  # every operation it may call while fixing (reads included): its IAM actions
    read: Callable[[Any, Target], State]
    desired: Callable[[State, Target], State]
    write: Callable[[Any, Target, State, State], None]  # (client, target, current, wanted)


def _call(operation: str, action: str | None = None) -> Call:
    return Call(operation, (), action=action)


def _absent(exc: ClientError, *codes: str) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in codes


def _document(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def _statements(document: Mapping[str, Any] | None) -> list[Any]:
    statements = (document or {}).get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _is_public(statement: Any, actions: tuple[str, ...] | None = None) -> bool:
    """A public Allow statement (covering one of `actions`, when given)."""
    return any(
        actions is None or pa.allows_any(public, actions)
        for public in pa.public_allow_statements(parse_policy_document({"Statement": [statement]}))
    )


def _without_public(
    document: dict[str, Any] | None,
    target: Target,
    *,
    may_empty: bool,
    actions: tuple[str, ...] | None = None,
) -> State:
    """The document without its public Allow statements (covering one of `actions`, when given: a fixer of
    public read leaves a public write statement the owner did not ask it to fix), the others kept in order."""
    statements = _statements(document)
    kept = [s for s in statements if not _is_public(s, actions)]
    if len(kept) == len(statements):
        return document
    if not kept:
        if not may_empty:
            raise FixRefused("every statement of the policy is public: removing them would leave none")
        return None
    return {**(document or {}), "Statement": kept}


# ------------------------------------------------------------------------------------------------ S3
def _bucket(target: Target) -> str:
    return target.arn.split(":::", 1)[-1]


def _read_acl(s3: Any, target: Target) -> State:
    acl = s3.get_bucket_acl(Bucket=_bucket(target))
    return {"Owner": acl["Owner"], "Grants": acl.get("Grants", [])}


def _grantee(grant: Mapping[str, Any]) -> str:
    grantee = grant.get("Grantee", {})
    return str(grantee.get("URI") or grantee.get("ID") or grantee.get("EmailAddress") or "")


def _without_public_grants(acl: State, target: Target, permissions: frozenset[str] | None = None) -> State:
    """The ACL without its grants to the public groups (of `permissions`, when given)."""

    def public(grant: Mapping[str, Any]) -> bool:
        return _grantee(grant) in PUBLIC_GROUPS and (
            permissions is None or grant.get("Permission") in permissions
        )

    return {**acl, "Grants": [g for g in acl["Grants"] if not public(g)]}


def _put_acl(s3: Any, target: Target, current: State, wanted: State) -> None:
    if current != wanted:
        s3.put_bucket_acl(Bucket=_bucket(target), AccessControlPolicy=wanted)


ENFORCED = "BucketOwnerEnforced"


def _read_ownership_and_acl(s3: Any, target: Target) -> State:
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=_bucket(target))["OwnershipControls"]["Rules"]
        ownership = rules[0]["ObjectOwnership"] if rules else None
    except ClientError as exc:
        if not _absent(exc, "OwnershipControlsNotFoundError"):
            raise
        ownership = None
    return {"ownership": ownership, "acl": _read_acl(s3, target)}


def _acls_disabled(state: State, target: Target) -> State:
    """Only the owner's grant may remain (public grants go anyway): turning ACLs off would silently
    revoke any other grant, such as the log delivery group's."""
    acl = _without_public_grants(state["acl"], target)
    owner = acl["Owner"].get("ID")
    others = [g for g in acl["Grants"] if g.get("Grantee", {}).get("ID") != owner]
    if others:
        grant = others[0]
        raise FixRefused(
            f"the ACL grants {grant.get('Permission')} to {_grantee(grant)}: disabling ACLs would revoke it"
        )
    return {"ownership": ENFORCED, "acl": acl}


def _write_ownership_and_acl(s3: Any, target: Target, current: State, wanted: State) -> None:
    def ownership() -> None:
        if current["ownership"] == wanted["ownership"]:
            return
        if wanted["ownership"] is None:
            s3.delete_bucket_ownership_controls(Bucket=_bucket(target))
        else:
            s3.put_bucket_ownership_controls(
                Bucket=_bucket(target),
                OwnershipControls={"Rules": [{"ObjectOwnership": wanted["ownership"]}]},
            )

    def acl() -> None:
        _put_acl(s3, target, current["acl"], wanted["acl"])

    # An ACL can be written only while ACLs are enabled: write it before enforcing, after un-enforcing.
    steps = (acl, ownership) if wanted["ownership"] == ENFORCED else (ownership, acl)
    for step in steps:
        step()


def _read_public_access_block(s3: Any, target: Target) -> State:
    try:
        return s3.get_public_access_block(Bucket=_bucket(target))["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _absent(exc, "NoSuchPublicAccessBlockConfiguration"):
            return None
        raise


BLOCK_ALL = dict.fromkeys(
    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
)


def _write_public_access_block(s3: Any, target: Target, current: State, wanted: State) -> None:
    if wanted is None:
        s3.delete_public_access_block(Bucket=_bucket(target))
    else:
        s3.put_public_access_block(Bucket=_bucket(target), PublicAccessBlockConfiguration=wanted)


def _read_bucket_policy(s3: Any, target: Target) -> State:
    try:
        return _document(s3.get_bucket_policy(Bucket=_bucket(target))["Policy"])
    except ClientError as exc:
        if _absent(exc, "NoSuchBucketPolicy"):
            return None
        raise


def _write_bucket_policy(s3: Any, target: Target, current: State, wanted: State) -> None:
    if wanted is None:
        s3.delete_bucket_policy(Bucket=_bucket(target))
    else:
        s3.put_bucket_policy(Bucket=_bucket(target), Policy=json.dumps(wanted))


TLS_SID = "BucketguardDenyInsecureTransport"


def _with_tls_only(document: State, target: Target) -> State:
    statements = _statements(document)
    if any(isinstance(s, Mapping) and s.get("Sid") == TLS_SID for s in statements):
        return document
    bucket = f"arn:aws:s3:::{_bucket(target)}"
    deny = {
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket, f"{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return {"Version": "2012-10-17", **(document or {}), "Statement": [*statements, deny]}


USABLE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def _read_encryption(s3: Any, target: Target) -> State:
    try:
        return s3.get_bucket_encryption(Bucket=_bucket(target))["ServerSideEncryptionConfiguration"]
    except ClientError as exc:
        if _absent(exc, "ServerSideEncryptionConfigurationNotFoundError"):
            return None
        raise


def _encryption_on(state: State, target: Target) -> State:
    rules = (state or {}).get("Rules") or [{}]
    algorithm = rules[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
    return state if state is None or algorithm in USABLE_ALGORITHMS else SSE_S3


def _write_encryption(s3: Any, target: Target, current: State, wanted: State) -> None:
    if wanted is None:
        s3.delete_bucket_encryption(Bucket=_bucket(target))
    else:
        s3.put_bucket_encryption(Bucket=_bucket(target), ServerSideEncryptionConfiguration=wanted)


def _read_versioning(s3: Any, target: Target) -> State:
    return s3.get_bucket_versioning(Bucket=_bucket(target)).get("Status")


def _write_versioning(s3: Any, target: Target, current: State, wanted: State) -> None:
    # A bucket never versioned cannot go back to that state: undo suspends versioning (objects are kept).
    s3.put_bucket_versioning(
        Bucket=_bucket(target), VersioningConfiguration={"Status": wanted or "Suspended"}
    )


# ---------------------------------------------------------------------------------- SQS, SNS and KMS
def _queue_url(sqs: Any, target: Target) -> str:
    return str(
        sqs.get_queue_url(QueueName=target.resource_id, QueueOwnerAWSAccountId=target.account)["QueueUrl"]
    )


def _read_queue_policy(sqs: Any, target: Target) -> State:
    url = _queue_url(sqs, target)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
    return _document(attributes.get("Policy"))


def _write_queue_policy(sqs: Any, target: Target, current: State, wanted: State) -> None:
    policy = json.dumps(wanted) if wanted is not None else ""
    sqs.set_queue_attributes(QueueUrl=_queue_url(sqs, target), Attributes={"Policy": policy})


def _read_topic_policy(sns: Any, target: Target) -> State:
    return _document(sns.get_topic_attributes(TopicArn=target.arn)["Attributes"].get("Policy"))


def _write_topic_policy(sns: Any, target: Target, current: State, wanted: State) -> None:
    sns.set_topic_attributes(TopicArn=target.arn, AttributeName="Policy", AttributeValue=json.dumps(wanted))


def _read_key_policy(kms: Any, target: Target) -> State:
    return _document(kms.get_key_policy(KeyId=target.arn, PolicyName="default")["Policy"])


def _write_key_policy(kms: Any, target: Target, current: State, wanted: State) -> None:
    kms.put_key_policy(KeyId=target.arn, PolicyName="default", Policy=json.dumps(wanted))


def _read_key_rotation(kms: Any, target: Target) -> State:
    return bool(kms.get_key_rotation_status(KeyId=target.arn).get("KeyRotationEnabled"))


def _write_key_rotation(kms: Any, target: Target, current: State, wanted: State) -> None:
    (kms.enable_key_rotation if wanted else kms.disable_key_rotation)(KeyId=target.arn)


# ------------------------------------------------------------------------------------------- Lambda
def _function_and_sid(target: Target) -> tuple[str, str]:
    function, _, sid = target.arn.partition("#")
    return function, sid


def _read_permission(client: Any, target: Target) -> State:
    """The statement the finding names, or None when the function's policy no longer has it."""
    function, sid = _function_and_sid(target)
    try:
        policy = _document(client.get_policy(FunctionName=function)["Policy"])
    except ClientError as exc:
        if _absent(exc, "ResourceNotFoundException"):
            return None
        raise
    return next((s for s in _statements(policy) if s.get("Sid") == sid), None)


def _condition_value(statement: Mapping[str, Any], key: str) -> str | None:
    for values in (statement.get("Condition") or {}).values():
        for name, value in values.items():
            if name.lower() == key.lower():
                return str(value[0] if isinstance(value, list) else value)
    return None


PERMISSION_CONDITIONS = (
    ("SourceArn", "aws:SourceArn"),
    ("SourceAccount", "aws:SourceAccount"),
    ("PrincipalOrgID", "aws:PrincipalOrgID"),
    ("FunctionUrlAuthType", "lambda:FunctionUrlAuthType"),
    ("EventSourceToken", "lambda:EventSourceToken"),
)


def permission_arguments(function: str, statement: Mapping[str, Any]) -> dict[str, Any]:
    """AddPermission's arguments that make ``statement`` again (the inverse of what Lambda writes)."""
    principal = statement.get("Principal", "*")
    if isinstance(principal, Mapping):
        principal = next(iter(principal.values()))
    root = str(principal).removesuffix(":root")
    principal = root.rsplit(":", 1)[-1] if root != principal else principal
    action = statement.get("Action")
    arguments: dict[str, Any] = {
        "FunctionName": function,
        "StatementId": statement["Sid"],
        "Action": action[0] if isinstance(action, list) else action,
        "Principal": principal,
    }
    resource = str(statement.get("Resource", function))
    if resource.startswith(function + ":"):
        arguments["Qualifier"] = resource[len(function) + 1 :]
    for argument, key in PERMISSION_CONDITIONS:
        value = _condition_value(statement, key)
        if value is not None:
            arguments[argument] = value
    return arguments


def _write_permission(client: Any, target: Target, current: State, wanted: State) -> None:
    function, sid = _function_and_sid(target)
    if wanted is None:
        client.remove_permission(FunctionName=function, StatementId=sid)
    else:
        client.add_permission(**permission_arguments(function, wanted))


def _read_url_auth(client: Any, target: Target) -> State:
    return client.get_function_url_config(FunctionName=target.arn)["AuthType"]


def _write_url_auth(client: Any, target: Target, current: State, wanted: State) -> None:
    client.update_function_url_config(FunctionName=target.arn, AuthType=wanted)


# ---------------------------------------------------------------------------------------------- EC2
RANGES = (("IpRanges", "CidrIp"), ("Ipv6Ranges", "CidrIpv6"))


def _open_to_world(port: int) -> Callable[[Any, Target], State]:
    """Each (protocol, ports, one 0.0.0.0/0 or ::/0 range) of the group that reaches ``port``."""

    def read(ec2: Any, target: Target) -> State:
        [group] = ec2.describe_security_groups(GroupIds=[target.resource_id])["SecurityGroups"]
        opened = []
        for permission in group.get("IpPermissions", ()):
            head = {k: permission[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in permission}
            for ranges, key in RANGES:
                for entry in permission.get(ranges, ()):
                    cidrs = ((entry[key],), ()) if key == "CidrIp" else ((), (entry[key],))
                    ingress = IngressRule(
                        str(head.get("IpProtocol", "-1")), head.get("FromPort"), head.get("ToPort"), *cidrs
                    )
                    if opens_port_to_internet(ingress, port):
                        opened.append({**head, ranges: [entry]})
        return opened

    return read


def _without_descriptions(permission: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as RevokeSecurityGroupIngress matches it: by protocol, ports and range, not description."""
    bare = dict(permission)
    for ranges, key in RANGES:
        if ranges in bare:
            bare[ranges] = [{key: entry[key]} for entry in bare[ranges]]
    return bare


def _write_ingress(ec2: Any, target: Target, current: State, wanted: State) -> None:
    revoke = [_without_descriptions(p) for p in current if p not in wanted]
    grant = [p for p in wanted if p not in current]
    if revoke:
        ec2.revoke_security_group_ingress(GroupId=target.resource_id, IpPermissions=revoke)
    if grant:
        ec2.authorize_security_group_ingress(GroupId=target.resource_id, IpPermissions=grant)


# ---------------------------------------------------------------------------------------------- IAM
PRINCIPAL_KINDS = ("role", "user", "group")


def _principal(target: Target) -> tuple[str, str]:
    """(role | user | group, its name) from the principal's ARN."""
    kind = target.arn.split(":", 5)[-1].split("/", 1)[0]
    if kind not in PRINCIPAL_KINDS:
        raise FixRefused(f"{target.arn} is not a role, user or group")
    return kind, target.resource_id


def _read_admin_attachments(iam: Any, target: Target) -> State:
    kind, name = _principal(target)
    pages = iam.get_paginator(f"list_attached_{kind}_policies").paginate(**{f"{kind.title()}Name": name})
    arns = [str(p["PolicyArn"]) for page in pages for p in page.get("AttachedPolicies", ())]
    return sorted(a for a in arns if pa.ADMIN_POLICY_ARN.match(a))


def _write_admin_attachments(iam: Any, target: Target, current: State, wanted: State) -> None:
    kind, name = _principal(target)
    for arn in sorted(set(current) - set(wanted)):
        getattr(iam, f"detach_{kind}_policy")(**{f"{kind.title()}Name": name, "PolicyArn": arn})
    for arn in sorted(set(wanted) - set(current)):
        getattr(iam, f"attach_{kind}_policy")(**{f"{kind.title()}Name": name, "PolicyArn": arn})


# ---------------------------------------------------------------------------------------- CloudTrail
def _read_logging(client: Any, target: Target) -> State:
    if ":trail/" not in target.arn:
        raise FixRefused("the account has no trail to restart (creating one is not automatic)")
    return bool(client.get_trail_status(Name=target.arn).get("IsLogging"))


def _write_logging(client: Any, target: Target, current: State, wanted: State) -> None:
    (client.start_logging if wanted else client.stop_logging)(Name=target.arn)


# ------------------------------------------------------------------------------------------ the list
def _constant(value: State) -> Callable[[State, Target], State]:
    return lambda state, target: value


def _policy_fixer(
    name: str, service: str, calls: tuple[Call, ...], read: Any, write: Any, *, may_empty: bool
) -> Fixer:
    return Fixer(
        name,
        service,
        "remove the policy statements that allow anyone (the others are kept)",
        calls,
        read,
        lambda state, target: _without_public(state, target, may_empty=may_empty),
        write,
    )


GET_BUCKET_POLICY = _call("get_bucket_policy")
BUCKET_POLICY_CALLS = (GET_BUCKET_POLICY, _call("put_bucket_policy"), _call("delete_bucket_policy"))


def _public_bucket_fixers(
    access: str, permissions: frozenset[str], actions: tuple[str, ...]
) -> tuple[Fixer, ...]:
    """The fixers of public `access` (read | write): only the grants and statements giving that access go,
    so fixing public read never takes away a public write the owner did not ask to fix (nor the reverse)."""
    return (
        Fixer(
            f"bucket_acl_public_{access}_grants_removed",
            "s3",
            f"remove the ACL grants of {access} access to AllUsers and AuthenticatedUsers",
            (_call("get_bucket_acl"), _call("put_bucket_acl")),
            _read_acl,
            lambda state, target: _without_public_grants(state, target, permissions),
            _put_acl,
        ),
        Fixer(
            f"bucket_policy_public_{access}_statements_removed",
            "s3",
            f"remove the policy statements that allow anyone {access} access (the others are kept)",
            BUCKET_POLICY_CALLS,
            _read_bucket_policy,
            lambda state, target: _without_public(state, target, may_empty=True, actions=actions),
            _write_bucket_policy,
        ),
    )


BUCKET_PUBLIC_READ = _public_bucket_fixers("read", READ_PERMISSIONS, READ_ACTIONS)
BUCKET_PUBLIC_WRITE = _public_bucket_fixers("write", WRITE_PERMISSIONS, WRITE_ACTIONS)
BUCKET_ACLS_DISABLED = Fixer(
    "bucket_acls_disabled",
    "s3",
    "set the ACL private and object ownership BucketOwnerEnforced",
    (
        _call("get_bucket_ownership_controls"),
        _call("get_bucket_acl"),
        _call("put_bucket_acl"),
        _call("put_bucket_ownership_controls"),
    ),
    _read_ownership_and_acl,
    _acls_disabled,
    _write_ownership_and_acl,
)
BUCKET_PUBLIC_ACCESS_BLOCK = Fixer(
    "bucket_public_access_block_on",
    "s3",
    "turn on all four Block Public Access settings of the bucket",
    (
        _call("get_public_access_block", "s3:GetBucketPublicAccessBlock"),
        _call("put_public_access_block", "s3:PutBucketPublicAccessBlock"),
    ),
    _read_public_access_block,
    _constant(BLOCK_ALL),
    _write_public_access_block,
)
BUCKET_TLS_ONLY = Fixer(
    "bucket_policy_tls_only",
    "s3",
    f"add a statement ({TLS_SID}) denying requests without TLS",
    (GET_BUCKET_POLICY, _call("put_bucket_policy")),
    _read_bucket_policy,
    _with_tls_only,
    _write_bucket_policy,
)
BUCKET_ENCRYPTION = Fixer(
    "bucket_default_encryption_on",
    "s3",
    "set default encryption to SSE-S3 (AES256)",
    (
        _call("get_bucket_encryption", "s3:GetEncryptionConfiguration"),
        _call("put_bucket_encryption", "s3:PutEncryptionConfiguration"),
    ),
    _read_encryption,
    _encryption_on,
    _write_encryption,
)
BUCKET_VERSIONING = Fixer(
    "bucket_versioning_on",
    "s3",
    "turn on versioning",
    (_call("get_bucket_versioning"), _call("put_bucket_versioning")),
    _read_versioning,
    _constant("Enabled"),
    _write_versioning,
)
QUEUE_POLICY_PUBLIC = _policy_fixer(
    "queue_policy_public_statements_removed",
    "sqs",
    (_call("get_queue_url"), _call("get_queue_attributes"), _call("set_queue_attributes")),
    _read_queue_policy,
    _write_queue_policy,
    may_empty=True,
)
TOPIC_POLICY_PUBLIC = _policy_fixer(
    "topic_policy_public_statements_removed",
    "sns",
    (_call("get_topic_attributes"), _call("set_topic_attributes")),
    _read_topic_policy,
    _write_topic_policy,
    may_empty=False,  # a topic always has a policy
)
KEY_POLICY_PUBLIC = _policy_fixer(
    "key_policy_public_statements_removed",
    "kms",
    (_call("get_key_policy"), _call("put_key_policy")),
    _read_key_policy,
    _write_key_policy,
    may_empty=False,  # a key always has a policy
)
KEY_ROTATION = Fixer(
    "key_rotation_on",
    "kms",
    "turn on automatic key rotation",
    (_call("get_key_rotation_status"), _call("enable_key_rotation")),
    _read_key_rotation,
    _constant(True),
    _write_key_rotation,
)
LAMBDA_PERMISSION = Fixer(
    "lambda_public_permission_removed",
    "lambda",
    "remove the permission statement that lets anyone invoke the function",
    (_call("get_policy"), _call("remove_permission")),
    _read_permission,
    _constant(None),
    _write_permission,
)
FUNCTION_URL_AUTH = Fixer(
    "function_url_auth_iam",
    "lambda",
    "set the function URL's auth type to AWS_IAM",
    (_call("get_function_url_config"), _call("update_function_url_config")),
    _read_url_auth,
    _constant("AWS_IAM"),
    _write_url_auth,
)


def _ingress_fixer(port: int, service: str) -> Fixer:
    return Fixer(
        f"{service.lower()}_from_anywhere_revoked",
        "ec2",
        f"revoke the ingress rules opening port {port} to 0.0.0.0/0 or ::/0 (the group's other rules stay)",
        (_call("describe_security_groups"), _call("revoke_security_group_ingress")),
        _open_to_world(port),
        _constant([]),
        _write_ingress,
    )


ADMIN_DETACHED = Fixer(
    "administrator_access_detached",
    "iam",
    "detach AdministratorAccess and IAMFullAccess from the principal",
    (
        *(_call(f"list_attached_{kind}_policies") for kind in PRINCIPAL_KINDS),
        *(_call(f"detach_{kind}_policy") for kind in PRINCIPAL_KINDS),
    ),
    _read_admin_attachments,
    _constant([]),
    _write_admin_attachments,
)
TRAIL_LOGGING = Fixer(
    "trail_logging_restarted",
    "cloudtrail",
    "start the trail's logging again",
    (_call("get_trail_status"), _call("start_logging")),
    _read_logging,
    _constant(True),
    _write_logging,
)

# rule id -> the fixers that make it pass, applied in this order.
FIXERS: Mapping[str, tuple[Fixer, ...]] = {
    "s3_bucket_public_read_prohibited": BUCKET_PUBLIC_READ,
    "s3_bucket_public_write_prohibited": BUCKET_PUBLIC_WRITE,
    "s3_bucket_acls_disabled": (BUCKET_ACLS_DISABLED,),
    "s3_bucket_public_access_block_enabled": (BUCKET_PUBLIC_ACCESS_BLOCK,),
    "s3_bucket_secure_transport_required": (BUCKET_TLS_ONLY,),
    "s3_bucket_default_encryption_enabled": (BUCKET_ENCRYPTION,),
    "s3_bucket_versioning_enabled": (BUCKET_VERSIONING,),
    "sqs_queue_public_access_prohibited": (QUEUE_POLICY_PUBLIC,),
    "sns_topic_public_access_prohibited": (TOPIC_POLICY_PUBLIC,),
    "kms_key_public_access_prohibited": (KEY_POLICY_PUBLIC,),
    "kms_key_rotation_enabled": (KEY_ROTATION,),
    "lambda_permission_public_access_prohibited": (LAMBDA_PERMISSION,),
    "lambda_function_url_auth_required": (FUNCTION_URL_AUTH,),
    "ec2_security_group_ssh_restricted": (_ingress_fixer(22, "SSH"),),
    "ec2_security_group_rdp_restricted": (_ingress_fixer(3389, "RDP"),),
    "iam_principal_administrator_access_prohibited": (ADMIN_DETACHED,),
    "cloudtrail_trail_enabled": (TRAIL_LOGGING,),
}
# Fixed only when named explicitly (--rule, or the monitor's remediate list): detaching AdministratorAccess
# can break a workload that relies on it.
OPT_IN_RULES = frozenset({"iam_principal_administrator_access_prohibited"})
FIXERS_BY_NAME: Mapping[str, Fixer] = {f.name: f for fixers in FIXERS.values() for f in fixers}
# Undo records written before public read and write were fixed apart name the fixers of that time: the same
# reads and writes of the bucket's ACL and policy.
UNDOABLE_BY_NAME: Mapping[str, Fixer] = {
    **FIXERS_BY_NAME,
    "bucket_acl_public_grants_removed": BUCKET_PUBLIC_READ[0],
    "bucket_policy_public_statements_removed": BUCKET_PUBLIC_READ[1],
}
