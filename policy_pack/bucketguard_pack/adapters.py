"""Pulumi resources -> the catalogue's facts (`bucketguard.rules.facts`).

Input: the resources of one stack as the engine hands them to a stack policy (outputs, provider inputs,
parent, dependencies, property dependencies). Property values are read through the SDK's unknown-checking
proxy. At a preview, what the provider computes for a resource not created yet (id, arn, url) is unknown,
so:

* JOINS (which bucket a policy configures) follow what the engine knows: the property's dependencies (the
  URNs the input was computed from), then the resource's dependencies, then its parent; values are compared
  only when those name no candidate.
* A setting whose value is unknown is recorded in the facts' `unknown` field (what it is, what it is
  computed from): a rule that needs it cannot decide for that resource, every other rule still does.
* An unknown identifier inside a known structure (the `Resource` of a policy statement, a permission's
  `source_arn`) is a specific ARN or name once created, never a wildcard: it stands as `computed(...)`.

Absent settings stay `None` in the facts: the rules judge them by what AWS does by default.
Type tokens are pulumi-aws v7's, plus the older `...V2` tokens still accepted by v7.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pulumi_policy import PolicyResource
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from bucketguard.rules.catalogue.region import GLOBAL_EVENT_SOURCES, GLOBAL_EVENTS_REGION
from bucketguard.rules.facts import (
    AclGrant,
    BucketFacts,
    Ec2InstanceFacts,
    Encryption,
    IamAttachmentFacts,
    IamPolicyFacts,
    IamRoleFacts,
    IngressRule,
    KmsKeyFacts,
    LambdaFunctionFacts,
    LambdaFunctionUrlFacts,
    LambdaPermissionFacts,
    Logging,
    NotificationTarget,
    PolicyStatement,
    PublicAccessBlock,
    ResourceFacts,
    SecurityGroupFacts,
    SnsTopicFacts,
    SqsQueueFacts,
    StackFacts,
    TrailFacts,
    parse_policy_document,
)
from bucketguard.templates import TEMPLATE_INPUT_TYPE

# ------------------------------------------------------------------------------------------ type tokens
BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
BUCKET_ACL_TYPES = frozenset({"aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"})
BUCKET_POLICY_TYPES = frozenset({"aws:s3/bucketPolicy:BucketPolicy"})
BUCKET_PAB_TYPES = frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"})
ACCOUNT_PAB_TYPES = frozenset({"aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"})
BUCKET_OWNERSHIP_TYPES = frozenset({"aws:s3/bucketOwnershipControls:BucketOwnershipControls"})
BUCKET_SSE_TYPES = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
BUCKET_VERSIONING_TYPES = frozenset(
    {
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketVersioningV2:BucketVersioningV2",
    }
)
BUCKET_LOGGING_TYPES = frozenset(
    {"aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2"}
)
BUCKET_WEBSITE_TYPES = frozenset(
    {
        "aws:s3/bucketWebsiteConfiguration:BucketWebsiteConfiguration",
        "aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2",
    }
)
BUCKET_NOTIFICATION_TYPES = frozenset({"aws:s3/bucketNotification:BucketNotification"})
BUCKET_OBJECT_LOCK_TYPES = frozenset(
    {
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
    }
)
LAMBDA_PERMISSION_TYPES = frozenset({"aws:lambda/permission:Permission"})
LAMBDA_URL_TYPES = frozenset({"aws:lambda/functionUrl:FunctionUrl"})
LAMBDA_FUNCTION_TYPES = frozenset({"aws:lambda/function:Function"})
SQS_QUEUE_TYPES = frozenset({"aws:sqs/queue:Queue"})
SQS_QUEUE_POLICY_TYPES = frozenset({"aws:sqs/queuePolicy:QueuePolicy"})
SNS_TOPIC_TYPES = frozenset({"aws:sns/topic:Topic"})
SNS_TOPIC_POLICY_TYPES = frozenset({"aws:sns/topicPolicy:TopicPolicy"})
KMS_KEY_TYPES = frozenset({"aws:kms/key:Key"})
KMS_KEY_POLICY_TYPES = frozenset({"aws:kms/keyPolicy:KeyPolicy"})
IAM_ROLE_TYPES = frozenset({"aws:iam/role:Role"})
IAM_MANAGED_POLICY_TYPES = frozenset({"aws:iam/policy:Policy"})
IAM_INLINE_POLICY_TYPES = {
    "aws:iam/rolePolicy:RolePolicy": "role",
    "aws:iam/userPolicy:UserPolicy": "user",
    "aws:iam/groupPolicy:GroupPolicy": "group",
}
# Every resource that attaches managed policies: type -> (principal kind, the property naming the
# principal(s), the property holding the policy ARN(s)); PolicyAttachment names roles, users and groups.
IAM_ATTACHMENT_SHAPES = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (("role", "role", "policyArn"),),
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": (("user", "user", "policyArn"),),
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": (("group", "group", "policyArn"),),
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": (
        ("role", "roleName", "policyArns"),
    ),
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive": (
        ("user", "userName", "policyArns"),
    ),
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive": (
        ("group", "groupName", "policyArns"),
    ),
    "aws:iam/policyAttachment:PolicyAttachment": (
        ("role", "roles", "policyArn"),
        ("user", "users", "policyArn"),
        ("group", "groups", "policyArn"),
    ),
}
SECURITY_GROUP_TYPES = frozenset({"aws:ec2/securityGroup:SecurityGroup"})
SECURITY_GROUP_INGRESS_RULE_TYPES = frozenset({"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"})
SECURITY_GROUP_RULE_TYPES = frozenset({"aws:ec2/securityGroupRule:SecurityGroupRule"})
EC2_INSTANCE_TYPES = frozenset({"aws:ec2/instance:Instance"})
EC2_SUBNET_TYPES = frozenset({"aws:ec2/subnet:Subnet"})
TRAIL_TYPES = frozenset({"aws:cloudtrail/trail:Trail"})
EVENT_RULE_TYPES = frozenset({"aws:cloudwatch/eventRule:EventRule"})
EVENT_TARGET_TYPES = frozenset({"aws:cloudwatch/eventTarget:EventTarget"})

PAB_FLAGS = ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
STORAGE_STACK_SUFFIX = ":StorageStack"  # bucketguard:<area>:StorageStack components hold the listener
_NOT_CLOUD = ("pulumi:",)
TEMPLATE_INPUT_MARK = "could not evaluate: depends on "
T = TypeVar("T")  # the root stack and providers are not cloud resources


# --------------------------------------------------------------------------------------------- resources
@dataclass(frozen=True)
class Resource:
    """One resource of the stack: what the adapters read, whether it came from the SDK or a recording."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    provider_props: Mapping[str, Any] | None = None
    parent: str | None = None
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    dependencies: Sequence[str] = ()
    custom: bool = True


