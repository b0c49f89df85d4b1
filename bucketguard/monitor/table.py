"""The watched CloudTrail events: for each, the resource it touches and the rules to judge again.

One table says it once: the monitor core reads it, the deployed EventBridge rule's pattern is built from it
(``event_pattern``), and the tests are parametrized over it. A locator reads the identifiers out of the
record's request parameters (or response elements) and checks each one's shape: an event whose resource
cannot be named is refused, never widened to "everything".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bucketguard.audit.reader import GLOBAL
from bucketguard.monitor.events import DETAIL_TYPE, CloudTrailRecord, InvalidEvent, operation_name

REGION_RULE = "aws_resource_region_allowed"
PUBLIC_BUCKET = ("s3_bucket_public_read_prohibited", "s3_bucket_public_write_prohibited")
BUCKET_PAB = "s3_bucket_public_access_block_enabled"
ACCOUNT_PAB = "s3_account_public_access_block_enabled"
SSH_RDP = ("ec2_security_group_ssh_restricted", "ec2_security_group_rdp_restricted")
LAMBDA_PERMISSION = ("lambda_permission_public_access_prohibited", "lambda_permission_source_restricted")
TRAIL_RULES = (
    "cloudtrail_trail_enabled",
    "cloudtrail_trail_multi_region_enabled",
    "cloudtrail_trail_log_file_validation_enabled",
    "cloudtrail_trail_s3_data_events_enabled",
)

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IAM_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
FUNCTION = re.compile(
    r"^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?(?P<name>[A-Za-z0-9_-]{1,64})(:[\w$-]+)?$"
)
GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
ENI_ID = re.compile(r"^eni-[0-9a-f]{8,17}$")
EC2_IDS = {"security-group": (GROUP_ID, "security group id"), "instance": (INSTANCE_ID, "instance id")}
QUEUE_URL = re.compile(r"^https?://[^/]+/(?P<account>\d{12})/(?P<name>[\w-]{1,80}(\.fifo)?)$")
TOPIC_ARN = re.compile(
    r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):[\w-]{1,256}(\.fifo)?$"
)
KEY_ID = re.compile(
    r"^(arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/)?"
    r"(?P<id>(mrk-)?[0-9a-f]{8}(-?[0-9a-f]{4}){3}-?[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}|aws):policy/[\w+=,.@/-]{1,512}$")
TRAIL = re.compile(
    r"^(arn:aws[a-z-]*:cloudtrail:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):trail/)?"
    r"(?P<name>[A-Za-z0-9][\w.-]{2,127})$"
)


@dataclass(frozen=True)
class Target:
    """What to read again: ``kind`` names the collection (see ``monitor.collect``), ``region`` where, ``name``
    the identifier, and ``arns`` the patterns of the finding ARNs that belong to this resource."""

    kind: str  # bucket | account_pab | iam | lambda | ec2 | sqs | sns | kms | cloudtrail
    region: str
    name: str
    arns: tuple[str, ...]  # regular expressions, anchored

    def matches(self, arn: str) -> bool:
        return any(re.fullmatch(p, arn) for p in self.arns)


Locator = Callable[[CloudTrailRecord], list[Target]]


@dataclass(frozen=True)
class Watch:
    source: str  # the event source, "s3.amazonaws.com"
    name: str  # the operation, "PutBucketAcl" (Lambda's event names add an API version)
    rules: tuple[str, ...]
    locate: Locator = field(repr=False, compare=False)
    creates: bool = False  # creates a resource: the region rule is judged too

    @property
    def all_rules(self) -> tuple[str, ...]:
        return (*self.rules, REGION_RULE) if self.creates else self.rules

    @property
    def versioned(self) -> bool:
        """Lambda's event names carry the API version (``AddPermission20150331v2``)."""
        return self.source == "lambda.amazonaws.com"


# ------------------------------------------------------------------------------------ reading identifiers
def _field(record: CloudTrailRecord, *path: str, response: bool = False) -> Any:
    node: Any = record.response_elements if response else record.request_parameters
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _checked(value: Any, shape: re.Pattern[str], what: str, record: CloudTrailRecord) -> re.Match[str]:
    match = shape.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidEvent(f"event {record.event_id} ({record.event_name}): {what} {value!r} is not valid")
    return match


def _same_account(match: re.Match[str], record: CloudTrailRecord, what: str) -> None:
    account = match.groupdict().get("account")
    if account not in (None, record.account, "aws"):
        raise InvalidEvent(
            f"event {record.event_id} ({record.event_name}): {what} belongs to account {account}, "
            f"the event to {record.account}"
        )


