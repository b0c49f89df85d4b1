"""The embedded AWS: moto's server on 127.0.0.1 (port 0, a process of its own: bucketguard.sandbox.server),
with one boto3 session per account via STS assume-role."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bucketguard.aws import route_sqs_by_queue_url, strip_account_host_prefix

# The account of the deployer's own credentials (moto's default account for any unknown access key).
DEPLOYER_ACCOUNT = "123456789012"
SCANNER_ACCOUNT = "111111111111"
STORAGE_ACCOUNT = "222222222222"
REGION = "us-east-1"
# The directory holding the bucketguard package (the repository root in a checkout).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=50)


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
        if service == "s3control":
            client.meta.events.register(
                "before-sign.s3-control.*", strip_account_host_prefix(self.endpoint_url)
            )
        return client

    def environment(self) -> dict[str, str]:
        """What makes another process's boto3 clients reach the embedded endpoint as this account."""
        credentials = self.session.get_credentials().get_frozen_credentials()
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.session.region_name,
            "AWS_ACCESS_KEY_ID": credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
            "AWS_SESSION_TOKEN": credentials.token or "",
        }

    def shared(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.client(service)
        return self._clients[service]


class EmbeddedAws:
    """`with EmbeddedAws() as aws:`; `aws.account(STORAGE_ACCOUNT)` gives an assumed-role session."""

    def __init__(self) -> None:
        self.endpoint_url = ""
        self._server: subprocess.Popen[str] | None = None
        self._accounts: dict[tuple[str, str], AccountSession] = {}

    def start(self) -> EmbeddedAws:
        self._server = subprocess.Popen(
            [sys.executable, "-m", "bucketguard.sandbox.server"],
            cwd=PACKAGE_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._server.stdout is not None
        port = self._server.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError("the embedded AWS (moto server) did not start")
        self.endpoint_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        assert self._server.stdin is not None
        self._server.stdin.close()
        try:
            self._server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
        self._server = None

    @property
    def server_pid(self) -> int | None:
        """The moto server's process (benchmarks count its CPU time)."""
        return self._server.pid if self._server is not None else None

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def assume(self, role_arn: str, region: str = REGION) -> AccountSession:
        """Credentials of a role via STS assume-role (what they create lives in the role's account)."""
        key = (role_arn, region)
        if key not in self._accounts:
            self._accounts[key] = assume_role(self.endpoint_url, role_arn, region)
        return self._accounts[key]

    def account(
        self, account_id: str, role: str = "bucketguard-admin", region: str = REGION
    ) -> AccountSession:
        return self.assume(f"arn:aws:iam::{account_id}:role/{role}", region)

    def deployer(self, region: str = REGION) -> AccountSession:
        """The deployer's own credentials (a stack config without roleArn deploys with these)."""
        return AccountSession(DEPLOYER_ACCOUNT, "", bootstrap_session(region), self.endpoint_url)


def bootstrap_session(region: str = REGION) -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)  # noqa: S106 (moto)


def assume_role(endpoint_url: str, role_arn: str, region: str = REGION) -> AccountSession:
    sts = bootstrap_session(region).client("sts", endpoint_url=endpoint_url)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="bucketguard-sandbox")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )
    return AccountSession(role_arn.split(":")[4], role_arn, session, endpoint_url)