def from_policy_resources(resources: Iterable[PolicyResource]) -> list[Resource]:
    """The SDK's `StackValidationArgs.resources` -> `Resource`s (props stay behind the unknown proxy)."""
    return [
        Resource(
            type=r.resource_type,
            name=r.name,
            urn=r.urn,
            props=r.props,
            provider_props=r.provider.props if r.provider is not None else None,
            parent=r.parent.urn if r.parent is not None else (r.opts.parent or None),
            property_dependencies={k: [d.urn for d in v] for k, v in r.property_dependencies.items()},
            dependencies=[d.urn for d in r.dependencies],
        )
        for r in resources
    ]


def from_wire(
    *,
    type: str,
    name: str,
    urn: str,
    properties: Mapping[str, Any],
    provider_properties: Mapping[str, Any] | None = None,
    parent: str | None = None,
    property_dependencies: Mapping[str, Sequence[str]] | None = None,
    dependencies: Sequence[str] = (),
) -> Resource:
    """A resource from the engine's wire form (JSON of the gRPC Struct), through the SDK's own
    deserialiser and unknown-checking proxy so secrets and unknowns behave as under the engine."""
    provider = None
    if provider_properties is not None:
        provider = unknown_checking_proxy(deserialize_properties(dict(provider_properties)))
    return Resource(
        type=type,
        name=name,
        urn=urn,
        props=unknown_checking_proxy(deserialize_properties(dict(properties))),
        provider_props=provider,
        parent=parent or None,
        property_dependencies=dict(property_dependencies or {}),
        dependencies=list(dependencies),
    )


# ------------------------------------------------------------------------------------------ value reads
def _get(props: Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """Read one property; an unknown value raises UnknownValueError (left to the SDK)."""
    if props is None:
        return default
    value = props.get(key, default)
    return default if value is None else value


def _known(props: Mapping[str, Any] | None, key: str) -> Any:
    """For matching candidates only: an unknown identity cannot equal a known value, so it is None here."""
    try:
        return _get(props, key)
    except UnknownValueError:
        return None


def _bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "enabled", "1")
    return bool(value)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(float(value))


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def computed(what: str) -> str:
    """Stands for an identifier known only once its resource exists: a specific value, not a wildcard."""
    return f"computed({what})"


# Statement keys whose unknown values are still identifiers (ARNs): the decision of a public-access rule
# does not depend on which ARN it turns out to be.
_IDENTIFIER_KEYS = frozenset({"Resource", "NotResource"})


def _statements(document: Any) -> tuple[PolicyStatement, ...]:
    if isinstance(document, Mapping):
        document = json.loads(json.dumps(dict(_plain(document))))
    return parse_policy_document(document)


def _plain(value: Any, key: str = "") -> Any:
    """Proxy containers -> plain dicts/lists, reading every element: an unknown raises, except under a
    statement's Resource, where it stands as `computed(...)`."""
    if isinstance(value, Mapping):
        return {k: _plain_item(value, k, k) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain_item(value, i, key) for i in range(len(value))]
    return value


def _plain_item(container: Any, index: Any, key: str) -> Any:
    try:
        return _plain(container[index], key)
    except UnknownValueError:
        if key in _IDENTIFIER_KEYS:
            return computed(key)
        raise


# Global services have no region, whatever the provider says (the region rule would misjudge them).
GLOBAL_TYPE_PREFIXES = ("aws:iam/", "aws:cloudfront/", "aws:organizations/")


def region_of(resource: Resource) -> str | None:
    """pulumi-aws v7 resources may override the region; otherwise the provider's region decides. None for
    global services and when neither sets one; UnknownValueError when it is computed."""
    if resource.type.startswith(GLOBAL_TYPE_PREFIXES):
        return None
    region = _get(resource.props, "region") or _get(resource.provider_props, "region")
    return str(region) if region else None


def tags_of(resource: Resource) -> dict[str, str]:
    """The resource's tags over the provider's default tags (as AWS ends up applying them)."""
    tags: dict[str, str] = {}
    default_tags = _get(resource.provider_props, "defaultTags")
    if isinstance(default_tags, str):
        default_tags = json.loads(default_tags)
    if isinstance(default_tags, Mapping):
        tags.update(_known_strings(_get(default_tags, "tags", {})))
    tags.update(_known_strings(_get(resource.props, "tags")))
    return tags


def _known_strings(mapping: Any) -> dict[str, str]:
    """A tag map's known entries (a tag computed from an unknown value matches no exemption yet)."""
    if not isinstance(mapping, Mapping):
        return {}
    return {str(k): str(v) for k in mapping if (v := _known(mapping, k)) is not None}


def _known_region(resource: Resource) -> str | None:
    try:
        return region_of(resource)
    except UnknownValueError:
        return None  # the region rule alone reads it, from generic_facts


def _identity(resource: Resource) -> dict[str, Any]:
    """The fields every facts object carries (ResourceFacts), read the same way for every resource."""
    return {
        "name": resource.name,
        "type": resource.type,
        "region": _known_region(resource),
        "ref": resource.urn,
        "tags": tags_of(resource),
    }


