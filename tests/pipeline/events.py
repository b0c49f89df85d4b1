"""Event fixtures from tests/events/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sqs_event(*bodies: str) -> dict[str, Any]:
    """Lambda's SQS event around message bodies."""
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:222222222222:q",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def api_calls(client: Any) -> list[tuple[str, int]]:
    """(operation, entries) of every call a boto3 client makes from now on (entries: of a batch call, else
    1), recorded by a boto3 event hook: what really goes out, not a mock."""
    calls: list[tuple[str, int]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        entries = params.get("PublishBatchRequestEntries", params.get("Entries", [None]))
        calls.append((model.name, len(entries)))

    client.meta.events.register(f"before-parameter-build.{client.meta.service_model.service_name}", record)
    return calls
