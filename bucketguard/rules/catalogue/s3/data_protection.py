"""S3 data protection: TLS only, encryption at rest, versioning, MFA delete, Object Lock, access logs."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules import policy_analysis as pa
from bucketguard.rules.facts import (
    ROLE_TAG,
    BucketFacts,
)
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, rule


def _denies_plain_http(bucket: BucketFacts) -> bool:
    for statement in bucket.policy:
        if statement.is_allow or not statement.principal_is_everyone:
            continue
        if not pa.action_allowed(statement, "s3:GetObject") or not pa.action_allowed(
            statement, "s3:PutObject"
        ):
            continue
        for condition in statement.conditions:
            if (
                condition.key == "aws:securetransport"
                and condition.operator.lower() in ("bool", "boolifexists")
                and "false" in (v.lower() for v in condition.values)
            ):
                return True
    return False


@rule(
    "s3_bucket_secure_transport_required",
    BucketFacts,
    Severity.MEDIUM,
    title="S3 bucket policies deny requests that do not use TLS",
    risk=(
        "Without a TLS-only statement, clients may read and write objects over plain HTTP, where the data "
        "and the request signatures can be observed or tampered with. A Deny on aws:SecureTransport=false "
        "makes encryption in transit mandatory for everyone."
    ),
    remediation=Remediation(
        summary="Add a Deny statement for s3:* when aws:SecureTransport is false.",
        pulumi="""\
import json

import pulumi_aws as aws

bucket = aws.s3.Bucket("teaching")
aws.s3.BucketPolicy(
    "teaching-tls-only",
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
""",
        console="S3 > bucket > Permissions > Bucket policy > Edit: add the DenyInsecureTransport statement.",
        cli="aws s3api put-bucket-policy --bucket BUCKET --policy file://tls-only.json",
    ),
    references=References(
        fsbp=("S3.5",),
        cis=("2.1.1",),
        conformity=("S3-017",),
        prowler=("s3_bucket_secure_transport_policy",),
    ),
    notes="Passes when a Deny statement for Principal * covers object reads and writes (s3:* or *) with "
    "Bool/BoolIfExists aws:SecureTransport = false. No bucket policy fails.",
)
def s3_bucket_secure_transport_required(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if not bucket.created and not bucket.policy:
        return  # an existing bucket whose policy this stack does not set
    if not _denies_plain_http(bucket):
        yield "no bucket policy statement denies requests made without TLS (aws:SecureTransport=false)"


SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")

KMS_ENCRYPTION_SNIPPET = """\
import pulumi_aws as aws

key = aws.kms.Key("teaching-key", enable_key_rotation=True)
bucket = aws.s3.Bucket("teaching")
aws.s3.BucketServerSideEncryptionConfiguration(
    "teaching-sse",
    bucket=bucket.id,
    rules=[
        {
            "apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms",
                "kms_master_key_id": key.arn,
            },
            "bucket_key_enabled": True,
        }
    ],
)
"""


@rule(
    "s3_bucket_default_encryption_enabled",
    BucketFacts,
    Severity.MEDIUM,
    title="S3 buckets encrypt new objects by default",
    risk=(
        "Objects stored without server-side encryption are readable by anyone who obtains the underlying "
        "storage or a misrouted copy. Default encryption guarantees every upload is encrypted at rest."
    ),
    remediation=Remediation(
        summary="Declare a server-side encryption configuration with AES256 or aws:kms.",
        pulumi=KMS_ENCRYPTION_SNIPPET,
        console="S3 > bucket > Properties > Default encryption > Edit: SSE-S3 or SSE-KMS > Save.",
        cli="aws s3api put-bucket-encryption --bucket BUCKET --server-side-encryption-configuration "
        '\'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"}}]}\'',
    ),
    references=References(
        conformity=("S3-021",),
        checkov=("CKV_AWS_19",),
        prowler=("s3_bucket_default_encryption",),
    ),
    notes="No encryption resource passes: since January 2023 AWS encrypts every new object with SSE-S3. "
    "Fails when a configuration names no usable algorithm (AES256, aws:kms, aws:kms:dsse).",
)
def s3_bucket_default_encryption_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if bucket.encryption is not None and bucket.encryption.algorithm not in SSE_ALGORITHMS:
        yield f"default encryption names no usable algorithm ({bucket.encryption.algorithm!r})"


@rule(
    "s3_bucket_kms_encryption_enabled",
    BucketFacts,
    Severity.MEDIUM,
    title="S3 buckets encrypt with AWS KMS when the configuration requires it",
    risk=(
        "SSE-S3 keys are managed by S3 alone, so access to the data cannot be audited or revoked key by "
        "key. SSE-KMS puts every decryption behind a key policy and a CloudTrail record."
    ),
    remediation=Remediation(
        summary="Use sse_algorithm aws:kms with a customer managed key and bucket keys on.",
        pulumi=KMS_ENCRYPTION_SNIPPET,
        console="S3 > bucket > Properties > Default encryption > Edit: SSE-KMS, choose a key, Bucket Key on.",
        cli="aws s3api put-bucket-encryption --bucket BUCKET --server-side-encryption-configuration "
        '\'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms",'
        '"KMSMasterKeyID":"KEY_ARN"},"BucketKeyEnabled":true}]}\'',
    ),
    references=References(
        fsbp=("S3.17",),
        conformity=("S3-025",),
        checkov=("CKV_AWS_145",),
        prowler=("s3_bucket_kms_encryption",),
    ),
    notes="Only when the rules config sets require_kms; otherwise it never reports. Absent encryption is "
    "SSE-S3 (AWS default), which fails when KMS is required.",
    config_keys=("require_kms",),
)
def s3_bucket_kms_encryption_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if not config.require_kms or (not bucket.created and bucket.encryption is None):
        return
    algorithm = bucket.encryption.algorithm if bucket.encryption else None
    if algorithm not in KMS_ALGORITHMS:
        actual = algorithm or "SSE-S3 (AWS default)"
        yield f"default encryption is {actual}, but the configuration requires KMS"


@rule(
    "s3_bucket_versioning_enabled",
    BucketFacts,
    Severity.MEDIUM,
    title="S3 buckets keep object versions",
    risk=(
        "Without versioning, an overwrite or delete destroys the only copy of an object, so one prank "
        "upload can erase teaching material for good. Versioning also lets bucketguard tag and quarantine "
        "the exact version that was scanned."
    ),
    remediation=Remediation(
        summary="Enable versioning with a BucketVersioning resource.",
        pulumi="""\
