"""AWS helpers every layer may use: no boto3 import, only what requests and endpoints look like."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# AWS Lambda gives a function CPU in proportion to its memory: one vCPU's worth per 1,769 MB, in the
# environment variable Lambda sets in every function.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MEMORY_VARIABLE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


def arn_region(arn: str) -> str:
    """The region field of an ARN (`arn:partition:service:region:account:resource`); "" when it has none."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[3]


def parse_s3_url(url: str) -> tuple[str, str]:
    """('bucket', 'prefix') from s3://bucket[/prefix]; a ValueError naming the URL otherwise."""
    rest = url[len("s3://") :] if url.startswith("s3://") else ""
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"{url}: expected s3://bucket[/prefix]")
    return bucket, prefix


def real_version_id(version_id: str | None) -> str | None:
    """S3 names the version of an object written while versioning was off "null": no version to pin."""
    return None if version_id == "null" else version_id


def object_location(bucket: str, key: str, version_id: str | None) -> dict[str, str]:
    """`Bucket`, `Key` and, when there is one, `VersionId`: the parameters naming one object (version)."""
    return {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}


def route_sqs_by_queue_url(params: dict[str, Any], **_: Any) -> None:
    """moto picks the SQS account from the caller's credentials, real SQS from the queue URL: a caller in
    one account sending to another account's queue (allowed by its queue policy) needs this hint in moto."""
    url = params.get("url", "")
    body = params.get("body")
    queue_url = ""
    if isinstance(body, dict):
        queue_url = str(body.get("QueueUrl", ""))
    elif isinstance(body, bytes | str) and body:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = {}
        if isinstance(decoded, dict):
            queue_url = str(decoded.get("QueueUrl", ""))
    path = urlsplit(queue_url or url).path.strip("/").split("/")
    if path and len(path[0]) == 12 and path[0].isdigit():
        params.setdefault("headers", {})["x-moto-account-id"] = path[0]


def strip_account_host_prefix(endpoint_url: str) -> Any:
    """A before-sign hook for S3 Control clients on a local endpoint (moto): S3 Control's endpoint rules put
    the account id in front of the host (`<account>.127.0.0.1`) even with a custom endpoint and
    `inject_host_prefix=False`, and a local endpoint has no such names."""
    host = urlsplit(endpoint_url).netloc

    def handler(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc != host and parts.netloc.endswith("." + host):
            request.url = urlunsplit(parts._replace(netloc=host))

    return handler
