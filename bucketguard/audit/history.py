"""Findings history: when each failure was first seen, last seen and resolved, and what changed per run.

One interface, two stores: SQLite (a file, default ``.bucketguard/history.db``) for the command line and
DynamoDB for the deployed audit. The bookkeeping is written once in ``FindingsHistory.record``; a store
only reads and writes rows.

A run resolves only what it judged: a finding open from an earlier run is resolved when its account and
rule were audited this time and it did not fail again.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bucketguard.audit.run import AuditFinding

DEFAULT_PATH = Path(".bucketguard/history.db")
NEW, STILL_FAILING, RESOLVED, REOPENED = "new", "still_failing", "resolved", "reopened"


@dataclass(frozen=True)
class Record:
    """One finding as the history keeps it."""

    finding_id: str
    rule_id: str
    severity: str
    account: str
    region: str
    arn: str
    resource_name: str
    message: str
    first_seen: str  # ISO 8601 UTC
    last_seen: str
    resolved_at: str | None = None


@dataclass(frozen=True)
class Change:
    at: str
    finding_id: str
    change: str  # new | resolved | reopened
    rule_id: str
    account: str
    region: str
    resource_name: str


@dataclass(frozen=True)
class RunChanges:
    """What one run means against the history: each current finding's first sighting and status, and the
    records that the run resolved."""

    first_seen: dict[str, str]
    status: dict[str, str]  # finding id -> new | still_failing
    resolved: list[Record]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class FindingsHistory(ABC):
    @abstractmethod
    def account_records(self, accounts: Iterable[str]) -> list[Record]:
        """Every record (open or resolved) of these accounts."""

    @abstractmethod
    def save(self, records: Sequence[Record], changes: Sequence[Change]) -> None: ...

    @abstractmethod
    def changes(self, since: str | None = None) -> list[Change]:
        """Every change at or after ``since`` (ISO 8601), oldest first."""

    def record(
        self,
        findings: Sequence[AuditFinding],
        *,
        accounts: Iterable[str],
        rule_ids: Iterable[str],
        at: str | None = None,
        in_scope: Callable[[str], bool] | None = None,
        regions: Collection[str] | None = None,
        retry_safe: bool = False,
    ) -> RunChanges:
        """What a run means against the history, saved."""
        run, records, changes = self.plan(
            findings,
            accounts=accounts,
            rule_ids=rule_ids,
            at=at,
            in_scope=in_scope,
            regions=regions,
            retry_safe=retry_safe,
        )
        self.save(records, changes)
        return run

    def plan(
        self,
        findings: Sequence[AuditFinding],
        *,
        accounts: Iterable[str],
        rule_ids: Iterable[str],
        at: str | None = None,
        in_scope: Callable[[str], bool] | None = None,
        regions: Collection[str] | None = None,
        retry_safe: bool = False,
    ) -> tuple[RunChanges, list[Record], list[Change]]:
        """What a run means against the history and what ``save`` must write (nothing is written yet: the
        monitor saves only once its alerts are out). ``in_scope(arn)``: only the resources a run read may
        be resolved by it (the monitor reads one); None: every resource of the judged accounts and rules.
        ``regions``: only records in these regions may be resolved (a deployed audit message reads one).

        ``retry_safe``: ``at`` names the run, and recording the same run again (a redelivered message)
        answers as the first time did: a finding first seen at ``at`` is new, a record resolved at ``at`` is
        resolved by this run."""
        at = at or now()
        judged_rules = set(rule_ids)
        known = {r.finding_id: r for r in self.account_records(accounts)}
        saved: list[Record] = []
        changes: list[Change] = []
        first_seen: dict[str, str] = {}
        status: dict[str, str] = {}
        for finding in findings:
            earlier = known.get(finding.finding_id)
            if earlier is None or earlier.resolved_at is not None:
                change = NEW if earlier is None else REOPENED
                changes.append(_change(at, finding.finding_id, change, finding))
            first = earlier.first_seen if earlier and earlier.resolved_at is None else at
            new = first == at if retry_safe else not (earlier and earlier.resolved_at is None)
            status[finding.finding_id] = NEW if new else STILL_FAILING
            first_seen[finding.finding_id] = first
            saved.append(
                Record(
                    finding.finding_id,
                    finding.rule_id,
                    finding.severity,
                    finding.account,
                    finding.region,
                    finding.arn,
                    finding.resource_name,
                    finding.message,
                    first,
                    at,
                )
            )
        current = {f.finding_id for f in findings}
        resolved = [
            replace(r, resolved_at=at)
            for r in known.values()
            if (r.resolved_at is None or (retry_safe and r.resolved_at == at))
            and r.finding_id not in current
            and r.rule_id in judged_rules
            and (in_scope is None or in_scope(r.arn))
            and (regions is None or r.region in regions)
        ]
        changes.extend(_change(at, r.finding_id, RESOLVED, r) for r in resolved)
        return RunChanges(first_seen, status, resolved), [*saved, *resolved], changes


def _change(at: str, finding_id: str, change: str, source: AuditFinding | Record) -> Change:
    return Change(at, finding_id, change, source.rule_id, source.account, source.region, source.resource_name)


# ------------------------------------------------------------------------------------------------ SQLite
RECORD_FIELDS = tuple(Record.__dataclass_fields__)
CHANGE_FIELDS = tuple(Change.__dataclass_fields__)


class SqliteHistory(FindingsHistory):
    def __init__(self, path: Path = DEFAULT_PATH) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS findings ({", ".join(RECORD_FIELDS)}, PRIMARY KEY (finding_id));
            CREATE INDEX IF NOT EXISTS findings_account ON findings (account);
            CREATE TABLE IF NOT EXISTS changes ({", ".join(CHANGE_FIELDS)});
            CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
            """
        )

    def close(self) -> None:
        self.db.close()

    def account_records(self, accounts: Iterable[str]) -> list[Record]:
        wanted = list(accounts)
        rows = self.db.execute(
            f"SELECT {', '.join(RECORD_FIELDS)} FROM findings "  # noqa: S608 - field names are ours
            f"WHERE account IN ({', '.join('?' * len(wanted))})",
            wanted,
        )
        return [Record(*row) for row in rows]

    def save(self, records: Sequence[Record], changes: Sequence[Change]) -> None:
        with self.db:
            self.db.executemany(
                f"INSERT OR REPLACE INTO findings VALUES ({', '.join('?' * len(RECORD_FIELDS))})",  # noqa: S608
                [tuple(asdict(r).values()) for r in records],
            )
            self.db.executemany(
                f"INSERT INTO changes VALUES ({', '.join('?' * len(CHANGE_FIELDS))})",  # noqa: S608
                [tuple(asdict(c).values()) for c in changes],
            )

    def changes(self, since: str | None = None) -> list[Change]:
        rows = self.db.execute(
            f"SELECT {', '.join(CHANGE_FIELDS)} FROM changes WHERE at >= ? ORDER BY at, rowid",  # noqa: S608
            (since or "",),
        )
        return [Change(*row) for row in rows]


