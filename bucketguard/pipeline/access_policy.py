"""Bucket policy statements that keep objects unreadable until scanned clean, and the verdict untampered.

Merged into the protected bucket's policy by the infra code. Fail closed: the read Deny applies whenever the
verdict tag is anything but `clean`, including when it is missing (an object not yet scanned).

Note: moto does not evaluate `s3:ExistingObjectTag` conditions (a Deny with one denies every object), so the
embedded AWS does not attach these statements; their content is tested as rendered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bucketguard.pipeline.tagging import TAG_PREFIX, TAG_RESULT

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_/*:-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
TAGGING_ACTIONS = (
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
)
PUT_TAGGING_ACTIONS = ("s3:PutObjectTagging", "s3:PutObjectVersionTagging")


def _check_arn(arn: str, what: str) -> None:
    if not _ROLE_ARN.match(arn):
        raise ValueError(f"{what}: {arn!r} is not an IAM role ARN")


def render_access_block_statements(
    bucket_name: str, *, exempt_role_arns: Sequence[str], tag_writer_role_arn: str
) -> list[dict[str, Any]]:
    """IAM statements (dicts) to merge into `bucket_name`'s bucket policy.

    exempt_role_arns: the platform roles that must read unscanned objects (the listener, whose credentials
    sign the scanner's presigned URL) and the configured admin roles. The tag writer (the post-scan role) is
    exempt from every statement: it copies objects to quarantine and writes the verdict.
    """
    if not _BUCKET.match(bucket_name):
        raise ValueError(f"bucket name {bucket_name!r} is not a valid S3 bucket name")
    if isinstance(exempt_role_arns, str):
        raise TypeError("exempt_role_arns must be a sequence of ARNs, not one string")
    for arn in exempt_role_arns:
        _check_arn(arn, "exempt role")
    _check_arn(tag_writer_role_arn, "tag writer role")
    objects = f"arn:aws:s3:::{bucket_name}/*"
    readers = sorted({*exempt_role_arns, tag_writer_role_arn})
    not_tag_writer = {"ArnNotLike": {"aws:PrincipalArn": [tag_writer_role_arn]}}
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
            # or forge the verdict, so only the post-scan role may do it.
            "Sid": "BucketGuardDenyRetaggingScannedObjects",
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(TAGGING_ACTIONS),
            "Resource": objects,
            "Condition": {"Null": {f"s3:ExistingObjectTag/{TAG_RESULT}": "false"}, **not_tag_writer},
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
    ]
