"""What object a presigned GET reads, parsed the way S3 routes the request; anything else is refused.

The scanner publishes its verdict for the object a scan request names, so it must know exactly which object
the URL it downloads reads. S3 takes the bucket from the host when the host is `<bucket>.<S3 endpoint>`
(virtual-hosted style, the bucket may hold dots) and from the first path segment when the host is an S3
endpoint itself (path style). An access point's host names the access point, not a bucket: it is returned
as the access point's ARN, which never equals a bucket name. Hosts that are not S3 endpoints (other AWS
services, EC2 instances under amazonaws.com, S3 Express, Object Lambda, websites, VPC endpoints), query
parameters that make S3 answer something else than the object (`?acl`, `?tagging`, ...), and encodings S3
could read another way are refused. Messages never contain the URL: it is a secret until it expires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

_REGION = r"[a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}"
_DOMAIN = r"\.amazonaws\.com(?P<cn>\.cn)?"
# s3.amazonaws.com, s3-external-1, s3-<region> (legacy), s3[-fips][.dualstack].<region>
_S3_ENDPOINT = re.compile(
    rf"(?:s3|s3-external-1|s3-(?P<legacy>{_REGION})|s3(?:-fips)?(?:\.dualstack)?\.(?P<region>{_REGION})){_DOMAIN}"
)
_ACCESS_POINT = re.compile(
    rf"(?P<name>[a-z0-9][a-z0-9-]{{1,48}}[a-z0-9])-(?P<account>\d{{12}})"
    rf"\.s3-accesspoint(?:-fips)?(?:\.dualstack)?\.(?P<region>{_REGION}){_DOMAIN}"
)
# Bucket names usable in a host (lowercase, dots allowed) and, in a path, legacy names with capitals or '_'.
_HOSTED_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PATH_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SIGNATURE_PARAMETERS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "AWSAccessKeyId",
        "Signature",
        "Expires",
        "x-amz-security-token",
    }
)


class UnrecognisedUrl(ValueError):
    """The URL is not a presigned GET of one S3 object that we can read unambiguously."""


@dataclass(frozen=True)
class S3Object:
    bucket: str  # a bucket name, or an access point's ARN
    key: str  # decoded
    version_id: str | None


def _endpoint_partition(found: re.Match[str]) -> str:
    region = found["region"] or found.groupdict().get("legacy") or ""
    if found["cn"]:
        if not region.startswith("cn-"):
            raise UnrecognisedUrl("amazonaws.com.cn serves the China regions only")
        return "aws-cn"
    if region.startswith("cn-"):
        raise UnrecognisedUrl(f"region {region} is served under amazonaws.com.cn")
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _hosted_bucket(host: str) -> str | None:
    """The bucket of `<bucket>.<S3 endpoint>`, None for an S3 endpoint itself (path style)."""
    if found := _S3_ENDPOINT.fullmatch(host):
        _endpoint_partition(found)
        return None
    # The endpoint is a suffix of whole labels; no S3 endpoint is a suffix of another, so at most one fits.
    buckets = []
    for index, char in enumerate(host):
        if char == "." and (found := _S3_ENDPOINT.fullmatch(host, index + 1)):
            _endpoint_partition(found)
            buckets.append(host[:index])
    if len(buckets) != 1:
        raise UnrecognisedUrl(f"host {host} is not an S3 endpoint")
    bucket = buckets[0]
    if not _HOSTED_BUCKET.fullmatch(bucket) or ".." in bucket or _IP_ADDRESS.fullmatch(bucket):
        raise UnrecognisedUrl(f"host {host} does not name a valid bucket")
    return bucket


def _decoded(raw: str, what: str) -> str:
    # S3 may read a literal '+' in a path as a space; our presigner always escapes it, so it is ambiguous.
    if "+" in raw or _BAD_ESCAPE.search(raw):
        raise UnrecognisedUrl(f"the {what} is not percent-encoded unambiguously")
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise UnrecognisedUrl(f"the {what} is not UTF-8") from None


def _version_id(query: str) -> str | None:
    if "+" in query:
        raise UnrecognisedUrl("the query is not percent-encoded unambiguously")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query), errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise UnrecognisedUrl("the query is malformed") from None
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise UnrecognisedUrl("a query parameter is repeated")
    version_id = None
    for name, value in pairs:
        if name == "versionId":
            version_id = value
        elif name == "x-id" and value == "GetObject":
            continue
        elif name not in _SIGNATURE_PARAMETERS:
            raise UnrecognisedUrl(f"query parameter {name!r} would read something else than the object")
    return version_id


def parse_presigned_get(url: str, private_origins: Sequence[str] = ()) -> S3Object:
    """The object a presigned GET reads. S3 over https, or path style on a configured private origin
    (`scheme://host[:port]`, such as the embedded AWS on http://127.0.0.1:PORT); UnrecognisedUrl otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnrecognisedUrl("not a URL") from None
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise UnrecognisedUrl("a presigned URL has no user information or fragment")
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if origin in {o.rstrip("/").lower() for o in private_origins}:
        bucket: str | None = None
    elif parts.scheme == "https" and port in (None, 443):
        if access_point := _ACCESS_POINT.fullmatch(host):
            partition = _endpoint_partition(access_point)
            name, account, region = access_point["name"], access_point["account"], access_point["region"]
            bucket = f"arn:{partition}:s3:{region}:{account}:accesspoint/{name}"
        else:
            bucket = _hosted_bucket(host)
    else:
        raise UnrecognisedUrl(f"download origin {parts.scheme}://{host} is not an S3 endpoint nor configured")
    if not parts.path.startswith("/"):
        raise UnrecognisedUrl("the URL has no object path")
    raw_key = parts.path[1:]
    if bucket is None:  # path style: /<bucket>/<key>
        raw_bucket, slash, raw_key = raw_key.partition("/")
        if not slash or not _PATH_BUCKET.fullmatch(raw_bucket):
            raise UnrecognisedUrl("the path does not start with a valid bucket name")
        bucket = raw_bucket
    key = _decoded(raw_key, "key")
    if not key:
        raise UnrecognisedUrl("the URL names a bucket, not an object")
    return S3Object(bucket, key, _version_id(parts.query))
