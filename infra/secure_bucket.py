"""SecureBucket: an S3 bucket with every guard rail on (quarantine, promote, access-log and created protected
buckets).

Private (Block Public Access, BucketOwnerEnforced so ACLs are off), versioned, SSE-KMS with a bucket key
(SSE-S3 for an access-log bucket: S3 delivers server access logs only to SSE-S3 buckets), server access logs
sent to the storage's log bucket when it has one, and a bucket policy that refuses plain HTTP plus any extra
statements the owner passes (the access-blocking statements of a protected bucket). Buckets holding data
are `retain_on_delete`: removing a storage from the config leaves the bucket, its objects and its settings
in the account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from bucketguard.rules.facts import ROLE_TAG
from infra.policies import Statement, deny_insecure_transport, document


@dataclass
class SecureBucketArgs:
    bucket_name: pulumi.Input[str] | None  # None: named by the provider
    # None: SSE-S3, for the access-log bucket only.
    kms_key_arn: pulumi.Input[str] | None
    # Extra policy statements; may be an Output of a list (from the pipeline's access-policy renderer).
    extra_statements: pulumi.Input[Sequence[Statement]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    # bucketguard's own buckets (quarantine, promote, logs) say so: the policy pack's scanning-coverage
    # rule exempts them by this tag. None for a protected bucket, which accepts uploads and is scanned.
    role: str | None = None
    # Where this bucket's server access logs go (prefix "<bucket name>/").
    access_log_bucket: pulumi.Input[str] | None = None


class SecureBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:storage:SecureBucket", name, None, opts)
        # Data outlives the stack: removing a storage must neither delete the objects nor strip the guard
        # rails off them (a retained quarantine bucket must stay private, encrypted, versioned, TLS-only).
        keep = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        tags = {**args.tags, ROLE_TAG: args.role} if args.role else args.tags
        self.bucket = aws.s3.Bucket(f"{name}-bucket", bucket=args.bucket_name, tags=tags, opts=keep)
        bpa = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=keep,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=keep,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms" if args.kms_key_arn else "AES256",
                        kms_master_key_id=args.kms_key_arn,
                    ),
                    bucket_key_enabled=True if args.kms_key_arn else None,
                )
            ],
            opts=keep,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=keep,
        )
        if args.access_log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-access-logging",
                bucket=self.bucket.id,
                target_bucket=args.access_log_bucket,
                target_prefix=pulumi.Output.concat(self.bucket.bucket, "/"),
                opts=keep,
            )
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=bucket_policy(self.bucket.arn, args.extra_statements),
            # A policy put before Block Public Access could be judged public: order them.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, depends_on=[bpa]),
        )
        self.register_outputs({"bucketName": self.bucket.id, "bucketArn": self.bucket.arn})


def bucket_policy(
    bucket_arn: pulumi.Input[str], extra: pulumi.Input[Sequence[Statement]]
) -> pulumi.Output[str]:
    """The bucket policy: TLS only, then the extra statements (possibly an Output list)."""
    tls = deny_insecure_transport(
        "DenyInsecureTransport", ["s3:*"], [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")]
    )

    def combine(extra_list: Sequence[Statement]) -> list[Any]:
        return [tls, *extra_list]

    return document(pulumi.Output.from_input(extra).apply(combine))


def access_log_bucket(
    name: str,
    *,
    bucket_name: pulumi.Input[str],
    source_bucket_names: Sequence[pulumi.Input[str]],
    account_id: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> SecureBucket:
    """A bucket (SSE-S3, as S3 log delivery requires) for the server access logs of the source buckets: S3's
    log delivery may write there only for them, in this account."""
    delivery = {
        "Sid": "S3ServerAccessLogsDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": ["s3:PutObject"],
        "Resource": pulumi.Output.concat("arn:aws:s3:::", bucket_name, "/*"),
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {
                "aws:SourceArn": [pulumi.Output.concat("arn:aws:s3:::", b) for b in source_bucket_names]
            },
        },
    }
    args = SecureBucketArgs(
        bucket_name, kms_key_arn=None, extra_statements=[delivery], tags=tags, role="logs"
    )
    return SecureBucket(name, args, opts)
