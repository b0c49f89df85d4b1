"""ISO 9660 disk images (with Joliet, Rock Ridge or UDF alongside) through pycdlib: every file is scanned
as a member, named by its ISO 9660 path (`camp.iso!/SETUP.EXE;1`), and so is every file's data no ISO 9660
path reaches (named by its Joliet or UDF path)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from bucketguard.scanning.blobs import CHUNK, DECODE_IN_MEMORY_MAX, Blob, BlobWriter, Expansion, corrupt
from bucketguard.scanning.limits import ContainerProblem
from bucketguard.scanning.result import Reason

_SECTOR = 2048
_DESCRIPTOR_OFFSET = 16 * _SECTOR + 1  # the first volume descriptor's identifier, after 32 KiB of system area
_IDENTIFIERS = (b"CD001", b"BEA01", b"NSR02", b"NSR03")
_MOST_DESCRIPTORS = 64
_VOLUME_STRUCTURES = (*_IDENTIFIERS, b"TEA01", b"BOOT2", b"CDW02")
# A UDF File Identifier Descriptor's tag: identifier 257, descriptor version 2 or 3.
_UDF_ENTRY = re.compile(rb"\x01\x01[\x02\x03]\x00")


def is_disk_image(blob: Blob) -> bool:
    return blob.size > _DESCRIPTOR_OFFSET + 5 and blob.read_at(_DESCRIPTOR_OFFSET, 5) in _IDENTIFIERS


class _Sink:
    """The file object pycdlib copies a file into."""

    def __init__(self, writer: BlobWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> int:
        self.writer.write(data)
        return len(data)


def open_disk_image(blob: Blob, expansion: Expansion) -> None:
    import pycdlib  # imported when a disk image turns up: most scans never need it (cold start)
    from pycdlib.inode import InodeOpenData
    from pycdlib.utils import copy_data

    name, budget = expansion.name, expansion.budget
    # pycdlib makes an object of every directory record of every tree, each inserted into its parent's
    # sorted list, before one member is counted: 30,000 empty files (a 6 MB image) took 94 MB and 16 s.
    counted = _most_entries(blob, budget.limits.max_members - budget.members + 1, name)
    budget.count_members(counted, name)  # directories included, as in the other archives
    image = pycdlib.PyCdlib()
    with blob.open() as raw:
        try:
            image.open_fp(cast(BinaryIO, raw))
            files = _paths(image, "iso_path")
            read = {id(inode) for path in files for inode in _extents(image.get_record(iso_path=path))}
            # Data no ISO 9660 path reaches (a file only the Joliet or UDF tree lists, which is what
            # Windows shows; the second of two records of one name; a boot image) is read too.
            unread = [inode for inode in image.inodes if id(inode) not in read]
            other_names = _other_names(image) if unread else {}
        except Exception as exc:
            raise corrupt(name, "disk image", exc) from None
        budget.count_members(max(len(files) + len(unread) - counted, 0), name)
        for path in files:
            where = f"{name}!{path}"

            def fill(writer: BlobWriter, path: str = path) -> None:
                image.get_file_from_iso_fp(cast(BinaryIO, _Sink(writer)), iso_path=path)

            member = expansion.expand(where, fill)
            if member is not None:
                expansion.visit(where, member)
        for number, inode in enumerate(unread, 1):
            where = f"{name}!{other_names.get(id(inode)) or f'<data outside the ISO 9660 tree #{number}>'}"

            def fill_inode(writer: BlobWriter, inode: Any = inode) -> None:
                with InodeOpenData(inode, image.logical_block_size) as (data, length):
                    copy_data(length, CHUNK, data, cast(BinaryIO, _Sink(writer)))

            member = expansion.expand(where, fill_inode)
            if member is not None:
                expansion.visit(where, member)
        image.close()


def _paths(image: Any, tree: str) -> list[str]:
    return [
        f"{directory.rstrip('/')}/{file_name}"
        for directory, _, file_names in image.walk(**{tree: "/"})
        for file_name in file_names
    ]


def _extents(record: Any) -> Iterator[Any]:
    """The data of one file: a record and the records continuing it (an ISO 9660 file over 4 GiB; a UDF
    file entry has one record)."""
    while record is not None:
        if record.inode is not None:
            yield record.inode
        record = getattr(record, "data_continuation", None)


def _other_names(image: Any) -> dict[int, str]:
    """A Joliet or UDF path for each file's data, by the data's identity."""
    names: dict[int, str] = {}
    for tree, present in (("joliet_path", image.has_joliet()), ("udf_path", image.has_udf())):
        for path in _paths(image, tree) if present else []:
            for inode in _extents(image.get_record(**{tree: path})):
                names.setdefault(id(inode), path)
    return names


def _most_entries(blob: Blob, most: int, name: str) -> int:
    """The entries of the image's largest tree, counted up to `most` before pycdlib parses them: the
    directory records under each ISO 9660 volume descriptor (the primary one, Joliet's), and UDF's file
    identifiers (tags found anywhere in the image, as its tree is not walked here). Directory data past
    what is parsed in memory is refused."""
    counts = [0]
    for number in range(_MOST_DESCRIPTORS):
        descriptor = blob.read_at((16 + number) * _SECTOR, _SECTOR)
        if descriptor[1:6] not in _VOLUME_STRUCTURES:
            break  # past ISO 9660's descriptors (its terminator included) and UDF's that follow them
        if descriptor[1:6] == b"CD001" and descriptor[0] in (1, 2):  # primary, supplementary (Joliet)
            counts.append(_count_records(blob, descriptor[156:190], most, name))
        elif descriptor[1:6] in (b"NSR02", b"NSR03"):
            counts.append(_count_udf_entries(blob, most))
    return max(counts)


def _count_records(blob: Blob, root: bytes, most: int, name: str) -> int:
    """Directory records reached from `root` (a directory record), up to `most`; each directory once."""
    pending, seen, count, walked = [root], set(), 0, 0
    while pending and count < most:
        record = pending.pop()
        extent, length = int.from_bytes(record[2:6], "little"), int.from_bytes(record[10:14], "little")
        if extent in seen:
            continue
        seen.add(extent)
        walked += length
        if walked > DECODE_IN_MEMORY_MAX:
            raise ContainerProblem(
                Reason.TOO_LARGE, f"{name}: disk image directories of more than {DECODE_IN_MEMORY_MAX} bytes"
            )
        for start in range(extent * _SECTOR, extent * _SECTOR + length, _SECTOR):
            sector = blob.read_at(start, _SECTOR)
            at = 0
            while at + 34 <= len(sector) and sector[at] >= 34 and count < most:
                entry = sector[at : at + sector[at]]
                at += sector[at]
                if entry[32] == 1 and entry[33:34] in (b"\0", b"\1"):
                    continue  # the directory itself and its parent
                count += 1
                if entry[25] & 2:  # a directory
                    pending.append(entry)
    return count


def _count_udf_entries(blob: Blob, most: int) -> int:
    count = 0
    for start in range(0, blob.size, CHUNK):
        chunk = blob.read_at(start, CHUNK)
        for match in _UDF_ENTRY.finditer(chunk):
            tag = chunk[match.start() : match.start() + 16]
            if len(tag) == 16 and (sum(tag[:4]) + sum(tag[5:])) & 0xFF == tag[4]:  # the tag's checksum
                count += 1
        if count >= most:
            break
    return count
