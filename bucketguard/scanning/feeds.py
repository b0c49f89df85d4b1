"""Rule feeds: where public (or a team's own) YARA rules and hash lists come from, fetched safely.

A source is a URL, a local path or `s3://bucket/prefix`. Its kind is recognised from the content, not the
name (`KIND=URL` forces it):

    yara-zip            a zip or tar(.gz/.bz2/.xz) of .yar/.yara files (YARA Forge packages, signature-base)
    yara-file           one YARA rule file
    hash-list           one SHA-256 a line
    malwarebazaar-csv   MalwareBazaar's CSV export, zipped or not
    s3                  every object under s3://bucket/prefix, each recognised on its own

Downloads go through one HTTP client: TLS verified, plain http only to loopback, redirects followed and
re-checked hop by hop, retries with backoff on 5xx and network errors, timeouts, a size cap enforced on the
bytes received, a conditional GET (ETag / Last-Modified) so an unchanged feed costs one request, and the
pinned sha256 checked. Feed contents are untrusted: archives are read under member and size caps, and
nothing is written to disk. The scanning layer holds no AWS client: s3:// sources are read through an
injected `ObjectStore` (bucketguard.pipeline.rules_bucket has the boto3 one).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import ipaddress
import lzma
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urljoin, urlsplit

import urllib3

from bucketguard.scanning.backends import SEVERITIES
from bucketguard.scanning.formats import zips
from bucketguard.scanning.hashes import HashList, HashListError
from bucketguard.scanning.url_logs import hide_url_secrets_from_urllib3_logs

__all__ = [
    "KINDS",
    "FeedContent",
    "FeedError",
    "FeedSource",
    "FeedState",
    "Fetched",
    "HttpClient",
    "ObjectStore",
    "fetch",
    "parse_feed",
    "recognise",
]

KINDS = ("yara-zip", "yara-file", "hash-list", "malwarebazaar-csv", "s3")
RULE_SUFFIXES = (".yar", ".yara")
DEFAULT_MAX_BYTES = 256 << 20  # a compressed feed (YARA Forge's full package is ~20 MiB)
DEFAULT_MAX_EXPANDED_BYTES = 1 << 30  # what an archive feed may expand to
DEFAULT_MAX_MEMBERS = 50_000
MAX_REDIRECTS = 5
_CHUNK = 1 << 16
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RULE_DECL = re.compile(r"^\s*(?:(?:private|global)\s+)*rule\s+\w+", re.MULTILINE)
_HASH_LINE = re.compile(r"^[0-9a-fA-F]{64}(\s|$)")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_KIND_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
CONFIG_KEYS = ("name", "url", "kind", "sha256", "minSeverity", "exclude", "bucketOwner")
_ACCOUNT = re.compile(r"^\d{12}$")


class FeedError(ValueError):
    """A source could not be fetched or read: the message names the source (never a URL's query)."""


@dataclass(frozen=True)
class FeedSource:
    """One entry of `scanner.ruleSources` (or one `--source`)."""

    name: str
    url: str
    kind: str | None = None  # None: recognised from the content
    sha256: str | None = None  # pinned digest of the downloaded bytes
    min_severity: str | None = None
    exclude: tuple[str, ...] = ()
    # s3:// only: the account that must own the bucket (a bucket name is global: one deleted and made again
    # in another account would serve its rules)
    bucket_owner: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise FeedError(f"source name {self.name!r}: use letters, digits, '.', '_' and '-'")
        if self.min_severity is not None and self.min_severity not in SEVERITIES:
            raise FeedError(
                f"source {self.name}: minSeverity {self.min_severity!r}; "
                f"expected one of {', '.join(SEVERITIES)}"
            )
        if self.kind is not None and self.kind not in KINDS:
            raise FeedError(
                f"source {self.name}: unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}"
            )
        if self.sha256 is not None and not _SHA256.match(self.sha256):
            raise FeedError(f"source {self.name}: sha256 must be 64 lowercase hex digits")
        scheme = urlsplit(self.url).scheme
        if scheme not in ("", "s3", "http", "https"):
            raise FeedError(
                f"source {self.name}: {shown(self.url)}: unsupported URL scheme {scheme!r}; "
                "expected https://..., s3://bucket/prefix or a local path"
            )
        if self.is_remote:  # refused in the config, not only when the scheduled update fetches it
            try:
                _check_scheme(self.url)
            except FeedError as exc:
                raise FeedError(f"source {self.name}: {exc}") from None
            if "@" in urlsplit(self.url).netloc:
                raise FeedError(
                    f"source {self.name} ({shown(self.url)}): a user or password in the URL is never sent "
                    "(a 401 each run); a feed's key goes in its query string, kept out of messages and logs"
                )
        if self.bucket_owner is not None and not (self.is_s3 and _ACCOUNT.match(self.bucket_owner)):
            raise FeedError(f"source {self.name}: bucketOwner is the 12-digit account owning an s3:// source")
        if self.is_s3 and self.sha256 is not None:
            raise FeedError(
                f"source {self.name}: an s3:// prefix holds many objects; sha256 pins one download"
            )

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    @property
    def is_remote(self) -> bool:
        return self.url.startswith(("http://", "https://"))

    @classmethod
    def from_config(cls, entry: object, where: str) -> FeedSource:
        """One `scanner.ruleSources` entry: {name, url, kind?, sha256?, minSeverity?, exclude?}."""
        if not isinstance(entry, Mapping) or not isinstance(entry.get("url"), str):
            raise FeedError(f"{where}: expected a mapping with at least url (or {URL_SECRET_KEY})")
        unknown = sorted(set(entry) - set(CONFIG_KEYS))
        if unknown:
            raise FeedError(
                f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(CONFIG_KEYS)}"
            )
        exclude = entry.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
            raise FeedError(f"{where}.exclude: expected a list of rule names")
        url = entry["url"]
        try:
            return cls(
                name=str(entry.get("name") or source_name(url)),
                url=url,
                kind=entry.get("kind") or ("s3" if url.startswith("s3://") else None),
                sha256=entry.get("sha256"),
                min_severity=entry.get("minSeverity"),
                exclude=tuple(exclude),
                bucket_owner=entry.get("bucketOwner"),
            )
        except FeedError as exc:
            raise FeedError(f"{where}: {exc}") from None

    def to_config(self) -> dict[str, object]:
        """The `scanner.ruleSources` entry `from_config` reads back into this source."""
        entry: dict[str, object] = {
            "name": self.name,
            "url": self.url,
            "kind": self.kind,
            "sha256": self.sha256,
            "minSeverity": self.min_severity,
            "exclude": list(self.exclude),
            "bucketOwner": self.bucket_owner,
        }
        return {key: value for key, value in entry.items() if value not in (None, [])}

    @classmethod
    def parse(cls, text: str) -> FeedSource:
        """`URL`, `PATH`, `s3://bucket/prefix`, or any of those as `KIND=...` to force the kind."""
        kind, sep, rest = text.partition("=")
        if sep and _KIND_WORD.match(kind):  # an unknown KIND= is refused, not read as a file's name
            text = rest
        else:
            kind = ""
        if not text:
            raise FeedError("empty source: expected a URL, a path or s3://bucket/prefix")
        return cls(
            name=source_name(text), url=text, kind=kind or ("s3" if text.startswith("s3://") else None)
        )


