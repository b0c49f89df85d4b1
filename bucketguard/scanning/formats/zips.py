"""Zip archives, read from their central directory and from their local headers both.

The central directory is what zipfile and unzip trust, but bytes it does not list still hold files that
other tools extract: local headers left out of the directory, a second zip glued behind a first (bsdtar
reads both), an archive behind an image or an executable stub. So every byte range that no listed member
accounts for is walked for local headers, each one found is decoded and scanned as a member, and whatever
remains is scanned as bytes of its own (`outer.zip!<bytes 0-5120>`). A zip whose central directory cannot
be read is `corrupt`, and its local headers are still decoded and scanned (as bsdtar extracts them).
"""

from __future__ import annotations

import bz2
import copy
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from bucketguard.scanning.blobs import (
    CHUNK,
    DECODE_IN_MEMORY_MAX,
    TAIL_BYTES,
    Blob,
    BlobWriter,
    Expansion,
    View,
    corrupt,
)
from bucketguard.scanning.formats.streams import Decoder, ZlibDecoder, drain
from bucketguard.scanning.limits import ContainerProblem, MemberProblem, RatioGuard
from bucketguard.scanning.result import Reason

if TYPE_CHECKING:
    import zipfile

LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_END = b"PK\x05\x06"
_END64 = b"PK\x06\x06"
_END64_LOCATOR = b"PK\x06\x07"
_DESCRIPTOR = b"PK\x07\x08"
# Written before the first local header by spanning zip writers; unzip and zipfile read past them.
_MARKERS = (_DESCRIPTOR + LOCAL, b"PK00" + LOCAL)

_LOCAL_HEADER = struct.Struct(
    "<4s5H3I2H"
)  # signature, version, flags, method, time, date, crc, sizes, name/extra lengths
_END_RECORD = struct.Struct(
    "<4s4H2IH"
)  # signature, disks, entries, entries, directory size and offset, comment length
_END64_RECORD = struct.Struct("<4sQ2H2I2Q2Q")  # ..., entries, entries, directory size, directory offset
_CENTRAL_LENGTHS = struct.Struct("<3H")  # a central directory entry's name, extra and comment, at 28

_ENCRYPTED = 0x1
_HAS_DESCRIPTOR = 0x8
_UTF8_NAME = 0x800
# Compression methods (APPNOTE 4.4.5), without importing zipfile to name them: see open_zip.
_STORED, _DEFLATED, _BZIP2, _DEFLATE64 = 0, 8, 12, 9
_BY_SEVEN_ZIP = {1, 2, 3, 4, 5, 6}  # Shrink, Reduce (4 factors), Implode: zipfile has none of them


class _Deflate64:
    """inflate64 behind the decompressor interface; it keeps no input back, so it is fed in small pieces."""

    needs_input = True
    unused_data = b""

    def __init__(self) -> None:
        # Imported by the rare Deflate64 member only: inflate64 reads its package metadata at import, a
        # cost every scan's start-up paid.
        import inflate64

        self._inflater = inflate64.Inflater()

    @property
    def eof(self) -> bool:
        return bool(self._inflater.eof)

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes:
        return bytes(self._inflater.inflate(data))


_DECODERS: dict[int, Callable[[], Decoder]] = {
    _DEFLATED: lambda: ZlibDecoder(-zlib.MAX_WBITS),
    _BZIP2: bz2.BZ2Decompressor,
    _DEFLATE64: _Deflate64,  # zipfile does not implement it
}
_PIECE = 1 << 16
# zipfile reads a central directory into memory whole, then makes an object of each entry: one larger than
# the other formats parsed in memory is not parsed (10,000 entries of 200-byte names take 2.5 MB).
DIRECTORY_MAX = DECODE_IN_MEMORY_MAX


def starts_zip(head: bytes) -> bool:
    return head.startswith((LOCAL, _END, *_MARKERS))


def ends_with_zip(blob: Blob) -> bool:
    """A zip glued behind other bytes (an image, an executable stub, another zip): the end record is in
    the last 64 KiB, the central directory sits where it says, and the archive it describes starts within
    the blob (a lone central directory whose members are elsewhere is not an archive)."""
    if blob.data is not None:
        # The common case in C-level searches and no copy: a byte of the signature first (memchr).
        start = max(blob.size - TAIL_BYTES, 0)
        if blob.data.find(b"\x05", start) < 0 or blob.data.rfind(_END, start) < 0:
            return False
    base, tail = blob.tail()
    end = find_end(tail)
    located = None if end is None else _locate_directory(tail, end)
    if located is None:
        return False
    start, offset = located
    return base + start - offset >= 0 and blob.read_at(base + start, 4) == _CENTRAL


