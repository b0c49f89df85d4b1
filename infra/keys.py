"""The customer-managed KMS key each component encrypts its queues, topics, tables and buckets with."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws


def component_key(
    name: str, *, description: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions
) -> aws.kms.Key:
    """Rotated yearly; 30 days to cancel a deletion (the longest KMS allows)."""
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        tags=dict(tags),
        opts=opts,
    )
