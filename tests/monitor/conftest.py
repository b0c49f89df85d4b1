"""Monitor fixtures: one moto server per module (AWS managed policies loaded), a fresh history and event
ledger per test, and CloudTrail events built on the documented EventBridge envelope of a real API call."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketguard.audit.clients import ClientFactory
from bucketguard.audit.history import SqliteHistory
from bucketguard.monitor.core import Monitor
from bucketguard.monitor.ledger import SqliteLedger
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session
from tests.audit.conftest import ACCOUNT, REGION, client
from tests.pipeline.events import load_event

CHILD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/camp-child"
OWN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/bucketguard-monitor"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # AdministratorAccess exists
    try:
        with EmbeddedAws() as embedded:
            yield embedded
    finally:
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES")
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous


@pytest.fixture
def monitor(aws: EmbeddedAws, tmp_path: Path) -> Iterator[Monitor]:
    clients = ClientFactory(bootstrap_session(), endpoint_url=aws.endpoint_url)
    history = SqliteHistory(tmp_path / "history.db")
    ledger = SqliteLedger(tmp_path / "history.db")
    yield Monitor(
        clients_for=lambda account: clients,
        history=history,
        ledger=ledger,
        ignored_principals=frozenset({OWN_ROLE}),
    )
    history.close()
    ledger.close()


def cloudtrail_event(
    source: str,
    name: str,
    request: dict[str, Any] | None,
    response: dict[str, Any] | None = None,
    *,
    region: str = REGION,
    actor_role: str = CHILD_ROLE,
    error_code: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The documented PutBucketAcl envelope (tests/events/cloudtrail-put-bucket-acl.json) carrying another
    call: its source, name, region, parameters and response, made by an assumed role of ``actor_role``."""
    event = copy.deepcopy(load_event("cloudtrail-put-bucket-acl.json"))
    detail = event["detail"]
    event["source"] = "aws." + source.split(".", 1)[0]
    event["region"] = detail["awsRegion"] = region
    event["id"] = str(uuid.uuid4())
    role_name = actor_role.rsplit("/", 1)[-1]
    identity = detail["userIdentity"]
    identity["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/camper-7"
    identity["sessionContext"]["sessionIssuer"].update(arn=actor_role, userName=role_name)
    detail.update(
        eventSource=source,
        eventName=name,
        requestParameters=request,
        responseElements=response,
        eventID=event_id or str(uuid.uuid4()),
        requestID=uuid.uuid4().hex[:16].upper(),
        resources=[],
    )
    if error_code:
        detail.update(errorCode=error_code, errorMessage="Access Denied")
    return event


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def public_bucket(aws: EmbeddedAws) -> str:
    name = unique("camp")
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_acl(Bucket=name, ACL="public-read")
    return name
