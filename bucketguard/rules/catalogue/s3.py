"""S3 rules: public access, Block Public Access, ACLs, TLS, encryption, versioning, logging, coverage."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules import policy_analysis as pa
from bucketguard.rules.facts import (
    ALL_USERS_URI,
    AUTHENTICATED_USERS_URI,
    EXEMPT_BUCKET_ROLES,
    PROTECTED_TAG,
    ROLE_TAG,
    BucketFacts,
    StackFacts,
)
from bucketguard.rules.model import References, Remediation, RulesConfig, Severity, rule

CONFORMITY_ACL_RULES = tuple(f"S3-{n:03d}" for n in range(1, 11))  # one per grantee group and permission

# Canned ACLs -> the grants AWS expands them to (only the grants to the two public groups matter here).
CANNED_PUBLIC_GRANTS = {
    "public-read": ((ALL_USERS_URI, "READ"),),
    "public-read-write": ((ALL_USERS_URI, "READ"), (ALL_USERS_URI, "WRITE")),
    "authenticated-read": ((AUTHENTICATED_USERS_URI, "READ"),),
}
PUBLIC_GROUPS = {ALL_USERS_URI: "AllUsers", AUTHENTICATED_USERS_URI: "AuthenticatedUsers"}

# Representative actions: a statement covering any of them (directly or by wildcard) grants that access.
READ_ACTIONS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketAcl",
    "s3:GetObjectAcl",
)
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectAcl",
    "s3:PutBucketAcl",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:DeleteBucket",
)

PRIVATE_BUCKET_SNIPPET = """\
import pulumi_aws as aws