URL_SECRET_KEY = "urlSecretArn"  # noqa: S105 (a config key)
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
# What the rest of a secret-URL entry is checked with until the secret is read (RFC 2606: never resolves).
_PENDING_URL = "https://secret.invalid/"


@dataclass(frozen=True)
class SecretUrlSource:
    """A `scanner.ruleSources` entry whose URL, its API key included, is a Secrets Manager secret
    (`urlSecretArn` instead of `url`): read at each update, so the stack config, the deployment and the
    update function's environment hold only the secret's ARN."""

    name: str
    secret_arn: str
    entry: Mapping[str, object]  # the entry without its URL: kind, sha256, minSeverity, exclude

    @classmethod
    def from_config(cls, entry: Mapping[str, object], where: str) -> SecretUrlSource:
        rest = {key: value for key, value in entry.items() if key != URL_SECRET_KEY}
        arn, name = entry[URL_SECRET_KEY], entry.get("name")
        if "url" in entry:
            raise FeedError(f"{where}: url and {URL_SECRET_KEY} are two places for one URL; give one")
        if not isinstance(arn, str) or not _SECRET_ARN.match(arn):
            raise FeedError(f"{where}: {URL_SECRET_KEY} {arn!r} is not a Secrets Manager secret's ARN")
        if not isinstance(name, str):
            raise FeedError(f"{where}: a source whose URL is a secret needs a name")
        FeedSource.from_config({**rest, "url": _PENDING_URL}, where)  # the other keys, checked now
        return cls(name, arn, rest)

    def to_config(self) -> dict[str, object]:
        entry = {**self.entry, URL_SECRET_KEY: self.secret_arn}
        return {key: value for key, value in entry.items() if value not in (None, [], ())}

    def resolve(self, secrets: Any, where: str) -> FeedSource:
        """The source with its URL read from the secret (`secrets`: a boto3 Secrets Manager client)."""
        try:
            url = secrets.get_secret_value(SecretId=self.secret_arn)["SecretString"].strip()
        except Exception as exc:  # botocore's errors: AccessDenied, ResourceNotFound, network
            error = type(exc).__name__
            raise FeedError(f"source {self.name}: its URL secret could not be read ({error})") from None
        source = FeedSource.from_config({**self.entry, "url": url}, where)
        if not source.is_remote:
            raise FeedError(f"source {self.name}: its URL secret holds no https:// URL")
        return source


