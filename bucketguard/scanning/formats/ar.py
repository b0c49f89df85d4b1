"""ar archives: Debian packages (`.deb`: `control.tar.*` and `data.tar.*` inside) and static libraries (`.a`).

Every member is scanned, the symbol and long-name tables too (nothing in the archive is left unread); GNU
long names (`/123`, an offset into the `//` table) and BSD ones (`#1/N`, the name's bytes in front of the
data) name them. A header that does not parse or a member cut short is `corrupt`.
"""

from __future__ import annotations

from bucketguard.scanning.blobs import CHUNK, IN_MEMORY_MAX, Blob, BlobWriter, Expansion
from bucketguard.scanning.limits import ContainerProblem
from bucketguard.scanning.result import Reason

MAGIC = b"!<arch>\n"
_HEADER = 60  # name 16, mtime 12, uid 6, gid 6, mode 8, size 10, "`\n"


def is_ar(head: bytes) -> bool:
    return head.startswith(MAGIC)


def open_ar(blob: Blob, expansion: Expansion) -> None:
    name = expansion.name
    long_names = b""
    with blob.open() as raw:
        position = len(MAGIC)
        while position < blob.size:
            raw.seek(position)
            header = raw.read(_HEADER)
            if not header.strip(b"\n"):
                break  # the padding byte after an odd-sized last member
            size_field = header[48:58].strip()
            if len(header) < _HEADER or header[58:60] != b"`\n" or not size_field.isdigit():
                raise ContainerProblem(Reason.CORRUPT, f"{name}: unreadable ar archive at offset {position}")
            start, end = position + _HEADER, position + _HEADER + int(size_field)
            if end > blob.size:
                raise ContainerProblem(Reason.CORRUPT, f"{name}: ar member at offset {position} is cut short")
            member_name = header[:16].rstrip(b" ")
            if member_name.startswith(b"#1/") and member_name[3:].isdigit():  # BSD: the name before the data
                length = min(int(member_name[3:]), end - start)
                member_name, start = raw.read(length).rstrip(b"\0"), start + length
            elif member_name == b"//" and end - start <= IN_MEMORY_MAX:  # GNU: the long names' table
                long_names = raw.read(end - start)
            elif member_name[:1] == b"/" and member_name[1:].isdigit():
                member_name = (
                    long_names[int(member_name[1:]) :].split(b"\n", 1)[0].rstrip(b"/") or member_name
                )
            elif member_name.endswith(b"/") and member_name != b"/":  # GNU: short names end with a slash
                member_name = member_name[:-1]
            where = f"{name}!{member_name.decode('utf-8', 'surrogateescape')}"
            expansion.budget.count_members(1, where)

            def fill(writer: BlobWriter, start: int = start, end: int = end) -> None:
                raw.seek(start)
                while start < end and (chunk := raw.read(min(CHUNK, end - start))):
                    writer.write(chunk)
                    start += len(chunk)

            member = expansion.expand(where, fill)
            if member is not None:
                expansion.visit(where, member)
            position = end + (end & 1)
