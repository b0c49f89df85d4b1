"""Findings history: the same bookkeeping in SQLite and in DynamoDB (on moto's server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketguard.audit.history import DynamoDbHistory, FindingsHistory, SqliteHistory
from bucketguard.audit.run import AuditFinding, finding_id
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session

RULES = ["s3_bucket_versioning_enabled", "s3_bucket_public_read_prohibited"]


def finding(rule_id: str, bucket: str, account: str = "111111111111") -> AuditFinding:
    arn = f"arn:aws:s3:::{bucket}"
    return AuditFinding(
        rule_id=rule_id,
        severity="high",
        title="",
        resource_type="s3_bucket",
        resource_name=bucket,
        message="m",
        references={},
        account=account,
        region="eu-west-1",
        arn=arn,
        finding_id=finding_id(rule_id, account, "eu-west-1", arn),
    )


@pytest.fixture(params=["sqlite", "dynamodb"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FindingsHistory]:
    if request.param == "sqlite":
        yield SqliteHistory(tmp_path / "h" / "history.db")
        return
    with EmbeddedAws() as aws:
        dynamodb = bootstrap_session().resource("dynamodb", endpoint_url=aws.endpoint_url)
        yield DynamoDbHistory(DynamoDbHistory.create_table(dynamodb, "bucketguard-audit-history"))


def test_first_seen_status_resolution_and_changes(history: FindingsHistory) -> None:
    public, unversioned = finding(RULES[1], "site"), finding(RULES[0], "site")
    other_account = finding(RULES[0], "media", account="333333333333")
    history.record(
        [public, unversioned, other_account],
        accounts=["111111111111", "333333333333"],
        rule_ids=RULES,
        at="2026-01-01T00:00:00Z",
    )

    second = history.record(
        [unversioned], accounts=["111111111111"], rule_ids=RULES, at="2026-02-01T00:00:00Z"
    )

    assert second.status == {unversioned.finding_id: "still_failing"}
    assert second.first_seen == {unversioned.finding_id: "2026-01-01T00:00:00Z"}
    assert [(r.finding_id, r.resolved_at) for r in second.resolved] == [
        (public.finding_id, "2026-02-01T00:00:00Z")
    ]
    # the other account was not audited this time: its finding stays open

    third = history.record(
        [public], accounts=["111111111111", "333333333333"], rule_ids=[RULES[1]], at="2026-03-01T00:00:00Z"
    )

    assert (
        third.status == {public.finding_id: "new"}
        and third.first_seen[public.finding_id] == "2026-03-01T00:00:00Z"
    )
    assert third.resolved == []  # versioning was not judged this run: nothing of it resolves
    changes = [(c.at[:7], c.change, c.resource_name) for c in history.changes("2026-02-01")]
    assert changes == [("2026-02", "resolved", "site"), ("2026-03", "reopened", "site")]
    assert len(history.changes()) == 5
