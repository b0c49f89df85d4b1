"""boto3 clients for the collectors: one factory per account, every client built the same way.

Retries are botocore's own (standard or adaptive mode: jittered exponential backoff on throttling), never a
hand-written loop. With ``endpoint_url`` (moto) every client points there, S3 Control included.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config

DEFAULT_RETRY_MODE = "adaptive"
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_REGION = "us-east-1"


def _strip_account_host_prefix(endpoint_url: str) -> Any:
    """S3 Control's endpoint rules put the account id in front of the host (``<account>.127.0.0.1``) even
    with a custom endpoint and ``inject_host_prefix=False``; a local endpoint has no such names."""
    host = urlsplit(endpoint_url).netloc

    def handler(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc != host and parts.netloc.endswith("." + host):
            request.url = urlunsplit(parts._replace(netloc=host))

    return handler


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
                        "before-sign.s3-control.*", _strip_account_host_prefix(self.endpoint_url)
                    )
                self._clients[key] = client
            return self._clients[key]
