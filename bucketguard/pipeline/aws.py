"""Small helpers around boto3: S3's answers for what is gone, SNS publishing across regions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from bucketguard.aws import arn_region

# What S3 answers for a key or version that no longer exists (404), or a delete marker's version (405).
_GONE_CODES = frozenset({"404", "405", "NoSuchKey", "NoSuchVersion", "NotFound", "MethodNotAllowed"})


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_gone(exc: BaseException) -> bool:
    """True when S3 says the object (version) does not exist any more."""
    if not isinstance(exc, ClientError):
        return False
    status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return error_code(exc) in _GONE_CODES or status in ("404", "405")


class RegionalPublisher:
    """SNS Publish and PublishBatch through a client of the topic's own region: SNS refuses a topic ARN of
    another region, and one scanner answers storages in several regions. Clients are made once per region."""

    def __init__(self, client_for_region: Callable[[str], Any]) -> None:
        self._client_for_region = client_for_region
        self._clients: dict[str, Any] = {}
        self._lock = (
            threading.Lock()
        )  # the scanner publishes from several threads; boto3 makes clients unsafely

    def _client(self, topic_arn: str) -> Any:
        region = arn_region(topic_arn)
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self._client_for_region(region)
            return self._clients[region]

    def publish(self, **request: Any) -> Any:
        return self._client(str(request["TopicArn"])).publish(**request)

    def publish_batch(self, **request: Any) -> Any:
        return self._client(str(request["TopicArn"])).publish_batch(**request)