bucket = aws.s3.Bucket("teaching")  # no acl argument: private, ACLs disabled
aws.s3.BucketPublicAccessBlock(
    "teaching-bpa",
    bucket=bucket.id,
    block_public_acls=True,
    ignore_public_acls=True,
    block_public_policy=True,
    restrict_public_buckets=True,
)
"""


def _public_grants(bucket: BucketFacts, permissions: frozenset[str]) -> list[str]:
    found = []
    for group, permission in CANNED_PUBLIC_GRANTS.get(bucket.canned_acl or "", ()):
        if permission in permissions:
            found.append(f"canned ACL {bucket.canned_acl!r} grants {permission} to {PUBLIC_GROUPS[group]}")
    for grant in bucket.acl_grants:
        if grant.grantee in PUBLIC_GROUPS and grant.permission in permissions:
            found.append(f"ACL grants {grant.permission} to {PUBLIC_GROUPS[grant.grantee]}")
    return found


def _summarise(actions: list[str]) -> str:
    shown = ", ".join(actions[:3])
    return f"({shown}, ...)" if len(actions) > 3 else f"({shown})"


def _public_policy(bucket: BucketFacts, actions: tuple[str, ...]) -> list[str]:
    found = []
    for statement in pa.public_allow_statements(bucket.policy):
        covered = pa.allows_any(statement, actions)
        if covered:
            found.append(
                f"bucket policy: {pa.describe(statement)} lets anyone {_summarise(covered)} "
                "without a condition restricting the account, organisation, VPC endpoint or source"
            )
    return found


@rule(
    "s3_bucket_public_read_prohibited",
    BucketFacts,
    Severity.HIGH,
    title="S3 buckets do not allow public read or list access",
    risk=(
        "Anyone on the internet (or any AWS account) can list and download every object, including "
        "material that was never meant to leave the camp. Public read through an ACL grant or a bucket "
        "policy with Principal * is the most common cause of S3 data leaks."
    ),
    remediation=Remediation(
        summary="Remove public ACLs and public policy statements; keep Block Public Access on.",
        pulumi=PRIVATE_BUCKET_SNIPPET,
        console="S3 > bucket > Permissions: Access control list: remove grants to Everyone and Authenticated "
        "users; Bucket policy: remove statements with Principal *; Block public access: Edit, tick all four.",
        cli="aws s3api put-bucket-acl --bucket BUCKET --acl private && "
        "aws s3api delete-bucket-policy --bucket BUCKET  # or put a policy without Principal *",
    ),
    references=References(
        fsbp=("S3.2",),
        conformity=(*CONFORMITY_ACL_RULES, "S3-014"),
        checkov=("CKV_AWS_20",),
        prowler=("s3_bucket_public_access", "s3_bucket_public_list_acl"),
    ),
    notes="Judges the declared intent: a public ACL or policy is reported even when Block Public Access "
    "would reject it (the deployment would then fail instead). Grants READ, READ_ACP and FULL_CONTROL to "
    "AllUsers or AuthenticatedUsers, and policy statements with Principal * covering Get/List actions.",
)
def s3_bucket_public_read_prohibited(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    yield from _public_grants(bucket, frozenset({"READ", "READ_ACP", "FULL_CONTROL"}))
    yield from _public_policy(bucket, READ_ACTIONS)


@rule(
    "s3_bucket_public_write_prohibited",
    BucketFacts,
    Severity.CRITICAL,
    title="S3 buckets do not allow public write access",
    risk=(
        "Anyone can upload, overwrite or delete objects, so a stranger can replace the site's JavaScript "
        "or plant malware that the camp then serves to children. Open write access is how attackers "
        "modified the .js files of public buckets in the incidents this project answers."
    ),
    remediation=Remediation(
        summary="Remove write grants to AllUsers/AuthenticatedUsers and Principal * write statements.",
        pulumi=PRIVATE_BUCKET_SNIPPET,
        console="S3 > bucket > Permissions: remove ACL grants to Everyone/Authenticated users and bucket "
        "policy statements allowing s3:PutObject, s3:DeleteObject or s3:* to Principal *.",
        cli="aws s3api put-bucket-acl --bucket BUCKET --acl private && "
        "aws s3api put-bucket-policy --bucket BUCKET --policy file://policy-without-public-write.json",
    ),
    references=References(
        fsbp=("S3.3",),
        conformity=(*CONFORMITY_ACL_RULES, "S3-014"),
        checkov=("CKV_AWS_57", "CKV_AWS_70"),
        prowler=("s3_bucket_public_write_acl", "s3_bucket_policy_public_write_access"),
    ),
    notes="Grants WRITE, WRITE_ACP and FULL_CONTROL to AllUsers or AuthenticatedUsers (canned "
    "public-read-write included), and Principal * statements covering Put/Delete/ACL/policy actions.",
)
def s3_bucket_public_write_prohibited(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    yield from _public_grants(bucket, frozenset({"WRITE", "WRITE_ACP", "FULL_CONTROL"}))
    yield from _public_policy(bucket, WRITE_ACTIONS)


@rule(
    "s3_bucket_public_access_block_enabled",
    BucketFacts,
    Severity.HIGH,
    title="S3 buckets keep all four Block Public Access settings on",
    risk=(
        "Without Block Public Access, one careless ACL or policy change makes the bucket public at once. "
        "The four settings are the guard rail that stops a prank from becoming a leak."
    ),
    remediation=Remediation(
        summary="Declare a BucketPublicAccessBlock with all four flags true (or none: on by default).",
        pulumi=PRIVATE_BUCKET_SNIPPET,
        console="S3 > bucket > Permissions > Block public access (bucket settings) > Edit: tick "
        "'Block all public access' > Save.",
        cli="aws s3api put-public-access-block --bucket BUCKET --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
    ),
    references=References(
        fsbp=("S3.8",),
        cis=("2.1.4",),
        conformity=("S3-026",),
        checkov=("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV2_AWS_6"),
        prowler=("s3_bucket_level_public_access_block",),
    ),
    notes="No public-access-block resource passes: since April 2023 AWS turns all four settings on for new "
    "buckets. A resource that leaves a flag out sets it to false, which fails.",
)
def s3_bucket_public_access_block_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if bucket.public_access_block is not None and bucket.public_access_block.missing_flags:
        yield "Block Public Access is off for: " + ", ".join(bucket.public_access_block.missing_flags)


@rule(
    "s3_account_public_access_block_enabled",
    StackFacts,
    Severity.MEDIUM,
    title="The account keeps all four S3 Block Public Access settings on",
    risk=(
        "Account-level Block Public Access is the last guard rail when a bucket's own settings are turned "
        "off. AWS leaves it off by default, so any bucket in the account can still be made public."
    ),
    remediation=Remediation(
        summary="Declare an AccountPublicAccessBlock with all four flags true in one stack per account.",
        pulumi="""\
import pulumi_aws as aws