# ---------------------------------------------------------------------------------------------- DynamoDB
class DynamoDbHistory(FindingsHistory):
    """One table, key ``pk`` (hash) + ``sk`` (range): findings under ``pk = finding#<account>``, ``sk`` =
    finding id (an account's findings are one query); changes under ``pk = change``, ``sk`` =
    ``<at>#<finding id>`` (changes since a date are one range query)."""

    def __init__(self, table: Any) -> None:
        self.table = table  # a boto3 DynamoDB Table resource

    @staticmethod
    def create_table(dynamodb: Any, name: str) -> Any:
        """For tests and the sandbox; the deployed table is the AuditStack's."""
        return dynamodb.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.table.query(**kwargs)
            items.extend(page.get("Items", ()))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def account_records(self, accounts: Iterable[str]) -> list[Record]:
        from boto3.dynamodb.conditions import Key

        return [
            _record(item)
            for account in accounts
            for item in self._query(KeyConditionExpression=Key("pk").eq(f"finding#{account}"))
        ]

    def save(self, records: Sequence[Record], changes: Sequence[Change]) -> None:
        # Changes before records: a save cut short leaves records that would hide their change from a retry.
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for change in changes:
                batch.put_item(
                    Item={"pk": "change", "sk": f"{change.at}#{change.finding_id}", **asdict(change)}
                )
            for record in records:
                item = {k: v for k, v in asdict(record).items() if v is not None}
                batch.put_item(Item={"pk": f"finding#{record.account}", "sk": record.finding_id, **item})

    def changes(self, since: str | None = None) -> list[Change]:
        from boto3.dynamodb.conditions import Key

        condition = Key("pk").eq("change")
        if since:
            condition = condition & Key("sk").gte(since)
        return [
            Change(**{f: str(i[f]) for f in CHANGE_FIELDS})
            for i in self._query(KeyConditionExpression=condition)
        ]


def _record(item: dict[str, Any]) -> Record:
    return Record(**{f: (None if item.get(f) is None else str(item[f])) for f in RECORD_FIELDS})  # type: ignore[arg-type]
