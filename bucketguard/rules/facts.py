"""The neutral facts model the misconfiguration rules read: plain frozen dataclasses, no pulumi, no boto3.

How an adapter fills it (the Pulumi adapter in policy_pack/, the boto3 collector in bucketguard/audit/):

* One facts object per resource the rules judge (``BucketFacts`` per bucket, ``SqsQueueFacts`` per queue...),
  gathered into one ``StackFacts``. Settings that AWS keeps in separate resources (bucket ACL, policy,
  public-access-block, ownership controls, encryption, versioning, logging, website, notifications; queue and
  topic policies; role policy attachments) are JOINED by the adapter onto the facts of the resource they
  configure, so a rule never has to look for them.
* ``name`` is the resource's logical name as the user knows it (Pulumi resource name; bucket name or ARN for
  a live account). ``ref`` is an opaque id the adapter wants back on findings (Pulumi URN, ARN); rules never
  read it.
* A setting the program does not state is left at ``None``: **None means "not configured, AWS applies its
  default"**. The rules, not the adapters, decide what that default is (documented per rule, as AWS behaves
  today for a NEW resource: bucket Block Public Access all on, ACLs disabled by BucketOwnerEnforced, SSE-S3
  default encryption, SQS SSE-SQS on; SNS unencrypted, KMS rotation off, versioning/logging off).
  A live-account collector therefore fills the EFFECTIVE state it observes instead of None: a bucket with no
  public-access-block configuration is ``PublicAccessBlock(False, False, False, False)``; no ownership
  controls is ``object_ownership="ObjectWriter"``; no encryption configuration is impossible today.
* Policy documents go through :func:`parse_policy_document` (JSON text or dict -> ``PolicyStatement`` tuple)
  so both adapters normalise them identically: single values become tuples, actions and condition keys are
  lower-cased (IAM compares them case-insensitively), ``"Principal": "*"`` becomes ``Principal("*", "*")``.
* ``tags`` are the resource's own tags (Pulumi ``tags``, plus provider default tags when the adapter knows
  them).
* ``StackFacts.resources`` lists EVERY resource once more as a plain ``ResourceFacts`` (type, name, region):
  the region rule judges only that list, so typed facts are never judged twice.
* ``BucketFacts.receives_access_logs`` is True when another bucket's logging (or a trail) targets it.

Scanning coverage (rule ``s3_bucket_malware_scanning_enabled``): the adapter marks a notification target
``is_bucketguard_listener=True`` when it is a bucketguard storage stack's listener, as the deployment
knows it: a child of a ``bucketguard:*:StorageStack`` component (preview), or one of the listener queues
the program made (``bucketguard.audit.run.join``, live). A ``bucketguard:role=listener`` tag proves nothing:
anyone who may tag a queue writes it. Buckets
that bucketguard itself creates carry ``bucketguard:role`` = quarantine | promote | logs | internal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Tags and group URIs the rules know by name (defined once, imported by adapters and infra).
PROTECTED_TAG = "bucketguard:protected"  # value "true": scanned by a storage stack deployed elsewhere
ROLE_TAG = "bucketguard:role"  # quarantine | promote | logs | internal | listener
EXEMPT_BUCKET_ROLES = frozenset({"quarantine", "promote", "logs", "internal"})
LISTENER_ROLE = "listener"

ALL_USERS_URI = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS_URI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


class PolicyDocumentError(ValueError):
    """A policy document that is not valid JSON or not shaped like an IAM policy."""


# --------------------------------------------------------------------------------------------- policies
@dataclass(frozen=True)
class Principal:
    """One principal of a statement. ``kind``: ``*`` (the bare ``"Principal": "*"``), AWS, Service,
    Federated or CanonicalUser. ``value``: an ARN, account id, service name or ``*``."""

    kind: str
    value: str

    @property
    def is_everyone(self) -> bool:
        return self.value == "*" and self.kind in ("*", "AWS")


@dataclass(frozen=True)
class Condition:
    """One ``operator: {key: values}`` entry. ``key`` is lower-cased; values are strings (``true``)."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class PolicyStatement:
    effect: str  # "Allow" | "Deny"
    principals: tuple[Principal, ...] = ()
    actions: tuple[str, ...] = ()  # lower-cased: "s3:getobject", "s3:*", "*"
    resources: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    not_principal: bool = False  # principals came from NotPrincipal
    not_action: bool = False  # actions came from NotAction
    not_resource: bool = False  # resources came from NotResource
    sid: str | None = None

    @property
    def is_allow(self) -> bool:
        return self.effect == "Allow"

    @property
    def principal_is_everyone(self) -> bool:
        """True when the statement applies to anyone: Principal ``*``/``{"AWS": "*"}`` or any NotPrincipal."""
        return self.not_principal or any(p.is_everyone for p in self.principals)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(_scalar(v) for v in value)
    return (_scalar(value),)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value
    raise PolicyDocumentError(f"expected a string, got {type(value).__name__}: {value!r}")


