"""What every collector shares: one collection unit (account + region), its calls and what they gathered.

A collector reads, it never judges. Three outcomes of a call besides success are decided here, once:
* the setting is not configured (``NoSuchBucketPolicy``...): the caller gets ``None`` and fills the
  effective state AWS applies;
* IAM denies the call: a ``Denial`` is recorded naming the rules it blocks, the resource and the IAM action,
  and the caller gets ``None`` (the rules it blocks are not judged on that resource: see ``audit.run``);
* the resource disappeared between listing and reading: ``ResourceGone`` is raised, and ``each`` skips that
  resource with a note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from bucketguard.audit.clients import ClientFactory
from bucketguard.rules.facts import PolicyStatement, PublicAccessBlock, ResourceFacts

T = TypeVar("T")

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",  # SNS
        "UnauthorizedOperation",  # EC2
        "AuthFailure",
        "AWS.SimpleQueueService.AccessDenied",
        "KMSAccessDeniedException",
    }
)
GONE_CODES = frozenset(
    {
        "NoSuchBucket",
        "NoSuchEntity",  # IAM
        "ResourceNotFoundException",  # Lambda
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",  # SNS
        "NotFoundException",  # KMS
        "InvalidGroup.NotFound",
        "InvalidInstanceID.NotFound",
        "TrailNotFoundException",
    }
)


# A 403 with one of these codes means the credentials themselves are bad: an error, not a denial.
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)


def is_denied(exc: ClientError) -> bool:
    """AWS says AccessDenied in many spellings; any other 403 is a denial too (moto's S3 Control and SQS
    answer some denials in a shape botocore cannot parse), unless it names a credential error, parsed or
    not: bad credentials are an error to report, not a resource to skip."""
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in DENIED_CODES:
        return True
    return status == 403 and not any(c == code or f"<Code>{c}</Code>" in message for c in CREDENTIAL_CODES)


GLOBAL = "global"  # the unit of an account's global services (S3, IAM); the region of IAM facts


class ResourceGone(Exception):
    """The resource was deleted after it was listed."""


@dataclass(frozen=True)
class Denial:
    """A call IAM refused: ``rule_ids`` could not be judged on ``arn``; a denied listing (``arn`` None) blocks
    them in its region, or in every region for a global service (``account_wide``)."""

    rule_ids: tuple[str, ...]
    action: str  # the IAM action, "s3:GetBucketPolicy"
    account: str
    region: str
    resource_name: str
    arn: str | None
    account_wide: bool = False

    def blocks(self, rule_id: str, arn: str | None, region: str) -> bool:
        if rule_id not in self.rule_ids:
            return False
        if self.arn is not None:
            return self.arn == arn
        return self.account_wide or region in (self.region, GLOBAL)


@dataclass
class Collection:
    """What one unit gathered: facts per ``StackFacts`` group, denials and notes, plus what the account-wide
    joins need (``audit.run``): the buckets that receive logs and each role's effective grants."""

    account: str
    region: str
    facts: dict[str, list[Any]] = field(default_factory=dict)
    denials: list[Denial] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    account_public_access_block: PublicAccessBlock | None = None
    log_targets: set[str] = field(default_factory=set)  # bucket names receiving access logs or trails
    role_grants: dict[str, tuple[tuple[PolicyStatement, ...], tuple[str, ...]]] = field(default_factory=dict)

    def add(self, group: str, facts: Any) -> None:
        self.facts.setdefault(group, []).append(facts)
        if isinstance(facts, ResourceFacts) and group != "resources":
            self.facts.setdefault("resources", []).append(
                ResourceFacts(
                    name=facts.name, type=facts.type, region=facts.region, ref=facts.ref, tags=facts.tags
                )
            )


@dataclass(frozen=True)
class Call:
    """One API operation as the collectors use it: the IAM action it needs (when the name differs from the
    operation's) and the rules whose facts it reads."""

    operation: str  # boto3 method name: "get_bucket_policy"
    rules: tuple[str, ...]
    action: str | None = None  # "s3:GetBucketPolicy"; None = "<signing name>:<OperationName>"
    absent: frozenset[str] = frozenset()  # error codes that mean "not configured"


