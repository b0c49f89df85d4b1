"""The rules bucket through boto3: rule feeds under s3://bucket/prefix (the `ObjectStore` the scanning
layer's feeds read through)."""

from __future__ import annotations

from typing import Any

from bucketguard.scanning.feeds import FeedError


class S3ObjectStore:
    """s3:// rule sources read with an injected boto3 S3 client."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def list_objects(self, bucket: str, prefix: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                found.extend(
                    (o["Key"], o["ETag"]) for o in page.get("Contents", []) if not o["Key"].endswith("/")
                )
        except self.s3.exceptions.ClientError as exc:
            raise FeedError(f"s3://{bucket}/{prefix}: cannot list: {exc.response['Error']['Code']}") from None
        return found

    def read_object(self, bucket: str, key: str, max_bytes: int) -> bytes:
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
        except self.s3.exceptions.ClientError as exc:
            raise FeedError(f"s3://{bucket}/{key}: cannot read: {exc.response['Error']['Code']}") from None
        if response["ContentLength"] > max_bytes:
            raise FeedError(f"s3://{bucket}/{key}: over the feed size cap of {max_bytes} bytes")
        body: bytes = response["Body"].read(max_bytes + 1)
        if len(body) != response["ContentLength"]:
            raise FeedError(f"s3://{bucket}/{key}: read {len(body)} of {response['ContentLength']} bytes")
        return body