# ------------------------------------------------------------------------------------------------ joins
class StackIndex:
    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = resources
        self.by_urn = {r.urn: r for r in resources}

    def of_types(self, types: Iterable[str]) -> list[Resource]:
        wanted = frozenset(types)
        return [r for r in self.resources if r.type in wanted]

    def target(
        self,
        resource: Resource,
        prop: str,
        candidates: Sequence[Resource],
        identities: Callable[[Resource], Iterable[Any]],
    ) -> Resource | None:
        """The resource among `candidates` that `resource.<prop>` points at: the one the property was
        computed from when the engine names exactly one (known at preview too); else by value; a value
        unknown at preview falls back to the resource's dependencies, then its parent."""
        candidate_urns = {c.urn: c for c in candidates}

        def only_candidate(urns: Iterable[str]) -> Resource | None:
            depended = [candidate_urns[u] for u in dict.fromkeys(urns) if u in candidate_urns]
            return depended[0] if len(depended) == 1 else None

        found = only_candidate(resource.property_dependencies.get(prop, ()))
        if found is not None:
            return found
        try:
            value = _get(resource.props, prop)
        except UnknownValueError:
            found = only_candidate(resource.dependencies) or only_candidate([resource.parent or ""])
            if found is not None:
                return found
            raise
        if value is None:
            return None
        value = str(value)
        for candidate in candidates:
            if value in {str(i) for i in identities(candidate) if i}:
                return candidate
        return None

    def unknown(self, resource: Resource, error: UnknownValueError) -> str:
        """What is unknown and what it is computed from, for a rule that cannot decide at preview."""
        path = ".".join(str(p) for p in error.props)
        origins = [
            self.by_urn[u]
            for u in resource.property_dependencies.get(str(error.props[0]) if error.props else "", ())
            if u in self.by_urn
        ]
        inputs = [o.name for o in origins if o.type == TEMPLATE_INPUT_TYPE]
        if inputs:
            # A template's parameter or import: known only when the template is deployed.
            return f"the {path} of {resource.name}: {TEMPLATE_INPUT_MARK}{', '.join(inputs)}"
        source = ", ".join(o.name for o in origins) or "the provider"
        return f"the {path} of {resource.name} ({resource.type}), computed from {source} once created"

    def ancestors(self, resource: Resource) -> Iterable[Resource]:
        seen: set[str] = set()
        parent = resource.parent
        while parent and parent not in seen and parent in self.by_urn:
            seen.add(parent)
            current = self.by_urn[parent]
            yield current
            parent = current.parent


def _each(
    index: StackIndex,
    resources: Iterable[Resource],
    facts_type: Callable[..., T],
    build: Callable[[Resource], T],
) -> tuple[T, ...]:
    """`build` each resource; one whose inputs are unknown at preview keeps only its identity, marked
    unknown, so rules decide for every other resource."""
    result = []
    for resource in resources:
        try:
            result.append(build(resource))
        except UnknownValueError as error:
            result.append(facts_type(**_identity(resource), unknown={"*": index.unknown(resource, error)}))
    return tuple(result)


def _identifier(
    index: StackIndex, resource: Resource, prop: str, made_by: frozenset[str] | None = None
) -> str:
    """An input naming another resource (a function, a source ARN or account). Unknown at preview, it is
    still one specific value: the resource it is computed from, when the engine names exactly one."""
    try:
        return str(_get(resource.props, prop, ""))
    except UnknownValueError:
        origins = _origins(index, resource, prop, made_by)
        return computed(", ".join(o.name for o in origins) or prop)


def _origins(
    index: StackIndex, resource: Resource, dependency: str, made_by: frozenset[str] | None
) -> list[Resource]:
    """The resources an input unknown at preview is computed from. With `made_by` (the types whose own
    identifier it names: a policy ARN from an `aws.iam.Policy`), a value computed from anything else may be
    any value at all (an AWS-managed policy's ARN built from a role's partition): UnknownValueError."""
    depended = resource.property_dependencies.get(dependency, ())
    origins = [index.by_urn[u] for u in depended if u in index.by_urn]
    if made_by is not None and (not origins or any(o.type not in made_by for o in origins)):
        raise UnknownValueError(UNKNOWN_STRING_VALUE, [dependency])
    return origins


def _bucket_identities(bucket: Resource) -> tuple[Any, ...]:
    return (
        _known(bucket.props, "bucket"),
        _known(bucket.props, "id"),
        _known(bucket.props, "arn"),
        bucket.name,
    )


def _arn_identities(resource: Resource) -> tuple[Any, ...]:
    return (
        _known(resource.props, "arn"),
        _known(resource.props, "id"),
        _known(resource.props, "name"),
        _known(resource.props, "url"),
        resource.name,
    )


# -------------------------------------------------------------------------------------------------- S3
def _grants_from_acp(acp: Any) -> list[AclGrant]:
    grants = []
    for grant in _get(acp, "grants", ()) or ():
        grantee = _get(grant, "grantee", {})
        grantee_type = str(_get(grantee, "type", ""))
        who = _get(grantee, "uri") or _get(grantee, "id") or _get(grantee, "emailAddress") or ""
        grants.append(AclGrant(grantee_type, str(who), str(_get(grant, "permission", ""))))
    return grants


def _block(props: Any, key: str) -> Any:
    """An inline block of `aws.s3.Bucket` (`versioning`), or the first of the deprecated `BucketV2`'s list
    (`versionings`)."""
    block = _get(props, key)
    if block is None:
        blocks = _get(props, key + "s", ()) or ()
        block = blocks[0] if len(blocks) else None
    return block


def _first(props: Any, key: str) -> Any:
    """`rule` of a v7 block, or the first of a `BucketV2` block's `rules`-style list."""
    return _block(props, key) or {}


def _inline_acl(props: Any, s: dict[str, Any]) -> None:
    if _get(props, "acl"):
        s["canned_acl"] = str(_get(props, "acl"))
    grants: list[AclGrant] = []
    for grant in _get(props, "grants", ()) or ():
        who = _get(grant, "uri") or _get(grant, "id") or ""
        grants.extend(
            AclGrant(str(_get(grant, "type", "")), str(who), str(p)) for p in _get(grant, "permissions", ())
        )
    if grants:
        s["acl_grants"] = tuple(grants)


def _inline_policy(props: Any, s: dict[str, Any]) -> None:
    if _get(props, "policy"):
        s["policy"] = _statements(_get(props, "policy"))


def _inline_versioning(props: Any, s: dict[str, Any]) -> None:
    versioning = _block(props, "versioning")
    if versioning:
        enabled = _bool(_get(versioning, "enabled"))
        if enabled is not None:
            s["versioning"] = "Enabled" if enabled else "Suspended"
        if _bool(_get(versioning, "mfaDelete")) is not None:
            s["mfa_delete"] = _bool(_get(versioning, "mfaDelete"))


def _inline_logging(props: Any, s: dict[str, Any]) -> None:
    logging = _block(props, "logging")
    if logging and _get(logging, "targetBucket"):
        s["logging"] = Logging(str(_get(logging, "targetBucket")), str(_get(logging, "targetPrefix", "")))


