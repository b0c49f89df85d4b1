"""The S3 collector against moto's server: real buckets, the effective state, denied and vanishing reads."""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.run import ACCESS_DENIED_RULE, listener_digest
from bucketguard.rules.facts import (
    ALL_USERS_URI,
    AclGrant,
    Encryption,
    Logging,
    NotificationTarget,
    PublicAccessBlock,
)
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session
from tests.audit.conftest import (
    ACCOUNT,
    REGION,
    audit,
    client,
    document,
    iam_enforced,
    role_session,
    rule_ids,
)

PUBLIC_PUT = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::camp-site/*",
}


def test_bucket_with_every_setting_is_read_as_configured(aws: EmbeddedAws) -> None:
    s3, sqs = client(aws, "s3"), client(aws, "sqs")
    queue = sqs.create_queue(QueueName="listener")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket="camp-logs")
    s3.put_bucket_acl(Bucket="camp-logs", ACL="log-delivery-write")
    s3.create_bucket(Bucket="camp-site", ObjectLockEnabledForBucket=True)
    s3.put_bucket_acl(Bucket="camp-site", ACL="public-read")
    s3.put_bucket_policy(Bucket="camp-site", Policy=document([PUBLIC_PUT]))
    s3.put_public_access_block(
        Bucket="camp-site",
        PublicAccessBlockConfiguration={"BlockPublicAcls": True, "BlockPublicPolicy": True},
    )
    s3.put_bucket_ownership_controls(
        Bucket="camp-site", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_bucket_encryption(
        Bucket="camp-site",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": "alias/camp",
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_bucket_versioning(Bucket="camp-site", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_logging(
        Bucket="camp-site",
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "camp-logs", "TargetPrefix": "site/"}},
    )
    s3.put_bucket_website(
        Bucket="camp-site", WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    s3.put_bucket_notification_configuration(
        Bucket="camp-site",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "up/"}]}},
                }
            ]
        },
    )
    s3.put_bucket_tagging(Bucket="camp-site", Tagging={"TagSet": [{"Key": "team", "Value": "camp"}]})

    result = audit(aws, services=["s3"], listeners=frozenset({listener_digest(queue_arn)}))

    buckets = {b.name: b for b in result.facts.buckets}
    site, logs = buckets["camp-site"], buckets["camp-logs"]
    assert site.ref == "arn:aws:s3:::camp-site" and site.region == REGION and site.account_id == ACCOUNT
    assert site.acl_grants == (AclGrant("Group", ALL_USERS_URI, "READ"),)  # the owner's own grant is dropped
    assert site.policy[0].principal_is_everyone and site.policy[0].actions == ("s3:putobject",)
    assert site.public_access_block == PublicAccessBlock(True, False, True, False)
    assert site.object_ownership == "ObjectWriter"
    assert site.encryption == Encryption("aws:kms", "alias/camp", True)
    assert (site.versioning, site.mfa_delete, site.object_lock_enabled, site.website) == (
        "Enabled",
        False,
        True,
        True,
    )
    assert site.logging == Logging("camp-logs", "site/")
    assert logs.receives_access_logs and not site.receives_access_logs
    assert site.notifications == (
        NotificationTarget(
            "queue", queue_arn, ("s3:ObjectCreated:*",), "up/", "", is_bucketguard_listener=True
        ),
    )
    assert site.tags == {"team": "camp"}
    assert {
        "s3_bucket_public_read_prohibited",
        "s3_bucket_public_write_prohibited",
        "s3_bucket_acls_disabled",
        "s3_bucket_public_access_block_enabled",
        "s3_bucket_website_disabled",
        "s3_bucket_malware_scanning_enabled",  # the listener sees only up/
    } <= rule_ids(result, "camp-site")
    assert not {"s3_bucket_versioning_enabled", "s3_bucket_access_logging_enabled"} & rule_ids(
        result, "camp-site"
    )
    scanning = next(f for f in result.findings if f.rule_id == "s3_bucket_malware_scanning_enabled")
    assert "partly scanned" in scanning.message


def test_a_queue_tagged_as_a_listener_is_not_one_the_deployment_made(aws: EmbeddedAws) -> None:
    """Anyone who may tag a queue and set a bucket's notification made an unscanned bucket look scanned."""
    s3, sqs = client(aws, "s3"), client(aws, "sqs")

    def queue(name: str, **tags: str) -> str:
        url = sqs.create_queue(QueueName=name, tags=tags)["QueueUrl"]
        return str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )

    listener, forged = queue("teaching-events"), queue("prank-events", **{"bucketguard:role": "listener"})
    for bucket, target in (("camp-teaching", listener), ("camp-pranks", forged)):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": target, "Events": ["s3:ObjectCreated:*"]}]
            },
        )

    result = audit(aws, services=["s3", "sqs"], listeners=frozenset({listener_digest(listener)}))

    scanning = {f.resource_name for f in result.findings if f.rule_id == "s3_bucket_malware_scanning_enabled"}
    assert scanning == {"camp-pranks"}


def test_a_bucket_nobody_configured_gets_the_effective_defaults(aws: EmbeddedAws) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-plain")
    client(aws, "s3", "eu-west-1").create_bucket(
        Bucket="camp-elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )

    result = audit(aws, services=["s3"])

    [plain] = result.facts.buckets  # the eu-west-1 bucket is not in the audited regions
    assert plain.public_access_block == PublicAccessBlock(False, False, False, False)
    assert plain.object_ownership == "ObjectWriter"
    assert plain.encryption == Encryption("AES256")
    assert (plain.versioning, plain.mfa_delete, plain.object_lock_enabled, plain.logging) == (
        None,
        False,
        False,
        None,
    )
    assert result.facts.account_public_access_block == PublicAccessBlock(False, False, False, False)
    assert rule_ids(result) == {
        "s3_bucket_public_access_block_enabled",
        "s3_account_public_access_block_enabled",
        "s3_bucket_acls_disabled",
        "s3_bucket_secure_transport_required",
        "s3_bucket_versioning_enabled",
        "s3_bucket_access_logging_enabled",
        "s3_bucket_mfa_delete_enabled",
        "s3_bucket_object_lock_enabled",
        "s3_bucket_malware_scanning_enabled",
    }
    assert {b.region for b in audit(aws, services=["s3"], regions=["eu-west-1"]).facts.buckets} == {
        "eu-west-1"
    }


def test_account_block_public_access_is_read_through_s3_control(aws: EmbeddedAws) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-plain")
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    control = ClientFactory(bootstrap_session(), endpoint_url=aws.endpoint_url).client("s3control")
    control.put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration=dict.fromkeys(flags, True)
    )

    result = audit(aws, services=["s3"])

    assert result.facts.account_public_access_block == PublicAccessBlock(True, True, True, True)
    assert "s3_account_public_access_block_enabled" not in rule_ids(result)


def test_a_denied_read_is_a_finding_naming_the_rules_it_blocks_never_a_pass(aws: EmbeddedAws) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="camp-site")
    s3.put_bucket_policy(Bucket="camp-site", Policy=document([PUBLIC_PUT]))
    auditor = role_session(
        aws,
        "auditor",
        [
            {"Effect": "Allow", "Action": ["s3:*", "sts:GetCallerIdentity"], "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:GetBucketPolicy", "Resource": "*"},
        ],
    )

    with iam_enforced(aws):
        result = audit(aws, session=auditor, services=["s3"])

    assert len(result.facts.buckets) == 1  # everything else was read
    [denied] = [f for f in result.findings if f.rule_id == ACCESS_DENIED_RULE]
    assert denied.message == (
        "could not evaluate s3_bucket_public_read_prohibited, s3_bucket_public_write_prohibited, "
        "s3_bucket_secure_transport_required, s3_bucket_cross_account_access_restricted on camp-site: "
        "AccessDenied on s3:GetBucketPolicy"
    )
    assert (denied.arn, denied.severity) == ("arn:aws:s3:::camp-site", "critical")
    # The policy's rules are not judged on an unread policy (no false "no TLS-only statement" either).
    assert not {"s3_bucket_public_write_prohibited", "s3_bucket_secure_transport_required"} & rule_ids(result)
    assert "s3_bucket_versioning_enabled" in rule_ids(result)


def test_a_denied_listing_blocks_the_whole_service(aws: EmbeddedAws) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-site")
    auditor = role_session(
        aws, "auditor", [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]
    )

    with iam_enforced(aws):
        result = audit(aws, session=auditor, services=["s3"])

    assert result.facts.buckets == ()
    actions = sorted(f.message.rsplit(" on ", 1)[1] for f in result.findings)
    assert actions == ["s3:GetAccountPublicAccessBlock", "s3:ListAllMyBuckets"]
    assert rule_ids(result) == {ACCESS_DENIED_RULE}


def test_a_bucket_deleted_during_collection_is_skipped_with_a_note(aws: EmbeddedAws) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="camp-going")
    s3.create_bucket(Bucket="camp-staying")
    factory = ClientFactory(bootstrap_session(), endpoint_url=aws.endpoint_url)

    def delete_after_listing(params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") == "camp-going":
            s3.delete_bucket(Bucket="camp-going")

    factory.client("s3").meta.events.register(
        "provide-client-params.s3.GetBucketLocation", delete_after_listing
    )

    result = audit(aws, services=["s3"], clients=factory)

    assert [b.name for b in result.facts.buckets] == ["camp-staying"]
    [note] = result.notes
    assert "bucket camp-going disappeared during collection, skipped" in note


def test_throttling_is_retried_by_botocore(aws: EmbeddedAws) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-site")
    factory = ClientFactory(
        bootstrap_session(), endpoint_url=aws.endpoint_url, retry_mode="standard", max_attempts=3
    )
    throttled: list[str] = []

    def throttle_first_policy_read(request: Any, **_: Any) -> AWSResponse | None:
        if "policy" in request.url and not throttled:
            throttled.append(request.url)
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return None

    factory.client("s3").meta.events.register("before-send.s3.GetBucketPolicy", throttle_first_policy_read)

    result = audit(aws, services=["s3"], clients=factory)

    assert throttled and [b.name for b in result.facts.buckets] == ["camp-site"]
    assert ACCESS_DENIED_RULE not in rule_ids(result)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body