def find_end(view: View) -> int | None:
    """Where the end-of-central-directory record is, found the way zipfile finds it."""
    size = len(view)
    last = size - _END_RECORD.size
    if last >= 0 and view[last : last + 4] == _END and view[size - 2 : size] == b"\0\0":
        return last
    end = view.rfind(_END, max(size - TAIL_BYTES, 0))
    return end if end >= 0 and end + _END_RECORD.size <= size else None


def _locate_directory(view: bytes, end: int) -> tuple[int, int] | None:
    """Where the central directory starts (relative to `view`: right before the end record, or before the
    zip64 end record its locator points at) and the offset the archive records for it. None for an empty
    archive."""
    start, _, offset, entries = _directory(view, end)
    return (start, offset) if entries else None


def _directory(view: View, end: int) -> tuple[int, int, int, int]:
    """The central directory's start (relative to `view`), size, recorded offset and declared entries: from
    the zip64 end record when a locator points at one, else from the end record (as zipfile reads them)."""
    fields = _END_RECORD.unpack(view[end : end + _END_RECORD.size])
    entries, size, offset = fields[4], fields[5], fields[6]
    locator = end - 20
    if locator >= _END64_RECORD.size and view[locator : locator + 4] == _END64_LOCATOR:
        record = locator - _END64_RECORD.size
        if view[record : record + 4] == _END64:
            fields = _END64_RECORD.unpack(view[record : record + _END64_RECORD.size])
            entries, size, offset, end = fields[7], fields[8], fields[9], record
    return end - size, size, offset, entries


def count_entries(view: View, most: int) -> int:
    """How many entries zipfile makes an object of, counted up to `most` before it does: it walks the
    central directory as far as its recorded size allows, whatever count the end record declares (tiny
    entries fill it by the million: gigabytes of memory before any cap is checked)."""
    return _walk_directory(view, most).entries


class _Walked(NamedTuple):  # a NamedTuple: a frozen dataclass costs the scan's start-up more
    entries: int  # up to the `most` asked for
    size: int  # the directory's recorded size, which zipfile reads into memory whole
    unread: int  # bytes of it after the last entry: zipfile fails on them unless `most` stopped the walk


def _walk_directory(view: View, most: int) -> _Walked:
    end = find_end(view)
    if end is None:
        return _Walked(0, 0, 0)  # zipfile says what is wrong
    start, size, _, _ = _directory(view, end)
    count, at, stop = 0, max(start, 0), start + size
    while count < most and at + 46 <= stop and view[at : at + 4] == _CENTRAL:
        lengths = _CENTRAL_LENGTHS.unpack(view[at + 28 : at + 34])
        at += 46 + sum(lengths)
        count += 1
    return _Walked(count, size, max(stop - at, 0))


def _unparsed_directory(walked: _Walked, most: int, name: str) -> ContainerProblem | None:
    """Why zipfile is not given the central directory: it reads the directory's recorded size into memory
    whole before parsing it, so bytes there that are no entries (a large object declaring a directory of
    gigabytes) or entries too large to hold in memory are refused first."""
    if walked.unread and walked.entries < most:
        detail = f"{walked.unread} bytes of its central directory are no entries"
        return ContainerProblem(Reason.CORRUPT, f"{name}: unreadable zip: {detail}")
    if walked.size > DIRECTORY_MAX:
        detail = f"central directory of {walked.size} bytes is not parsed (more than {DIRECTORY_MAX})"
        return ContainerProblem(Reason.TOO_LARGE, f"{name}: zip {detail}")
    return None


@dataclass(frozen=True)
class _LocalHeader:
    offset: int
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    name: str
    data_offset: int

    @classmethod
    def parse(cls, view: View, offset: int, limit: int) -> _LocalHeader | None:
        """The local header at `offset`, or None where the bytes only happen to hold its signature."""
        if offset < 0 or offset + _LOCAL_HEADER.size > limit:
            return None
        _, version, flags, method, _, _, crc, csize, usize, name_length, extra_length = _LOCAL_HEADER.unpack(
            view[offset : offset + _LOCAL_HEADER.size]
        )
        data_offset = offset + _LOCAL_HEADER.size + name_length + extra_length
        if version > 100 or method > 255 or not 0 < name_length <= 4096 or data_offset > limit:
            return None
        raw_name = bytes(view[offset + _LOCAL_HEADER.size : offset + _LOCAL_HEADER.size + name_length])
        name = raw_name.decode("utf-8" if flags & _UTF8_NAME else "cp437", errors="replace")
        return cls(offset, flags, method, crc, csize, usize, name, data_offset)

    @property
    def sizes_known(self) -> bool:
        return not (self.flags & _HAS_DESCRIPTOR) or self.compressed_size != 0

    def descriptor_length(self, view: View, data_end: int) -> int:
        if not self.flags & _HAS_DESCRIPTOR:
            return 0
        signature = 4 if view[data_end : data_end + 4] == _DESCRIPTOR else 0
        return signature + (20 if 0xFFFFFFFF in (self.compressed_size, self.size) else 12)