def _inline_encryption(props: Any, s: dict[str, Any]) -> None:
    sse = _block(props, "serverSideEncryptionConfiguration")
    if sse:
        rule = _first(sse, "rule")
        default = _first(rule, "applyServerSideEncryptionByDefault")
        s["encryption"] = Encryption(
            _get(default, "sseAlgorithm"),
            _get(default, "kmsMasterKeyId"),
            _bool(_get(rule, "bucketKeyEnabled")),
        )


def _inline_website(props: Any, s: dict[str, Any]) -> None:
    if _block(props, "website"):
        s["website"] = True


def _inline_object_lock(props: Any, s: dict[str, Any]) -> None:
    lock = _bool(_get(props, "objectLockEnabled"))
    if lock is not None:
        s["object_lock_enabled"] = lock


# Settings `aws.s3.Bucket` still accepts inline (deprecated in v7 but honoured; `BucketV2` spells the blocks
# as lists): (the BucketFacts fields each sets, how). One unknown leaves the others decided.
_INLINE_SETTINGS: tuple[tuple[tuple[str, ...], Callable[[Any, dict[str, Any]], None]], ...] = (
    (("canned_acl", "acl_grants"), _inline_acl),
    (("policy",), _inline_policy),
    (("versioning", "mfa_delete"), _inline_versioning),
    (("logging",), _inline_logging),
    (("encryption",), _inline_encryption),
    (("website",), _inline_website),
    (("object_lock_enabled",), _inline_object_lock),
)


def _is_listener(index: StackIndex, target: Resource | None) -> bool:
    """A queue of a bucketguard storage: the program says so by making it one, not by tagging it."""
    if target is None:
        return False
    return any(
        a.type.startswith("bucketguard:") and a.type.endswith(STORAGE_STACK_SUFFIX)
        for a in index.ancestors(target)
    )


def _notification_targets(index: StackIndex, notification: Resource) -> list[NotificationTarget]:
    targets: list[NotificationTarget] = []
    kinds = (
        ("queues", "queueArn", "queue"),
        ("topics", "topicArn", "topic"),
        ("lambdaFunctions", "lambdaFunctionArn", "lambda"),
    )
    for prop, arn_key, kind in kinds:
        entries = _get(notification.props, prop, ()) or ()
        depended = [
            index.by_urn[u] for u in notification.property_dependencies.get(prop, ()) if u in index.by_urn
        ]
        for entry in entries:
            try:
                target_value = str(_get(entry, arn_key, ""))
            except UnknownValueError:
                # Unknown ARN at preview: the dependency names the target when it is the only one.
                if len(entries) != 1 or len(depended) != 1:
                    raise
                target_value = depended[0].urn
            target = next(
                (
                    d
                    for d in depended
                    if target_value in {str(i) for i in _arn_identities(d) if i} or target_value == d.urn
                ),
                None,
            )
            if target is None and len(entries) == 1 and len(depended) == 1:
                target = depended[0]
            targets.append(
                NotificationTarget(
                    kind=kind,
                    target=target_value,
                    events=_strings(_get(entry, "events")),
                    filter_prefix=str(_get(entry, "filterPrefix", "")),
                    filter_suffix=str(_get(entry, "filterSuffix", "")),
                    is_bucketguard_listener=_is_listener(index, target),
                )
            )
    if _bool(_get(notification.props, "eventbridge")):
        targets.append(NotificationTarget(kind="eventbridge", target="", events=("*",)))
    return targets


def _acl(sub: Resource, s: dict[str, Any]) -> None:
    if _get(sub.props, "acl"):
        s["canned_acl"] = str(_get(sub.props, "acl"))
    acp = _get(sub.props, "accessControlPolicy")
    if acp:
        s["acl_grants"] = (*s.get("acl_grants", ()), *_grants_from_acp(acp))


def _bucket_policy(sub: Resource, s: dict[str, Any]) -> None:
    s["policy"] = (*s.get("policy", ()), *_statements(_get(sub.props, "policy")))


def _public_access_block(sub: Resource, s: dict[str, Any]) -> None:
    s["public_access_block"] = PublicAccessBlock(*(bool(_bool(_get(sub.props, flag))) for flag in PAB_FLAGS))


def _ownership(sub: Resource, s: dict[str, Any]) -> None:
    ownership = _get(_get(sub.props, "rule", {}), "objectOwnership")
    s["object_ownership"] = str(ownership) if ownership else None


def _encryption(sub: Resource, s: dict[str, Any]) -> None:
    rules = list(_get(sub.props, "rules", ()) or ())
    default = _get(rules[0], "applyServerSideEncryptionByDefault", {}) if rules else {}
    try:
        key_id = _get(default, "kmsMasterKeyId")
    except UnknownValueError:
        key_id = computed("kmsMasterKeyId")  # one specific key, created with the stack
    s["encryption"] = Encryption(
        _get(default, "sseAlgorithm"),
        key_id,
        _bool(_get(rules[0], "bucketKeyEnabled")) if rules else None,
    )


def _versioning(sub: Resource, s: dict[str, Any]) -> None:
    configuration = _get(sub.props, "versioningConfiguration", {})
    status = _get(configuration, "status")
    s["versioning"] = "Enabled" if status == "Enabled" else ("Suspended" if status else None)
    if _get(configuration, "mfaDelete") is not None:
        s["mfa_delete"] = _bool(_get(configuration, "mfaDelete"))


def _website(sub: Resource, s: dict[str, Any]) -> None:
    s["website"] = True


def _object_lock(sub: Resource, s: dict[str, Any]) -> None:
    s["object_lock_enabled"] = _get(sub.props, "objectLockEnabled", "Enabled") == "Enabled"


# Separate resources joined onto their bucket: (types, the BucketFacts fields they set, how).
BucketSetting = Callable[[Resource, dict[str, Any]], None]
_JOINED_SETTINGS: tuple[tuple[frozenset[str], tuple[str, ...], BucketSetting], ...] = (
    (BUCKET_ACL_TYPES, ("canned_acl", "acl_grants"), _acl),
    (BUCKET_POLICY_TYPES, ("policy",), _bucket_policy),
    (BUCKET_PAB_TYPES, ("public_access_block",), _public_access_block),
    (BUCKET_OWNERSHIP_TYPES, ("object_ownership",), _ownership),
    (BUCKET_SSE_TYPES, ("encryption",), _encryption),
    (BUCKET_VERSIONING_TYPES, ("versioning", "mfa_delete"), _versioning),
    (BUCKET_WEBSITE_TYPES, ("website",), _website),
    (BUCKET_OBJECT_LOCK_TYPES, ("object_lock_enabled",), _object_lock),
)


