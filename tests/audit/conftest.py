"""Audit fixtures: moto's server on 127.0.0.1 (started here, state reset), the account's session, and a
helper that audits it through the real collectors."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.run import SERVICES, Account, AccountResult, audit_accounts
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session
from tests.policy import conftest as _policy_conftest  # noqa: F401 - puts policy_pack's bucketguard_pack on sys.path

ACCOUNT = "123456789012"  # moto's default account for its "testing" credentials
REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


def client(aws: EmbeddedAws, service: str, region: str = REGION, session: boto3.Session | None = None) -> Any:
    return (session or bootstrap_session()).client(service, endpoint_url=aws.endpoint_url, region_name=region)


def audit(
    aws: EmbeddedAws,
    *,
    session: boto3.Session | None = None,
    regions: Iterable[str] = (REGION,),
    services: Iterable[str] = SERVICES,
    page_size: int | None = None,
    clients: ClientFactory | None = None,
    **kwargs: Any,
) -> AccountResult:
    factory = clients or ClientFactory(session or bootstrap_session(), endpoint_url=aws.endpoint_url)
    account = str(factory.client("sts").get_caller_identity()["Account"])
    [result] = audit_accounts(
        [Account(account, factory, tuple(regions))], services=services, page_size=page_size, **kwargs
    )
    return result


def rule_ids(result: AccountResult, name: str | None = None) -> set[str]:
    return {f.rule_id for f in result.findings if name is None or f.resource_name == name}


@contextmanager
def iam_enforced(aws: EmbeddedAws) -> Iterator[None]:
    """moto checks every request against IAM while inside (its INITIAL_NO_AUTH_ACTION_COUNT = 0)."""

    def reset_auth(count: str) -> None:
        request = urllib.request.Request(  # noqa: S310 - our own 127.0.0.1 server
            f"{aws.endpoint_url}/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},  # a form body would hide the number from moto
        )
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    reset_auth("0")
    try:
        yield
    finally:
        reset_auth("inf")


def role_session(aws: EmbeddedAws, name: str, statements: list[dict[str, Any]]) -> boto3.Session:
    """Create role ``name`` with ``statements`` as its only policy and return a session assuming it."""
    iam = client(aws, "iam")
    trust = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=document([trust]))["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="audit", PolicyDocument=document(statements))
    credentials = client(aws, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="audit-test")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def lambda_zip() -> bytes:
    """A function's code archive (moto stores it; nothing runs it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


def prank_function(aws: EmbeddedAws, role_arn: str, source_arn: str) -> Any:
    """The function `prank`, which anyone may invoke (statement `anyone`), and S3 too from `source_arn` in
    ACCOUNT (`from-s3`); its Lambda client."""
    lam = client(aws, "lambda")
    lam.create_function(
        FunctionName="prank",
        Runtime="python3.12",
        Role=role_arn,
        Handler="handler.handler",
        Code={"ZipFile": lambda_zip()},
    )
    lam.add_permission(
        FunctionName="prank", StatementId="anyone", Action="lambda:InvokeFunction", Principal="*"
    )
    lam.add_permission(
        FunctionName="prank",
        StatementId="from-s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=source_arn,
        SourceAccount=ACCOUNT,
    )
    return lam
