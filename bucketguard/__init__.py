"""bucketguard: keep Amazon S3 buckets safe from what people put in them and from how they are configured."""

__version__ = "0.1.0"
