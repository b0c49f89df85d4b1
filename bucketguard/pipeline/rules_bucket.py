"""The rules bucket through boto3: rule feeds under s3://bucket/prefix (the `ObjectStore` the scanning
layer's feeds read through) and published ruleset artifacts.

An artifact is published as `<prefix>/ruleset.zip` in a versioned bucket, with the sha256 of its bytes and
its ruleset version in the object's metadata: a reader checks the bytes it got against that digest (and
the artifact's own member checksums) before using them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketguard.scanning.feeds import FeedError, split_s3_url
from bucketguard.scanning.ruleset import load_artifact

ARTIFACT_NAME = "ruleset.zip"
SHA256_METADATA = "sha256"
VERSION_METADATA = "ruleset-version"


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


@dataclass(frozen=True)
class Published:
    bucket: str
    key: str
    version_id: str
    sha256: str
    ruleset_version: str


def artifact_key(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{ARTIFACT_NAME}" if prefix else ARTIFACT_NAME


def publish_artifact(s3: Any, path: Path, destination: str) -> Published:
    """Upload a verified artifact to s3://bucket/prefix; raises RulesetError when it does not load."""
    ruleset = load_artifact(path)  # never publish what the scanner would refuse
    bucket, prefix = split_s3_url(destination)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    key = artifact_key(prefix)
    response = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=data,
        ContentType="application/zip",
        Metadata={SHA256_METADATA: digest, VERSION_METADATA: ruleset.version},
    )
    return Published(bucket, key, str(response.get("VersionId", "")), digest, ruleset.version)