def open_zip(blob: Blob, expansion: Expansion) -> list[str]:
    """Every member, listed or not; the names the central directory lists (none when it is unreadable)."""
    # Imported by the first zip: every file is sniffed for an appended one (ends_with_zip), and a scan of
    # none paid for zipfile at its start.
    import zipfile

    name, budget = expansion.name, expansion.budget
    most = budget.limits.max_members - budget.members + 1
    with blob.mapped() as view:  # every entry counts, directories too, before zipfile reads one
        walked = _walk_directory(view, most)
    budget.count_members(walked.entries, name)
    refused = _unparsed_directory(walked, most, name)
    with blob.open() as raw:
        try:
            if refused is not None:
                raise refused
            archive = zipfile.ZipFile(raw)
            entries = archive.infolist()
        except Exception as exc:  # no central directory to trust: the local headers are all there is
            expansion.problem(name, refused or corrupt(name, "zip", exc))
            with blob.mapped() as view:
                _read_unlisted(view, 0, len(view), expansion)
            return []
        with archive, blob.mapped() as view:
            # A directory entry that holds data is read like a file: its bytes are what other tools extract.
            listed = [info for info in entries if not info.is_dir() or info.compress_size]
            ours = [info for info in listed if info.compress_type == _DEFLATE64]
            covered = []
            for info in entries:
                if (info.is_dir() and not info.compress_size) or info.compress_type == _DEFLATE64:
                    pass
                elif info.compress_type in _BY_SEVEN_ZIP and not info.flag_bits & _ENCRYPTED:
                    from bucketguard.scanning.formats import seven_zip_program  # see recognised.py

                    seven_zip_program.extract_zip_member(blob, expansion, info.filename, info.file_size)
                else:
                    _read_listed(archive, info, expansion)
                # taken while the member's bytes are at hand (an object read in ranges caches a few blocks)
                covered.append(_extent(view, info))
            directory = archive.start_dir
    with blob.mapped() as view:
        for info in ours:
            header = _LocalHeader.parse(view, info.header_offset, len(view))
            if header is not None:
                _read_local(view, header, len(view), expansion, listed=True)
        end = find_end(view)
        assert end is not None  # zipfile found it
        comment_length = _END_RECORD.unpack(view[end : end + _END_RECORD.size])[7]
        covered.append((directory, end + _END_RECORD.size + comment_length))
        for start, stop in _gaps(covered, len(view)):
            _read_unlisted(view, start, stop, expansion)
    return [info.filename for info in entries]


def _read_listed(archive: zipfile.ZipFile, info: zipfile.ZipInfo, expansion: Expansion) -> None:
    where = f"{expansion.name}!{info.filename}"
    limits = expansion.budget.limits
    if info.flag_bits & _ENCRYPTED:
        expansion.visitor.problem(where, Reason.ENCRYPTED, f"{where}: encrypted member")
        return
    if limits.max_file_bytes is not None and info.file_size > limits.max_file_bytes:
        expansion.visitor.problem(
            where, Reason.TOO_LARGE, f"{where}: larger than {limits.max_file_bytes} bytes"
        )
        return
    guard = RatioGuard(info.compress_size, limits, where, MemberProblem)
    if guard.exceeded_by(info.file_size):  # the header admits it: no need to inflate
        expansion.visitor.problem(
            where,
            Reason.RATIO_EXCEEDED,
            f"{where}: declares {info.file_size} bytes from {info.compress_size} "
            f"(more than {limits.max_ratio:g} times)",
        )
        return

    def fill(writer: BlobWriter) -> None:
        with archive.open(_read_to_the_end(info)) as stream:
            writer.copy_from(stream.read)

    member = expansion.expand(where, fill, guard)
    if member is None:
        return
    if member.size != info.file_size:
        expansion.visitor.problem(
            where,
            Reason.CORRUPT,
            f"{where}: corrupt zip member: declares {info.file_size} bytes, holds {member.size}",
        )
    expansion.visit(where, member)  # what it holds is scanned all the same


