"""Listener: parsing S3 notifications and deciding what to skip (unit tier, no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import S3Model, SnsNotificationModel

from bucketguard.pipeline.listener import CreatedObject, parse_object_created, skip_reason
from bucketguard.pipeline.messages import InvalidMessage
from bucketguard.pipeline.settings import ListenerSettings, PostScanSettings, SettingsError
from tests.pipeline.events import load_event


def _settings(**overrides: object) -> ListenerSettings:
    return ListenerSettings.resolve({}, scanner_queue_url="https://q", result_topic_arn="arn:t", **overrides)


def test_keys_are_url_decoded_with_plus_for_space_and_only_created_objects_kept() -> None:
    (obj,) = parse_object_created(json.dumps(load_event("s3-object-created.json")))
    assert obj.key == "week 1/résumé + notes.pdf"
    assert obj.version_id == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    assert (obj.size, obj.etag) == (617, "0123456789abcdef0123456789abcdef")


def test_the_fixtures_are_aws_documented_shapes() -> None:
    # Powertools' own models, without the tolerance bucketguard.pipeline.notifications adds for moto
    S3Model.model_validate(load_event("s3-object-created.json"))
    SnsNotificationModel.model_validate(load_event("sns-notification.json"))


def test_notification_inside_an_sns_envelope() -> None:
    envelope = {
        **load_event("sns-notification.json"),
        "Message": json.dumps(load_event("s3-object-created.json")),
    }
    assert parse_object_created(json.dumps(envelope))[0].bucket == "camp-teaching-materials"


def test_an_sns_envelope_missing_its_fields_is_refused() -> None:
    envelope = {"Type": "Notification", "Message": json.dumps(load_event("s3-object-created.json"))}
    with pytest.raises(InvalidMessage, match=r"^SNS notification: TopicArn: is required"):
        parse_object_created(json.dumps(envelope))


def test_s3_test_event_is_ignored() -> None:
    assert parse_object_created(json.dumps(load_event("s3-test-event.json"))) == []


def _created(**changes: Any) -> str:
    event = load_event("s3-object-created.json")
    event["Records"][0].update(changes)
    return json.dumps(event)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "body is not JSON"),
        ("[1]", "body is a JSON list"),
        ('{"Records": 3}', "Records: input should be a valid list"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', r"Records\[0\]\.eventVersion: is required"),
        # Powertools' own check raised AttributeError on these, which would not have said what was wrong
        ('{"Records": [{"eventName": 5, "s3": 5}]}', r"Records\[0\]\.eventVersion: is required"),
        (_created(eventName=None), r"Records\[0\]\.eventName: input should be a valid string"),
        (_created(s3={"object": {"key": "a.pdf"}}), "names its object's size and eTag"),
        (_created(eventTime="yesterday"), r"Records\[0\]\.eventTime"),
    ],
)
def test_malformed_notifications_are_refused_with_a_reason(body: str, why: str) -> None:
    with pytest.raises(InvalidMessage, match=f"^S3 notification: .*{why}"):
        parse_object_created(body)


def _obj(key: str, size: int = 10, bucket: str = "b") -> CreatedObject:
    return CreatedObject(bucket, key, size, "e", None)


def test_skip_rules() -> None:
    s = _settings(
        skip_prefixes=("tmp/",),
        skip_suffixes=(".log",),
        skip_larger_than_bytes=100,
        platform_prefixes=("promoted/",),
        quarantine_bucket="q",
    )
    assert skip_reason(_obj("tmp/a.pdf"), s) == "skipped prefix 'tmp/'"
    assert skip_reason(_obj("a.log"), s) == "skipped suffix '.log'"
    assert skip_reason(_obj("a.pdf", size=101), s) == "larger than 100 bytes"
    assert skip_reason(_obj("promoted/a.pdf"), s) == "platform copy (prefix 'promoted/')"
    assert skip_reason(_obj("a.pdf", size=0), s) is None  # 0-byte objects are scanned
    assert skip_reason(_obj("a.pdf", size=100), s) is None


def test_settings_come_from_the_environment_and_bad_values_are_named() -> None:
    environ = {
        "BUCKETGUARD_SCANNER_QUEUE_URL": "https://sqs/q",
        "BUCKETGUARD_RESULT_TOPIC_ARN": "arn:aws:sns:eu-west-1:222222222222:r",
        "BUCKETGUARD_SKIP_SUFFIXES": ".tmp, .part",
        "BUCKETGUARD_PRESIGN_TTL_SECONDS": "120",
    }
    s = ListenerSettings.resolve(environ)
    assert s.skip_suffixes == (".tmp", ".part") and s.presign_ttl_seconds == 120
    assert (
        ListenerSettings.resolve(environ, presign_ttl_seconds=60).presign_ttl_seconds == 60
    )  # argument wins
    with pytest.raises(SettingsError, match="BUCKETGUARD_PRESIGN_TTL_SECONDS='soon'"):
        ListenerSettings.resolve({**environ, "BUCKETGUARD_PRESIGN_TTL_SECONDS": "soon"})
    with pytest.raises(SettingsError, match="BUCKETGUARD_SCANNER_QUEUE_URL"):
        ListenerSettings.resolve({})


def test_environment_typos_bad_numbers_and_missing_variables_are_refused_in_one_line() -> None:
    environ = {"BUCKETGUARD_SCANNER_QUEUE_URL": "https://sqs/q", "BUCKETGUARD_RESULT_TOPIC_ARN": "arn:t"}
    typo = r"^BUCKETGUARD_QUARANTINE_BUKET: unknown variable; did you mean BUCKETGUARD_QUARANTINE_BUCKET\?$"
    with pytest.raises(SettingsError, match=typo):
        ListenerSettings.resolve({**environ, "BUCKETGUARD_QUARANTINE_BUKET": "q"})
    # another function's variable is known: all three may share one environment
    assert ListenerSettings.resolve({**environ, "BUCKETGUARD_SEAL_KEY_ID": "k"}).quarantine_bucket == ""
    with pytest.raises(
        SettingsError, match=r"^BUCKETGUARD_SKIP_LARGER_THAN_BYTES='1e3': expected a whole number$"
    ):
        ListenerSettings.resolve({**environ, "BUCKETGUARD_SKIP_LARGER_THAN_BYTES": "1e3"})
    with pytest.raises(SettingsError, match=r"^BUCKETGUARD_RESULT_TOPIC_ARN: is required$"):
        ListenerSettings.resolve({"BUCKETGUARD_SCANNER_QUEUE_URL": "https://sqs/q"})
    with pytest.raises(
        SettingsError, match=r"^BUCKETGUARD_QUARANTINE_BUCKET: is required by action quarantine$"
    ):
        PostScanSettings.resolve({"BUCKETGUARD_ACTIONS": "tag,quarantine"})
    assert PostScanSettings.resolve({"BUCKETGUARD_ACTIONS": ""}).actions == frozenset()  # scan only