def source_from_config(entry: object, where: str) -> FeedSource | SecretUrlSource:
    """One `scanner.ruleSources` entry, its URL given (`url`) or kept in Secrets Manager (`urlSecretArn`)."""
    if isinstance(entry, Mapping) and URL_SECRET_KEY in entry:
        return SecretUrlSource.from_config(entry, where)
    return FeedSource.from_config(entry, where)


def source_name(url: str) -> str:
    """A short stable name for a source given without one: its last path component (or host)."""
    parts = urlsplit(url)
    path = (parts.path if parts.scheme else url).rstrip("/")
    name = path.rsplit("/", 1)[-1] or parts.hostname or "source"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def shown(url: str) -> str:
    """A URL as it may appear in messages and reports: no credentials, no query (tokens live there)."""
    parts = urlsplit(url)
    if not parts.scheme or parts.scheme == "s3":
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class FeedState:
    """What the last fetch of a source saw: validators for the next conditional request."""

    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None  # of the bytes (for s3:// sources: of the listing of keys and ETags)


@dataclass(frozen=True)
class FeedContent:
    kind: str
    rule_files: tuple[tuple[str, str], ...] = ()  # (path inside the feed, text)
    hashes: HashList = field(default_factory=HashList)


@dataclass(frozen=True)
class Fetched:
    source: FeedSource
    state: FeedState
    content: FeedContent | None  # None: unchanged since `previous` (the caller reuses what it had)

    @property
    def unchanged(self) -> bool:
        return self.content is None


# --- HTTP ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    body: bytes | None  # None: 304 Not Modified
    etag: str | None
    last_modified: str | None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
        return
    raise FeedError(f"{shown(url)}: only https URLs are fetched (plain http only from loopback)")