import pulumi_aws as aws

bucket = aws.s3.Bucket("teaching")
aws.s3.BucketVersioning(
    "teaching-versioning",
    bucket=bucket.id,
    versioning_configuration={"status": "Enabled"},
)
""",
        console="S3 > bucket > Properties > Bucket Versioning > Edit: Enable > Save.",
        cli="aws s3api put-bucket-versioning --bucket BUCKET --versioning-configuration Status=Enabled",
    ),
    references=References(
        fsbp=("S3.14",),
        conformity=("S3-012",),
        checkov=("CKV_AWS_21",),
        prowler=("s3_bucket_object_versioning",),
    ),
    notes="No versioning resource fails (AWS default: never enabled); Suspended fails.",
)
def s3_bucket_versioning_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if bucket.versioning != "Enabled" and (bucket.created or bucket.versioning is not None):
        yield f"versioning is {bucket.versioning or 'not enabled'}"


def _is_log_or_internal_bucket(bucket: BucketFacts) -> bool:
    return bucket.receives_access_logs or bucket.tags.get(ROLE_TAG) == "logs"


@rule(
    "s3_bucket_access_logging_enabled",
    BucketFacts,
    Severity.MEDIUM,
    title="S3 buckets write server access logs",
    risk=(
        "Without access logs nobody can tell who uploaded, read or deleted an object after an incident. "
        "Logs are the evidence needed to trace a prank back to its source."
    ),
    remediation=Remediation(
        summary="Declare a BucketLogging resource pointing at a dedicated log bucket.",
        pulumi="""\
import pulumi_aws as aws