def bucket_facts(index: StackIndex) -> tuple[BucketFacts, ...]:
    """Every bucket the stack creates, and every bucket it configures without creating it (a policy, an ACL
    or a public access block on an existing bucket): those are judged on what the stack declares."""
    buckets = index.of_types(BUCKET_TYPES)
    settings: dict[str, dict[str, Any]] = {b.urn: {} for b in buckets}
    unknown: dict[str, dict[str, str]] = {b.urn: {} for b in buckets}
    for b in buckets:
        for names, read in _INLINE_SETTINGS:
            try:
                read(b.props, settings[b.urn])
            except UnknownValueError as error:
                unknown[b.urn].update(dict.fromkeys(names, index.unknown(b, error)))
    receives_logs: set[str] = set()
    external: dict[str, tuple[str, Resource]] = {}  # a setting's URN -> the bucket it names, the setting

    def configured(sub: Resource) -> str:
        """The key of the bucket `sub` configures: a bucket of the stack's URN. A bucket the stack does not
        create is judged on each setting alone, reported on the setting's resource."""
        try:
            bucket = index.target(sub, "bucket", buckets, _bucket_identities)
        except UnknownValueError:
            bucket = None  # computed from several resources: one specific bucket, unknown until created
        if bucket is not None:
            return bucket.urn
        external[sub.urn] = (_identifier(index, sub, "bucket"), sub)
        settings[sub.urn], unknown[sub.urn] = {}, {}
        return sub.urn

    def join(types: frozenset[str], names: tuple[str, ...], apply: BucketSetting) -> None:
        for sub in index.of_types(types):
            key = configured(sub)
            try:
                apply(sub, settings[key])
            except UnknownValueError as error:
                unknown[key].update(dict.fromkeys(names, index.unknown(sub, error)))

    for types, names, apply in _JOINED_SETTINGS:
        join(types, names, apply)

    def logging(sub: Resource, s: dict[str, Any]) -> None:
        target = index.target(sub, "targetBucket", buckets, _bucket_identities)
        if target is not None:
            receives_logs.add(target.urn)
            target_name = _known(target.props, "bucket") or target.name
        else:
            target_name = _get(sub.props, "targetBucket")
        s["logging"] = Logging(str(target_name), str(_get(sub.props, "targetPrefix", "")))

    def notifications(sub: Resource, s: dict[str, Any]) -> None:
        s["notifications"] = (*s.get("notifications", ()), *_notification_targets(index, sub))

    join(BUCKET_LOGGING_TYPES, ("logging",), logging)
    join(BUCKET_NOTIFICATION_TYPES, ("notifications",), notifications)
    # Inline logging on a bucket names its target by value.
    for bucket in buckets:
        inline_logging = settings[bucket.urn].get("logging")
        if isinstance(inline_logging, Logging):
            for other in buckets:
                if inline_logging.target_bucket in {str(i) for i in _bucket_identities(other) if i}:
                    receives_logs.add(other.urn)
    created = tuple(
        BucketFacts(
            **_identity(b),
            # The physical name is informative only; unknown (a prefix-named bucket at preview) -> None.
            bucket_name=_known(b.props, "bucket"),
            receives_access_logs=b.urn in receives_logs,
            unknown=unknown[b.urn],
            **settings[b.urn],
        )
        for b in buckets
    )
    configured_only = tuple(
        BucketFacts(
            **{**_identity(sub), "name": name},
            bucket_name=None if name.startswith("computed(") else name,
            created=False,
            unknown=unknown[urn],
            **settings[urn],
        )
        for urn, (name, sub) in external.items()
    )
    return created + configured_only


def account_public_access_block(index: StackIndex) -> PublicAccessBlock | None:
    blocks = index.of_types(ACCOUNT_PAB_TYPES)
    if not blocks:
        return None
    props = blocks[-1].props
    return PublicAccessBlock(*(bool(_bool(_get(props, flag))) for flag in PAB_FLAGS))


# ---------------------------------------------------------------------------------------------- Lambda
def lambda_permission_facts(index: StackIndex) -> tuple[LambdaPermissionFacts, ...]:
    return _each(
        index,
        index.of_types(LAMBDA_PERMISSION_TYPES),
        LambdaPermissionFacts,
        lambda r: LambdaPermissionFacts(
            **_identity(r),
            function_name=_identifier(index, r, "function"),
            action=str(_get(r.props, "action", "lambda:InvokeFunction")),
            principal=str(_get(r.props, "principal", "")),
            source_arn=_identifier(index, r, "sourceArn") or None,
            source_account=_identifier(index, r, "sourceAccount") or None,
            principal_org_id=_identifier(index, r, "principalOrgId") or None,
            function_url_auth_type=_get(r.props, "functionUrlAuthType"),
        ),
    )


def lambda_function_url_facts(index: StackIndex) -> tuple[LambdaFunctionUrlFacts, ...]:
    return _each(
        index,
        index.of_types(LAMBDA_URL_TYPES),
        LambdaFunctionUrlFacts,
        lambda r: LambdaFunctionUrlFacts(
            **_identity(r),
            function_name=_identifier(index, r, "functionName"),
            authorization_type=str(_get(r.props, "authorizationType", "AWS_IAM")),
        ),
    )