def _read_to_the_end(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """The member's header with its declared size lifted: zipfile stops at the declared size, so a member
    declaring fewer bytes than its data holds (with the CRC of that prefix) would hide the rest. Read to
    the end of the compressed data instead; the CRC, then the size, are checked against what came out."""
    unbounded = copy.copy(info)
    unbounded.file_size = _UNBOUNDED
    return unbounded


_UNBOUNDED = 1 << 62


def _extent(view: View, info: zipfile.ZipInfo) -> tuple[int, int]:
    """The bytes a listed member occupies: local header, data and data descriptor."""
    header = _LocalHeader.parse(view, info.header_offset, len(view))
    if header is None:  # zipfile could not read it either: the bytes are walked as unlisted
        return info.header_offset, info.header_offset
    data_end = header.data_offset + info.compress_size
    return header.offset, data_end + header.descriptor_length(view, data_end)


def _gaps(covered: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    gaps, position = [], 0
    for start, stop in sorted(covered):
        if start > position:
            gaps.append((position, min(start, size)))
        position = max(position, stop)
    if position < size:
        gaps.append((position, size))
    return [(start, stop) for start, stop in gaps if start < stop]


def _read_unlisted(view: View, start: int, stop: int, expansion: Expansion) -> None:
    """Local headers in bytes the central directory does not account for are decoded as members; the
    bytes between them are scanned as they are."""
    position = search = start
    while (found := view.find(LOCAL, search, stop)) >= 0:
        header = _LocalHeader.parse(view, found, stop)
        if header is None:
            search = found + 1
            continue
        expansion.unattributed(view, position, found)
        position = search = _read_local(view, header, stop, expansion)
    expansion.unattributed(view, position, stop)


def _read_local(
    view: View, header: _LocalHeader, stop: int, expansion: Expansion, *, listed: bool = False
) -> int:
    """Decode the member behind a local header (one the central directory does not list, or in a method
    zipfile does not implement); return where its bytes end (where to look on when they cannot be read)."""
    where = f"{expansion.name}!{header.name}"
    unlisted = "" if listed else " (missing from the central directory)"
    if not listed:
        expansion.budget.count_members(1, where)
    known_end = header.data_offset + header.compressed_size if header.sizes_known else header.data_offset
    decoder = _DECODERS.get(header.method)
    if header.flags & _ENCRYPTED:
        expansion.visitor.problem(where, Reason.ENCRYPTED, f"{where}: encrypted member{unlisted}")
        return known_end
    if decoder is None and header.method != _STORED:
        expansion.visitor.problem(
            where,
            Reason.UNSUPPORTED,
            f"{where}: compression method {header.method} not decodable here{unlisted}",
        )
        return known_end
    if decoder is None and not header.sizes_known:
        expansion.visitor.problem(
            where,
            Reason.CORRUPT,
            f"{where}: stored member of unknown size{unlisted}",
        )
        return known_end
    limit = min(known_end, stop) if header.sizes_known else stop
    guard = RatioGuard(limit - header.data_offset, expansion.budget.limits, where, MemberProblem)
    data_end = limit
    crc = 0

    def write(writer: BlobWriter, chunk: bytes) -> None:
        nonlocal crc
        crc = zlib.crc32(chunk, crc)
        writer.write(chunk)

    def fill(writer: BlobWriter) -> None:
        nonlocal data_end
        if decoder is None:  # stored
            if known_end > stop:
                raise EOFError("member data runs past the end of the archive")
            for at in range(header.data_offset, limit, CHUNK):
                write(writer, view[at : min(at + CHUNK, limit)])
            return
        position = header.data_offset

        def read(size: int) -> bytes:
            nonlocal position
            chunk = view[position : min(position + min(size, _PIECE), limit)]
            position += len(chunk)
            return bytes(chunk)

        left = drain(decoder(), b"", read, lambda chunk: write(writer, chunk))
        data_end = position - len(left)

    member = expansion.expand(where, fill, guard)
    if member is None:
        return known_end
    expected = header.crc
    if header.flags & _HAS_DESCRIPTOR:
        signature = 4 if view[data_end : data_end + 4] == _DESCRIPTOR else 0
        expected = (
            int.from_bytes(view[data_end + signature : data_end + signature + 4], "little")
            if data_end + signature + 4 <= len(view)
            else -1
        )
    if crc != expected:
        expansion.visitor.problem(where, Reason.CORRUPT, f"{where}: corrupt zip member{unlisted}: bad CRC")
    expansion.visit(where, member)
    return data_end + header.descriptor_length(view, data_end)
