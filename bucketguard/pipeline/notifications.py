"""What AWS delivers to the pipeline's queues, parsed with Powertools' event models: S3 event notifications
and the SNS envelope an SQS subscription without raw delivery wraps a message in.

Each SQS record is parsed on its own (not with Powertools' SqsModel/SnsSqsEnvelope, which validate a whole
batch at once: one malformed message would fail every record of it). Nothing in a notification is trusted:
a body that does not fit its model is an InvalidMessage, which fails its record alone (retried, then the DLQ).
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import (
    S3Model,
    S3RecordModel,
    SnsNotificationModel,
)
from aws_lambda_powertools.utilities.parser.models.s3 import (
    S3Bucket,
    S3Identity,
    S3Message,
    S3OwnerIdentify,
    S3RequestParameters,
    S3ResponseElements,
)
from pydantic import BaseModel, ConfigDict, model_validator

from bucketguard.pipeline.messages import InvalidMessage, load_message, parse_message

S3_TEST_EVENT = "s3:TestEvent"


class _Bucket(S3Bucket):
    ownerIdentity: S3OwnerIdentify | None = None  # type: ignore[assignment]  # moto leaves it out


class _Message(S3Message):
    bucket: _Bucket


class S3Record(S3RecordModel):
    """One record of AWS's documented notification shape, except for the fields moto's S3 -> SQS/SNS
    notification leaves out (moto 5.2: userIdentity, requestParameters, responseElements, the bucket's
    ownerIdentity), which the sandbox and the end-to-end tests deliver; nothing here reads them."""

    userIdentity: S3Identity | None = None  # type: ignore[assignment]
    requestParameters: S3RequestParameters | None = None  # type: ignore[assignment]
    responseElements: S3ResponseElements | None = None  # type: ignore[assignment]
    s3: _Message

    @model_validator(mode="before")
    @classmethod
    def validate_s3_object(cls, values: Any) -> Any:
        """Replaces Powertools' check of the same name (every event but a delete names its object's size
        and ETag), which reads the record unguarded: a malformed one raised AttributeError, not a
        validation error."""
        record = values if isinstance(values, dict) else {}
        s3 = record.get("s3")
        obj = s3.get("object") if isinstance(s3, dict) else None
        name = record.get("eventName")
        if (
            isinstance(obj, dict)
            and isinstance(name, str)
            and ":Delete" not in name
            and (obj.get("size") is None or obj.get("eTag") is None)
        ):
            raise ValueError("an S3 event other than a delete names its object's size and eTag")
        return values


class S3Notification(S3Model):
    Records: list[S3Record]  # type: ignore[assignment]  # the tolerant record above


class S3TestEvent(BaseModel):
    """What S3 sends once when a notification configuration is saved."""

    model_config = ConfigDict(extra="ignore")
    Event: Literal["s3:TestEvent"]


def sns_message(body: str) -> str:
    """The message inside an SNS envelope (an SQS subscription without raw delivery), else the body itself.

    A body that says it is an SNS notification but does not fit Powertools' model is refused."""
    try:
        data = load_message(body, "SNS notification")
    except InvalidMessage:
        return body  # not a JSON object, so no envelope: the body's own parser says what is wrong
    if data.get("Type") != "Notification":
        return body
    envelope: SnsNotificationModel = parse_message(SnsNotificationModel, data, "SNS notification")
    return str(envelope.Message)


def parse_s3_notification(body: str) -> S3Notification | None:
    """One S3 notification (maybe inside an SNS envelope), or None for S3's test event."""
    data = load_message(sns_message(body), "S3 notification")
    if data.get("Event") == S3_TEST_EVENT:
        parse_message(S3TestEvent, data, "S3 test event")
        return None
    notification: S3Notification = parse_message(S3Notification, data, "S3 notification")
    return notification