logs = aws.s3.Bucket("access-logs", tags={"bucketguard:role": "logs"})
bucket = aws.s3.Bucket("teaching")
aws.s3.BucketLogging(
    "teaching-logging",
    bucket=bucket.id,
    target_bucket=logs.id,
    target_prefix="teaching/",
)
""",
        console="S3 > bucket > Properties > Server access logging > Edit: Enable, choose the log bucket.",
        cli="aws s3api put-bucket-logging --bucket BUCKET --bucket-logging-status "
        '\'{"LoggingEnabled":{"TargetBucket":"LOG_BUCKET","TargetPrefix":"BUCKET/"}}\'',
    ),
    references=References(
        fsbp=("S3.9",),
        conformity=("S3-011",),
        checkov=("CKV_AWS_18",),
        prowler=("s3_bucket_server_access_logging_enabled",),
    ),
    notes="No logging resource fails (AWS default: off). Log buckets themselves (receiving another bucket's "
    "logs, or tagged bucketguard:role=logs) are exempt: logging a log bucket only loops.",
)
def s3_bucket_access_logging_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if bucket.logging is None and bucket.created and not _is_log_or_internal_bucket(bucket):
        yield "server access logging is off"


@rule(
    "s3_bucket_mfa_delete_enabled",
    BucketFacts,
    Severity.LOW,
    title="S3 buckets require MFA to delete versions (advisory)",
    risk=(
        "Without MFA delete, stolen credentials are enough to remove every object version for good. "
        "MFA delete adds a second factor before versions or the versioning state can be destroyed."
    ),
    remediation=Remediation(
        summary="Enable MFA delete with the root account (it cannot be set by an IAM role).",
        pulumi="""\
import pulumi_aws as aws

bucket = aws.s3.Bucket("teaching")
aws.s3.BucketVersioning(
    "teaching-versioning",
    bucket=bucket.id,
    versioning_configuration={"status": "Enabled", "mfa_delete": "Enabled"},
    mfa="arn:aws:iam::123456789012:mfa/root-account-mfa-device 123456",  # root credentials only
)
""",
        console="Not available in the console: use the CLI with the root account's MFA device.",
        cli="aws s3api put-bucket-versioning --bucket BUCKET --versioning-configuration "
        "Status=Enabled,MFADelete=Enabled --mfa 'SERIAL CODE'",
    ),
    references=References(
        fsbp=("S3.20",),
        cis=("2.1.2",),
        conformity=("S3-013",),
        prowler=("s3_bucket_no_mfa_delete",),
    ),
    notes="No setting fails (AWS default: off). Advisory: only the root user can enable it.",
)
def s3_bucket_mfa_delete_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if not bucket.mfa_delete and (bucket.created or bucket.mfa_delete is not None):
        yield "MFA delete is off"


@rule(
    "s3_bucket_object_lock_enabled",
    BucketFacts,
    Severity.LOW,
    title="S3 buckets protect object versions with Object Lock (advisory)",
    risk=(
        "Without Object Lock, anyone with delete rights can remove versions before a retention period "
        "ends, ransomware included. Object Lock keeps versions immutable for the configured time."
    ),
    remediation=Remediation(
        summary="Create the bucket with object_lock_enabled=True and a default retention.",
        pulumi="""\
import pulumi_aws as aws

bucket = aws.s3.Bucket("teaching", object_lock_enabled=True)
aws.s3.BucketObjectLockConfiguration(
    "teaching-lock",
    bucket=bucket.id,
    rule={"default_retention": {"mode": "GOVERNANCE", "days": 30}},
)
""",
        console="S3 > bucket > Properties > Object Lock > Edit: Enable, set a default retention.",
        cli="aws s3api put-object-lock-configuration --bucket BUCKET --object-lock-configuration "
        '\'{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":30}}}\'',
    ),
    references=References(
        fsbp=("S3.15",),
        conformity=("S3-023",),
        checkov=("CKV_AWS_143",),
        prowler=("s3_bucket_object_lock",),
    ),
    notes="No setting fails (AWS default: off). Advisory: Object Lock also blocks bucketguard's quarantine "
    "from deleting a malicious version before retention ends, so choose GOVERNANCE mode.",
)
def s3_bucket_object_lock_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if not bucket.object_lock_enabled and (bucket.created or bucket.object_lock_enabled is not None):
        yield "Object Lock is off"
