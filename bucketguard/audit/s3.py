"""S3 collector: every bucket of the account with its configuration, and account Block Public Access.

Buckets are listed once per account (S3 is global); each bucket is read in its own region and kept only
when that region is audited. Effective state (see ``bucketguard.rules.facts``): no public-access-block
configuration is all four flags off, no ownership controls is ObjectWriter, no default-encryption
configuration is SSE-S3 (S3 encrypts every object since January 2023), the owner's own ACL grant is dropped
(that grant is what "private" means).
"""

from __future__ import annotations

from typing import Any

from bucketguard.audit.reader import Call, Reader, tag_list
from bucketguard.rules.facts import (
    AclGrant,
    BucketFacts,
    Encryption,
    Logging,
    NotificationTarget,
    PublicAccessBlock,
    parse_policy_document,
)

BUCKET_TYPE = "AWS::S3::Bucket"
PUBLIC = ("s3_bucket_public_read_prohibited", "s3_bucket_public_write_prohibited")
POLICY_RULES = (*PUBLIC, "s3_bucket_secure_transport_required", "s3_bucket_cross_account_access_restricted")
TAG_RULES = ("s3_bucket_malware_scanning_enabled", "s3_bucket_access_logging_enabled")

LIST_BUCKETS = Call(
    "list_buckets",
    (*POLICY_RULES, "s3_bucket_public_access_block_enabled", "s3_account_public_access_block_enabled"),
    action="s3:ListAllMyBuckets",
)
LOCATION = Call("get_bucket_location", ("aws_resource_region_allowed",))
ACL = Call("get_bucket_acl", PUBLIC)
POLICY = Call("get_bucket_policy", POLICY_RULES, absent=frozenset({"NoSuchBucketPolicy"}))
PUBLIC_ACCESS_BLOCK = Call(
    "get_public_access_block",
    ("s3_bucket_public_access_block_enabled",),
    action="s3:GetBucketPublicAccessBlock",
    absent=frozenset({"NoSuchPublicAccessBlockConfiguration"}),
)
OWNERSHIP = Call(
    "get_bucket_ownership_controls",
    ("s3_bucket_acls_disabled",),
    absent=frozenset({"OwnershipControlsNotFoundError"}),
)
ENCRYPTION = Call(
    "get_bucket_encryption",
    ("s3_bucket_default_encryption_enabled", "s3_bucket_kms_encryption_enabled"),
    action="s3:GetEncryptionConfiguration",
    absent=frozenset({"ServerSideEncryptionConfigurationNotFoundError"}),
)
VERSIONING = Call("get_bucket_versioning", ("s3_bucket_versioning_enabled", "s3_bucket_mfa_delete_enabled"))
LOGGING = Call("get_bucket_logging", ("s3_bucket_access_logging_enabled",))
WEBSITE = Call(
    "get_bucket_website", ("s3_bucket_website_disabled",), absent=frozenset({"NoSuchWebsiteConfiguration"})
)
NOTIFICATIONS = Call(
    "get_bucket_notification_configuration",
    ("s3_bucket_malware_scanning_enabled",),
    action="s3:GetBucketNotification",
)
OBJECT_LOCK = Call(
    "get_object_lock_configuration",
    ("s3_bucket_object_lock_enabled",),
    action="s3:GetBucketObjectLockConfiguration",
    absent=frozenset({"ObjectLockConfigurationNotFoundError"}),
)
TAGGING = Call("get_bucket_tagging", TAG_RULES, absent=frozenset({"NoSuchTagSet"}))
ACCOUNT_PUBLIC_ACCESS_BLOCK = Call(
    "get_public_access_block",
    ("s3_account_public_access_block_enabled",),
    action="s3:GetAccountPublicAccessBlock",
    absent=frozenset({"NoSuchPublicAccessBlockConfiguration"}),
)
CALLS = (
    LIST_BUCKETS,
    LOCATION,
    ACL,
    POLICY,
    PUBLIC_ACCESS_BLOCK,
    OWNERSHIP,
    ENCRYPTION,
    VERSIONING,
    LOGGING,
    WEBSITE,
    NOTIFICATIONS,
    OBJECT_LOCK,
    TAGGING,
    ACCOUNT_PUBLIC_ACCESS_BLOCK,
)


def bucket_region(location: dict[str, Any] | None) -> str | None:
    """GetBucketLocation's answer: no constraint means us-east-1, the legacy ``EU`` means eu-west-1."""
    if location is None:
        return None
    constraint = location.get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)


def _public_access_block(config: dict[str, Any] | None) -> PublicAccessBlock:
    config = config or {}
    return PublicAccessBlock(
        bool(config.get("BlockPublicAcls")),
        bool(config.get("IgnorePublicAcls")),
        bool(config.get("BlockPublicPolicy")),
        bool(config.get("RestrictPublicBuckets")),
    )


