"""The rule catalogue: importing this package registers every rule (one module per service)."""

from bucketguard.rules.catalogue import cloudtrail, ec2, iam, kms, lambda_, messaging, region, s3

__all__ = ["cloudtrail", "ec2", "iam", "kms", "lambda_", "messaging", "region", "s3"]
