"""The CloudTrail trail the monitor reads from, when the owner asks for one
(``bucketguard:monitor.createTrail``).

Multi-region (global services included), log file validation on, management events read and written; its
logs go to a SecureBucket (private, versioned, TLS-only, SSE-KMS with the monitor's key) whose policy lets
CloudTrail check the bucket's ACL and write under ``AWSLogs/<account>/`` for this trail only
(``aws:SourceArn``), and CloudTrail encrypts them with the same key (``trail_key_statements``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.policies import Statement
from infra.secure_bucket import SecureBucket, SecureBucketArgs

CLOUDTRAIL = "cloudtrail.amazonaws.com"


def trail_arn(name: str, region: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:aws:cloudtrail:", region, ":", account_id, ":trail/", name)


def trail_key_statements(arn: pulumi.Input[str], account_id: pulumi.Input[str]) -> list[Statement]:
    """The key policy statements CloudTrail needs to encrypt this trail's logs, and the account's principals
    (as their IAM policies allow) to read them; both narrowed to trails of this account."""
    trails = pulumi.Output.concat("arn:aws:cloudtrail:*:", account_id, ":trail/*")
    return [
        {
            "Sid": "CloudTrailEncryptsLogs",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": arn},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails},
            },
        },
        {
            "Sid": "CloudTrailDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": arn}},
        },
        {
            "Sid": "AccountReadsTrailLogs",
            "Effect": "Allow",
            "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account_id, ":root")},
            "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:CallerAccount": account_id},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails},
            },
        },
    ]


@dataclass
class MonitorTrailArgs:
    trail_name: str
    region: str
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    # The key policy granting trail_key_statements: CloudTrail checks it when the trail is created.
    key_policy: pulumi.Resource
    tags: dict[str, str] = field(default_factory=dict)


class MonitorTrail(pulumi.ComponentResource):
    bucket: SecureBucket
    trail: aws.cloudtrail.Trail

    def __init__(self, name: str, args: MonitorTrailArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bucketguard:monitor:MonitorTrail", name, None, opts)
        arn = trail_arn(args.trail_name, args.region, args.account_id)
        # named (the account makes it unique): its policy names it before it exists
        bucket_name = pulumi.Output.concat(args.trail_name, "-logs-", args.account_id)
        bucket_arn = pulumi.Output.concat("arn:aws:s3:::", bucket_name)
        self.bucket = SecureBucket(
            f"{name}-logs",
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=args.kms_key_arn,
                extra_statements=trail_bucket_statements(bucket_arn, arn, args.account_id),
                tags=args.tags,
                role="internal",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=args.trail_name,  # named: the bucket and key policies name it before it exists
            s3_bucket_name=self.bucket.bucket.id,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            kms_key_id=args.kms_key_arn,
            event_selectors=[
                aws.cloudtrail.TrailEventSelectorArgs(read_write_type="All", include_management_events=True)
            ],
            tags=args.tags,
            # CloudTrail checks that it may write to the bucket and use the key when the trail is created
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.bucket.policy, args.key_policy]),
        )
        self.register_outputs({"trailArn": arn, "bucketName": self.bucket.bucket.id})


def trail_bucket_statements(
    bucket_arn: pulumi.Input[str], arn: pulumi.Input[str], account_id: pulumi.Input[str]
) -> list[Statement]:
    """CloudTrail's bucket policy statements, for this trail only."""
    this_trail = {"aws:SourceArn": arn}
    return [
        {
            "Sid": "CloudTrailChecksAcl",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": this_trail},
        },
        {
            "Sid": "CloudTrailWritesLogs",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:PutObject",
            "Resource": pulumi.Output.concat(bucket_arn, "/AWSLogs/", account_id, "/*"),
            "Condition": {"StringEquals": {**this_trail, "s3:x-amz-acl": "bucket-owner-full-control"}},
        },
    ]