aws.s3.AccountPublicAccessBlock(
    "account-bpa",
    block_public_acls=True,
    ignore_public_acls=True,
    block_public_policy=True,
    restrict_public_buckets=True,
)
""",
        console="S3 > Block Public Access settings for this account > Edit: tick 'Block all public access'.",
        cli="aws s3control put-public-access-block --account-id ACCOUNT --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
    ),
    references=References(
        fsbp=("S3.1",),
        cis=("2.1.4",),
        conformity=("S3-027",),
        prowler=("s3_account_level_public_access_blocks",),
    ),
    notes="Stack level, only for stacks that contain buckets. No account public-access-block resource in "
    "the stack is reported (AWS default: off); exempt the rule where another stack owns the setting.",
)
def s3_account_public_access_block_enabled(stack: StackFacts, config: RulesConfig) -> Iterator[str]:
    if not stack.buckets:
        return
    account_bpa = stack.account_public_access_block
    if account_bpa is None:
        yield "no account-level Block Public Access is declared (AWS leaves it off by default)"
    elif account_bpa.missing_flags:
        yield "account-level Block Public Access is off for: " + ", ".join(account_bpa.missing_flags)


@rule(
    "s3_bucket_acls_disabled",
    BucketFacts,
    Severity.MEDIUM,
    title="S3 buckets disable ACLs (object ownership BucketOwnerEnforced)",
    risk=(
        "With ACLs enabled, every uploader can make its own objects public or keep ownership the bucket "
        "owner cannot override. Access is then decided object by object instead of by one bucket policy."
    ),
    remediation=Remediation(
        summary="Set object ownership to BucketOwnerEnforced (the default for new buckets).",
        pulumi="""\
import pulumi_aws as aws

bucket = aws.s3.Bucket("teaching")
aws.s3.BucketOwnershipControls(
    "teaching-ownership",
    bucket=bucket.id,
    rule={"object_ownership": "BucketOwnerEnforced"},
)
""",
        console="S3 > bucket > Permissions > Object Ownership > Edit: 'ACLs disabled (recommended)'.",
        cli="aws s3api put-bucket-ownership-controls --bucket BUCKET "
        "--ownership-controls 'Rules=[{ObjectOwnership=BucketOwnerEnforced}]'",
    ),
    references=References(
        fsbp=("S3.12",),
        checkov=("CKV2_AWS_65",),
        prowler=("s3_bucket_acl_prohibited",),
    ),
    notes="No ownership-controls resource passes (AWS default since April 2023: BucketOwnerEnforced).",
)
def s3_bucket_acls_disabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if bucket.object_ownership not in (None, "BucketOwnerEnforced"):
        yield f"object ownership is {bucket.object_ownership}: ACLs are enabled"


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
    if not config.require_kms:
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
    if bucket.versioning != "Enabled":
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
    if bucket.logging is None and not _is_log_or_internal_bucket(bucket):
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
    if not bucket.mfa_delete:
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
    if not bucket.object_lock_enabled:
        yield "Object Lock is off"


@rule(
    "s3_bucket_website_disabled",
    BucketFacts,
    Severity.MEDIUM,
    title="S3 buckets do not serve a static website (advisory)",
    risk=(
        "Website hosting serves objects over plain HTTP to anyone and only works with public read access. "
        "Serving the site through CloudFront with origin access control keeps the bucket private."
    ),
    remediation=Remediation(
        summary="Remove the website configuration; serve through CloudFront with origin access control.",
        pulumi="""\
import pulumi_aws as aws

bucket = aws.s3.Bucket("site")  # no BucketWebsiteConfiguration
oac = aws.cloudfront.OriginAccessControl(
    "site-oac",
    origin_access_control_origin_type="s3",
    signing_behavior="always",
    signing_protocol="sigv4",
)
""",
        console="S3 > bucket > Properties > Static website hosting > Edit: Disable > Save.",
        cli="aws s3api delete-bucket-website --bucket BUCKET",
    ),
    references=References(conformity=("S3-019",)),
    notes="A website configuration resource (or the bucket's website argument) fails.",
)
def s3_bucket_website_disabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if bucket.website:
        yield "static website hosting is enabled"


@rule(
    "s3_bucket_cross_account_access_restricted",
    BucketFacts,
    Severity.HIGH,
    title="S3 bucket policies grant access only to the configured accounts",
    risk=(
        "A bucket policy that names an unknown account gives that account's users the listed access, "
        "outside your own audit and control. Cross-account grants should be limited to accounts you list."
    ),
    remediation=Remediation(
        summary="Remove the foreign account from the bucket policy, or add it to allowed_account_ids.",
        pulumi="""\
import json

import pulumi_aws as aws

