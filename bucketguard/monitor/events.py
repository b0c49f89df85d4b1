"""CloudTrail management events as EventBridge delivers them, validated before anything reads them.

Accepted shapes: the EventBridge envelope (``detail-type: "AWS API Call via CloudTrail"``, parsed with
Powertools' ``EventBridgeModel``), a bare CloudTrail record, or a CloudTrail log file (``{"Records": []}``).
Nothing in an event is trusted: every field the monitor reads is typed and checked here (account ids,
region names, the envelope agreeing with its record), and a record that fails is refused in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bucketguard.validation import AccountId, ConfigError, RegionName, describe, pattern

DETAIL_TYPE = "AWS API Call via CloudTrail"
EventSource = Annotated[str, pattern(r"^[a-z0-9-]+\.amazonaws\.com$", "an AWS service's event source")]
EventName = Annotated[str, pattern(r"^[A-Za-z0-9]{1,128}$", "an API operation name")]
Text = Annotated[str, Field(max_length=1024)]


class InvalidEvent(ConfigError):
    """An event that is not a well-formed CloudTrail management event: refused, never guessed at."""


class _Lenient(BaseModel):
    """CloudTrail adds fields over time: unknown keys are ignored, the ones read are typed."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SessionIssuer(_Lenient):
    type: str | None = None
    arn: str | None = None
    account_id: AccountId | None = Field(None, alias="accountId")
    user_name: str | None = Field(None, alias="userName")


class SessionContext(_Lenient):
    session_issuer: SessionIssuer | None = Field(None, alias="sessionIssuer")


class UserIdentity(_Lenient):
    type: Text
    arn: Text | None = None
    account_id: AccountId | None = Field(None, alias="accountId")
    principal_id: Text | None = Field(None, alias="principalId")
    invoked_by: Text | None = Field(None, alias="invokedBy")
    session_context: SessionContext | None = Field(None, alias="sessionContext")

    @property
    def issuer_arn(self) -> str | None:
        """The role behind an assumed-role session (its ARN names the session, not the role)."""
        context = self.session_context
        issuer = context.session_issuer if context else None
        return issuer.arn if issuer and issuer.arn else None

    @property
    def actor(self) -> str:
        """Who did it, as one string: the assumed role's issuer, else the identity's ARN, else the service
        that acted on the caller's behalf, else the identity type."""
        if self.type == "AssumedRole" and self.issuer_arn:
            return self.issuer_arn
        return self.arn or self.invoked_by or self.type


class CloudTrailRecord(_Lenient):
    event_version: Text = Field(alias="eventVersion")
    event_id: Annotated[str, pattern(r"^[A-Za-z0-9-]{1,64}$", "a CloudTrail event id")] = Field(
        alias="eventID"
    )
    event_time: datetime = Field(alias="eventTime")
    event_source: EventSource = Field(alias="eventSource")
    event_name: EventName = Field(alias="eventName")
    aws_region: RegionName = Field(alias="awsRegion")
    recipient_account_id: AccountId = Field(alias="recipientAccountId")
    user_identity: UserIdentity = Field(alias="userIdentity")
    source_ip_address: Text | None = Field(None, alias="sourceIPAddress")
    user_agent: Text | None = Field(None, alias="userAgent")
    request_id: Text | None = Field(None, alias="requestID")
    error_code: Text | None = Field(None, alias="errorCode")
    event_type: Text | None = Field(None, alias="eventType")
    read_only: bool | None = Field(None, alias="readOnly")
    request_parameters: dict[str, Any] | None = Field(None, alias="requestParameters")
    response_elements: dict[str, Any] | None = Field(None, alias="responseElements")

    @property
    def account(self) -> str:
        return self.recipient_account_id

    @property
    def event_time_text(self) -> str:
        return self.event_time.isoformat().replace("+00:00", "Z")


class CloudTrailEnvelope(EventBridgeModel):
    detail: CloudTrailRecord  # narrowed from Powertools' raw dict


def _one(raw: Mapping[str, Any], where: str) -> CloudTrailRecord:
    if "detail" in raw or "detail-type" in raw:
        try:
            envelope = CloudTrailEnvelope.model_validate(raw)
        except ValidationError as exc:
            raise InvalidEvent(describe(exc, raw, f"{where}: ")) from None
        record = envelope.detail
        if envelope.detail_type != DETAIL_TYPE:
            raise InvalidEvent(f"{where}: detail-type {envelope.detail_type!r} is not {DETAIL_TYPE!r}")
        # The envelope is written by EventBridge in the account that emitted it: it must agree.
        if envelope.account != record.account or envelope.region != record.aws_region:
            raise InvalidEvent(
                f"{where}: the envelope ({envelope.account}/{envelope.region}) disagrees with its record "
                f"({record.account}/{record.aws_region})"
            )
        if envelope.source != "aws." + record.event_source.split(".", 1)[0]:
            raise InvalidEvent(f"{where}: source {envelope.source!r} does not match {record.event_source}")
        return record
    try:
        return CloudTrailRecord.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc, raw, f"{where}: ")) from None


def parse_event(raw: Any, where: str = "event") -> CloudTrailRecord:
    """One EventBridge envelope or one CloudTrail record; InvalidEvent (one line) otherwise."""
    if not isinstance(raw, Mapping):
        raise InvalidEvent(f"{where}: expected a JSON object, got {type(raw).__name__}")
    return _one(raw, where)


def parse_document(raw: Any, where: str = "event") -> Iterator[CloudTrailRecord]:
    """Every record of a document: one event, an envelope, a log file's ``Records`` or a JSON list."""
    if isinstance(raw, Mapping) and "Records" in raw:
        raw = raw["Records"]
        where = f"{where}: Records"
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            yield parse_event(item, f"{where}[{index}]")
        return
    yield parse_event(raw, where)


LAMBDA_VERSIONED_NAME = re.compile(r"^(?P<operation>[A-Za-z]+?)20\d{6}(v\d+)?$")


def operation_name(event_name: str) -> str:
    """Lambda logs its API version in the event name (``AddPermission20150331v2``): the operation alone."""
    match = LAMBDA_VERSIONED_NAME.match(event_name)
    return match.group("operation") if match else event_name
