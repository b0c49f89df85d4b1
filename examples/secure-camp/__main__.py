"""The camp's teaching material, deployed safely: private, encrypted, versioned, logged, TLS only, scanned by
a bucketguard storage stack deployed elsewhere (tag `bucketguard:protected`), in the allowed region."""

import json

import pulumi
import pulumi_aws as aws

aws.s3.AccountPublicAccessBlock(
    "account-bpa",
    block_public_acls=True,
    ignore_public_acls=True,
    block_public_policy=True,
    restrict_public_buckets=True,
)

access_logs = aws.s3.Bucket("access-logs", tags={"bucketguard:role": "logs"})
teaching = aws.s3.Bucket(
    "teaching-material", object_lock_enabled=True, tags={"bucketguard:protected": "true"}
)

for bucket, name in ((access_logs, "access-logs"), (teaching, "teaching-material")):
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
    )
    aws.s3.BucketPublicAccessBlock(
        f"{name}-bpa",
        bucket=bucket.id,
        block_public_acls=True,
        ignore_public_acls=True,
        block_public_policy=True,
        restrict_public_buckets=True,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-sse",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms"
                ),
                bucket_key_enabled=True,
            )
        ],
    )
    aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
            status="Enabled", mfa_delete="Enabled"
        ),
    )
    aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        policy=bucket.arn.apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [arn, f"{arn}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                }
            )
        ),
    )

aws.s3.BucketLogging(
    "teaching-material-logging", bucket=teaching.id, target_bucket=access_logs.id, target_prefix="teaching/"
)
aws.s3.BucketLogging(
    "access-logs-logging", bucket=access_logs.id, target_bucket=access_logs.id, target_prefix="self/"
)

pulumi.export("teaching_bucket", teaching.bucket)