def _role_grants(index: StackIndex, role: Resource) -> tuple[tuple[PolicyStatement, ...], tuple[str, ...]]:
    """A role's effective permissions: inline policies and the managed policies attached to it (the
    statements of customer-managed ones defined in this stack are included)."""
    roles = [role]
    statements: list[PolicyStatement] = []
    for inline in _get(role.props, "inlinePolicies", ()) or ():
        statements.extend(_statements(_get(inline, "policy")))
    arns = list(_identifiers(index, role, "managedPolicyArns", IAM_MANAGED_POLICY_TYPES))
    for policy in index.of_types(["aws:iam/rolePolicy:RolePolicy"]):
        if index.target(policy, "role", roles, _arn_identities) is role:
            statements.extend(_statements(_get(policy.props, "policy")))
    managed = index.of_types(IAM_MANAGED_POLICY_TYPES)
    for attachment in index.of_types(["aws:iam/rolePolicyAttachment:RolePolicyAttachment"]):
        if index.target(attachment, "role", roles, _arn_identities) is not role:
            continue
        attached = index.target(attachment, "policyArn", managed, _arn_identities) if managed else None
        if attached is not None:
            statements.extend(_statements(_get(attached.props, "policy")))
            arns.append(str(_known(attached.props, "arn") or attached.urn))
        else:
            arns.append(str(_get(attachment.props, "policyArn", "")))
    # The resources attaching several policies or to several roles name them by value (or by what they are
    # computed from); one unknown as a whole that depends on this role may attach anything to it.
    names = {str(i) for i in _arn_identities(role) if i} | {computed(role.name)}
    by_arn = {i: m for m in managed for i in (*map(str, filter(None, _arn_identities(m))), computed(m.name))}
    for attachment in index.of_types(
        set(IAM_ATTACHMENT_SHAPES) - {"aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
    ):
        for facts in _attachments(index, attachment):
            if facts.principal_type != "role":
                continue
            if facts.unknown and role.urn in attachment.dependencies:
                raise UnknownValueError(UNKNOWN_STRING_VALUE, [attachment.name, "policyArns"])
            if facts.principal_name in names:
                arns.append(facts.policy_arn)
                if facts.policy_arn in by_arn:
                    statements.extend(_statements(_get(by_arn[facts.policy_arn].props, "policy")))
    return tuple(statements), tuple(arns)


def lambda_function_facts(index: StackIndex) -> tuple[LambdaFunctionFacts, ...]:
    roles = index.of_types(IAM_ROLE_TYPES)
    result = []
    for function in index.of_types(LAMBDA_FUNCTION_TYPES):
        role = index.target(function, "role", roles, _arn_identities) if roles else None
        unknown: dict[str, str] = {}
        try:
            statements, arns = _role_grants(index, role) if role is not None else ((), ())
        except UnknownValueError as error:
            statements, arns = (), ()
            missing = f"the permissions of {role.name if role else 'its role'} ({error.message})"
            unknown = dict.fromkeys(("role_statements", "role_managed_policy_arns"), missing)
        role_ref = _known(function.props, "role") or (role.name if role is not None else None)
        result.append(
            LambdaFunctionFacts(
                **_identity(function),
                role=str(role_ref) if role_ref else None,
                role_statements=statements,
                role_managed_policy_arns=arns,
                unknown=unknown,
            )
        )
    return tuple(result)


# ------------------------------------------------------------------------------------------- SQS / SNS
def _resource_policy(
    index: StackIndex, owners: list[Resource], policy_types: frozenset[str], prop: str, owner: Resource
) -> dict[str, Any]:
    """`policy` (inline and separate policy resources) for a facts object, or its `unknown` entry: the
    rules that do not read the policy still decide for this resource at preview."""
    statements: list[PolicyStatement] = []
    for source in (owner, *index.of_types(policy_types)):
        if source is not owner and index.target(source, prop, owners, _arn_identities) is not owner:
            continue
        try:
            statements.extend(_statements(_get(source.props, "policy")))
        except UnknownValueError as error:
            return {"policy": (), "unknown": {"policy": index.unknown(source, error)}}
    return {"policy": tuple(statements)}


def sqs_queue_facts(index: StackIndex) -> tuple[SqsQueueFacts, ...]:
    queues = index.of_types(SQS_QUEUE_TYPES)
    return _each(
        index,
        index.of_types(SQS_QUEUE_TYPES),
        SqsQueueFacts,
        lambda q: SqsQueueFacts(
            **_identity(q),
            **_resource_policy(index, queues, SQS_QUEUE_POLICY_TYPES, "queueUrl", q),
            kms_master_key_id=_identifier(index, q, "kmsMasterKeyId") or None,
            sqs_managed_sse_enabled=_bool(_get(q.props, "sqsManagedSseEnabled")),
        ),
    )


def sns_topic_facts(index: StackIndex) -> tuple[SnsTopicFacts, ...]:
    topics = index.of_types(SNS_TOPIC_TYPES)
    return _each(
        index,
        index.of_types(SNS_TOPIC_TYPES),
        SnsTopicFacts,
        lambda t: SnsTopicFacts(
            **_identity(t),
            **_resource_policy(index, topics, SNS_TOPIC_POLICY_TYPES, "arn", t),
            kms_master_key_id=_identifier(index, t, "kmsMasterKeyId") or None,
        ),
    )


# ------------------------------------------------------------------------------------------------- KMS
def kms_key_facts(index: StackIndex) -> tuple[KmsKeyFacts, ...]:
    keys = index.of_types(KMS_KEY_TYPES)
    return _each(
        index,
        index.of_types(KMS_KEY_TYPES),
        KmsKeyFacts,
        lambda k: KmsKeyFacts(
            **_identity(k),
            rotation_enabled=_bool(_get(k.props, "enableKeyRotation")),
            key_spec=_get(k.props, "customerMasterKeySpec"),
            key_usage=_get(k.props, "keyUsage"),
            **_resource_policy(index, keys, KMS_KEY_POLICY_TYPES, "keyId", k),
        ),
    )


# ------------------------------------------------------------------------------------------------- IAM
def iam_policy_facts(index: StackIndex) -> tuple[IamPolicyFacts, ...]:
    result = list(
        _each(
            index,
            index.of_types(IAM_MANAGED_POLICY_TYPES),
            IamPolicyFacts,
            lambda p: IamPolicyFacts(**_identity(p), statements=_statements(_get(p.props, "policy"))),
        )
    )
    for type_token, principal_prop in IAM_INLINE_POLICY_TYPES.items():
        result.extend(
            _each(
                index,
                index.of_types([type_token]),
                IamPolicyFacts,
                lambda p, prop=principal_prop: IamPolicyFacts(
                    **_identity(p),
                    statements=_statements(_get(p.props, "policy")),
                    attached_to=str(_known(p.props, prop) or ""),
                ),
            )
        )
    for role in index.of_types(IAM_ROLE_TYPES):
        for inline in _get(role.props, "inlinePolicies", ()) or ():
            identity = {
                **_identity(role),
                "name": f"{role.name}/{_known(inline, 'name') or 'inline'}",
                "attached_to": role.name,
            }
            try:
                result.append(IamPolicyFacts(**identity, statements=_statements(_get(inline, "policy"))))
            except UnknownValueError as error:
                result.append(IamPolicyFacts(**identity, unknown={"*": index.unknown(role, error)}))
    return tuple(result)


def _identifiers(
    index: StackIndex, resource: Resource, prop: str, made_by: frozenset[str] | None = None
) -> tuple[str, ...]:
    """An input naming other resources: one (`policyArn`, `roleName`) or a list (`policyArns`, `roles`).
    A value unknown at preview is one specific resource the stack creates (of a type in `made_by`)."""
    if not prop.endswith("s"):
        return tuple(filter(None, [_identifier(index, resource, prop, made_by)]))
    return _listed(index, resource, resource.props, prop, prop, made_by)


def _listed(
    index: StackIndex,
    resource: Resource,
    container: Any,
    key: str,
    dependency: str,
    made_by: frozenset[str] | None = None,
) -> tuple[str, ...]:
    """`container[key]`, one value or a list, whose elements unknown at preview are each one specific value
    computed from a resource the stack creates (an ARN, an Elastic IP's /32: never a wildcard nor the whole
    internet), named by `resource`'s dependencies for `dependency`; unless a template's input gives it. A
    value or list unknown as a whole may be anything: both raise UnknownValueError."""
    values = _get(container, key, ())
    if isinstance(values, str):
        return (values,)
    result = []
    for position in range(len(values)):
        try:
            result.append(str(values[position]))
        except UnknownValueError:
            origins = _origins(index, resource, dependency, made_by)
            if any(o.type == TEMPLATE_INPUT_TYPE for o in origins):
                raise
            result.append(computed(", ".join(o.name for o in origins) or key))
    return tuple(result)


def _attachments(index: StackIndex, resource: Resource) -> Iterable[IamAttachmentFacts]:
    """One facts object per principal and managed policy an attachment resource (or a role's
    managed_policy_arns) attaches; what is unknown stays unknown for that resource alone."""
    if resource.type in IAM_ROLE_TYPES:
        shapes: Sequence[tuple[str, str | None, str]] = (("role", None, "managedPolicyArns"),)
    else:
        shapes = IAM_ATTACHMENT_SHAPES[resource.type]
    for principal_type, principal_prop, arns_prop in shapes:
        try:
            # A role names itself as attachments name it; another principal unknown at preview is the
            # resource it is computed from.
            principals = (
                (str(_known(resource.props, "name") or resource.name),)
                if principal_prop is None
                else _identifiers(index, resource, principal_prop)
            )
            arns = _identifiers(index, resource, arns_prop, IAM_MANAGED_POLICY_TYPES) if principals else ()
        except UnknownValueError as error:
            yield IamAttachmentFacts(
                **_identity(resource),
                principal_type=principal_type,
                unknown={"policy_arn": index.unknown(resource, error)},
            )
            continue
        for principal in principals:
            for arn in arns:
                yield IamAttachmentFacts(
                    **_identity(resource),
                    principal_type=principal_type,
                    principal_name=principal,
                    policy_arn=arn,
                )


def iam_attachment_facts(index: StackIndex) -> tuple[IamAttachmentFacts, ...]:
    resources = index.of_types([*IAM_ATTACHMENT_SHAPES, *IAM_ROLE_TYPES])
    return tuple(facts for resource in resources for facts in _attachments(index, resource))


def iam_role_facts(index: StackIndex) -> tuple[IamRoleFacts, ...]:
    return _each(
        index,
        index.of_types(IAM_ROLE_TYPES),
        IamRoleFacts,
        lambda r: IamRoleFacts(
            **_identity(r),
            trust_policy=_statements(_get(r.props, "assumeRolePolicy")),
        ),
    )


# ------------------------------------------------------------------------------------------------- EC2
def _protocol(value: Any) -> str:
    """ "tcp", "6", "-1"...: a protocol given as a number (-1, 6) arrives as a float from the engine."""
    if value is None:
        return "-1"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value))
    return str(value).strip().lower()


