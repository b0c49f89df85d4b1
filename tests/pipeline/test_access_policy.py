"""The access-blocking statements, tested on their rendered content.

moto does not evaluate `s3:ExistingObjectTag` conditions, so these tests evaluate the rendered statements
with a small evaluator of exactly the IAM condition operators they use (documented AWS semantics: a negated
operator matches when the key is absent; ForAnyValue over an absent key does not match; condition key names,
tag keys in `s3:ExistingObjectTag/<key>` included, are read whatever their case, as IAM documents for
condition keys and for `aws:ResourceTag/<key>`).
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from bucketguard.pipeline.access_policy import (
    render_access_block_statements,
    render_promote_statements,
    render_quarantine_statements,
)

LISTENER = "arn:aws:iam::222222222222:role/camp-listener"
POSTSCAN = "arn:aws:iam::222222222222:role/camp-postscan"
ADMIN = "arn:aws:iam::222222222222:role/security-admin"
CAMPER = "arn:aws:iam::222222222222:role/camper"
BUCKET = "camp-teaching-materials"


def _statements() -> list[dict[str, Any]]:
    return render_access_block_statements(
        BUCKET,
        exempt_role_arns=[LISTENER, ADMIN],
        tag_writer_role_arn=POSTSCAN,
        tag_stripper_role_arn=LISTENER,
    )


def _condition_matches(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    values = expected if isinstance(expected, list) else [expected]
    actual = context.get(key.casefold())
    if operator == "StringNotEquals":
        return actual is None or actual not in values
    if operator == "StringNotLike":
        return actual is None or not any(fnmatch.fnmatchcase(actual, v) for v in values)
    if operator == "ArnNotLike":
        return actual is None or not any(fnmatch.fnmatchcase(actual, v) for v in values)
    if operator == "ForAnyValue:StringLike":
        return actual is not None and any(fnmatch.fnmatchcase(a, v) for a in actual for v in values)
    if operator == "ForAnyValue:StringEqualsIgnoreCase":
        wanted = {v.casefold() for v in values}
        return actual is not None and any(a.casefold() in wanted for a in actual)
    if operator == "Null":
        return (actual is None) == (values[0] == "true")
    raise AssertionError(f"operator {operator} not modelled")


def denied(
    action: str,
    principal: str,
    *,
    existing: dict[str, str] | None = None,
    request_keys: list[str] | None = None,
    copy_source: str | None = None,
    customer_key_algorithm: str | None = None,
    statements: list[dict[str, Any]] | None = None,
) -> bool:
    context: dict[str, Any] = {
        "aws:principalarn": principal,
        "s3:x-amz-copy-source": copy_source,
        "s3:x-amz-server-side-encryption-customer-algorithm": customer_key_algorithm,
    }
    for k, v in (existing or {}).items():
        context[f"s3:ExistingObjectTag/{k}".casefold()] = v
    if request_keys is not None:
        context["s3:requestobjecttagkeys"] = request_keys
    for statement in _statements() if statements is None else statements:
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
        assert statement["Resource"].endswith("/*")
        if not any(fnmatch.fnmatchcase(action, pattern) for pattern in statement["Action"]):
            continue
        if all(
            _condition_matches(op, key, value, context)
            for op, block in statement["Condition"].items()
            for key, value in block.items()
        ):
            return True
    return False


CLEAN = {"bucketguard-scan-result": "clean"}


@pytest.mark.parametrize("action", ["s3:GetObject", "s3:GetObjectVersion"])
def test_reads_are_denied_unless_the_verdict_is_clean(action: str) -> None:
    assert denied(action, CAMPER)  # not scanned yet: blocked
    assert denied(action, CAMPER, existing={"bucketguard-scan-result": "malicious"})
    assert denied(action, CAMPER, existing={"bucketguard-scan-result": "unscannable"})
    assert denied(action, CAMPER, existing={"bucketguard-scan-result": "error"})
    assert not denied(action, CAMPER, existing=CLEAN)


@pytest.mark.parametrize("role", [LISTENER, POSTSCAN, ADMIN])
def test_platform_and_admin_roles_read_unscanned_objects(role: str) -> None:
    assert not denied("s3:GetObject", role)
    assert not denied("s3:GetObjectVersion", role, existing={"bucketguard-scan-result": "malicious"})


@pytest.mark.parametrize("action", ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"])
def test_forging_a_verdict_is_denied_to_all_but_the_post_scan_role(action: str) -> None:
    assert denied(action, CAMPER, request_keys=["bucketguard-scan-result"])
    assert denied(action, ADMIN, request_keys=["course", "bucketguard-scan-date"])
    assert not denied(action, POSTSCAN, request_keys=["bucketguard-scan-result"], existing=CLEAN)
    assert not denied(action, CAMPER, request_keys=["course"])  # own tags on an unscanned object: fine


@pytest.mark.parametrize(
    "action",
    [
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:DeleteObjectTagging",
        "s3:DeleteObjectVersionTagging",
    ],
)
def test_retagging_a_scanned_object_would_erase_the_verdict_so_only_post_scan_may(action: str) -> None:
    keys = ["course"] if "Put" in action else None
    assert denied(action, CAMPER, existing={"bucketguard-scan-result": "malicious"}, request_keys=keys)
    assert not denied(action, POSTSCAN, existing={"bucketguard-scan-result": "malicious"}, request_keys=keys)


def test_uploads_cannot_arrive_wearing_a_verdict() -> None:
    assert denied("s3:PutObject", CAMPER, request_keys=["bucketguard-scan-result"])
    assert not denied("s3:PutObject", CAMPER, request_keys=["course"])
    assert not denied("s3:PutObject", CAMPER)
    assert not denied("s3:PutObject", POSTSCAN, request_keys=["bucketguard-scan-result"])  # promote copies


# S3 keeps these apart from bucketguard-scan-result; IAM reads the condition key whatever the case.
OTHER_CASES = ["BucketGuard-Scan-Result", "BUCKETGUARD-SCAN-RESULT", "bucketguard-Scan-Result"]


@pytest.mark.parametrize("verdict_key", OTHER_CASES)
@pytest.mark.parametrize("action", ["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"])
def test_a_verdict_tag_in_another_case_is_written_by_post_scan_alone(action: str, verdict_key: str) -> None:
    # Why it matters: worn by an object, that tag is the verdict the read Deny reads.
    assert not denied("s3:GetObject", CAMPER, existing={verdict_key: "clean"})
    assert denied(action, CAMPER, request_keys=["course", verdict_key])
    assert denied(action, ADMIN, request_keys=[verdict_key.replace("Result", "Date")])
    assert denied(action, LISTENER, request_keys=[verdict_key])
    assert not denied(action, POSTSCAN, request_keys=[verdict_key])
    assert not denied(action, CAMPER, request_keys=["Course", "bucketguard"])


@pytest.mark.parametrize("principal", [CAMPER, ADMIN, LISTENER, POSTSCAN])
def test_uploads_encrypted_with_the_uploaders_own_key_are_refused_as_nobody_could_scan_them(
    principal: str,
) -> None:
    assert denied("s3:PutObject", principal, customer_key_algorithm="AES256")
    assert not denied("s3:PutObject", principal, copy_source=f"{BUCKET}/a.pdf")
    assert not denied("s3:PutObjectTagging", principal, customer_key_algorithm="AES256")


def test_the_listener_may_strip_a_verdict_an_upload_arrived_with_but_never_write_one() -> None:
    forged = {"bucketguard-scan-result": "clean"}
    assert not denied("s3:PutObjectVersionTagging", LISTENER, existing=forged, request_keys=["course"])
    assert not denied("s3:DeleteObjectVersionTagging", LISTENER, existing=forged)
    assert denied("s3:PutObjectVersionTagging", LISTENER, request_keys=["bucketguard-scan-result"])


def test_copies_from_other_buckets_are_denied_because_their_copied_tags_are_invisible_to_policies() -> None:
    # TaggingDirective=COPY sends no x-amz-tagging: s3:RequestObjectTagKeys is absent for such a copy.
    assert not denied("s3:PutObject", CAMPER, request_keys=None)
    assert denied("s3:PutObject", CAMPER, copy_source="prankster-bucket/eicar.txt")
    assert denied("s3:PutObject", ADMIN, copy_source=f"{BUCKET}-other/a.pdf")
    assert not denied("s3:PutObject", CAMPER, copy_source=f"{BUCKET}/lessons/a.pdf?versionId=3")
    assert not denied("s3:PutObject", CAMPER, copy_source=f"/{BUCKET}/lessons/a.pdf")
    assert not denied("s3:PutObject", POSTSCAN, copy_source="anywhere/a.pdf")


QUARANTINE = render_quarantine_statements(
    f"{BUCKET}-quarantine", postscan_role_arn=POSTSCAN, admin_role_arns=[ADMIN]
)
PROMOTE = render_promote_statements(
    f"{BUCKET}-published", postscan_role_arn=POSTSCAN, admin_role_arns=[ADMIN]
)


def _reserved_for_post_scan_and_admins(action: str, statements: list[dict[str, Any]]) -> bool:
    """A role whose IAM policy grants s3:* in the account (the listener included) is still refused."""
    return (
        denied(action, CAMPER, statements=statements)
        and denied(action, LISTENER, statements=statements)
        and not denied(action, POSTSCAN, statements=statements)
        and not denied(action, ADMIN, statements=statements)
    )


@pytest.mark.parametrize(
    "action",
    [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:DeleteObjectVersion",
        "s3:RestoreObject",
    ],
)
def test_quarantined_malware_is_out_of_reach_of_every_principal_but_post_scan_and_admins(action: str) -> None:
    assert _reserved_for_post_scan_and_admins(action, QUARANTINE)
    assert QUARANTINE[0]["Resource"] == f"arn:aws:s3:::{BUCKET}-quarantine/*"


@pytest.mark.parametrize(
    "action",
    [
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:PutObjectAcl",
        "s3:DeleteObjectVersion",
        "s3:ReplicateObject",
    ],
)
def test_only_post_scan_and_admins_change_what_the_promote_bucket_holds(action: str) -> None:
    # Its readers take its objects as scanned clean; an account-wide s3:PutObject must not add to them.
    assert _reserved_for_post_scan_and_admins(action, PROMOTE)
    assert not denied("s3:GetObject", CAMPER, statements=PROMOTE)
    assert PROMOTE[0]["Resource"] == f"arn:aws:s3:::{BUCKET}-published/*"


def test_exact_rendering_of_the_read_statement() -> None:
    read = _statements()[0]
    assert read == {
        "Sid": "BucketGuardDenyReadUnlessScannedClean",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
        "Condition": {
            "StringNotEquals": {"s3:ExistingObjectTag/bucketguard-scan-result": "clean"},
            "ArnNotLike": {"aws:PrincipalArn": sorted([LISTENER, ADMIN, POSTSCAN])},
        },
    }
    assert len({s["Sid"] for s in _statements()}) == len(_statements())


@pytest.mark.parametrize(
    ("bucket", "exempt", "writer", "message"),
    [
        ("Bad_Bucket", [LISTENER], POSTSCAN, "bucket name"),
        (BUCKET, ["not-an-arn"], POSTSCAN, "exempt role"),
        (BUCKET, [LISTENER], "arn:aws:s3:::bucket", "tag writer"),
        # ArnNotLike reads '*' and '?' as wildcards: an exemption for role/* would exempt every role.
        (BUCKET, ["arn:aws:iam::222222222222:role/*"], POSTSCAN, "exempt role"),
        (BUCKET, [LISTENER], "arn:aws:iam::222222222222:role/camp-post?can", "tag writer"),
    ],
)
def test_bad_input_is_refused_with_what_is_wrong(
    bucket: str, exempt: list[str], writer: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_access_block_statements(bucket, exempt_role_arns=exempt, tag_writer_role_arn=writer)
