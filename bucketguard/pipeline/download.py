"""An object version read through its presigned GET URL with ranged requests, never copied whole.

`RangedObject` is what the engine scans (`Engine.scan_source`): each window is fetched as several ranges
in flight at once, straight into the engine's window buffer, so memory stays bounded whatever the object's
size and nothing goes to disk unless the object is a container. Every range is pinned to the version the
scan request names (the URL carries its versionId) and to its ETag (`If-Match`), so an object overwritten
mid-scan (an unversioned bucket) fails the read with 412 instead of giving bytes of two objects; every
answer must be a 206 for exactly the range asked within an object of the declared size.

The URL is a secret: it never appears in an exception message or a log line raised from here.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import urllib3

from bucketguard.scanning.blobs import SourceFailed
from bucketguard.scanning.result import Reason

RANGE_BYTES = 8 << 20  # one GET; a window (31 MiB) is read as four of them at once
IN_FLIGHT = 4
SMALL_READ_BYTES = 1 << 20  # reads up to this size (heads, tails, headers) are cached
SMALL_READS_CACHED = 16
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
            _POOLS[timeout] = urllib3.PoolManager(
                maxsize=IN_FLIGHT,
                block=True,
                retries=False,  # a retry is SQS's redelivery, decided by the caller
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
            )
        return _POOLS[timeout]


class RangedObject:
    """The bytes of one object version behind a presigned GET URL (a RandomAccess for the engine)."""

    def __init__(self, url: str, *, size: int, etag: str = "", timeout: float = 60.0) -> None:
        self.url = url
        self.size = size
        self.etag = etag
        self._pool = _pool(timeout)
        self._workers = ThreadPoolExecutor(IN_FLIGHT, "bucketguard-range")
        self._small: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._empty_checked = False
        # An object up to SMALL_READ_BYTES is read whole by the first read: its head, its tail and its
        # window would be three round trips, and round trips, not bytes, are what a small object costs.
        self._whole: bytes | None = None
        self._whole_lock = threading.Lock()

    def close(self) -> None:
        self._workers.shutdown(wait=True)

    def __enter__(self) -> RangedObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _small_object(self) -> memoryview | None:
        if not 0 < self.size <= SMALL_READ_BYTES:
            return None
        with self._whole_lock:
            if self._whole is None:
                data = bytearray(self.size)
                self._get(0, memoryview(data))
                self._whole = bytes(data)
        return memoryview(self._whole)

    def read_at(self, offset: int, size: int) -> bytes:
        size = max(min(size, self.size - offset), 0)
        whole = self._small_object()
        if whole is not None and offset >= 0:
            return bytes(whole[offset : offset + size])
        key = (offset, size)
        if key in self._small:
            self._small.move_to_end(key)
            return self._small[key]
        data = bytearray(size)
        self.read_into(memoryview(data), offset)
        if size <= SMALL_READ_BYTES:
            self._small[key] = bytes(data)
            while len(self._small) > SMALL_READS_CACHED:
                self._small.popitem(last=False)
            return self._small[key]
        return bytes(data)

    def read_into(self, into: memoryview, offset: int) -> None:
        """Fill `into` from `offset`: ranges of RANGE_BYTES, IN_FLIGHT of them at once."""
        if self.size == 0 and not self._empty_checked:
            self._check_empty()  # no range to ask for, but a request that says 0 bytes must be true
            self._empty_checked = True
        if offset < 0 or offset + len(into) > self.size:
            raise ReadFailed(DownloadRefused(Reason.DOWNLOAD_FAILED, "read past the end of the object"))
        whole = self._small_object()
        if whole is not None:
            into[:] = whole[offset : offset + len(into)]
            return
        parts = [(at, into[at - offset : min(at - offset + RANGE_BYTES, len(into))])
                 for at in range(offset, offset + len(into), RANGE_BYTES)]  # fmt: skip
        if len(parts) == 1:
            self._get(*parts[0])
            return
        for pending in [self._workers.submit(self._get, at, part) for at, part in parts]:
            pending.result()

    def _request(self, headers: dict[str, str]) -> Any:
        try:
            return self._pool.request("GET", self.url, headers=headers, preload_content=False, redirect=False)
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
        try:
            self._check(response, offset, last)
            done = 0
            while done < len(into):
                count = response.readinto(into[done:])
                if not count:
                    raise ReadFailed(TransientDownloadError(f"short read: {done} of {len(into)} bytes"))
                done += count
        except urllib3.exceptions.HTTPError as exc:
            raise ReadFailed(TransientDownloadError(f"download interrupted: {type(exc).__name__}")) from None
        finally:
            response.release_conn()

    def _check_empty(self) -> None:
        headers = {"If-Match": f'"{self.etag}"'} if self.etag else {}
        response = self._request(headers)
        try:
            if response.status >= 500 or response.status == 429:
                raise ReadFailed(TransientDownloadError(f"storage answered HTTP {response.status}"))
            if response.status != 200:
                raise ReadFailed(refusal(response.status, response.read(4096)))
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
