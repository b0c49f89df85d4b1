"""An object version read through its presigned GET URL with ranged requests, never copied whole.

`RangedObject` is what the engine scans (`Engine.scan_source`): each window is fetched as several ranges
in flight at once, straight into the engine's window buffer, and an archive's parsers read it by offset
through a bounded cache of blocks (`bucketguard.scanning.blobs.SourceFile`), so memory stays bounded
whatever the object's size and nothing goes to disk. Every range is pinned to the version the
scan request names (the URL carries its versionId) and to its ETag (`If-Match`), so an object overwritten
mid-scan (an unversioned bucket) fails the read with 412 instead of giving bytes of two objects; every
answer must be a 206 for exactly the range asked within an object of the declared size.

The URL is a secret: it never appears in an exception message or a log line raised from here.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import urllib3

from bucketguard.scanning.blobs import SourceFailed
from bucketguard.scanning.result import Reason
from bucketguard.scanning.url_logs import hide_url_secrets_from_urllib3_logs

RANGE_BYTES = 8 << 20  # one GET; a window (31 MiB) is read as four of them at once
IN_FLIGHT = 4
CONNECTIONS = 16  # per container: one object's ranges beside a batch's records running ahead
# Reads by archive parsers (a zip's central directory at the end, then its members) are served from an LRU
# of fixed-size blocks: an object up to BLOCK_BYTES is one GET whatever its parsers read, and a block read
# right after the one before it fetches the next IN_FLIGHT - 1 blocks ahead. Held: CACHED_BLOCKS blocks
# (32 MiB per object) plus the blocks one read spans and those still arriving.
BLOCK_BYTES = 4 << 20
CACHED_BLOCKS = 8
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class DownloadRefused(Exception):
    """The storage side answered and will keep answering the same: publish an error/unscannable result."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class TransientDownloadError(Exception):
    """Network trouble or a 5xx: the message is retried (and ends in the DLQ if it keeps failing)."""


