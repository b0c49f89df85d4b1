"""Bucket policy statements that keep objects unreadable until scanned clean, the verdict untampered, and
quarantined objects out of everyone's reach but post-scan's and the admins'.

Merged into the protected (and quarantine) bucket's policy by the infra code. Fail closed: the read Deny
applies whenever the verdict tag is anything but `clean`, including when it is missing (an object not yet
scanned).

What a policy cannot see: a CopyObject that copies the source's tags (`x-amz-tagging-directive: COPY`, the
default) sends no `x-amz-tagging`, so `s3:RequestObjectTagKeys` is absent and no condition key names the
directive. Copies from other buckets are therefore denied outright, and the listener strips platform tags from
every new version (docs/pipeline.md, "What S3 evaluates for a copy").

Note: moto does not evaluate `s3:ExistingObjectTag` conditions (a Deny with one denies every object), so the
embedded AWS does not attach these statements; their content is tested as rendered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bucketguard.pipeline.tagging import PLATFORM_TAGS, TAG_PREFIX, TAG_RESULT

# No '*' or '?': the exemptions are ArnNotLike patterns, where `role/*` would exempt every role.
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/:-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
TAGGING_ACTIONS = (
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
)
PUT_TAGGING_ACTIONS = ("s3:PutObjectTagging", "s3:PutObjectVersionTagging")
# Every object operation on a quarantine bucket: reading, writing, tagging, deleting, restoring its malware.
QUARANTINE_OBJECT_ACTIONS = ("s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject")
# What changes a promote bucket's objects (writing, tagging, ACLs, deleting, replicating into it): reading
# what post-scan put there is the point of it.
PROMOTE_WRITE_ACTIONS = ("s3:PutObject*", "s3:DeleteObject*", "s3:Replicate*")


def _check_arn(arn: str, what: str) -> None:
    if not _ROLE_ARN.match(arn):
        raise ValueError(f"{what}: {arn!r} is not an IAM role ARN")


def _check_input(bucket_name: str, role_arns: Sequence[str], what: str) -> None:
    if not _BUCKET.match(bucket_name):
        raise ValueError(f"bucket name {bucket_name!r} is not a valid S3 bucket name")
    if isinstance(role_arns, str):
        raise TypeError(f"{what} ARNs must be a sequence, not one string")
    for arn in role_arns:
        _check_arn(arn, what)


def render_access_block_statements(
    bucket_name: str,
    *,
    exempt_role_arns: Sequence[str],
    tag_writer_role_arn: str,
    tag_stripper_role_arn: str | None = None,
) -> list[dict[str, Any]]:
    """IAM statements (dicts) to merge into `bucket_name`'s bucket policy.

    exempt_role_arns: the platform roles that must read unscanned objects (the listener, whose credentials
    sign the scanner's presigned URL) and the configured admin roles. The tag writer (the post-scan role) is
    exempt from every statement: it copies objects to quarantine and writes the verdict. The tag stripper (the
    listener) may replace the tags of a new version that arrived wearing a verdict, never add one.
    """
    _check_input(bucket_name, exempt_role_arns, "exempt role")
    _check_arn(tag_writer_role_arn, "tag writer role")
    if tag_stripper_role_arn is not None:
        _check_arn(tag_stripper_role_arn, "tag stripper role")
    objects = f"arn:aws:s3:::{bucket_name}/*"
    readers = sorted({*exempt_role_arns, tag_writer_role_arn})
    not_tag_writer = {"ArnNotLike": {"aws:PrincipalArn": [tag_writer_role_arn]}}
    retaggers = sorted({tag_writer_role_arn, *([tag_stripper_role_arn] if tag_stripper_role_arn else [])})
    platform_tags = f"{TAG_PREFIX}*"
    return [
        {
            # StringNotEquals is true when the tag is absent: unscanned objects are blocked too.
            "Sid": "BucketGuardDenyReadUnlessScannedClean",
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(READ_ACTIONS),
            "Resource": objects,
            "Condition": {
                "StringNotEquals": {f"s3:ExistingObjectTag/{TAG_RESULT}": "clean"},
                "ArnNotLike": {"aws:PrincipalArn": readers},
            },
        },
        {
            # Writing a bucketguard-* tag (a forged verdict) is the post-scan role's job only.
            "Sid": "BucketGuardDenyWritingVerdictTags",
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(PUT_TAGGING_ACTIONS),
            "Resource": objects,
            "Condition": {
                "ForAnyValue:StringLike": {"s3:RequestObjectTagKeys": [platform_tags]},
                **not_tag_writer,
            },
        },
        {
            # Tagging replaces the whole tag set: on a scanned object any retag or tag removal would erase
            # or forge the verdict, so only the post-scan role may do it (and the listener, which removes
            # verdict tags an upload arrived with; the statement above keeps it from adding any).
            "Sid": "BucketGuardDenyRetaggingScannedObjects",
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(TAGGING_ACTIONS),
            "Resource": objects,
            "Condition": {
                "Null": {f"s3:ExistingObjectTag/{TAG_RESULT}": "false"},
                "ArnNotLike": {"aws:PrincipalArn": retaggers},
            },
        },
        {
            # An upload must not arrive already wearing a verdict (PutObject with x-amz-tagging).
            "Sid": "BucketGuardDenyUploadWithVerdictTags",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:PutObject"],
            "Resource": objects,
            "Condition": {
                "ForAnyValue:StringLike": {"s3:RequestObjectTagKeys": [platform_tags]},
                **not_tag_writer,
            },
        },
        {
            # IAM reads condition key names whatever their case, and S3 keeps tag keys as written: a tag
            # `BucketGuard-Scan-Result=clean` passes the two case-sensitive statements above and may still
            # be what the read Deny reads as the verdict. (StringLike has no case-blind form: the platform's
            # own keys are named; the listener removes any other `bucketguard-*` key in any case.)
            "Sid": "BucketGuardDenyVerdictTagsInAnyCase",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:PutObject", *PUT_TAGGING_ACTIONS],
            "Resource": objects,
            "Condition": {
                "ForAnyValue:StringEqualsIgnoreCase": {"s3:RequestObjectTagKeys": list(PLATFORM_TAGS)},
                **not_tag_writer,
            },
        },
        {
            # An object encrypted with a key the uploader keeps (SSE-C) can be read by no one else: the
            # listener cannot pin it, the scanner cannot read it, so it would only fill the DLQs. (AWS's own
            # example policy for blocking SSE-C; new buckets block it by default since 2026.)
            "Sid": "BucketGuardDenyUploadsOnlyTheUploaderCanRead",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:PutObject"],
            "Resource": objects,
            "Condition": {"Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}},
        },
        {
            # A CopyObject brings the source's tags (a forged verdict from a bucket the uploader owns) without
            # any x-amz-tagging header the statement above could see: only copies within this bucket pass.
            "Sid": "BucketGuardDenyCopiesFromOtherBuckets",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:PutObject"],
            "Resource": objects,
            "Condition": {
                "Null": {"s3:x-amz-copy-source": "false"},
                "StringNotLike": {"s3:x-amz-copy-source": [f"{bucket_name}/*", f"/{bucket_name}/*"]},
                **not_tag_writer,
            },
        },
    ]


def render_quarantine_statements(
    bucket_name: str, *, postscan_role_arn: str, admin_role_arns: Sequence[str]
) -> list[dict[str, Any]]:
    """The quarantine bucket's policy: only post-scan and the admin roles touch its objects, whatever IAM
    permissions other principals of the account hold (an account-wide s3:GetObject must not reach malware)."""
    return _only_post_scan_and_admins(
        "BucketGuardOnlyPostScanAndAdminsTouchQuarantine",
        QUARANTINE_OBJECT_ACTIONS,
        bucket_name,
        postscan_role_arn,
        admin_role_arns,
    )


def render_promote_statements(
    bucket_name: str, *, postscan_role_arn: str, admin_role_arns: Sequence[str]
) -> list[dict[str, Any]]:
    """The promote bucket's policy: only post-scan (and the admin roles) write there. Its readers take what
    is in it as scanned clean, and the storage key lets the account's principals write through S3 as their
    IAM policies allow: an `s3:PutObject` on `*` would otherwise put unscanned files among the promoted."""
    return _only_post_scan_and_admins(
        "BucketGuardOnlyPostScanAndAdminsWritePromoted",
        PROMOTE_WRITE_ACTIONS,
        bucket_name,
        postscan_role_arn,
        admin_role_arns,
    )


def _only_post_scan_and_admins(
    sid: str, actions: Sequence[str], bucket_name: str, postscan_role_arn: str, admin_role_arns: Sequence[str]
) -> list[dict[str, Any]]:
    _check_input(bucket_name, admin_role_arns, "admin role")
    _check_arn(postscan_role_arn, "post-scan role")
    return [
        {
            "Sid": sid,
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(actions),
            "Resource": f"arn:aws:s3:::{bucket_name}/*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": sorted({postscan_role_arn, *admin_role_arns})}},
        }
    ]
