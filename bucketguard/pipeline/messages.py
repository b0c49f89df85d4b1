"""The two messages of the pipeline: the scan request (listener -> scanner queue) and the scan-result event
(scanner -> result topic -> post-scan). The event is a contract:
bucketguard/schemas/scan-result-event.v1.json.

Presigned URLs are secrets: they are kept out of every repr and log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bucketguard.scanning.result import Finding, Reason, ScanResult, Verdict

SCAN_REQUEST_VERSION = "1"
SCAN_RESULT_EVENT_VERSION = "1"
SCAN_RESULT_EVENT_TYPE = "bucketguard.scan-result"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "scan-result-event.v1.json"


class InvalidMessage(ValueError):
    """A message body we cannot act on (not JSON, missing field, wrong type): retrying will not help."""


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _load(body: str | dict[str, Any], what: str) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"{what}: body is not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"{what}: body is a JSON {type(data).__name__}, expected an object")
    return data


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    if name not in data:
        raise InvalidMessage(f"{what}: missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidMessage(f"{what}: field {name!r} has type {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ScanRequest:
    request_id: str
    bucket: str
    key: str
    version_id: str | None  # None: unversioned bucket (the ETag then pins the bytes)
    etag: str
    size: int
    url: str = field(repr=False)  # presigned GET of exactly this version: a secret
    result_topic_arn: str
    storage_stack_id: str
    requested_at: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema_version": SCAN_REQUEST_VERSION,
                "request_id": self.request_id,
                "bucket": self.bucket,
                "key": self.key,
                "version_id": self.version_id,
                "etag": self.etag,
                "size": self.size,
                "url": self.url,
                "result_topic_arn": self.result_topic_arn,
                "storage_stack_id": self.storage_stack_id,
                "requested_at": self.requested_at,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, body: str | dict[str, Any]) -> ScanRequest:
        what = "scan request"
        data = _load(body, what)
        if data.get("schema_version") != SCAN_REQUEST_VERSION:
            raise InvalidMessage(f"{what}: schema_version {data.get('schema_version')!r} is not supported")
        version_id = data.get("version_id")
        if version_id is not None and not isinstance(version_id, str):
            raise InvalidMessage(f"{what}: field 'version_id' has type {type(version_id).__name__}")
        size = _field(data, "size", int, what)
        if size < 0:
            raise InvalidMessage(f"{what}: field 'size' is negative")
        return cls(
            request_id=_field(data, "request_id", str, what),
            bucket=_field(data, "bucket", str, what),
            key=_field(data, "key", str, what),
            version_id=version_id,
            etag=_field(data, "etag", str, what),
            size=size,
            url=_field(data, "url", str, what),
            result_topic_arn=_field(data, "result_topic_arn", str, what),
            storage_stack_id=str(data.get("storage_stack_id", "")),
            requested_at=str(data.get("requested_at", "")),
        )


@dataclass(frozen=True)
class ScanResultEvent:
    """What the scanner publishes about one object version, and what post-scan acts on."""

    scan_id: str
    request_id: str
    storage_stack_id: str
    bucket: str
    key: str
    version_id: str | None
    etag: str
    result: ScanResult
    scanner_id: str
    scanned_at: str
    requested_at: str = ""

    @property
    def verdict(self) -> Verdict:
        return self.result.verdict

    @classmethod
    def for_request(
        cls, request: ScanRequest, result: ScanResult, *, scan_id: str, scanner_id: str, scanned_at: str
    ) -> ScanResultEvent:
        return cls(
            scan_id=scan_id,
            request_id=request.request_id,
            storage_stack_id=request.storage_stack_id,
            bucket=request.bucket,
            key=request.key,
            version_id=request.version_id,
            etag=request.etag,
            result=result,
            scanner_id=scanner_id,
            scanned_at=scanned_at,
            requested_at=request.requested_at,
        )

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "schema_version": SCAN_RESULT_EVENT_VERSION,
            "event_type": SCAN_RESULT_EVENT_TYPE,
            "scan_id": self.scan_id,
            "request_id": self.request_id,
            "storage_stack_id": self.storage_stack_id,
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": r.size,
            "sha256": r.sha256,
            "verdict": r.verdict.value,
            "findings": [f.to_dict() for f in r.findings],
            "reason": r.reason.value if r.reason else None,
            "detail": r.detail,
            "ruleset_version": r.ruleset_version,
            "backend": r.backend,
            "scanner_id": self.scanner_id,
            "requested_at": self.requested_at,
            "scanned_at": self.scanned_at,
            "duration_ms": round(r.duration_ms, 3),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, body: str | dict[str, Any]) -> ScanResultEvent:
        what = "scan-result event"
        data = _load(body, what)
        if data.get("schema_version") != SCAN_RESULT_EVENT_VERSION:
            raise InvalidMessage(f"{what}: schema_version {data.get('schema_version')!r} is not supported")
        if data.get("event_type") != SCAN_RESULT_EVENT_TYPE:
            raise InvalidMessage(
                f"{what}: event_type {data.get('event_type')!r} is not {SCAN_RESULT_EVENT_TYPE}"
            )
        try:
            result = ScanResult(
                target=_field(data, "key", str, what),
                verdict=Verdict(_field(data, "verdict", str, what)),
                findings=tuple(Finding.from_dict(f) for f in _field(data, "findings", list, what)),
                reason=Reason(data["reason"]) if data.get("reason") else None,
                detail=str(data.get("detail", "")),
                sha256=data.get("sha256"),
                size=data.get("size"),
                backend=str(data.get("backend", "")),
                ruleset_version=str(data.get("ruleset_version", "")),
                duration_ms=float(data.get("duration_ms", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidMessage(f"{what}: {exc}") from None
        version_id = data.get("version_id")
        if version_id is not None and not isinstance(version_id, str):
            raise InvalidMessage(f"{what}: field 'version_id' has type {type(version_id).__name__}")
        return cls(
            scan_id=_field(data, "scan_id", str, what),
            request_id=str(data.get("request_id", "")),
            storage_stack_id=str(data.get("storage_stack_id", "")),
            bucket=_field(data, "bucket", str, what),
            key=result.target,
            version_id=version_id,
            etag=_field(data, "etag", str, what),
            result=result,
            scanner_id=str(data.get("scanner_id", "")),
            scanned_at=_field(data, "scanned_at", str, what),
            requested_at=str(data.get("requested_at", "")),
        )


def scan_result_event_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema
