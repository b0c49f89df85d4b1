"""End-to-end fixtures: a fresh embedded AWS (moto server on 127.0.0.1) and the pipeline deployed on it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from bucketguard.pipeline.messages import scan_result_event_schema
from bucketguard.sandbox.aws import EmbeddedAws
from bucketguard.sandbox.stacks import LocalPipeline

_VALIDATOR = jsonschema.Draft202012Validator(
    scan_result_event_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


@pytest.fixture
def pipeline(aws: EmbeddedAws) -> Iterator[LocalPipeline]:
    pipe = LocalPipeline(aws)
    yield pipe
    # every test: every event the scanner published satisfies the schema, and nothing is stuck anywhere
    for event in pipe.published_events():
        _VALIDATOR.validate(event)


def validated_events(pipe: LocalPipeline) -> list[dict[str, Any]]:
    events = pipe.published_events()
    for event in events:
        _VALIDATOR.validate(event)
    return events


def dlq_bodies(pipe: LocalPipeline, queue_url: str, account: Any) -> list[str]:
    sqs = account.shared("sqs")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return [m["Body"] for m in got]


def assert_nothing_stuck(pipe: LocalPipeline) -> None:
    st, sc = pipe.storage, pipe.scanner_stack
    assert pipe.queue_depth(st.listener_queue_url) == 0
    assert pipe.queue_depth(st.postscan_queue_url) == 0
    assert pipe.queue_depth(sc.queue_url, sc.account) == 0
    assert pipe.queue_depth(st.listener_dlq_url) == 0
    assert pipe.queue_depth(st.postscan_dlq_url) == 0
    assert pipe.queue_depth(sc.dlq_url, sc.account) == 0


def body_json(text: str) -> Any:
    return json.loads(text)
