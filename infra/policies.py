"""IAM and resource policy documents, written once and shared by the components.

Statements are plain dicts whose values may be `pulumi.Output`s; `document()` turns a list of them into
the JSON string input every policy resource takes (Output.json_dumps resolves nested Outputs without an
apply, so preview shows the same graph as up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import pulumi

from bucketguard.validation import Invalid
from infra.config import roles_in_account

Statement = dict[str, Any]

# Key administration without kms:* (and without kms:Decrypt/Encrypt: the administrator manages, it does
# not read data). Resource "*" inside a key policy means "this key".
KMS_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
]
KMS_ENCRYPT_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"]
SQS_CONSUME_ACTIONS = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    # Required by the Lambda event source mapping to validate the queue.
    "sqs:GetQueueAttributes",
]
LOG_WRITE_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
TAG_READ_ACTIONS = ["s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
TAG_WRITE_ACTIONS = [
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
]


def document(statements: pulumi.Input[Sequence[Statement]]) -> pulumi.Output[str]:
    """The policy JSON; `statements` may be an Output of a list (statements naming registered storages)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


def allow(sid: str, actions: Sequence[str], resources: Any, **extra: Any) -> Statement:
    statement: Statement = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources}
    statement.update(extra)
    return statement


def owned_by(account_id: pulumi.Input[str]) -> dict[str, Any]:
    """The Condition of an S3 statement: only buckets `account_id` owns. A bucket ARN names no account, so
    without it a bucket of the same name made in another account (ours deleted, or never made) would receive
    the copies, tags and presigned reads meant for ours."""
    return {"StringEquals": {"aws:ResourceAccount": account_id}}


def service_sends_to_queue(
    sid: str, service: str, queue_arn: Any, source_arn: Any, source_account: Any = None
) -> Statement:
    """An AWS service may deliver to a queue only on behalf of one source (no confused deputy)."""
    condition: dict[str, Any] = {"ArnEquals": {"aws:SourceArn": source_arn}}
    if source_account is not None:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["sqs:SendMessage"],
        "Resource": queue_arn,
        "Condition": condition,
    }


def lambda_trust_policy() -> str:
    import json

    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def deny_insecure_transport(sid: str, actions: Sequence[str], resources: Any) -> Statement:
    """Refuses every request that does not use TLS (FSBP S3.5 / SNS / SQS)."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(actions),
        "Resource": resources,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def log_statement(log_group_arn: pulumi.Input[str]) -> Statement:
    # Log stream ARNs are "<log group arn>:log-stream:<name>": the ":*" covers this group's streams only.
    return allow("WriteOwnLogs", LOG_WRITE_ACTIONS, pulumi.Output.concat(log_group_arn, ":*"))


def key_admin_statement(account_id: pulumi.Input[str]) -> Statement:
    return {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account_id, ":root")},
        "Action": KMS_ADMIN_ACTIONS,
        "Resource": "*",
    }


def key_use_statement(
    sid: str,
    role_arns: Any,
    *,
    services: Sequence[str],
    region: str,
    actions: Sequence[str] = tuple(KMS_ENCRYPT_ACTIONS),
) -> Statement:
    """Lets roles use the key only through the given services (sqs, s3, sns) in the key's region.

    Without kms:ViaService a role could call KMS directly and decrypt any ciphertext made with the key.
    """
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": role_arns},
        "Action": list(actions),
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in services]}
        },
    }


def key_via_s3_statement(account_id: pulumi.Input[str], region: str) -> Statement:
    """Lets the account's own principals use the key through S3 only, as their IAM policies allow.

    Uploaders to a created protected bucket need the key; this is the AWS-managed aws/s3 key's pattern,
    limited to S3 in this region and this account. Quarantined objects are excepted by a Deny next to it
    (only post-scan and the admin roles decrypt them).
    """
    return {
        "Sid": "AccountUsesKeyThroughS3",
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account_id, ":root")},
        "Action": KMS_ENCRYPT_ACTIONS,
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com", "kms:CallerAccount": account_id}
        },
    }


def key_service_statement(sid: str, service: str, account_id: pulumi.Input[str]) -> Statement:
    """Lets an AWS service (S3 notifications, SNS deliveries, CloudWatch alarms) use the key."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": KMS_ENCRYPT_ACTIONS,
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }


def roles_of_account(
    section: str, key: str, arns: Sequence[str], account_id: pulumi.Input[str]
) -> pulumi.Output[list[str]]:
    """`arns` (sorted) for the statements that name them, once found in the account the section deploys
    into: the config checks them only when it names that account, so a role of another one fails here."""

    def check(account: str) -> list[str]:
        try:
            roles_in_account(section, key, arns, account)
        except Invalid as exc:
            raise pulumi.RunError(f"bucketguard:{section}.{key}[{exc.path[-1]}]: {exc}") from None
        return sorted(arns)

    return pulumi.Output.from_input(account_id).apply(check)


def in_account(build: Callable[[str], list[Statement]], account_id: pulumi.Input[str]) -> list[Statement]:
    """The statements `build` writes for an account, once the account is known: each an Output of one
    statement, resolved in the policy document (how many there are does not depend on the account)."""
    built = pulumi.Output.from_input(account_id).apply(build)
    return [cast(Statement, built[index]) for index in range(len(build("*")))]
