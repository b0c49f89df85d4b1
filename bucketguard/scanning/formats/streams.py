"""Compressed streams: gzip, bzip2, xz, .lzma (LZMA_Alone), zstd and lz4 (frames).

Each may hold several streams one after another (gzip members, concatenated bzip2 and xz streams, with zero
padding between them), and every one is decoded into the same member, as the command-line tools do. Bytes
after the last stream that are neither padding nor another stream are scanned as a member of their own:
bz2 and lzma drop them silently, and an EICAR or a whole zip behind a stream would go unread.
"""

from __future__ import annotations

import bz2
import lzma
import re
import zlib
from collections.abc import Callable
from typing import IO, Protocol

from bucketguard.scanning.blobs import CHUNK, Blob, BlobWriter, Expansion, corrupt
from bucketguard.scanning.limits import ContainerProblem, MemberProblem, RatioGuard, ScanProblem


class Decoder(Protocol):
    """The shape bz2, lzma and (through `ZlibDecoder`) zlib decompressors share."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes: ...


class ZlibDecoder:
    """zlib behind the bz2/lzma interface: `wbits` 31 reads a gzip member (header, CRC and length
    checked), -15 a raw deflate stream."""

    def __init__(self, wbits: int) -> None:
        self._zlib = zlib.decompressobj(wbits)
        self._full = False  # the last call filled its output: zlib may hold more without new input

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    @property
    def unused_data(self) -> bytes:
        return self._zlib.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._zlib.unconsumed_tail and not self._full

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes:
        out = self._zlib.decompress(self._zlib.unconsumed_tail + data, max(max_length, 0))
        self._full = len(out) == max_length
        return out


def drain(
    decoder: Decoder, first: bytes, read: Callable[[int], bytes], write: Callable[[bytes], None]
) -> bytes:
    """Decode one stream from `first` and then `read`, in bounded pieces, up to its end-of-stream marker;
    return the input left over after it. A stream that ends early raises EOFError."""
    write(decoder.decompress(first, CHUNK))
    while not decoder.eof:
        chunk = b""
        if decoder.needs_input:
            chunk = read(CHUNK)
            if not chunk:
                raise EOFError("compressed data ends before its end-of-stream marker")
        write(decoder.decompress(chunk, CHUNK))
    return decoder.unused_data or b""  # (lz4 says None for nothing)


def inflate(
    expansion: Expansion,
    where: str,
    compressed: bytes,
    wbits: int = zlib.MAX_WBITS,
    *,
    size: int | None = None,
) -> None:
    """A zlib (or, with `wbits`, raw deflate or gzip) stream held in memory, expanded as one member under
    the budget and a ratio guard. With `size` (what the format says the stream holds), a stream that stops
    without its end-of-stream marker once exactly that much came out is whole (PowerPoint writes so)."""
    expansion.budget.count_members(1, where)
    guard = RatioGuard(len(compressed), expansion.budget.limits, where, MemberProblem)
    member = expansion.expand(where, lambda writer: _inflate_into(compressed, wbits, writer, size), guard)
    if member is not None:
        expansion.visit(where, member)


def _inflate_into(compressed: bytes, wbits: int, writer: BlobWriter, size: int | None) -> None:
    written = 0

    def write(data: bytes) -> None:
        nonlocal written
        written += len(data)
        writer.write(data)

    try:
        drain(ZlibDecoder(wbits), compressed, lambda _: b"", write)
    except EOFError:
        if written != size:
            raise


GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_MAGIC = b"\x04\x22\x4d\x18"
# An .lzma file has no magic: its properties byte, 0x5D (lc=3, lp=0, pb=2) from xz --format=lzma, 7-Zip and
# the LZMA SDK, then the dictionary size and the uncompressed size, checked by is_lzma_alone.
LZMA_ALONE_MAGIC = b"\x5d"


# lz4 and zstd are imported by their streams only: every process paid for them at its start.
def _zstd_decoder() -> Decoder:
    from backports import zstd  # the standard library's compression.zstd from Python 3.14

    return zstd.ZstdDecompressor()


def _lz4_decoder() -> Decoder:
    import lz4.frame

    return lz4.frame.LZ4FrameDecompressor()  # type: ignore[no-any-return]


_DECODERS: dict[bytes, Callable[[], Decoder]] = {
    GZIP_MAGIC: lambda: ZlibDecoder(16 + zlib.MAX_WBITS),
    BZIP2_MAGIC: bz2.BZ2Decompressor,
    XZ_MAGIC: lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    LZMA_ALONE_MAGIC: lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE),
    ZSTD_MAGIC: _zstd_decoder,
    LZ4_MAGIC: _lz4_decoder,
}


# zstd and lz4 skippable frames (user data, magic 0x184D2A50 to 0x184D2A5F, then their size): the tools pass
# over them, before, between and after the compressed frames.
SKIPPABLE_FRAME = re.compile(rb"[\x50-\x5f]\x2a\x4d\x18")
_WITH_SKIPPABLE_FRAMES = (ZSTD_MAGIC, LZ4_MAGIC)


def _past_skippable_frame(pending: bytes, read: Callable[[int], bytes]) -> bytes:
    """What follows the skippable frame `pending` starts with (read on as far as it reaches)."""
    while len(pending) < 8 and (more := read(CHUNK)):
        pending += more
    left = 8 + int.from_bytes(pending[4:8], "little")
    while left > len(pending):
        left -= len(pending)
        pending = read(CHUNK)
        if not pending:
            raise EOFError("a skippable frame is cut short")
    return pending[left:]


def decode_streams(magic: bytes, raw: IO[bytes], write: Callable[[bytes], None]) -> int | None:
    """Decode every stream of `raw` (each starting with `magic`) into `write`; return the offset of the
    trailing bytes that are not a stream, or None when nothing but zero padding follows the last one."""
    pending, offset, fed = b"", 0, 0

    def read(size: int) -> bytes:
        nonlocal fed
        chunk = raw.read(size)
        fed += len(chunk)
        return chunk

    while True:
        while True:  # zero padding is dropped as it is read, however long it is
            stripped = pending.lstrip(b"\0")
            offset += len(pending) - len(stripped)
            pending = stripped
            if len(pending) >= len(magic) or not (more := read(CHUNK)):
                break
            pending += more
        if not pending:
            return None
        if magic in _WITH_SKIPPABLE_FRAMES and SKIPPABLE_FRAME.match(pending):
            pending = _past_skippable_frame(pending, read)
            offset = fed - len(pending)
            continue
        if not pending.startswith(magic):
            return offset
        pending = drain(_DECODERS[magic](), pending, read, write)
        offset = fed - len(pending)


def stream_opener(magic: bytes, suffixes: tuple[str, ...], label: str) -> Callable[[Blob, Expansion], None]:
    def open_streams(blob: Blob, expansion: Expansion) -> None:
        name = expansion.name
        where = f"{name}!{decompressed_name(name, suffixes)}"
        expansion.budget.count_members(1, where)
        guard = RatioGuard(blob.size, expansion.budget.limits, name, ContainerProblem)
        trailing: int | None = None
        damage: ScanProblem | None = None

        def fill(writer: BlobWriter) -> None:
            nonlocal trailing, damage
            with blob.open() as raw:
                try:
                    trailing = decode_streams(magic, raw, writer.write)
                except ScanProblem:
                    raise
                except (
                    Exception
                ) as exc:  # a damaged stream: what was decoded before it is scanned all the same
                    damage = corrupt(name, label, exc)

        member = expansion.expand(where, fill, guard)
        if damage is not None:
            expansion.problem(where, damage)
        if member is not None:
            expansion.visit(where, member)
        if trailing is not None:
            with blob.mapped() as view:
                expansion.unattributed(view, trailing, blob.size)

    return open_streams


GZIP_SUFFIXES = (".gz", ".gzip", ".z")
BZIP2_SUFFIXES = (".bz2", ".bzip2", ".bz")
XZ_SUFFIXES = (".xz", ".lzma")
LZMA_ALONE_SUFFIXES = (".lzma",)
ZSTD_SUFFIXES = (".zst", ".zstd")
LZ4_SUFFIXES = (".lz4",)
open_gzip = stream_opener(GZIP_MAGIC, GZIP_SUFFIXES, "gzip")
open_bzip2 = stream_opener(BZIP2_MAGIC, BZIP2_SUFFIXES, "bzip2")
open_xz = stream_opener(XZ_MAGIC, XZ_SUFFIXES, "xz")
open_lzma_alone = stream_opener(LZMA_ALONE_MAGIC, LZMA_ALONE_SUFFIXES, "lzma")
open_zstd = stream_opener(ZSTD_MAGIC, ZSTD_SUFFIXES, "zstd")
open_lz4 = stream_opener(LZ4_MAGIC, LZ4_SUFFIXES, "lz4")


def is_gzip(head: bytes) -> bool:
    return head.startswith(GZIP_MAGIC)


def is_bzip2(head: bytes) -> bool:
    return head.startswith(BZIP2_MAGIC) and head[3:4].isdigit() and head[3:4] != b"0"


def is_xz(head: bytes) -> bool:
    return head.startswith(XZ_MAGIC)


def is_lzma_alone(head: bytes) -> bool:
    """The header xz's own .lzma decoder accepts: a dictionary of 2^n or 2^n + 2^(n-1) bytes (at least
    4 KiB), an uncompressed size unknown (all ones) or under 256 GiB."""
    if len(head) < 13 or not head.startswith(LZMA_ALONE_MAGIC):
        return False
    dictionary = int.from_bytes(head[1:5], "little")
    size = int.from_bytes(head[5:13], "little")
    top = 1 << (dictionary.bit_length() - 1) if dictionary else 0
    shaped = dictionary >= 4096 and dictionary in (top, top | top >> 1)
    return shaped and (size == (1 << 64) - 1 or size < 1 << 38)


def is_zstd(head: bytes) -> bool:
    # A file starting with a skippable frame is opened as zstd; an lz4 frame after it is then a member
    # of its own (bytes the zstd frames do not account for), opened as lz4.
    return head.startswith(ZSTD_MAGIC) or SKIPPABLE_FRAME.match(head) is not None


def is_lz4(head: bytes) -> bool:
    return head.startswith(LZ4_MAGIC)


_TAR_SHORTHANDS = (".tgz", ".tbz2", ".tbz", ".txz", ".tlz")


def decompressed_name(name: str, suffixes: tuple[str, ...]) -> str:
    """The name of what a compressed stream holds: `songs.tar.gz` -> `songs.tar`, `a.tgz` -> `a.tar`."""
    base = name.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    lower = base.lower()
    for suffix in suffixes:
        if lower.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    for suffix in _TAR_SHORTHANDS:
        if lower.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)] + ".tar"
    return base + ".out"