def _items(value: Any, key: str) -> Iterator[Any]:
    """EC2's XML-shaped lists: ``{"items": [{key: ...}]}``."""
    items = value.get("items") if isinstance(value, Mapping) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            yield item.get(key)


def _partition_arn(record: CloudTrailRecord, service: str, region: str, rest: str) -> str:
    return f"arn:aws[a-z-]*:{service}:{region}:{record.account}:{re.escape(rest)}"


def bucket(record: CloudTrailRecord) -> list[Target]:
    name = _checked(_field(record, "bucketName"), BUCKET_NAME, "bucket name", record).group(0)
    return [Target("bucket", record.aws_region, name, (rf"arn:aws[a-z-]*:s3:::{re.escape(name)}",))]


def account_pab(record: CloudTrailRecord) -> list[Target]:
    account = f"arn:aws[a-z-]*:iam::{record.account}:root"
    return [Target("account_pab", record.aws_region, record.account, (account,))]


def iam_principal(kind: str) -> Locator:
    def locate(record: CloudTrailRecord) -> list[Target]:
        name = _checked(_field(record, f"{kind}Name"), IAM_NAME, f"{kind} name", record).group(0)
        arn = rf"arn:aws[a-z-]*:iam::{record.account}:{kind}/([\w+=,.@-]+/)*{re.escape(name)}"
        return [Target("iam", GLOBAL, name, (arn,))]

    return locate


def iam_policy(record: CloudTrailRecord) -> list[Target]:
    match = _checked(_field(record, "policyArn"), POLICY_ARN, "policy ARN", record)
    _same_account(match, record, "policy")
    return [Target("iam", GLOBAL, match.group(0), (re.escape(match.group(0)),))]


def function(record: CloudTrailRecord) -> list[Target]:
    match = _checked(_field(record, "functionName"), FUNCTION, "function name", record)
    name = match.group("name")
    arn = _partition_arn(record, "lambda", record.aws_region, f"function:{name}")
    # the function, its URL (same ARN) and each statement of its resource policy (ARN#sid)
    return [Target("lambda", record.aws_region, name, (arn, arn + "#.+"))]


def _ec2_targets(record: CloudTrailRecord, ids: list[Any], kind: str) -> list[Target]:
    """One target per distinct id, each checked to be an id of that kind (`security-group`, `instance`)."""
    pattern, what = EC2_IDS[kind]
    targets = []
    for value in dict.fromkeys(ids):
        resource = _checked(value, pattern, what, record).group(0)
        arn = _partition_arn(record, "ec2", record.aws_region, f"{kind}/{resource}")
        targets.append(Target("ec2", record.aws_region, resource, (arn,)))
    return targets


def _group_targets(record: CloudTrailRecord, ids: list[Any]) -> list[Target]:
    return _ec2_targets(record, ids, "security-group")


def security_group(record: CloudTrailRecord) -> list[Target]:
    group = _field(record, "groupId") or _field(record, "ModifySecurityGroupRulesRequest", "GroupId")
    if group is None:  # a default-VPC call may name the group; the response names its id
        ids = list(_items(_field(record, "securityGroupRuleSet", response=True), "groupId"))
        return _group_targets(record, ids or [None])
    return _group_targets(record, [group])


def interface_groups(record: CloudTrailRecord) -> list[Target]:
    _checked(_field(record, "networkInterfaceId"), ENI_ID, "network interface id", record)
    ids = list(_items(_field(record, "groupSet"), "groupId"))
    return _group_targets(record, ids)  # no groupSet: another attribute changed, nothing to judge


def launched_instances(record: CloudTrailRecord) -> list[Target]:
    ids = list(_items(_field(record, "instancesSet", response=True), "instanceId"))
    return _ec2_targets(record, ids or [None], "instance")


def associated_instance(record: CloudTrailRecord) -> list[Target]:
    instance = _field(record, "instanceId")
    if instance is None:  # associated through an interface: any instance of the region may have it now
        _checked(_field(record, "networkInterfaceId"), ENI_ID, "network interface id", record)
        arn = _partition_arn(record, "ec2", record.aws_region, "instance/") + "i-[0-9a-f]+"
        return [Target("ec2", record.aws_region, "instances", (arn,))]
    return _ec2_targets(record, [instance], "instance")


def queue(record: CloudTrailRecord) -> list[Target]:
    match = _checked(_field(record, "queueUrl"), QUEUE_URL, "queue URL", record)
    _same_account(match, record, "queue")
    arn = _partition_arn(record, "sqs", record.aws_region, match.group("name"))
    return [Target("sqs", record.aws_region, match.group("name"), (arn,))]


