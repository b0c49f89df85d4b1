"""The two messages of the pipeline: the scan request (listener -> scanner queue) and the scan-result event
(scanner -> result topic -> post-scan). Each is validated by a pydantic model; the event's model generates
its published contract, bucketguard/schemas/scan-result-event.v1.json.

Presigned URLs are secrets: they are kept out of every repr and log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from bucketguard.scanning.result import FindingSource, ScanResult, Severity, Verdict, valid_text
from bucketguard.validation import describe

M = TypeVar("M", bound=BaseModel)

SCAN_REQUEST_VERSION = "1"
SCAN_RESULT_EVENT_VERSION: Final = "1"
SCAN_RESULT_EVENT_TYPE: Final = "bucketguard.scan-result"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "scan-result-event.v1.json"
SCHEMA_ID = "https://github.com/bucketguard/bucketguard/schemas/scan-result-event.v1.json"


class InvalidMessage(ValueError):
    """A message body we cannot act on (not JSON, missing field, wrong type): retrying will not help."""


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_message(body: str | dict[str, Any], what: str) -> dict[str, Any]:
    """The JSON object a message body holds, or InvalidMessage saying what it is instead."""
    if isinstance(body, dict):
        return body
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"{what}: body is not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict):
        raise InvalidMessage(f"{what}: body is a JSON {type(data).__name__}, expected an object")
    return data


def parse_message(model: type[M], body: str | dict[str, Any], what: str) -> M:
    """`model` from a message body, or a one-line InvalidMessage naming the first field that is wrong."""
    data = load_message(body, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # no values in the message: a request's presigned URL is a secret, and messages end up in logs
        raise InvalidMessage(describe(exc, data, f"{what}: ", show_input=False)) from None


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
        document: _ScanRequestDocument = parse_message(_ScanRequestDocument, body, "scan request")
        return cls(**document.model_dump(exclude={"schema_version"}))


class _ScanRequestDocument(BaseModel):
    """A scan request as the listener writes it (unknown keys ignored: the queue is internal)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal["1"]
    request_id: StrictStr
    bucket: StrictStr
    key: StrictStr
    version_id: StrictStr | None = None
    etag: StrictStr
    size: Annotated[StrictInt, Field(ge=0)]
    url: StrictStr = Field(repr=False)
    result_topic_arn: StrictStr
    storage_stack_id: StrictStr = ""
    requested_at: StrictStr = ""


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
    findings_omitted: int = 0  # findings left out to keep the event within what SNS takes (see `cut`)

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

    def cut(self, keep: int, *, text_chars: int | None = None) -> ScanResultEvent:
        """This event with only its `keep` most severe findings (in a fixed order; a malicious verdict keeps
        at least one, so it stays malicious), the others counted in `findings_omitted`. `text_chars`
        shortens the free texts too (finding paths and details, the result's detail), for an event that one
        finding or a long detail alone takes over the limit."""
        result = self.result
        ranked = sorted(
            result.findings, key=lambda f: (-f.severity.rank, f.path, f.rule, f.source.value, f.detail)
        )
        kept = ranked[: max(keep, 1 if result.verdict is Verdict.MALICIOUS else 0)]
        detail = result.detail
        if text_chars is not None:
            kept = [replace(f, path=_shortened(f.path, text_chars), detail=_shortened(f.detail, text_chars))
                    for f in kept]  # fmt: skip
            detail = _shortened(detail, text_chars)
        omitted = self.findings_omitted + len(result.findings) - len(kept)
        return replace(
            self, result=replace(result, findings=tuple(kept), detail=detail), findings_omitted=omitted
        )

    def to_dict(self) -> dict[str, Any]:
        result = {k: v for k, v in self.result.to_dict().items() if k != "target"}  # the key names it
        envelope = {name: getattr(self, name) for name in _ENVELOPE}
        return ScanResultEventDocument(
            schema_version=SCAN_RESULT_EVENT_VERSION, event_type=SCAN_RESULT_EVENT_TYPE, **envelope, **result
        ).model_dump(mode="json")

    def to_json(self) -> str:
        # Member names that were not UTF-8 are sent as U+FFFD: SNS refuses a message that is not UTF-8.
        return valid_text(json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def from_json(cls, body: str | dict[str, Any]) -> ScanResultEvent:
        what = "scan-result event"
        document: ScanResultEventDocument = parse_message(ScanResultEventDocument, body, what)
        wire = document.model_dump(mode="json")
        try:
            result = ScanResult.from_dict({**wire, "target": document.key})
        except ValueError as exc:  # an unknown reason code, or a verdict its findings contradict
            raise InvalidMessage(f"{what}: {exc}") from None
        return cls(result=result, **document.model_dump(include=set(_ENVELOPE)))


def _shortened(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


# The event's own fields; the rest of the document is its ScanResult's.
_ENVELOPE = tuple(f.name for f in fields(ScanResultEvent) if f.name != "result")


class FindingDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="Finding")

    rule: StrictStr = Field(min_length=1)
    source: FindingSource
    severity: Severity
    path: StrictStr = Field(description='"" for the object itself, outer.zip!inner/path inside containers')
    detail: StrictStr


def _event_schema(schema: dict[str, Any]) -> None:
    # Producers write every field; readers accept older events without the optional ones (their defaults).
    schema["required"] = list(schema["properties"])
    schema["allOf"] = [
        {
            "if": {"properties": {"verdict": {"const": "clean"}}},
            "then": {
                "properties": {
                    "findings": {"maxItems": 0},
                    "reason": {"const": None},
                    "sha256": {"type": "string"},
                }
            },
        },
        {
            "if": {"properties": {"verdict": {"const": "malicious"}}},
            "then": {"properties": {"findings": {"minItems": 1}}},
        },
        {
            "if": {"properties": {"verdict": {"enum": ["unscannable", "error"]}}},
            "then": {"properties": {"reason": {"type": "string"}}},
        },
    ]


class ScanResultEventDocument(BaseModel):
    """The scan-result event on the wire: validates every event post-scan reads, and generates the published
    JSON Schema (bucketguard/schemas/scan-result-event.v1.json, `make schemas`)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="bucketguard scan-result event, version 1",
        json_schema_extra=_event_schema,
    )

    schema_version: Literal["1"]
    event_type: Literal["bucketguard.scan-result"]
    scan_id: StrictStr = Field(min_length=1, description="unique per scan; a redelivered event keeps it")
    request_id: StrictStr = Field("", description="id of the listener's scan request")
    storage_stack_id: StrictStr = Field("", description="which storage stack asked (one scanner serves many)")
    bucket: StrictStr = Field(min_length=3, max_length=63)
    key: StrictStr = Field(min_length=1, max_length=1024, description="decoded object key")
    version_id: StrictStr | None = Field(
        None, description="the scanned version; null for unversioned buckets"
    )
    etag: StrictStr
    size: Annotated[StrictInt, Field(ge=0)] | None = Field(
        None, description="object size in bytes (as announced when the object was not read, e.g. too_large)"
    )
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="null when not all bytes were read"
    )
    verdict: Verdict
    findings: tuple[FindingDocument, ...]
    findings_omitted: Annotated[StrictInt, Field(ge=0)] = Field(
        0,
        description="findings left out of this event to keep it within the 256 KiB SNS takes (the most "
        "severe are kept, and a malicious verdict keeps at least one); 0 when `findings` is complete",
    )
    reason: Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]*$")] | None = Field(
        None,
        description="set for unscannable and error verdicts: too_large, encrypted, corrupt, access_denied, "
        "download_failed... (bucketguard.scanning.result.Reason; new codes may be added)",
    )
    detail: StrictStr = Field("", description="human-readable context; never contains presigned URLs")
    ruleset_version: StrictStr = ""
    backend: StrictStr = ""
    scanner_id: StrictStr = ""
    requested_at: StrictStr = ""
    scanned_at: StrictStr = Field(json_schema_extra={"format": "date-time"})
    duration_ms: float = Field(0.0, ge=0)


def scan_result_event_schema() -> dict[str, Any]:
    """The published JSON Schema, generated from `ScanResultEventDocument` (the committed copy is
    SCHEMA_PATH, written by `make schemas`)."""
    schema = ScanResultEventDocument.model_json_schema()
    schema["description"] = (
        "Published by the scanner to the requesting storage stack's result topic, one per scanned object "
        "version. Consumers: the post-scan function, alerting, SIEM. Field changes need a new schema version."
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def write_scan_result_event_schema(path: Path = SCHEMA_PATH) -> None:
    path.write_text(json.dumps(scan_result_event_schema(), indent=2) + "\n", encoding="utf-8")
