"""What the audit and the monitor share in infra: the findings history table (the layout of
``bucketguard.audit.history.DynamoDbHistory``), the Security Hub products they import into and the listener
queues they trust."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from bucketguard.audit.run import listener_digest
from infra.policies import KMS_ENCRYPT_ACTIONS, Statement


def history_table(
    name: str,
    *,
    kms_key_arn: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    expires_attribute: str | None = None,
) -> aws.dynamodb.Table:
    """KMS-encrypted, point-in-time recovery, deletion protection; ``expires_attribute``: a TTL attribute."""
    return aws.dynamodb.Table(
        name,
        billing_mode="PAY_PER_REQUEST",
        hash_key="pk",
        range_key="sk",
        attributes=[
            aws.dynamodb.TableAttributeArgs(name="pk", type="S"),
            aws.dynamodb.TableAttributeArgs(name="sk", type="S"),
        ],
        server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
            enabled=True, kms_key_arn=kms_key_arn
        ),
        point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
        ttl=aws.dynamodb.TableTtlArgs(attribute_name=expires_attribute, enabled=True)
        if expires_attribute
        else None,
        deletion_protection_enabled=True,
        tags=dict(tags),
        opts=opts,
    )


def security_hub_products(account_id: pulumi.Input[str], regions: Iterable[str]) -> list[pulumi.Output[str]]:
    """The account's own Security Hub product in each region (findings imported as a custom integration)."""
    return [
        pulumi.Output.concat(
            "arn:aws:securityhub:", region, ":", account_id, ":product/", account_id, "/default"
        )
        for region in regions
    ]


def table_key_statement(account_id: pulumi.Input[str], region: str) -> Statement:
    """A key policy statement: DynamoDB may use the key for the account's tables in ``region`` (the table's
    encryption at rest; callers still need their own grants on the key)."""
    return {
        "Sid": "DynamoDbEncryptsTheTable",
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account_id, ":root")},
        "Action": [*KMS_ENCRYPT_ACTIONS, "kms:DescribeKey", "kms:CreateGrant"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:ViaService": f"dynamodb.{region}.amazonaws.com",
                "kms:CallerAccount": account_id,
            }
        },
    }


def listener_digests(queue_arns: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
    """LISTENER_QUEUE_DIGESTS: the digest of each listener queue the program made, comma-separated."""
    return pulumi.Output.all(*queue_arns).apply(lambda arns: ",".join(listener_digest(a) for a in arns))