def topic(record: CloudTrailRecord) -> list[Target]:
    match = _checked(_field(record, "topicArn"), TOPIC_ARN, "topic ARN", record)
    _same_account(match, record, "topic")
    return [Target("sns", record.aws_region, match.group(0), (re.escape(match.group(0)),))]


def key(record: CloudTrailRecord) -> list[Target]:
    value = _field(record, "keyId") or _field(record, "keyMetadata", "keyId", response=True)
    match = _checked(value, KEY_ID, "key id", record)
    _same_account(match, record, "key")
    arn = _partition_arn(record, "kms", record.aws_region, f"key/{match.group('id')}")
    return [Target("kms", record.aws_region, match.group("id"), (arn,))]


def trail(record: CloudTrailRecord) -> list[Target]:
    match = _checked(_field(record, "name") or _field(record, "trailName"), TRAIL, "trail name", record)
    _same_account(match, record, "trail")
    name = match.group("name")
    arn = rf"arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:{record.account}:trail/{re.escape(name)}"
    account = f"arn:aws[a-z-]*:iam::{record.account}:root"  # "no trail logs this account"
    return [Target("cloudtrail", record.aws_region, name, (arn, account))]


# ---------------------------------------------------------------------------------------------- the table
S3, IAM, LAMBDA, EC2 = "s3.amazonaws.com", "iam.amazonaws.com", "lambda.amazonaws.com", "ec2.amazonaws.com"
SQS, SNS, KMS, CLOUDTRAIL = (
    "sqs.amazonaws.com",
    "sns.amazonaws.com",
    "kms.amazonaws.com",
    "cloudtrail.amazonaws.com",
)
WATCHED: tuple[Watch, ...] = (
    Watch(
        S3, "CreateBucket", (*PUBLIC_BUCKET, BUCKET_PAB, "s3_bucket_default_encryption_enabled"), bucket, True
    ),
    Watch(S3, "PutBucketAcl", PUBLIC_BUCKET, bucket),
    Watch(
        S3,
        "PutBucketPolicy",
        (*PUBLIC_BUCKET, "s3_bucket_secure_transport_required", "s3_bucket_cross_account_access_restricted"),
        bucket,
    ),
    Watch(S3, "DeleteBucketPolicy", ("s3_bucket_secure_transport_required",), bucket),
    Watch(S3, "PutBucketPublicAccessBlock", (BUCKET_PAB, *PUBLIC_BUCKET), bucket),
    Watch(S3, "DeleteBucketPublicAccessBlock", (BUCKET_PAB, *PUBLIC_BUCKET), bucket),
    Watch(S3, "PutAccountPublicAccessBlock", (ACCOUNT_PAB,), account_pab),
    Watch(S3, "DeleteAccountPublicAccessBlock", (ACCOUNT_PAB,), account_pab),
    Watch(S3, "PutBucketOwnershipControls", ("s3_bucket_acls_disabled", *PUBLIC_BUCKET), bucket),
    # without ownership controls the bucket's objects are the writer's and ACLs count again
    Watch(S3, "DeleteBucketOwnershipControls", ("s3_bucket_acls_disabled", *PUBLIC_BUCKET), bucket),
    Watch(
        S3,
        "PutBucketEncryption",
        ("s3_bucket_default_encryption_enabled", "s3_bucket_kms_encryption_enabled"),
        bucket,
    ),
    Watch(
        S3,
        "DeleteBucketEncryption",
        ("s3_bucket_default_encryption_enabled", "s3_bucket_kms_encryption_enabled"),
        bucket,
    ),
    Watch(
        S3, "PutBucketVersioning", ("s3_bucket_versioning_enabled", "s3_bucket_mfa_delete_enabled"), bucket
    ),
    Watch(S3, "PutBucketLogging", ("s3_bucket_access_logging_enabled",), bucket),
    Watch(S3, "PutBucketWebsite", ("s3_bucket_website_disabled",), bucket),
    # CloudTrail names PutBucketNotificationConfiguration (and the older PutBucketNotification) so
    Watch(S3, "PutBucketNotification", ("s3_bucket_malware_scanning_enabled",), bucket),
    Watch(IAM, "AttachRolePolicy", ("iam_principal_administrator_access_prohibited",), iam_principal("role")),
    Watch(IAM, "AttachUserPolicy", ("iam_principal_administrator_access_prohibited",), iam_principal("user")),
    Watch(
        IAM, "AttachGroupPolicy", ("iam_principal_administrator_access_prohibited",), iam_principal("group")
    ),
    Watch(IAM, "PutRolePolicy", ("iam_policy_admin_access_prohibited",), iam_principal("role")),
    Watch(IAM, "PutUserPolicy", ("iam_policy_admin_access_prohibited",), iam_principal("user")),
    Watch(IAM, "PutGroupPolicy", ("iam_policy_admin_access_prohibited",), iam_principal("group")),
    Watch(IAM, "CreatePolicyVersion", ("iam_policy_admin_access_prohibited",), iam_policy),
    Watch(IAM, "SetDefaultPolicyVersion", ("iam_policy_admin_access_prohibited",), iam_policy),
    Watch(IAM, "UpdateAssumeRolePolicy", ("iam_role_public_trust_prohibited",), iam_principal("role")),
    Watch(IAM, "CreateRole", ("iam_role_public_trust_prohibited",), iam_principal("role")),
    Watch(LAMBDA, "AddPermission", LAMBDA_PERMISSION, function),
    Watch(LAMBDA, "CreateFunctionUrlConfig", ("lambda_function_url_auth_required",), function),
    Watch(LAMBDA, "UpdateFunctionUrlConfig", ("lambda_function_url_auth_required",), function),
    Watch(LAMBDA, "CreateFunction", ("lambda_function_role_admin_prohibited",), function, True),
    Watch(LAMBDA, "UpdateFunctionConfiguration", ("lambda_function_role_admin_prohibited",), function),
    Watch(EC2, "AuthorizeSecurityGroupIngress", SSH_RDP, security_group),
    Watch(EC2, "ModifySecurityGroupRules", SSH_RDP, security_group),
    Watch(EC2, "RunInstances", ("ec2_instance_public_ip_prohibited",), launched_instances, True),
    Watch(EC2, "AssociateAddress", ("ec2_instance_public_ip_prohibited",), associated_instance),
    Watch(EC2, "ModifyNetworkInterfaceAttribute", SSH_RDP, interface_groups),
    Watch(
        SQS,
        "SetQueueAttributes",
        ("sqs_queue_public_access_prohibited", "sqs_queue_encrypted_at_rest"),
        queue,
    ),
    Watch(SQS, "AddPermission", ("sqs_queue_public_access_prohibited",), queue),
    Watch(
        SNS,
        "SetTopicAttributes",
        ("sns_topic_public_access_prohibited", "sns_topic_encrypted_at_rest"),
        topic,
    ),
    Watch(SNS, "AddPermission", ("sns_topic_public_access_prohibited",), topic),
    Watch(KMS, "PutKeyPolicy", ("kms_key_public_access_prohibited",), key),
    Watch(KMS, "DisableKeyRotation", ("kms_key_rotation_enabled",), key),
    Watch(KMS, "CreateKey", ("kms_key_rotation_enabled", "kms_key_public_access_prohibited"), key, True),
    Watch(CLOUDTRAIL, "StopLogging", TRAIL_RULES, trail),
    Watch(CLOUDTRAIL, "DeleteTrail", TRAIL_RULES, trail),
    Watch(CLOUDTRAIL, "UpdateTrail", TRAIL_RULES, trail),
    Watch(CLOUDTRAIL, "PutEventSelectors", TRAIL_RULES, trail),
)
_BY_KEY = {(w.source, w.name): w for w in WATCHED}


def watch_for(record: CloudTrailRecord) -> Watch | None:
    """The table's entry for a record, or None when the event is not watched."""
    found = _BY_KEY.get((record.event_source, record.event_name))
    if found is None and record.event_source == LAMBDA:
        versioned = _BY_KEY.get((LAMBDA, operation_name(record.event_name)))
        found = versioned if versioned is not None and versioned.name != record.event_name else None
    return found


def event_pattern() -> dict[str, Any]:
    """The EventBridge pattern admitting exactly the watched events that succeeded (Lambda's by prefix:
    its event names end in an API version)."""
    names: dict[str, None] = {}
    prefixes: dict[str, None] = {}
    for w in WATCHED:
        if w.versioned:
            prefixes[f"{w.name}20"] = None
        else:
            names[w.name] = None
    sources = dict.fromkeys(w.source for w in WATCHED)
    return {
        "source": ["aws." + s.split(".", 1)[0] for s in sources],
        "detail-type": [DETAIL_TYPE],
        "detail": {
            "eventSource": list(sources),
            "eventName": [*names, *({"prefix": p} for p in prefixes)],
            "errorCode": [{"exists": False}],
        },
    }