class HttpClient:
    """One urllib3 pool for every feed: TLS verified against the system's (or the given) CAs."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 30.0,
        retries: int = 3,
        backoff_seconds: float = 1.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ca_certs: str | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        hide_url_secrets_from_urllib3_logs()
        retry = urllib3.Retry(
            total=retries,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff_seconds,
            redirect=False,  # followed by hand, each hop's scheme checked
            raise_on_status=False,
        )
        self._pool = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs,
            retries=retry,
            timeout=urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds),
        )

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Download:
        headers = {"Accept-Encoding": "identity", "User-Agent": "bucketguard-rules-update"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for _hop in range(MAX_REDIRECTS + 1):
            _check_scheme(url)
            try:
                response = self._pool.request(
                    "GET", url, headers=headers, preload_content=False, redirect=False
                )
            except urllib3.exceptions.HTTPError as exc:
                raise FeedError(f"{shown(url)}: {_why(exc)}") from None
            try:
                if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    target = urljoin(url, response.headers["Location"])
                    # Plain http is for a loopback feed given as such, never a hop away from https.
                    if url.startswith("https:") and not target.startswith("https:"):
                        raise FeedError(f"{shown(url)}: redirected from https to {shown(target)}")
                    url = target
                    continue
                if response.status == 304:
                    if not (etag or last_modified):  # nothing to reuse: the feed would silently vanish
                        raise FeedError(f"{shown(url)}: 304 Not Modified to an unconditional request")
                    return Download(None, etag, last_modified)
                if response.status != 200:
                    raise FeedError(f"{shown(url)}: HTTP {response.status}")
                body = self._read_capped(response, url)
                return Download(body, response.headers.get("ETag"), response.headers.get("Last-Modified"))
            finally:
                response.release_conn()
        raise FeedError(f"{shown(url)}: more than {MAX_REDIRECTS} redirects")

    def _read_capped(self, response: urllib3.BaseHTTPResponse, url: str) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FeedError(f"{shown(url)}: {declared} bytes, over the feed size cap of {self.max_bytes}")
        buffer = bytearray()
        try:
            for chunk in response.stream(_CHUNK):
                buffer += chunk
                if len(buffer) > self.max_bytes:
                    raise FeedError(f"{shown(url)}: more than the feed size cap of {self.max_bytes} bytes")
        except urllib3.exceptions.HTTPError as exc:  # includes a body shorter than its Content-Length
            raise FeedError(f"{shown(url)}: {_why(exc)}") from None
        return bytes(buffer)


def _why(exc: Exception) -> str:
    """The reason of a urllib3 error without the URL it may embed."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, urllib3.exceptions.ProtocolError | urllib3.exceptions.IncompleteRead):
        return "connection broken before the whole body arrived"
    if isinstance(reason, urllib3.exceptions.SSLError):
        return f"TLS verification failed: {str(reason).split(':')[-1].strip(' )')}"
    if isinstance(reason, urllib3.exceptions.TimeoutError):
        return "timed out"
    return type(reason).__name__


# --- s3:// ------------------------------------------------------------------------------------------------


class ObjectStore(Protocol):
    """Reads a team's rules bucket; implemented with boto3 in a layer above scanning."""

    def list_objects(self, bucket: str, prefix: str, owner: str | None = None) -> list[tuple[str, str]]:
        """(key, ETag) of every object under the prefix (of a bucket `owner` owns, when given)."""
        ...

    def read_object(self, bucket: str, key: str, max_bytes: int, owner: str | None = None) -> bytes: ...


def split_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise FeedError(f"{url}: expected s3://bucket/prefix")
    return parts.netloc, parts.path.lstrip("/")


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = DEFAULT_MAX_MEMBERS
    max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES


# --- recognising and reading content ---------------------------------------------------------------------


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # some public collections still ship Latin-1 comments


def _recognise_text(head: str) -> str | None:
    if "MalwareBazaar" in head or '"sha256_hash"' in head:
        return "malwarebazaar-csv"
    for line in head.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "//")):
            if _HASH_LINE.match(stripped):
                return "hash-list"
            break
    if _RULE_DECL.search(head):
        return "yara-file"
    return None


def recognise(data: bytes, *, limits: ArchiveLimits | None = None) -> str:
    """The kind of a feed from its bytes; FeedError when it is none of them."""
    if data.startswith(b"PK\x03\x04") or _is_tar(data):
        names = [name for name, _ in _members(data, limits or ArchiveLimits(), names_only=True)]
        if any(name.lower().endswith(RULE_SUFFIXES) for name in names):
            return "yara-zip"
        if len(names) == 1:  # MalwareBazaar ships its full export as one zipped CSV
            inner = dict(_members(data, limits or ArchiveLimits()))[names[0]]
            kind = _recognise_text(_text(inner[: 1 << 16]))
            if kind in ("hash-list", "malwarebazaar-csv"):
                return kind
        raise FeedError("archive holds no .yar/.yara files and is not one zipped hash list")
    kind = _recognise_text(_text(data[: 1 << 20]))
    if kind is None:
        raise FeedError("not a YARA rule file, a zip/tar of rules, a SHA-256 list or a MalwareBazaar CSV")
    return kind


