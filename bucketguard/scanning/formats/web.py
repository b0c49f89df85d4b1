"""HTML and SVG: `data:` URIs and long base64 or hex blobs (how HTML smuggling carries a file) are decoded
and scanned as members (`page.html!<data 1>`). The page's own text is matched by the rules as it is; the
attributes a browser runs as script (event handlers, `javascript:` links), whose character references it
decodes first (`onerror="&#101;val(...)"` runs `eval(...)`), are scanned decoded (`page.html!<scripts>`)."""

from __future__ import annotations

import base64
import binascii
import html
import re
import urllib.parse

from bucketguard.scanning.blobs import Blob, Expansion, read_whole

_MARKUP = re.compile(
    rb"(?is)^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|svg|script|a\s|div|meta|iframe|\?xml[^>]*>\s*<svg)"
)
_DATA_URI = re.compile(rb"(?i)data:[\w.+-]*/?[\w.+-]*(?:;[\w.+-]+=[^;,\"'\s]*)*(;base64)?,([^\"'\s)<>]+)")
_BASE64_BLOB = re.compile(rb"[\"'`]([A-Za-z0-9+/\\\r\n]{200,}={0,2})[\"'`]")
_HEX_BLOB = re.compile(rb"[\"'`]((?:[0-9a-fA-F]{2}){100,})[\"'`]")
_SCRIPT_ATTRIBUTE = re.compile(
    rb"""(?i)[\s"'/](on[a-z]+|href|src|action|formaction|xlink:href)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)"""
)
_JAVASCRIPT_URL = re.compile(r"(?i)^[\x00-\x20]*j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t\s*:")


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
    scripts = _encoded_script_attributes(text)
    if scripts:
        expansion.emit(f"{expansion.name}!<scripts>", scripts)


def _encoded_script_attributes(text: bytes) -> bytes:
    """The script attributes written with character references, decoded as the browser does, one a line."""
    found = []
    for match in _SCRIPT_ATTRIBUTE.finditer(text):
        value = match.group(2).strip(b"\"'")
        if b"&" not in value:
            continue  # the page's own text already shows it as it runs
        decoded = html.unescape(value.decode("utf-8", "replace"))
        if match.group(1).lower().startswith(b"on") or _JAVASCRIPT_URL.match(decoded):
            found.append(decoded)
    return "\n".join(found).encode()


def _base64(body: bytes) -> bytes:
    cleaned = re.sub(rb"[\s\\]", b"", body)
    try:
        return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
    except binascii.Error:
        return b""
