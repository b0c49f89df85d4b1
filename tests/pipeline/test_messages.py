"""The scan-result event: one pydantic model validates events at runtime and generates the schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from bucketguard.pipeline.messages import (
    SCHEMA_PATH,
    InvalidMessage,
    ScanRequest,
    ScanResultEvent,
    scan_result_event_schema,
)
from bucketguard.scanning.result import Finding, FindingSource, Reason, ScanResult, Severity, Verdict

VALIDATOR = jsonschema.Draft202012Validator(
    scan_result_event_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


def test_the_committed_schema_is_the_one_the_model_generates() -> None:
    committed = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert committed == scan_result_event_schema(), "stale schema: run `make schemas`"
    jsonschema.Draft202012Validator.check_schema(committed)


def _event(result: ScanResult) -> dict[str, Any]:
    return ScanResultEvent(
        scan_id="scan-1",
        request_id="req-1",
        storage_stack_id="camp",
        bucket="teaching",
        key="lessons/week 1.js",
        version_id="v1",
        etag="abc",
        result=result,
        scanner_id="scanner",
        scanned_at="2026-12-01T18:00:00.000Z",
        requested_at="2026-12-01T17:59:59.000Z",
    ).to_dict()


MALICIOUS = ScanResult(
    "x",
    Verdict.MALICIOUS,
    (Finding("eicar", FindingSource.YARA, Severity.HIGH, "a.zip!eicar.com", "EICAR test file"),),
    sha256="0" * 64,
    size=68,
    duration_ms=1.25,
)
CLEAN = ScanResult("x", Verdict.CLEAN, sha256="1" * 64, size=10)
UNSCANNABLE = ScanResult("x", Verdict.UNSCANNABLE, reason=Reason.TOO_LARGE, size=10, detail="too large")


@pytest.mark.parametrize("result", [MALICIOUS, CLEAN, UNSCANNABLE])
def test_events_round_trip_and_match_the_schema(result: ScanResult) -> None:
    wire = _event(result)
    VALIDATOR.validate(wire)
    back = ScanResultEvent.from_json(json.dumps(wire))
    assert back.to_dict() == wire
    assert back.result == ScanResult(**{**result.__dict__, "target": "lessons/week 1.js"})


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


GOOD = _event(MALICIOUS)
BAD = [
    (_without(GOOD, "scan_id"), r"scan-result event: scan_id: is required"),
    ({**GOOD, "bucket": 7}, r"scan-result event: bucket: input should be a valid string"),
    ({**GOOD, "size": -1}, r"scan-result event: size: input should be greater than or equal to 0"),
    ({**GOOD, "sha256": "NOT-HEX"}, r"scan-result event: sha256: string should match pattern"),
    ({**GOOD, "verdict": "fine"}, r"scan-result event: verdict: input should be 'clean'"),
    ({**GOOD, "schema_version": "2"}, r"scan-result event: schema_version: input should be '1'"),
    ({**GOOD, "surprise": 1}, r"scan-result event: surprise: unknown key"),
    ({**GOOD, "findings": [{**GOOD["findings"][0], "source": "guess"}]}, r"findings\[0\]\.source"),
    ({**GOOD, "findings": []}, r"a malicious result needs at least one finding"),
]


@pytest.mark.parametrize(("document", "message"), BAD)
def test_runtime_and_schema_refuse_the_same_events(document: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidMessage, match=message):
        ScanResultEvent.from_json(json.dumps(document))
    assert not VALIDATOR.is_valid(document)


def test_scan_requests_are_validated_by_their_model_and_keep_the_url_out_of_errors() -> None:
    request = ScanRequest(
        request_id="r",
        bucket="teaching",
        key="k",
        version_id=None,
        etag="e",
        size=3,
        url="https://teaching.s3.amazonaws.com/k?X-Amz-Signature=secret",
        result_topic_arn="arn:aws:sns:eu-west-1:111111111111:results",
        storage_stack_id="camp",
        requested_at="2026-12-01T18:00:00.000Z",
    )
    assert ScanRequest.from_json(request.to_json()) == request
    assert "secret" not in repr(request)
    wire = json.loads(request.to_json())
    with pytest.raises(InvalidMessage, match=r"^scan request: size: input should be greater") as bad:
        ScanRequest.from_json({**wire, "size": -3})
    with pytest.raises(InvalidMessage, match=r"^scan request: url: input should be a valid string$") as leak:
        ScanRequest.from_json({**wire, "url": ["https://x?X-Amz-Signature=secret"]})
    with pytest.raises(InvalidMessage, match=r"^scan request: body is not JSON"):
        ScanRequest.from_json("{broken")
    assert "secret" not in str(bad.value) + str(leak.value)
