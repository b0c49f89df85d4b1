"""AWS helpers every layer may use: no boto3 import, only what requests and endpoints look like."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit


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
