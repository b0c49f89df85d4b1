"""moto's ThreadedMotoServer on 127.0.0.1 (port 0) with one boto3 session per account via STS assume-role."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

SCANNER_ACCOUNT = "111111111111"
STORAGE_ACCOUNT = "222222222222"
REGION = "us-east-1"
_CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=50)


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


@dataclass
class AccountSession:
    account_id: str
    role_arn: str
    session: boto3.Session
    endpoint_url: str
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str, **kwargs: Any) -> Any:
        """A new client of this account on the embedded endpoint (clients are cheap; callers keep them)."""
        config = kwargs.pop("config", _CLIENT_CONFIG)
        client = self.session.client(service, endpoint_url=self.endpoint_url, config=config, **kwargs)
        if service == "sqs":
            client.meta.events.register("before-call.sqs.*", route_sqs_by_queue_url)
        return client

    def shared(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.client(service)
        return self._clients[service]


class EmbeddedAws:
    """`with EmbeddedAws() as aws:`; `aws.account(STORAGE_ACCOUNT)` gives an assumed-role session."""

    def __init__(self, *, quiet: bool = True) -> None:
        from moto.server import ThreadedMotoServer

        if quiet:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""
        self._accounts: dict[tuple[str, str], AccountSession] = {}

    def start(self) -> EmbeddedAws:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: start every sandbox from an empty AWS
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - our own 127.0.0.1 server
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def bootstrap(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)  # noqa: S106 (moto)

    def account(self, account_id: str, role: str = "bucketguard-admin") -> AccountSession:
        """Credentials of `role` in `account_id` via STS assume-role (what they create lives there)."""
        key = (account_id, role)
        if key not in self._accounts:
            sts = self.bootstrap.client("sts", endpoint_url=self.endpoint_url)
            role_arn = f"arn:aws:iam::{account_id}:role/{role}"
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"sandbox-{role}")["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=REGION,
            )
            self._accounts[key] = AccountSession(account_id, role_arn, session, self.endpoint_url)
        return self._accounts[key]