# A compressed tar's magic bytes and how it is decompressed.
_COMPRESSIONS: tuple[tuple[bytes, Callable[[io.BytesIO], io.BufferedIOBase]], ...] = (
    (b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw)),
    (b"BZh", bz2.BZ2File),
    (b"\xfd7zXZ\x00", lzma.LZMAFile),
)


def _is_tar(data: bytes) -> bool:
    return any(data.startswith(magic) for magic, _ in _COMPRESSIONS) or data[257:262] == b"ustar"


class _Expanded(io.RawIOBase):
    """A tar's bytes as tarfile reads them, decompressed here and cut off at the expansion cap: members it
    skips (directories, links, unknown types declaring gigabytes) expand as much as those it reads."""

    def __init__(self, data: bytes, cap: int) -> None:
        raw = io.BytesIO(data)
        opened = (opener(raw) for magic, opener in _COMPRESSIONS if data.startswith(magic))
        self._stream: io.BufferedIOBase = next(opened, raw)
        self._left = cap

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._stream.readinto(buffer)
        self._left -= count
        if self._left < 0:
            raise FeedError("the archive expands beyond the cap")
        return int(count)


def _read_member(stream: IO[bytes], name: str, budget: list[int]) -> bytes:
    """A member read to its real end (never trusting the declared size) within the expansion budget."""
    out = bytearray()
    while chunk := stream.read(_CHUNK):
        out += chunk
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise FeedError(f"{name}: the archive expands beyond the cap")
    return bytes(out)


def _members(data: bytes, limits: ArchiveLimits, *, names_only: bool = False) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every regular file in a zip or tar, under the member and expansion caps."""
    budget = [limits.max_expanded_bytes]
    try:
        if data.startswith(b"PK"):
            if zips.count_entries(data, limits.max_members + 1) > limits.max_members:
                raise FeedError(f"archive has more than {limits.max_members} members")
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in (i for i in archive.infolist() if not i.is_dir()):
                    if names_only:
                        yield info.filename, b""
                        continue
                    if info.flag_bits & 0x1:
                        raise FeedError(f"{info.filename}: encrypted archive member")
                    with archive.open(info) as stream:
                        yield info.filename, _read_member(stream, info.filename, budget)
            return
        # A stream ("r|"): nothing is read twice, and every member read or skipped counts.
        expanded = _Expanded(data, limits.max_expanded_bytes)
        with tarfile.open(fileobj=io.BufferedReader(expanded), mode="r|") as archive:
            for count, member in enumerate(archive, start=1):
                if count > limits.max_members:  # directories and links too: each costs a TarInfo
                    raise FeedError(f"archive has more than {limits.max_members} members")
                if not member.isfile():
                    continue  # links and devices point elsewhere: never followed
                if names_only:
                    yield member.name, b""
                    continue
                extracted = archive.extractfile(member)
                if extracted is not None:
                    yield member.name, _read_member(extracted, member.name, budget)
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        EOFError,
        OSError,
        NotImplementedError,
        zlib.error,
        lzma.LZMAError,
    ) as exc:
        raise FeedError(f"unreadable archive: {exc}") from None


def _rule_files(pairs: Iterable[tuple[str, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, _text(data)) for name, data in sorted(pairs) if name.lower().endswith(RULE_SUFFIXES))


def _hashes(data: bytes, origin: str) -> HashList:
    try:
        return HashList.parse(_text(data), shown(origin))
    except HashListError as exc:
        raise FeedError(str(exc)) from None


def parse_feed(
    data: bytes, kind: str | None, origin: str, *, limits: ArchiveLimits | None = None
) -> FeedContent:
    """The rule files and hashes in a feed's bytes; `kind` None recognises it."""
    limits = limits or ArchiveLimits()
    kind = kind or recognise(data, limits=limits)
    if kind == "yara-zip":
        files = _rule_files(_members(data, limits))
        if not files:
            raise FeedError(f"{origin}: no .yar or .yara files in the archive")
        return FeedContent(kind, rule_files=files)
    if kind == "yara-file":
        text = _text(data)
        if not _RULE_DECL.search(text):
            raise FeedError(f"{origin}: no YARA rule in the file")
        return FeedContent(kind, rule_files=((source_name(origin), text),))
    if kind in ("hash-list", "malwarebazaar-csv"):
        if data.startswith(b"PK") or _is_tar(data):
            members = list(_members(data, limits))
            if len(members) != 1:
                raise FeedError(f"{origin}: a zipped {kind} holds exactly one file, not {len(members)}")
            data = members[0][1]
        return FeedContent(kind, hashes=_hashes(data, origin))
    raise FeedError(f"{origin}: kind {kind} is not read from bytes")