# Property names of (protocol, from port, to port, IPv4 ranges, IPv6 ranges): a security group's inline
# ingress blocks and aws.ec2.SecurityGroupRule share one spelling, aws.vpc.SecurityGroupIngressRule another.
INLINE_INGRESS_KEYS = ("protocol", "fromPort", "toPort", "cidrBlocks", "ipv6CidrBlocks")
INGRESS_RULE_KEYS = ("ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6")


def _ingress(
    index: StackIndex,
    resource: Resource,
    props: Any,
    keys: tuple[str, str, str, str, str],
    dependency: str = "",
) -> IngressRule:
    """One ingress rule; `dependency`: the property of `resource` holding it (inline: `ingress`)."""
    protocol, from_port, to_port, ipv4, ipv6 = keys
    return IngressRule(
        _protocol(_get(props, protocol)),
        _int(_get(props, from_port)),
        _int(_get(props, to_port)),
        *(_listed(index, resource, props, key, dependency or key) for key in (ipv4, ipv6)),
    )


def security_group_facts(index: StackIndex) -> tuple[SecurityGroupFacts, ...]:
    """Security groups with their inline ingress, and every standalone ingress rule as its own facts."""
    groups = _each(
        index,
        index.of_types(SECURITY_GROUP_TYPES),
        SecurityGroupFacts,
        lambda g: SecurityGroupFacts(
            **_identity(g),
            ingress=tuple(
                _ingress(index, g, i, INLINE_INGRESS_KEYS, "ingress")
                for i in _get(g.props, "ingress", ()) or ()
            ),
        ),
    )
    ingress_rules = _each(
        index,
        index.of_types(SECURITY_GROUP_INGRESS_RULE_TYPES),
        SecurityGroupFacts,
        lambda r: SecurityGroupFacts(
            **_identity(r), ingress=(_ingress(index, r, r.props, INGRESS_RULE_KEYS),)
        ),
    )
    group_rules = _each(
        index,
        [r for r in index.of_types(SECURITY_GROUP_RULE_TYPES) if _known(r.props, "type") == "ingress"],
        SecurityGroupFacts,
        lambda r: SecurityGroupFacts(
            **_identity(r), ingress=(_ingress(index, r, r.props, INLINE_INGRESS_KEYS),)
        ),
    )
    return (*groups, *ingress_rules, *group_rules)