class Reader:
    """Makes the calls of one unit and records their outcomes into ``collection``."""

    def __init__(
        self,
        clients: ClientFactory,
        collection: Collection,
        *,
        region: str | None = None,
        audited_regions: Iterable[str] = (),
        page_size: int | None = None,
        item_workers: int = 4,
    ) -> None:
        self.clients = clients
        self.item_workers = item_workers
        self.collection = collection
        self.region = region or collection.region
        self.audited_regions = frozenset(audited_regions) or frozenset({self.region})
        self.page_size = page_size  # None: each API's default page size

    @property
    def account(self) -> str:
        return self.collection.account

    def at(self, region: str) -> Reader:
        """The same unit, calling and reporting in ``region`` (an S3 bucket's own region)."""
        return Reader(
            self.clients,
            self.collection,
            region=region,
            audited_regions=self.audited_regions,
            page_size=self.page_size,
            item_workers=self.item_workers,
        )

    def client(self, service: str, region: str | None = None) -> Any:
        return self.clients.client(service, region or self.region)

    def _action(self, client: Any, call: Call) -> str:
        if call.action:
            return call.action
        model = client.meta.service_model
        return f"{model.signing_name}:{_operation_name(client, call.operation)}"

    def deny(self, client: Any, call: Call, resource_name: str, arn: str | None) -> None:
        self.collection.denials.append(
            Denial(
                call.rules,
                self._action(client, call),
                self.account,
                self.region,
                resource_name,
                arn,
                account_wide=self.collection.region == GLOBAL,
            )
        )

    def call(
        self, client: Any, call: Call, *, resource_name: str, arn: str | None, **params: Any
    ) -> dict[str, Any] | None:
        """The response; None when not configured or denied; ResourceGone when the resource vanished."""
        try:
            response: dict[str, Any] = getattr(client, call.operation)(**params)
            return response
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in call.absent:
                return None
            if is_denied(exc):
                self.deny(client, call, resource_name, arn)
                return None
            if code in GONE_CODES:
                raise ResourceGone(f"{resource_name}: {code}") from exc
            raise

    def pages(self, client: Any, call: Call, *, sized: bool = True, **params: Any) -> list[dict[str, Any]]:
        """Every page of a list call; [] (and a Denial on the whole account) when denied.
        ``sized=False`` never sends a page size (for APIs whose emulators truncate without a token)."""
        paginator = client.get_paginator(call.operation)
        # Some list APIs take no page size (SNS ListTopics); botocore then refuses PageSize.
        takes_size = bool(getattr(paginator, "_pagination_cfg", {}).get("limit_key"))
        config = {"PageSize": self.page_size} if self.page_size and sized and takes_size else {}
        try:
            return list(paginator.paginate(PaginationConfig=config, **params))
        except ClientError as exc:
            if is_denied(exc):
                self.deny(client, call, f"account {self.account}", None)
                return []
            raise

    def paginate(self, client: Any, call: Call, key: str, *, sized: bool = True, **params: Any) -> list[Any]:
        """Every item under ``key`` across all pages of a list call."""
        return [
            item for page in self.pages(client, call, sized=sized, **params) for item in page.get(key, ())
        ]

    def each(self, items: Iterable[T], what: Callable[[T], str], collect: Callable[[T], None]) -> None:
        """``collect(item)`` for each item, ``item_workers`` at a time (each item's reads are sequential
        calls, so a few in flight hide the round trips); one that disappears mid-collection is skipped
        with a note."""

        def one(item: T) -> None:
            try:
                collect(item)
            except ResourceGone as exc:
                self.collection.notes.append(
                    f"{self.account}/{self.region}: {what(item)} disappeared during collection, "
                    f"skipped ({exc})"
                )

        with ThreadPoolExecutor(max_workers=self.item_workers) as pool:
            list(pool.map(one, items))


def _operation_name(client: Any, method: str) -> str:
    """boto3 method name -> API operation name (``get_bucket_policy`` -> ``GetBucketPolicy``)."""
    return str(client.meta.method_to_api_mapping[method])


def tag_list(
    items: Iterable[dict[str, Any]] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    """AWS tag lists (``[{"Key": k, "Value": v}]``) -> a dict."""
    return {str(t[key]): str(t.get(value, "")) for t in items or ()}
