"""Undo records: the state each fixer found before it changed anything, and the state it left.

A record is written before the change (``applied`` false) and again after it (``applied`` true, with the
state read back). Undo restores, newest first, each resource still in the state the fixer left; a resource
that changed again since is refused, not overwritten. Locally the log is a JSON file (``UndoFile``); the
deployed monitor keeps the same entries in its history table (anything with ``record``).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, field_validator

from bucketguard.audit.clients import ClientFactory
from bucketguard.remediation.fixers import UNDOABLE_BY_NAME, Target, describe_error
from bucketguard.validation import ConfigError, StrictModel, validate

SCHEMA_VERSION = 1


class UndoEntry(StrictModel):
    id: str = Field(min_length=1)
    at: str  # ISO 8601 UTC, when the change started
    rule_id: str
    fixer: str
    account: str
    region: str | None
    arn: str
    before: Any
    after: Any = None
    applied: bool = False

    @field_validator("fixer")
    @classmethod
    def _known_fixer(cls, value: str) -> str:
        if value not in UNDOABLE_BY_NAME:
            raise ValueError(f"no such fixer {value!r}")
        return value

    @classmethod
    def started(cls, rule_id: str, fixer: str, target: Target, before: Any) -> UndoEntry:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(
            id=uuid.uuid4().hex,
            at=at,
            rule_id=rule_id,
            fixer=fixer,
            account=target.account,
            region=target.region,
            arn=target.arn,
            before=before,
        )

    def applied_as(self, after: Any) -> UndoEntry:
        return self.model_copy(update={"after": after, "applied": True})

    @property
    def target(self) -> Target:
        return Target(self.account, self.region, self.arn)


class UndoLog(Protocol):
    def record(self, entry: UndoEntry) -> None:
        """Keep ``entry`` (a later record of the same id replaces the earlier one) before returning."""


class UndoFileError(ValueError):
    """An undo file that cannot be read (one line, naming the file)."""


class UndoDocument(StrictModel):
    schema_version: Literal[1]
    entries: tuple[UndoEntry, ...]


class UndoFile:
    """The local undo log: a JSON file rewritten (atomically, owner-only) after every record, so a crash
    mid-run still leaves the states recorded so far. An existing file is added to, never replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries = {e.id: e for e in read_undo_file(path)} if path.exists() else {}

    def record(self, entry: UndoEntry) -> None:
        self.entries[entry.id] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "schema_version": SCHEMA_VERSION,
            "entries": [e.model_dump(mode="json", by_alias=True) for e in self.entries.values()],
        }
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
            json.dump(document, handle, indent=2)
        Path(temporary).replace(self.path)


def read_undo_file(path: Path) -> list[UndoEntry]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UndoFileError(f"{path}: {str(exc).splitlines()[0]}") from exc
    try:
        return list(validate(UndoDocument, raw, f"{path}: ").entries)
    except ConfigError as exc:
        raise UndoFileError(str(exc)) from exc


UndoStatus = Literal["restored", "unchanged", "refused", "failed"]


@dataclass(frozen=True)
class UndoResult:
    entry: UndoEntry
    status: UndoStatus
    reason: str = ""


def undo(
    entries: Sequence[UndoEntry], clients_for: Callable[[str], ClientFactory | None]
) -> list[UndoResult]:
    """Restore each entry's ``before`` state, newest first; ``clients_for(account)`` gives the clients of
    an account (None: no credentials for it)."""
    results = []
    for entry in reversed(entries):
        fixer = UNDOABLE_BY_NAME[entry.fixer]
        clients = clients_for(entry.account)
        if clients is None:
            results.append(UndoResult(entry, "refused", f"no credentials for account {entry.account}"))
            continue
        client = clients.client(fixer.service, entry.region)
        try:
            current = fixer.read(client, entry.target)
            if current == entry.before:
                results.append(UndoResult(entry, "unchanged", "already as it was before the fix"))
            elif not entry.applied or current != entry.after:
                why = "the fix did not complete" if not entry.applied else "it changed again since the fix"
                results.append(UndoResult(entry, "refused", f"{why}: not overwritten"))
            else:
                fixer.write(client, entry.target, current, entry.before)
                now = fixer.read(client, entry.target)
                closest = "" if now == entry.before else f"the closest state AWS allows: {json.dumps(now)}"
                results.append(UndoResult(entry, "restored", closest))
        except (ClientError, BotoCoreError) as exc:
            results.append(UndoResult(entry, "failed", describe_error(exc)))
    return results