bucket = aws.s3.Bucket("teaching")
aws.s3.BucketPolicy(
    "teaching-policy",
    bucket=bucket.id,
    policy=bucket.arn.apply(
        lambda arn: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::111122223333:role/reader"},  # a listed account
                        "Action": "s3:GetObject",
                        "Resource": f"{arn}/*",
                    }
                ],
            }
        )
    ),
)
""",
        console="S3 > bucket > Permissions > Bucket policy > Edit: remove statements naming other accounts.",
        cli="aws s3api put-bucket-policy --bucket BUCKET --policy file://policy.json",
    ),
    references=References(
        fsbp=("S3.6",),
        conformity=("S3-015",),
        prowler=("s3_bucket_cross_account_access",),
    ),
    notes="Only when allowed_account_ids is configured (the bucket's own account_id, when known, is always "
    "allowed). Allow statements whose AWS principals name a 12-digit account outside the list fail.",
    config_keys=("allowed_account_ids",),
)
def s3_bucket_cross_account_access_restricted(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if not config.allowed_account_ids:
        return
    allowed = config.allowed_account_ids | ({bucket.account_id} if bucket.account_id else set())
    for statement in bucket.policy:
        if not statement.is_allow:
            continue
        foreign = sorted(pa.principal_accounts(statement) - allowed)
        if foreign:
            yield f"bucket policy: {pa.describe(statement)} grants access to account(s) {', '.join(foreign)}"


SCANNED_EVENTS = ("s3:ObjectCreated:*", "*")


def _listener_coverage(bucket: BucketFacts) -> tuple[bool, list[str]]:
    """(fully covered, partial-coverage notes) by bucketguard listener notifications."""
    partial = []
    for notification in bucket.notifications:
        if not notification.is_bucketguard_listener:
            continue
        every_upload = notification.kind == "eventbridge" or any(
            e in SCANNED_EVENTS for e in notification.events
        )
        if not every_upload:
            partial.append(f"the listener only receives {', '.join(notification.events) or 'no events'}")
        elif notification.filter_prefix or notification.filter_suffix:
            partial.append(
                f"the listener only sees keys matching prefix {notification.filter_prefix!r} "
                f"and suffix {notification.filter_suffix!r}"
            )
        else:
            return True, []
    return False, partial


@rule(
    "s3_bucket_malware_scanning_enabled",
    BucketFacts,
    Severity.MEDIUM,
    title="S3 buckets that accept uploads are protected by a bucketguard storage stack",
    risk=(
        "Objects uploaded to a bucket that no scanner watches are served as they are, malware and "
        "injected scripts included. Every bucket that accepts uploads needs a bucketguard storage stack."
    ),
    remediation=Remediation(
        summary="Deploy a bucketguard StorageStack for the bucket, or tag it bucketguard:protected=true "
        "when a storage stack in another Pulumi stack already watches it.",
        pulumi="""\
import pulumi_aws as aws

bucket = aws.s3.Bucket(
    "teaching",
    # Only when a bucketguard storage stack deployed elsewhere already sends this bucket's
    # s3:ObjectCreated:* events to its listener; otherwise add a StorageStack for the bucket.
    tags={"bucketguard:protected": "true"},
)
""",
        console="Deploy the bucketguard storage stack for the bucket (pulumi up), then check S3 > bucket > "
        "Properties > Event notifications lists the bucketguard listener queue for all object create events.",
        cli="aws s3api get-bucket-notification-configuration --bucket BUCKET  # expect the listener queue",
    ),
    references=References(),
    frameworks=("bucketguard",),
    notes="A bucket is protected when a notification sends every s3:ObjectCreated:* event (no prefix or "
    "suffix filter; EventBridge counts) to a bucketguard listener, or when it is tagged "
    "bucketguard:protected=true. Exempt: buckets that receive access logs, and buckets bucketguard itself "
    "creates, tagged bucketguard:role = quarantine, promote, logs or internal. Every other bucket is "
    "taken to accept uploads. No peer catalogue has this rule.",
)
def s3_bucket_malware_scanning_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[str]:
    if bucket.receives_access_logs or bucket.tags.get(ROLE_TAG) in EXEMPT_BUCKET_ROLES:
        return
    if bucket.tags.get(PROTECTED_TAG, "").lower() == "true":
        return
    covered, partial = _listener_coverage(bucket)
    if covered:
        return
    if partial:
        yield "uploads are only partly scanned: " + "; ".join(partial)
    else:
        yield "uploads are not scanned: no bucketguard listener receives this bucket's object-created events"
