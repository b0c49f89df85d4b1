"""A local HTTP server answering GETs the way S3 answers presigned GETs of one object version: ranges
(206 with Content-Range), If-Match against the ETag (412), 404 for anything else. Objects may be generated
on the fly (benchmarks serve tens of GiB without a file) and may be overwritten after a number of ranges
(the overwrite-mid-scan case). Used by the pipeline tests and benchmarks/large_objects.py."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_CHUNK = 1 << 20


class Stored(Protocol):
    @property
    def size(self) -> int: ...

    @property
    def etag(self) -> str: ...

    def read(self, offset: int, size: int) -> bytes: ...


@dataclass
class StoredBytes:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def etag(self) -> str:
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]


@dataclass
class Pieces:
    """An object made of (offset-ordered) byte pieces and generated filler: `block` repeated, with the
    given pieces laid over it. Serves a 20 GiB object from a few MiB of memory."""

    size: int
    block: bytes
    pieces: dict[int, bytes] = field(default_factory=dict)
    etag: str = "generated"

    def read(self, offset: int, size: int) -> bytes:
        size = max(min(size, self.size - offset), 0)
        out = bytearray()
        at = offset
        while at < offset + size:
            start = at % len(self.block)
            take = min(len(self.block) - start, offset + size - at)
            out += self.block[start : start + take]
            at += take
        for where, piece in self.pieces.items():
            lo, hi = max(where, offset), min(where + len(piece), offset + size)
            if lo < hi:
                out[lo - offset : hi - offset] = piece[lo - where : hi - where]
        return bytes(out)


@dataclass
class StoredFile:
    path: Path
    etag: str = "file"

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def read(self, offset: int, size: int) -> bytes:
        with self.path.open("rb") as stream:
            return os.pread(stream.fileno(), size, offset)


@dataclass
class Overwritten:
    """`before` until `after_ranges` ranges were served, then `later` (another ETag): an unversioned
    object overwritten while it is being read."""

    before: Stored
    later: Stored
    after_ranges: int
    served: int = 0

    @property
    def current(self) -> Stored:
        return self.before if self.served < self.after_ranges else self.later


class RangeHandler(http.server.BaseHTTPRequestHandler):
    objects: ClassVar[dict[str, Stored | Overwritten]] = {}
    requests: ClassVar[list[tuple[str, str]]] = []  # (path, Range header) of every GET

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.requests.append((path, self.headers.get("Range", "")))
        entry = self.objects.get(path)
        if entry is None:
            self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return
        stored = entry.current if isinstance(entry, Overwritten) else entry
        wanted = self.headers.get("If-Match")
        if wanted is not None and wanted.strip('"') != stored.etag:
            self.reply(412, b"<Error><Code>PreconditionFailed</Code></Error>")
            return
        asked = _RANGE.match(self.headers.get("Range", ""))
        if asked is None:
            self.send_response(200)
            self.send_header("Content-Length", str(stored.size))
            self.send_header("ETag", f'"{stored.etag}"')
            self.end_headers()
            self.stream(stored, 0, stored.size)
            return
        first = int(asked[1])
        last = min(int(asked[2]) if asked[2] else stored.size - 1, stored.size - 1)
        if first > last:
            self.reply(416, b"<Error><Code>InvalidRange</Code></Error>")
            return
        if isinstance(entry, Overwritten):
            entry.served += 1
        self.send_response(206)
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Content-Range", f"bytes {first}-{last}/{stored.size}")
        self.send_header("ETag", f'"{stored.etag}"')
        self.end_headers()
        self.stream(stored, first, last + 1)

    def stream(self, stored: Stored, start: int, end: int) -> None:
        for at in range(start, end, _CHUNK):
            self.wfile.write(stored.read(at, min(_CHUNK, end - at)))

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def serve(handler: type[RangeHandler] = RangeHandler) -> Iterator[str]:
    """Run `handler` on 127.0.0.1 (a generator for fixtures): yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