def ec2_instance_facts(index: StackIndex) -> tuple[Ec2InstanceFacts, ...]:
    subnets = index.of_types(EC2_SUBNET_TYPES)
    result = []
    for i in index.of_types(EC2_INSTANCE_TYPES):
        subnet = index.target(i, "subnetId", subnets, _arn_identities) if subnets else None
        result.append(
            Ec2InstanceFacts(
                **_identity(i),
                associate_public_ip_address=_bool(_get(i.props, "associatePublicIpAddress")),
                subnet_id=(subnet.urn if subnet is not None else _get(i.props, "subnetId")),
                subnet_maps_public_ip_on_launch=(_bool(_get(subnet.props, "mapPublicIpOnLaunch")) or False)
                if subnet is not None
                else None,
            )
        )
    return tuple(result)


# ------------------------------------------------------------------------------------------ CloudTrail
_READ_WRITE = {
    "All": frozenset({"read", "write"}),
    "ReadOnly": frozenset({"read"}),
    "WriteOnly": frozenset({"write"}),
}


def _s3_data_events(trail: Resource) -> frozenset[str]:
    logged: set[str] = set()
    for selector in _get(trail.props, "eventSelectors", ()) or ():
        if any(_get(d, "type") == "AWS::S3::Object" for d in _get(selector, "dataResources", ()) or ()):
            logged |= _READ_WRITE.get(str(_get(selector, "readWriteType", "All")), frozenset())
    for selector in _get(trail.props, "advancedEventSelectors", ()) or ():
        fields = {str(_get(f, "field")): f for f in _get(selector, "fieldSelectors", ()) or ()}
        resource_type = fields.get("resources.type")
        if resource_type is None or "AWS::S3::Object" not in _strings(_get(resource_type, "equals")):
            continue
        read_only = fields.get("readOnly")
        values = _strings(_get(read_only, "equals")) if read_only is not None else ()
        logged |= (
            {"read"} if values == ("true",) else {"write"} if values == ("false",) else {"read", "write"}
        )
    return frozenset(logged)


def trail_facts(index: StackIndex) -> tuple[TrailFacts, ...]:
    return _each(
        index,
        index.of_types(TRAIL_TYPES),
        TrailFacts,
        lambda t: TrailFacts(
            **_identity(t),
            is_multi_region=_bool(_get(t.props, "isMultiRegionTrail")),
            log_file_validation=_bool(_get(t.props, "enableLogFileValidation")),
            s3_data_events=_s3_data_events(t),
            is_logging=_bool(_get(t.props, "enableLogging")),
        ),
    )


# ----------------------------------------------------------------------------------------------- stack
def _forwards_global_events(index: StackIndex, resource: Resource) -> bool:
    """An EventBridge rule whose pattern matches only global services' events, or a target of one."""
    if resource.type in EVENT_TARGET_TYPES:
        try:
            rule = index.target(resource, "rule", index.of_types(EVENT_RULE_TYPES), _arn_identities)
        except UnknownValueError:
            return False
        return rule is not None and _forwards_global_events(index, rule)
    if resource.type not in EVENT_RULE_TYPES:
        return False
    try:
        pattern = json.loads(str(_get(resource.props, "eventPattern", "{}")))
    except (UnknownValueError, ValueError):
        return False
    sources = pattern.get("source") if isinstance(pattern, dict) else None
    return isinstance(sources, list) and bool(sources) and set(sources) <= GLOBAL_EVENT_SOURCES


def generic_facts(index: StackIndex) -> tuple[ResourceFacts, ...]:
    """Every cloud resource (not the root stack, providers or components), for stack-wide rules; a region
    not known at preview leaves the region rule undecided for that resource alone."""
    result = []
    for r in index.resources:
        if not (r.custom and not r.type.startswith(_NOT_CLOUD) and r.type.count(":") == 2):
            continue
        if not r.type.startswith("aws:"):
            continue
        try:
            region, unknown = region_of(r), {}
        except UnknownValueError as error:
            region, unknown = None, {"region": index.unknown(r, error)}
        global_ = r.type.startswith(GLOBAL_TYPE_PREFIXES)
        if region == GLOBAL_EVENTS_REGION and _forwards_global_events(index, r):
            region, global_ = None, True  # where AWS delivers global services' events: theirs
        if region is None and not unknown and not global_:
            unknown = {"region": f"the region of {r.name}: its provider sets none (AWS_REGION decides)"}
        result.append(
            ResourceFacts(
                name=r.name, type=r.type, region=region, ref=r.urn, tags=tags_of(r), unknown=unknown
            )
        )
    return tuple(result)


BUILDERS: Mapping[str, Callable[[StackIndex], Any]] = {
    "buckets": bucket_facts,
    "account_public_access_block": account_public_access_block,
    "lambda_permissions": lambda_permission_facts,
    "lambda_function_urls": lambda_function_url_facts,
    "lambda_functions": lambda_function_facts,
    "sqs_queues": sqs_queue_facts,
    "sns_topics": sns_topic_facts,
    "kms_keys": kms_key_facts,
    "iam_policies": iam_policy_facts,
    "iam_attachments": iam_attachment_facts,
    "iam_roles": iam_role_facts,
    "security_groups": security_group_facts,
    "ec2_instances": ec2_instance_facts,
    "trails": trail_facts,
    "resources": generic_facts,
}

KIND_TO_GROUP = {
    BucketFacts.kind: "buckets",
    LambdaPermissionFacts.kind: "lambda_permissions",
    LambdaFunctionUrlFacts.kind: "lambda_function_urls",
    LambdaFunctionFacts.kind: "lambda_functions",
    SqsQueueFacts.kind: "sqs_queues",
    SnsTopicFacts.kind: "sns_topics",
    KmsKeyFacts.kind: "kms_keys",
    IamPolicyFacts.kind: "iam_policies",
    IamAttachmentFacts.kind: "iam_attachments",
    IamRoleFacts.kind: "iam_roles",
    SecurityGroupFacts.kind: "security_groups",
    Ec2InstanceFacts.kind: "ec2_instances",
    TrailFacts.kind: "trails",
    ResourceFacts.kind: "resources",
}


def stack_facts(resources: Sequence[Resource], groups: Iterable[str] | None = None) -> StackFacts:
    """Build the facts of `groups` only (all when None): a policy reads only what its rule judges, so a
    value unknown at preview in an unrelated resource does not stop it."""
    index = StackIndex(resources)
    wanted = BUILDERS.keys() if groups is None else [g for g in BUILDERS if g in set(groups)]
    return StackFacts(**{group: BUILDERS[group](index) for group in wanted})