def _grants(acl: dict[str, Any] | None) -> tuple[AclGrant, ...]:
    if acl is None:
        return ()
    owner = acl.get("Owner", {}).get("ID")
    grants = []
    for grant in acl.get("Grants", ()):
        grantee = grant.get("Grantee", {})
        who = grantee.get("URI") or grantee.get("ID") or grantee.get("EmailAddress") or ""
        if grantee.get("Type") == "CanonicalUser" and who == owner:
            continue
        grants.append(AclGrant(str(grantee.get("Type", "")), str(who), str(grant.get("Permission", ""))))
    return tuple(grants)


def _encryption(response: dict[str, Any] | None) -> Encryption:
    if response is None:
        return Encryption("AES256")
    rules = response.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    if not rules:
        return Encryption(None)
    default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
    key_enabled = rules[0].get("BucketKeyEnabled")
    return Encryption(default.get("SSEAlgorithm"), default.get("KMSMasterKeyID"), key_enabled)


def _filters(configuration: dict[str, Any]) -> dict[str, str]:
    rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    return {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in rules}


def _notifications(response: dict[str, Any] | None) -> tuple[NotificationTarget, ...]:
    if response is None:
        return ()
    targets = []
    for key, arn_key, kind in (
        ("QueueConfigurations", "QueueArn", "queue"),
        ("TopicConfigurations", "TopicArn", "topic"),
        ("LambdaFunctionConfigurations", "LambdaFunctionArn", "lambda"),
    ):
        for configuration in response.get(key, ()):
            filters = _filters(configuration)
            targets.append(
                NotificationTarget(
                    kind=kind,
                    target=str(configuration.get(arn_key, "")),
                    events=tuple(configuration.get("Events", ())),
                    filter_prefix=filters.get("prefix", ""),
                    filter_suffix=filters.get("suffix", ""),
                )
            )
    if "EventBridgeConfiguration" in response:
        targets.append(NotificationTarget(kind="eventbridge", target="", events=("*",)))
    return tuple(targets)


def collect_bucket(reader: Reader, name: str) -> None:
    arn = f"arn:aws:s3:::{name}"
    s3 = reader.client("s3")
    region = bucket_region(reader.call(s3, LOCATION, resource_name=name, arn=arn, Bucket=name))
    if region is not None and region not in reader.audited_regions:
        return
    at = reader.at(region) if region else reader
    s3 = at.client("s3")

    def get(call: Call) -> dict[str, Any] | None:
        return at.call(s3, call, resource_name=name, arn=arn, Bucket=name)

    acl = get(ACL)
    policy = get(POLICY)
    versioning = get(VERSIONING) or {}
    logging = (get(LOGGING) or {}).get("LoggingEnabled")
    lock = (get(OBJECT_LOCK) or {}).get("ObjectLockConfiguration", {})
    ownership = (get(OWNERSHIP) or {}).get("OwnershipControls", {}).get("Rules", [{}])
    tags = get(TAGGING)
    mfa = versioning.get("MFADelete")
    facts = BucketFacts(
        name=name,
        type=BUCKET_TYPE,
        region=region,
        ref=arn,
        tags=tag_list((tags or {}).get("TagSet")),
        bucket_name=name,
        account_id=reader.account,
        acl_grants=_grants(acl),
        policy=parse_policy_document(policy["Policy"]) if policy else (),
        public_access_block=_public_access_block(
            (get(PUBLIC_ACCESS_BLOCK) or {}).get("PublicAccessBlockConfiguration")
        ),
        object_ownership=str(ownership[0].get("ObjectOwnership") or "ObjectWriter"),
        encryption=_encryption(get(ENCRYPTION)),
        versioning=versioning.get("Status"),
        mfa_delete=mfa == "Enabled",
        object_lock_enabled=lock.get("ObjectLockEnabled") == "Enabled",
        logging=Logging(str(logging["TargetBucket"]), str(logging.get("TargetPrefix", "")))
        if logging
        else None,
        website=get(WEBSITE) is not None,
        notifications=_notifications(get(NOTIFICATIONS)),
    )
    if logging:
        reader.collection.log_targets.add(str(logging["TargetBucket"]))
    reader.collection.add("buckets", facts)


def collect_s3(reader: Reader) -> None:
    s3 = reader.client("s3")
    # moto truncates ListBuckets to MaxBuckets without a continuation token: never send a page size.
    buckets = reader.paginate(s3, LIST_BUCKETS, "Buckets", sized=False)
    names = [str(b["Name"]) for b in buckets]
    reader.each(names, lambda name: f"bucket {name}", lambda name: collect_bucket(reader, name))
    collect_account_public_access_block(reader)


def collect_account_public_access_block(reader: Reader) -> None:
    control = reader.client("s3control")
    response = reader.call(
        control,
        ACCOUNT_PUBLIC_ACCESS_BLOCK,
        resource_name=f"account {reader.account}",
        arn=None,
        AccountId=reader.account,
    )
    reader.collection.account_public_access_block = _public_access_block(
        (response or {}).get("PublicAccessBlockConfiguration")
    )