def _principals(value: Any) -> tuple[Principal, ...]:
    if value is None:
        return ()
    if value == "*":
        return (Principal("*", "*"),)
    if not isinstance(value, Mapping):
        raise PolicyDocumentError(f"Principal must be '*' or an object, got {value!r}")
    return tuple(Principal(str(kind), v) for kind, values in value.items() for v in _as_tuple(values))


def _conditions(value: Any) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise PolicyDocumentError(f"Condition must be an object, got {value!r}")
    result: list[Condition] = []
    for operator, entries in value.items():
        if not isinstance(entries, Mapping):
            raise PolicyDocumentError(f"Condition operator {operator} must map keys to values")
        result.extend(Condition(str(operator), str(key).lower(), _as_tuple(v)) for key, v in entries.items())
    return tuple(result)


def parse_statement(raw: Mapping[str, Any]) -> PolicyStatement:
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyDocumentError(f"statement Effect must be Allow or Deny, got {effect!r}")
    not_principal = "NotPrincipal" in raw
    not_action = "NotAction" in raw
    not_resource = "NotResource" in raw
    return PolicyStatement(
        effect=str(effect),
        principals=_principals(raw.get("NotPrincipal" if not_principal else "Principal")),
        actions=tuple(a.lower() for a in _as_tuple(raw.get("NotAction" if not_action else "Action"))),
        resources=_as_tuple(raw.get("NotResource" if not_resource else "Resource")),
        conditions=_conditions(raw.get("Condition")),
        not_principal=not_principal,
        not_action=not_action,
        not_resource=not_resource,
        sid=str(raw["Sid"]) if raw.get("Sid") is not None else None,
    )


def parse_policy_document(document: str | Mapping[str, Any] | None) -> tuple[PolicyStatement, ...]:
    """JSON text or a dict -> normalised statements. ``None`` or ``""`` -> no statements."""
    if document is None or document == "":
        return ()
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise PolicyDocumentError(f"policy is not valid JSON: {exc}") from exc
    if not isinstance(document, Mapping):
        raise PolicyDocumentError("policy document must be a JSON object")
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyDocumentError("policy Statement must be an object or a list")
    if not all(isinstance(s, Mapping) for s in statements):
        raise PolicyDocumentError("each policy statement must be an object")
    return tuple(parse_statement(s) for s in statements)


