"""Streaming download of a presigned URL to a local file under a size cap.

The URL is a secret: it never appears in an exception message or a log line raised from here.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import BinaryIO

from bucketguard.scanning.result import Reason

CHUNK_BYTES = 1024 * 1024


class DownloadRefused(Exception):
    """The storage side answered and will keep answering the same: publish an error/unscannable result."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class DownloadTooLarge(DownloadRefused):
    def __init__(self, detail: str) -> None:
        super().__init__(Reason.TOO_LARGE, detail)


class TransientDownloadError(Exception):
    """Network trouble or a 5xx: the message is retried (and ends in the DLQ if it keeps failing)."""


@dataclass(frozen=True)
class Downloaded:
    size: int
    sha256: str


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would read another URL than the one checked against the scan request: it is an answer."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def _refusal(status: int, body: bytes) -> DownloadRefused:
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


def download(
    url: str,
    out: BinaryIO,
    *,
    max_bytes: int,
    etag: str = "",
    timeout: float = 60.0,
) -> Downloaded:
    """Stream `url` into `out`, hashing as it goes; stop as soon as more than `max_bytes` arrive."""
    headers = {"If-Match": f'"{etag}"'} if etag else {}
    request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 (URL parsed by the caller: presigned_url)
    try:
        response = _NO_REDIRECTS.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        status = exc.code
        body = exc.read(4096) if exc.fp else b""
        exc.close()
        if status >= 500 or status == 429:
            raise TransientDownloadError(f"storage answered HTTP {status}") from None
        raise _refusal(status, body) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransientDownloadError(f"download failed: {type(reason).__name__}") from None
    digest = hashlib.sha256()
    size = 0
    try:
        declared = response.headers.get("Content-Length")
        if declared is not None and int(declared) > max_bytes:
            raise DownloadTooLarge(f"object is {int(declared)} bytes, over the scanner's cap of {max_bytes}")
        while chunk := response.read(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise DownloadTooLarge(f"object is over the scanner's cap of {max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
        if declared is not None and size != int(declared):
            raise TransientDownloadError(f"short read: {size} of {declared} bytes")
    except (http.client.IncompleteRead, TimeoutError, ConnectionError) as exc:
        raise TransientDownloadError(f"download interrupted: {type(exc).__name__}") from None
    finally:
        response.close()
    out.flush()
    return Downloaded(size=size, sha256=digest.hexdigest())
