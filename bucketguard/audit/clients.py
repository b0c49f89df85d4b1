"""boto3 clients for the collectors: one factory per account, every client built the same way.

Retries are botocore's own (standard or adaptive mode: jittered exponential backoff on throttling), never a
hand-written loop. With ``endpoint_url`` (moto) every client points there, S3 Control included.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from bucketguard.aws import strip_account_host_prefix

DEFAULT_RETRY_MODE = "adaptive"
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_REGION = "us-east-1"


class ClientFactory:
    """Clients of one account (one boto3 session), cached per (service, region), safe to share between
    threads. ``calls`` counts the API calls made through them (retries included)."""

    def __init__(
        self,
        session: boto3.Session,
        *,
        endpoint_url: str | None = None,
        retry_mode: str = DEFAULT_RETRY_MODE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_pool_connections: int = 20,
    ) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self._config = Config(
            retries={"mode": retry_mode, "max_attempts": max_attempts},
            max_pool_connections=max_pool_connections,
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1

    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.session.region_name or DEFAULT_REGION
        key = (service, region)
        with self._lock:  # boto3 sessions are not thread-safe while they build clients
            if key not in self._clients:
                config = self._config
                if service == "s3control":
                    config = config.merge(Config(inject_host_prefix=False))
                client = self.session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=config
                )
                client.meta.events.register("before-send", self._count)
                if service == "s3control" and self.endpoint_url:
                    client.meta.events.register(
                        "before-sign.s3-control.*", strip_account_host_prefix(self.endpoint_url)
                    )
                self._clients[key] = client
            return self._clients[key]
