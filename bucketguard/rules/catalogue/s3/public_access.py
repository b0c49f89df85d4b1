"""S3 public access: ACL grants and policies open to everyone, Block Public Access, ACLs, website hosting,
access for other accounts."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules import policy_analysis as pa
from bucketguard.rules.facts import (
    ALL_USERS_URI,
    AUTHENTICATED_USERS_URI,
    BucketFacts,
    StackFacts,
)
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, rule

CONFORMITY_ACL_RULES = tuple(f"S3-{n:03d}" for n in range(1, 11))  # one per grantee group and permission

# Canned ACLs -> the grants AWS expands them to (only the grants to the two public groups matter here).
CANNED_PUBLIC_GRANTS = {
    "public-read": ((ALL_USERS_URI, "READ"),),
    "public-read-write": ((ALL_USERS_URI, "READ"), (ALL_USERS_URI, "WRITE")),
    "authenticated-read": ((AUTHENTICATED_USERS_URI, "READ"),),
}
PUBLIC_GROUPS = {ALL_USERS_URI: "AllUsers", AUTHENTICATED_USERS_URI: "AuthenticatedUsers"}
READ_PERMISSIONS = frozenset({"READ", "READ_ACP", "FULL_CONTROL"})
WRITE_PERMISSIONS = frozenset({"WRITE", "WRITE_ACP", "FULL_CONTROL"})

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
    yield from _public_grants(bucket, READ_PERMISSIONS)
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
    yield from _public_grants(bucket, WRITE_PERMISSIONS)
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
    if not any(b.created for b in stack.buckets):
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
