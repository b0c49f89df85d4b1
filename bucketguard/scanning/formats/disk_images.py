"""ISO 9660 disk images (with Joliet, Rock Ridge or UDF alongside) through pycdlib: every file is scanned
as a member, named by its ISO 9660 path (`camp.iso!/SETUP.EXE;1`), and so is every file's data no ISO 9660
path reaches (named by its Joliet or UDF path)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from bucketguard.scanning.blobs import CHUNK, Blob, BlobWriter, Expansion, corrupt

_DESCRIPTOR_OFFSET = 16 * 2048 + 1  # the first volume descriptor's identifier, after 32 KiB of system area
_IDENTIFIERS = (b"CD001", b"BEA01", b"NSR02", b"NSR03")


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

    name = expansion.name
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
        expansion.budget.count_members(len(files) + len(unread), name)
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
    """The data of one file: a record and the records continuing it (a file over 4 GiB)."""
    while record is not None:
        if record.inode is not None:
            yield record.inode
        record = record.data_continuation


def _other_names(image: Any) -> dict[int, str]:
    """A Joliet or UDF path for each file's data, by the data's identity."""
    names: dict[int, str] = {}
    for tree, present in (("joliet_path", image.has_joliet()), ("udf_path", image.has_udf())):
        for path in _paths(image, tree) if present else []:
            for inode in _extents(image.get_record(**{tree: path})):
                names.setdefault(id(inode), path)
    return names