def _merge(kind: str, parts: Iterable[FeedContent]) -> FeedContent:
    files: list[tuple[str, str]] = []
    hashes = HashList()
    for part in parts:
        files.extend(part.rule_files)
        hashes = hashes.merged(part.hashes)
    return FeedContent(kind, rule_files=tuple(files), hashes=hashes)


# --- fetching one source -----------------------------------------------------------------------------------


def _directory(path: Path) -> FeedContent:
    """A checkout of a rule collection (signature-base, a team's repository)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RULE_SUFFIXES)
    if not files:
        raise FeedError(f"{path}: no .yar or .yara rule files")
    return FeedContent(
        "yara-zip", rule_files=_rule_files((p.relative_to(path).as_posix(), p.read_bytes()) for p in files)
    )


def _read_local(path: Path, max_bytes: int) -> bytes:
    try:
        if path.stat().st_size > max_bytes:
            raise FeedError(f"{path}: over the feed size cap of {max_bytes} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise FeedError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _pinned(source: FeedSource, body: bytes) -> str:
    """The body's sha256, which must be the pinned one when the source pins one."""
    digest = hashlib.sha256(body).hexdigest()
    if source.sha256 is not None and digest != source.sha256:
        raise FeedError(f"sha256 mismatch: expected {source.sha256}, got {digest}")
    return digest


def _fetch_s3(
    source: FeedSource, store: ObjectStore, previous: FeedState | None, limits: ArchiveLimits, max_bytes: int
) -> Fetched:
    bucket, prefix = split_s3_url(source.url)
    listing = sorted(store.list_objects(bucket, prefix, source.bucket_owner))
    digest = hashlib.sha256("\n".join(f"{key}\t{etag}" for key, etag in listing).encode()).hexdigest()
    state = FeedState(sha256=digest)
    if previous is not None and previous.sha256 == digest:
        return Fetched(source, state, None)
    parts = []
    for key, _etag in listing:
        data = store.read_object(bucket, key, max_bytes, source.bucket_owner)
        if key.lower().endswith(RULE_SUFFIXES):
            parts.append(
                FeedContent("yara-file", rule_files=((key.removeprefix(prefix).lstrip("/"), _text(data)),))
            )
        else:
            parts.append(parse_feed(data, None, f"s3://{bucket}/{key}", limits=limits))
    if not parts:
        raise FeedError(f"{source.url}: no objects under the prefix")
    return Fetched(source, state, _merge("s3", parts))


def fetch(
    source: FeedSource,
    *,
    http: HttpClient | None = None,
    store: ObjectStore | None = None,
    previous: FeedState | None = None,
    limits: ArchiveLimits | None = None,
) -> Fetched:
    """Fetch and read one source. Raises FeedError naming the source when anything is wrong."""
    limits = limits or ArchiveLimits()
    http = http or HttpClient()
    try:
        if source.is_s3:
            if store is None:
                raise FeedError("s3:// sources need an S3 client")
            return _fetch_s3(source, store, previous, limits, http.max_bytes)
        if source.is_remote:
            got = http.get(
                source.url,
                etag=previous.etag if previous else None,
                last_modified=previous.last_modified if previous else None,
            )
            if got.body is None:
                return Fetched(source, previous or FeedState(), None)
            state = FeedState(got.etag, got.last_modified, _pinned(source, got.body))
            return Fetched(source, state, parse_feed(got.body, source.kind, source.url, limits=limits))
        path = Path(source.url)
        if path.is_dir():
            if source.sha256 is not None:
                raise FeedError("sha256 pins a file, not a directory")
            return Fetched(source, FeedState(), _directory(path))
        body = _read_local(path, http.max_bytes)
        state = FeedState(sha256=_pinned(source, body))
        return Fetched(source, state, parse_feed(body, source.kind, source.url, limits=limits))
    except FeedError as exc:
        raise FeedError(f"source {source.name} ({shown(source.url)}): {exc}") from None