# ------------------------------------------------------------------------------------------ base facts
@dataclass(frozen=True, kw_only=True)
class ResourceFacts:
    """Any cloud resource: what the region rule reads. ``type`` is the provider type token or an AWS
    type (``aws:s3/bucket:Bucket``, ``AWS::S3::Bucket``); ``region`` None = unknown (the rule is silent)."""

    kind: ClassVar[str] = "resource"
    name: str
    type: str = ""
    region: str | None = None
    ref: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Fields whose value is not known yet (a Pulumi preview, before the resources they are computed from
    # exist), each with what it is and where it comes from; ``"*"`` = every field but the identity above.
    # A rule that reads one of them cannot decide for this resource (``Rule.evaluate_known``).
    unknown: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------- S3
@dataclass(frozen=True)
class AclGrant:
    """``grantee_type``: Group | CanonicalUser | AmazonCustomerByEmail; ``grantee``: URI, id or email;
    ``permission``: READ | WRITE | READ_ACP | WRITE_ACP | FULL_CONTROL."""

    grantee_type: str
    grantee: str
    permission: str


@dataclass(frozen=True)
class PublicAccessBlock:
    """One public-access-block resource. A flag the resource leaves out is False (the API's default)."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @property
    def missing_flags(self) -> tuple[str, ...]:
        return tuple(
            name
            for name in (
                "block_public_acls",
                "ignore_public_acls",
                "block_public_policy",
                "restrict_public_buckets",
            )
            if not getattr(self, name)
        )


@dataclass(frozen=True)
class Encryption:
    """Default encryption. ``algorithm``: AES256 | aws:kms | aws:kms:dsse, or None when a configuration
    resource exists without a usable rule."""

    algorithm: str | None
    kms_key_id: str | None = None
    bucket_key_enabled: bool | None = None


@dataclass(frozen=True)
class Logging:
    target_bucket: str
    target_prefix: str = ""


@dataclass(frozen=True)
class NotificationTarget:
    """One notification: ``kind`` queue | topic | lambda | eventbridge; ``events`` as S3 names
    (``s3:ObjectCreated:*``); EventBridge delivers every event (``events`` = ``("*",)``)."""

    kind: str
    target: str  # ARN or resource name; "" for EventBridge
    events: tuple[str, ...] = ()
    filter_prefix: str = ""
    filter_suffix: str = ""
    is_bucketguard_listener: bool = False


@dataclass(frozen=True, kw_only=True)
class BucketFacts(ResourceFacts):
    """An S3 bucket with every separate configuration resource joined onto it."""

    kind: ClassVar[str] = "s3_bucket"
    bucket_name: str | None = None  # the physical name when known
    account_id: str | None = None
    canned_acl: str | None = None  # "private", "public-read"...; None = not set (private)
    acl_grants: tuple[AclGrant, ...] = ()
    policy: tuple[PolicyStatement, ...] = ()
    public_access_block: PublicAccessBlock | None = None  # None = no resource = AWS default (all four on)
    object_ownership: str | None = None  # None = AWS default BucketOwnerEnforced
    encryption: Encryption | None = None  # None = AWS default SSE-S3 (AES256)
    versioning: str | None = None  # "Enabled" | "Suspended" | None (never enabled)
    mfa_delete: bool | None = None  # None = off
    object_lock_enabled: bool | None = None  # None = off
    logging: Logging | None = None  # None = off
    website: bool = False  # a website configuration exists
    notifications: tuple[NotificationTarget, ...] = ()
    receives_access_logs: bool = False  # another bucket's access logs (or CloudTrail's) are written here
    # False: a bucket the stack configures but does not create (a policy on an existing bucket). Only what
    # the stack declares is known of it: rules that judge a setting's absence skip it.
    created: bool = True


# ---------------------------------------------------------------------------------------------- Lambda
@dataclass(frozen=True, kw_only=True)
class LambdaPermissionFacts(ResourceFacts):
    """An ``aws.lambda_.Permission`` (or one statement of a live function's resource policy)."""

    kind: ClassVar[str] = "lambda_permission"
    function_name: str = ""
    action: str = "lambda:InvokeFunction"
    principal: str = ""  # "*", an account id, an ARN or a service ("s3.amazonaws.com")
    source_arn: str | None = None
    source_account: str | None = None
    principal_org_id: str | None = None
    function_url_auth_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class LambdaFunctionUrlFacts(ResourceFacts):
    kind: ClassVar[str] = "lambda_function_url"
    function_name: str = ""
    authorization_type: str = "AWS_IAM"  # "NONE" | "AWS_IAM" (required by the API: no default)


@dataclass(frozen=True, kw_only=True)
class LambdaFunctionFacts(ResourceFacts):
    """A function joined with its execution role: the role's inline and attached policy statements and the
    ARNs of the managed policies attached to it."""

    kind: ClassVar[str] = "lambda_function"
    role: str | None = None  # role ARN or name
    role_statements: tuple[PolicyStatement, ...] = ()
    role_managed_policy_arns: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------- SQS / SNS
@dataclass(frozen=True, kw_only=True)
class SqsQueueFacts(ResourceFacts):
    kind: ClassVar[str] = "sqs_queue"
    policy: tuple[PolicyStatement, ...] = ()  # queue policy (inline or a separate QueuePolicy), joined
    kms_master_key_id: str | None = None
    sqs_managed_sse_enabled: bool | None = None  # None = AWS default: SSE-SQS on for new queues


@dataclass(frozen=True, kw_only=True)
class SnsTopicFacts(ResourceFacts):
    kind: ClassVar[str] = "sns_topic"
    policy: tuple[PolicyStatement, ...] = ()
    kms_master_key_id: str | None = None  # None = AWS default: not encrypted at rest


# ------------------------------------------------------------------------------------------------- KMS
@dataclass(frozen=True, kw_only=True)
class KmsKeyFacts(ResourceFacts):
    kind: ClassVar[str] = "kms_key"
    rotation_enabled: bool | None = None  # None = AWS default: off
    key_spec: str | None = None  # None = SYMMETRIC_DEFAULT
    key_usage: str | None = None  # None = ENCRYPT_DECRYPT
    policy: tuple[PolicyStatement, ...] = ()  # () = the default key policy (the account root only)


# ------------------------------------------------------------------------------------------------- IAM
@dataclass(frozen=True, kw_only=True)
class IamPolicyFacts(ResourceFacts):
    """A policy document: a managed policy, or an inline policy of a role, user or group."""

    kind: ClassVar[str] = "iam_policy"
    statements: tuple[PolicyStatement, ...] = ()
    attached_to: str | None = None  # the role/user/group for inline policies


@dataclass(frozen=True, kw_only=True)
class IamAttachmentFacts(ResourceFacts):
    """A managed policy attached to a principal (RolePolicyAttachment, UserPolicyAttachment,
    GroupPolicyAttachment, PolicyAttachment, or a role's ``managed_policy_arns``)."""

    kind: ClassVar[str] = "iam_attachment"
    principal_type: str = ""  # role | user | group
    principal_name: str = ""
    policy_arn: str = ""


@dataclass(frozen=True, kw_only=True)
class IamRoleFacts(ResourceFacts):
    kind: ClassVar[str] = "iam_role"
    trust_policy: tuple[PolicyStatement, ...] = ()


# ------------------------------------------------------------------------------------------------- EC2
@dataclass(frozen=True)
class IngressRule:
    """``protocol``: tcp | udp | icmp | -1 (all, also written "all"); ports inclusive; -1/0..65535 = all."""

    protocol: str
    from_port: int | None
    to_port: int | None
    cidr_ipv4: tuple[str, ...] = ()
    cidr_ipv6: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SecurityGroupFacts(ResourceFacts):
    """A security group with its inline ingress rules, or one standalone ingress rule resource (then
    ``ingress`` has one element)."""

    kind: ClassVar[str] = "ec2_security_group"
    ingress: tuple[IngressRule, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Ec2InstanceFacts(ResourceFacts):
    kind: ClassVar[str] = "ec2_instance"
    associate_public_ip_address: bool | None = None  # None = the subnet decides
    subnet_id: str | None = None  # None = the default VPC's default subnet, which maps public IPs
    subnet_maps_public_ip_on_launch: bool | None = None  # when the adapter knows the subnet


# ------------------------------------------------------------------------------------------ CloudTrail
@dataclass(frozen=True, kw_only=True)
class TrailFacts(ResourceFacts):
    kind: ClassVar[str] = "cloudtrail_trail"
    is_multi_region: bool | None = None  # None = AWS default: single region
    log_file_validation: bool | None = None  # None = AWS default: off
    s3_data_events: frozenset[str] = frozenset()  # subset of {"read", "write"} logged for S3 objects
    is_logging: bool | None = None  # None = not known (a Pulumi trail logs unless enable_logging=False)


# ----------------------------------------------------------------------------------------------- stack
@dataclass(frozen=True)
class StackFacts:
    """Everything one stack (or one account/region for the audit) contains. ``resources`` lists every
    resource, typed or not, for stack-wide rules such as the region rule."""

    buckets: tuple[BucketFacts, ...] = ()
    account_public_access_block: PublicAccessBlock | None = None  # None = not managed here
    lambda_permissions: tuple[LambdaPermissionFacts, ...] = ()
    lambda_function_urls: tuple[LambdaFunctionUrlFacts, ...] = ()
    lambda_functions: tuple[LambdaFunctionFacts, ...] = ()
    sqs_queues: tuple[SqsQueueFacts, ...] = ()
    sns_topics: tuple[SnsTopicFacts, ...] = ()
    kms_keys: tuple[KmsKeyFacts, ...] = ()
    iam_policies: tuple[IamPolicyFacts, ...] = ()
    iam_attachments: tuple[IamAttachmentFacts, ...] = ()
    iam_roles: tuple[IamRoleFacts, ...] = ()
    security_groups: tuple[SecurityGroupFacts, ...] = ()
    ec2_instances: tuple[Ec2InstanceFacts, ...] = ()
    trails: tuple[TrailFacts, ...] = ()
    resources: tuple[ResourceFacts, ...] = ()

    def typed_resources(self) -> Iterable[ResourceFacts]:
        """Every typed facts object, in field order."""
        for group in (
            self.buckets,
            self.lambda_permissions,
            self.lambda_function_urls,
            self.lambda_functions,
            self.sqs_queues,
            self.sns_topics,
            self.kms_keys,
            self.iam_policies,
            self.iam_attachments,
            self.iam_roles,
            self.security_groups,
            self.ec2_instances,
            self.trails,
        ):
            yield from group
