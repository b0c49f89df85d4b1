"""Which CloudTrail events were already handled: EventBridge delivers at least once, so an ``eventID`` is
remembered for a day and a second delivery is skipped.

An event is claimed before it is handled and released if handling fails, so a redelivery after a failure
is handled again, and two deliveries racing each other are handled once (the claim is atomic: a SQLite
primary key, a DynamoDB conditional put).
"""

from __future__ import annotations

import sqlite3
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REMEMBERED_SECONDS = 24 * 3600


class EventLedger(ABC):
    @abstractmethod
    def claim(self, event_id: str, now: float | None = None) -> bool:
        """True when the event was not seen in the last day (it is now remembered)."""

    @abstractmethod
    def release(self, event_id: str) -> None:
        """Forget a claimed event (its handling failed: a redelivery must be handled)."""

    @abstractmethod
    def record_fix(self, arn: str, at: datetime) -> None:
        """The fixer put ``arn`` back at ``at`` (the flapping guard counts these)."""

    @abstractmethod
    def fixes(self, arn: str) -> list[datetime]:
        """When the fixer put ``arn`` back, within the last day."""


class SqliteLedger(EventLedger):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS monitor_events (event_id PRIMARY KEY, expires_at)")
        self.db.execute("CREATE TABLE IF NOT EXISTS monitor_fixes (arn, at)")

    def claim(self, event_id: str, now: float | None = None) -> bool:
        at = time.time() if now is None else now
        with self.db:
            self.db.execute("DELETE FROM monitor_events WHERE expires_at <= ?", (at,))
            inserted = self.db.execute(
                "INSERT OR IGNORE INTO monitor_events VALUES (?, ?)", (event_id, at + REMEMBERED_SECONDS)
            )
        return inserted.rowcount == 1

    def release(self, event_id: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM monitor_events WHERE event_id = ?", (event_id,))

    def record_fix(self, arn: str, at: datetime) -> None:
        with self.db:
            self.db.execute("INSERT INTO monitor_fixes VALUES (?, ?)", (arn, at.isoformat()))

    def fixes(self, arn: str) -> list[datetime]:
        since = (datetime.now(UTC) - timedelta(seconds=REMEMBERED_SECONDS)).isoformat()
        rows = self.db.execute("SELECT at FROM monitor_fixes WHERE arn = ? AND at >= ?", (arn, since))
        return [datetime.fromisoformat(at) for (at,) in rows]

    def close(self) -> None:
        self.db.close()


class DynamoDbLedger(EventLedger):
    """Items ``pk = event``, ``sk`` = the event id, in the history table; ``expires_at`` is the table's TTL
    attribute (DynamoDB deletes within days, so the claim also compares it)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def claim(self, event_id: str, now: float | None = None) -> bool:
        from botocore.exceptions import ClientError

        at = int(time.time() if now is None else now)
        try:
            self.table.put_item(
                Item={"pk": "event", "sk": event_id, "expires_at": at + REMEMBERED_SECONDS},
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": at},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, event_id: str) -> None:
        self.table.delete_item(Key={"pk": "event", "sk": event_id})

    def record_fix(self, arn: str, at: datetime) -> None:
        expires = int(at.timestamp()) + REMEMBERED_SECONDS
        self.table.put_item(Item={"pk": f"fix#{arn}", "sk": at.isoformat(), "expires_at": expires})

    def fixes(self, arn: str) -> list[datetime]:
        from boto3.dynamodb.conditions import Key

        since = (datetime.now(UTC) - timedelta(seconds=REMEMBERED_SECONDS)).isoformat()
        condition = Key("pk").eq(f"fix#{arn}") & Key("sk").gte(since)
        items = self.table.query(KeyConditionExpression=condition).get("Items", [])
        return [datetime.fromisoformat(str(i["sk"])) for i in items]


class DynamoDbUndoLog:
    """Remediation's undo records in the history table (``pk = undo#<account>``, ``sk`` = entry id)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def record(self, entry: Any) -> None:
        document = entry.model_dump_json(by_alias=True)
        self.table.put_item(Item={"pk": f"undo#{entry.account}", "sk": entry.id, "entry": document})
