"""HTML and SVG: `data:` URIs and long base64 or hex blobs (how HTML smuggling carries a file) are decoded
and scanned as members (`page.html!<data 1>`). The page's own text is matched by the rules as it is."""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse

from bucketguard.scanning.blobs import Blob, Expansion, read_whole

_MARKUP = re.compile(
    rb"(?is)^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|svg|script|a\s|div|meta|iframe|\?xml[^>]*>\s*<svg)"
)
_DATA_URI = re.compile(rb"(?i)data:[\w.+-]*/?[\w.+-]*(?:;[\w.+-]+=[^;,\"'\s]*)*(;base64)?,([^\"'\s)<>]+)")
_BASE64_BLOB = re.compile(rb"[\"'`]([A-Za-z0-9+/\\\r\n]{200,}={0,2})[\"'`]")
_HEX_BLOB = re.compile(rb"[\"'`]((?:[0-9a-fA-F]{2}){100,})[\"'`]")


def is_markup(head: bytes) -> bool:
    return _MARKUP.match(head) is not None


def open_markup(blob: Blob, expansion: Expansion) -> None:
    text = read_whole(blob, expansion.name, "HTML")
    decoded: list[bytes] = []
    for match in _DATA_URI.finditer(text):
        body = match.group(2)
        decoded.append(_base64(body) if match.group(1) else urllib.parse.unquote_to_bytes(body))
    decoded += [_base64(match.group(1)) for match in _BASE64_BLOB.finditer(text)]
    decoded += [binascii.unhexlify(match.group(1)) for match in _HEX_BLOB.finditer(text)]
    for number, data in enumerate(filter(None, decoded), 1):
        expansion.emit(f"{expansion.name}!<data {number}>", data)


def _base64(body: bytes) -> bytes:
    cleaned = re.sub(rb"[\s\\]", b"", body)
    try:
        return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
    except binascii.Error:
        return b""
