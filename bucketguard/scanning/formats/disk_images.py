"""ISO 9660 disk images (with Joliet, Rock Ridge or UDF alongside) through pycdlib: every file is scanned
as a member, named by its ISO 9660 path (`camp.iso!/SETUP.EXE;1`)."""

from __future__ import annotations

from typing import BinaryIO, cast

from bucketguard.scanning.blobs import Blob, BlobWriter, Expansion, corrupt

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

    name = expansion.name
    image = pycdlib.PyCdlib()
    with blob.open() as raw:
        try:
            image.open_fp(cast(BinaryIO, raw))
            files = [
                f"{directory.rstrip('/')}/{file_name}"
                for directory, _, file_names in image.walk(iso_path="/")
                for file_name in file_names
            ]
        except Exception as exc:
            raise corrupt(name, "disk image", exc) from None
        expansion.budget.count_members(len(files), name)
        for path in files:
            where = f"{name}!{path}"

            def fill(writer: BlobWriter, path: str = path) -> None:
                image.get_file_from_iso_fp(cast(BinaryIO, _Sink(writer)), iso_path=path)

            member = expansion.expand(where, fill)
            if member is not None:
                expansion.visit(where, member)
        image.close()