class ReadFailed(SourceFailed):
    """A range could not be read: `cause` says whether retrying may help (TransientDownloadError) or not."""

    def __init__(self, cause: DownloadRefused | TransientDownloadError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def refusal(status: int, body: bytes) -> DownloadRefused:
    text = body.decode("utf-8", "replace")
    if status == 403 and ("expired" in text.lower()):
        return DownloadRefused(Reason.URL_EXPIRED, "the presigned URL had expired before the download (403)")
    if status == 403:
        return DownloadRefused(Reason.ACCESS_DENIED, "the storage bucket refused the download (403)")
    if status in (404, 405):
        return DownloadRefused(Reason.DOWNLOAD_FAILED, f"the object version no longer exists ({status})")
    if status == 412:
        return DownloadRefused(Reason.DOWNLOAD_FAILED, "the object changed since the scan request (412)")
    return DownloadRefused(Reason.DOWNLOAD_FAILED, f"the storage bucket answered HTTP {status}")


_POOLS: dict[float, urllib3.PoolManager] = {}
_POOLS_LOCK = threading.Lock()


def _pool(timeout: float) -> urllib3.PoolManager:
    """One connection pool per timeout for the container's life: ranges reuse connections."""
    with _POOLS_LOCK:
        if timeout not in _POOLS:
            hide_url_secrets_from_urllib3_logs()
            _POOLS[timeout] = urllib3.PoolManager(
                maxsize=CONNECTIONS,
                block=True,
                retries=False,  # a retry is SQS's redelivery, decided by the caller
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
            )
        return _POOLS[timeout]


class RangedObject:
    """The bytes of one object version behind a presigned GET URL (a RandomAccess for the engine)."""

    def __init__(self, url: str, *, size: int, etag: str = "", timeout: float = 60.0) -> None:
        self.url = url
        # The path as presigned: the pool manager's request() would resolve "homework/../x" in a key to "x",
        # another object (S3 keys are literal; the signature covers the path as written).
        parts = urlsplit(url)
        self._target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.size = size
        self.etag = etag
        self.failure: ReadFailed | None = None
        self.fetched_bytes = 0  # what the storage sent: for tests and benchmarks
        self.peak_cached_bytes = 0
        self._pool = _pool(timeout)
        self._workers = ThreadPoolExecutor(IN_FLIGHT, "bucketguard-range")
        self._blocks: OrderedDict[int, Future[bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._last_block = -2
        self._empty_checked = False

    def close(self) -> None:
        self._workers.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> RangedObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_at(self, offset: int, size: int) -> bytes:
        data = bytearray(max(min(size, self.size - offset), 0))
        self.read_into(memoryview(data), offset)
        return bytes(data)

    def read_into(self, into: memoryview, offset: int) -> None:
        """Fill `into` from `offset`. A window of a large object comes straight into `into` (RANGE_BYTES a
        GET, IN_FLIGHT at once); other reads through the blocks. The first failure is kept: every read after
        it fails the same."""
        if self.failure is not None:
            raise self.failure
        try:
            if self.size == 0 and not self._empty_checked:
                self._check_empty()  # no range to ask for, but a request that says 0 bytes must be true
                self._empty_checked = True
            if offset < 0 or offset + len(into) > self.size:
                raise ReadFailed(DownloadRefused(Reason.DOWNLOAD_FAILED, "read past the end of the object"))
            if len(into) > BLOCK_BYTES and self.size > CACHED_BLOCKS * BLOCK_BYTES:
                self._read_direct(into, offset)
            else:
                self._read_blocks(into, offset)
        except ReadFailed as exc:
            self.failure = self.failure or exc
            raise self.failure from None

    def _read_direct(self, into: memoryview, offset: int) -> None:
        parts = [(at, into[at - offset : min(at - offset + RANGE_BYTES, len(into))])
                 for at in range(offset, offset + len(into), RANGE_BYTES)]  # fmt: skip
        for pending in [self._workers.submit(self._get, at, part) for at, part in parts]:
            pending.result()

    def _read_blocks(self, into: memoryview, offset: int) -> None:
        if not len(into):
            return
        first, last = offset // BLOCK_BYTES, (offset + len(into) - 1) // BLOCK_BYTES
        wanted = range(first, last + 1)
        with self._lock:
            blocks = [self._block(index) for index in wanted]
            if self._last_block in (first - 1, first):  # read in order: fetch what comes next meanwhile
                for index in range(last + 1, min(last + IN_FLIGHT, -(-self.size // BLOCK_BYTES))):
                    self._block(index)
            self._last_block = last
        for index, pending in zip(wanted, blocks, strict=True):
            base = index * BLOCK_BYTES
            start, end = max(offset, base), min(offset + len(into), base + BLOCK_BYTES)
            into[start - offset : end - offset] = memoryview(pending.result())[start - base : end - base]

    def _block(self, index: int) -> Future[bytes]:
        """Block `index` (being) fetched, most recently used; the least recently used ones beyond
        CACHED_BLOCKS are dropped. Called under the lock."""
        pending = self._blocks.get(index)
        if pending is not None:
            self._blocks.move_to_end(index)
            return pending
        start = index * BLOCK_BYTES
        pending = self._workers.submit(self._fetch_block, start, min(BLOCK_BYTES, self.size - start))
        self._blocks[index] = pending
        while len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        self.peak_cached_bytes = max(self.peak_cached_bytes, len(self._blocks) * BLOCK_BYTES)
        return pending

    def _fetch_block(self, start: int, size: int) -> bytes:
        data = bytearray(size)
        self._get(start, memoryview(data))
        return bytes(data)

    def _request(self, headers: dict[str, str]) -> Any:
        try:
            return self._pool.connection_from_url(self.url).urlopen(
                "GET",
                self._target,
                headers=headers,
                preload_content=False,
                decode_content=False,  # ranges are of the stored bytes, whatever Content-Encoding says
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ReadFailed(TransientDownloadError(f"download failed: {type(exc).__name__}")) from None

    def _get(self, offset: int, into: memoryview) -> None:
        if not len(into):
            return
        last = offset + len(into) - 1
        headers = {"Range": f"bytes={offset}-{last}"}
        if self.etag:
            headers["If-Match"] = f'"{self.etag}"'
        response = self._request(headers)
        done = 0
        try:
            self._check(response, offset, last)
            while done < len(into):
                count = response.readinto(into[done:])
                if not count:
                    raise ReadFailed(TransientDownloadError(f"short read: {done} of {len(into)} bytes"))
                done += count
        except urllib3.exceptions.HTTPError as exc:
            raise ReadFailed(TransientDownloadError(f"download interrupted: {type(exc).__name__}")) from None
        finally:
            response.release_conn()  # with unread bytes, urllib3 drops it when it is next taken
            with self._lock:
                self.fetched_bytes += done

    def _check_empty(self) -> None:
        headers = {"If-Match": f'"{self.etag}"'} if self.etag else {}
        response = self._request(headers)
        try:
            if response.status >= 500 or response.status == 429:
                raise ReadFailed(TransientDownloadError(f"storage answered HTTP {response.status}"))
            if response.status != 200:
                raise ReadFailed(refusal(response.status, response.read(4096)))
            _refuse_client_decoding(response)
            if response.read(1):
                detail = "the version has bytes, the scan request said 0"
                raise ReadFailed(DownloadRefused(Reason.DOWNLOAD_FAILED, detail))
        finally:
            response.release_conn()

    def _check(self, response: Any, offset: int, last: int) -> None:
        status = response.status
        if status >= 500 or status == 429:
            raise ReadFailed(TransientDownloadError(f"storage answered HTTP {status}"))
        if status != 206:
            body = response.read(4096) if status >= 300 else b""
            if status == 200:  # the whole object instead of a range: not what was asked for
                raise ReadFailed(DownloadRefused(Reason.DOWNLOAD_FAILED, "the storage ignored the range"))
            raise ReadFailed(refusal(status, body))
        found = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if found is None or (int(found[1]), int(found[2])) != (offset, last):
            raise ReadFailed(DownloadRefused(Reason.DOWNLOAD_FAILED, "the storage answered another range"))
        if int(found[3]) != self.size:
            detail = f"the version has {found[3]} bytes, the scan request said {self.size}"
            raise ReadFailed(DownloadRefused(Reason.DOWNLOAD_FAILED, detail))
        _refuse_client_decoding(response)


# Content encodings a browser or HTTP client undoes before anyone sees the bytes, and the engine does not
# recognise from the bytes themselves (gzip and zstd it opens wherever they are): an object stored so would
# be judged on other bytes than its readers get (a site's script uploaded brotli-compressed).
DECODED_BY_CLIENTS = frozenset({"br", "deflate", "compress", "x-compress"})


def _refuse_client_decoding(response: Any) -> None:
    header = response.headers.get("Content-Encoding", "")
    if {coding.strip().lower() for coding in header.split(",")} & DECODED_BY_CLIENTS:
        detail = f"stored with Content-Encoding {header!r}: its readers decode it, the scanner does not"
        raise ReadFailed(DownloadRefused(Reason.UNSUPPORTED, detail))
