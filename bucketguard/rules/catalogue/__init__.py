"""The rule catalogue: importing this package registers every rule (one module per service)."""

from bucketguard.rules.catalogue import s3

__all__ = ["s3"]
