"""Office files written for real: an OLE2 compound file (MS-CFB) and a VBA project in it (MS-OVBA), as Word
keeps them in a .doc (storage `Macros`) and in a .docm's `word/vbaProject.bin` (the root).

`compound_file` writes version 3 files with one FAT sector, storages named by `/` in stream paths, streams
under 4 KiB in the mini stream as the specification requires. `vba_project` writes the `dir` stream and
module streams compressed per MS-OVBA 2.4.1. olefile and olevba read both (the tests check it)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

ENDOFCHAIN, FATSECT, FREESECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF, 0xFFFFFFFF
SECTOR, MINI_SECTOR, MINI_CUTOFF = 512, 64, 4096
_STORAGE, _STREAM, _ROOT = 1, 2, 5


@dataclass
class _Node:
    name: str
    kind: int
    data: bytes = b""
    kids: list[int] = field(default_factory=list)  # indexes of the children in the directory


def compound_file(streams: dict[str, bytes]) -> bytes:
    """An OLE2 file holding `streams`, keyed by path (`Macros/VBA/dir`); storages are made as needed."""
    entries = [_Node("Root Entry", _ROOT)]
    for path, data in streams.items():
        parent = 0
        *storages, leaf = path.split("/")
        for name in storages:
            found = [
                i for i in entries[parent].kids if entries[i].name == name and entries[i].kind == _STORAGE
            ]
            if not found:
                entries.append(_Node(name, _STORAGE))
                entries[parent].kids.append(len(entries) - 1)
                found = [len(entries) - 1]
            parent = found[0]
        entries.append(_Node(leaf, _STREAM, data))
        entries[parent].kids.append(len(entries) - 1)
    mini_stream, mini_fat, starts = b"", list[int](), dict[int, int]()
    for index, node in enumerate(entries):
        if node.kind != _STREAM or len(node.data) >= MINI_CUTOFF:
            continue
        count = -(-len(node.data) // MINI_SECTOR)
        starts[index] = len(mini_fat) if node.data else ENDOFCHAIN
        mini_fat += [*range(len(mini_fat) + 1, len(mini_fat) + count), ENDOFCHAIN][:count]
        mini_stream += node.data.ljust(count * MINI_SECTOR, b"\x00")
    directory_sectors = -(-len(entries) * 128 // SECTOR)
    mini_fat_sectors = -(-len(mini_fat) * 4 // SECTOR)
    fat: list[int] = [FATSECT]
    sectors: list[bytes] = []  # the contents of sectors 1.. in order

    def place(data: bytes) -> int:
        count = -(-len(data) // SECTOR)
        if not count:
            return ENDOFCHAIN
        first = len(fat)
        fat.extend([*range(first + 1, first + count), ENDOFCHAIN])
        sectors.append(data.ljust(count * SECTOR, b"\x00"))
        return first

    directory_start = len(fat)
    fat.extend([*range(directory_start + 1, directory_start + directory_sectors), ENDOFCHAIN])
    packed_mini_fat = struct.pack(f"<{len(mini_fat)}I", *mini_fat)
    mini_fat_start = place(packed_mini_fat.ljust(mini_fat_sectors * SECTOR, b"\xff"))  # padded with FREESECT
    root_start = place(mini_stream)
    for index, node in enumerate(entries):
        if node.kind == _STREAM and index not in starts:
            starts[index] = place(node.data)
    assert len(fat) <= SECTOR // 4, "one FAT sector only"
    fat += [FREESECT] * (SECTOR // 4 - len(fat))
    # Each storage's children: a chain of right siblings in the specification's order (length, then
    # upper-case name), a degenerate binary tree that readers walk without rebalancing.
    right: dict[int, int] = {}
    for node in entries:
        node.kids.sort(key=lambda i: (len(entries[i].name), entries[i].name.upper()))
        right.update(zip(node.kids, [*node.kids[1:], NOSTREAM], strict=False))
    directory = b""
    for index, node in enumerate(entries):
        start, size = (root_start, len(mini_stream)) if index == 0 else (starts.get(index, 0), len(node.data))
        child = node.kids[0] if node.kids else NOSTREAM
        directory += _entry(node.name, node.kind, right=right.get(index, NOSTREAM), child=child, start=start,
                            size=size)  # fmt: skip
    directory += _entry("", 0, start=0, size=0) * (directory_sectors * SECTOR // 128 - len(entries))
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", bytes(16), 0x3E, 3, 0xFFFE, 9, 6, bytes(6),
        0, 1, directory_start, 0, MINI_CUTOFF, mini_fat_start, mini_fat_sectors, ENDOFCHAIN, 0,
    )  # fmt: skip
    header += struct.pack("<I", 0) + struct.pack("<I", FREESECT) * 108
    return header + struct.pack(f"<{SECTOR // 4}I", *fat) + directory + b"".join(sectors)


def _entry(
    name: str, kind: int, *, right: int = NOSTREAM, child: int = NOSTREAM, start: int, size: int
) -> bytes:
    encoded = (name.encode("utf-16-le") + b"\x00\x00") if name else b""
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        encoded, len(encoded), kind, 1, NOSTREAM, right, child, bytes(16), 0, 0, 0, start, size,
    )  # fmt: skip


def ovba_compress(data: bytes) -> bytes:
    """An MS-OVBA 2.4.1 compressed container: full 4 KiB chunks stored raw, the last one as literal tokens
    (a flag byte of zeros before every eight bytes), which every decompressor reads."""
    container = b"\x01"
    for start in range(0, len(data), 4096):
        piece = data[start : start + 4096]
        if len(piece) == 4096:
            container += struct.pack("<H", 0x3000 | 4095) + piece
            continue
        tokens = b"".join(b"\x00" + piece[at : at + 8] for at in range(0, len(piece), 8))
        assert len(tokens) <= 4096, "a compressed chunk holds at most 4096 bytes"
        container += struct.pack("<H", 0x8000 | 0x3000 | (len(tokens) + 2 - 3)) + tokens
    return container


def _record(kind: int, data: bytes) -> bytes:
    return struct.pack("<HI", kind, len(data)) + data


def vba_project(modules: dict[str, str], root: str = "") -> dict[str, bytes]:
    """The streams of a VBA project holding `modules` (name -> source), under storage `root` (`Macros/` in
    a .doc, `` in vbaProject.bin): PROJECT, VBA/_VBA_PROJECT, VBA/dir and one stream per module, each a
    performance cache (here a few zero bytes) followed by the compressed source."""
    cache = bytes(8)  # MODULEOFFSET says where the source starts: olevba must honour it
    information = (
        _record(0x01, struct.pack("<I", 1))  # PROJECTSYSKIND: 32-bit Windows
        + _record(0x02, struct.pack("<I", 0x409))  # PROJECTLCID
        + _record(0x14, struct.pack("<I", 0x409))  # PROJECTLCIDINVOKE
        + _record(0x03, struct.pack("<H", 1252))  # PROJECTCODEPAGE
        + _record(0x04, b"VBAProject")  # PROJECTNAME
        + _record(0x05, b"") + _record(0x40, b"")  # PROJECTDOCSTRING (MBCS, then UTF-16)
        + _record(0x06, b"") + _record(0x3D, b"")  # PROJECTHELPFILEPATH
        + _record(0x07, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
        + _record(0x08, struct.pack("<I", 0))  # PROJECTLIBFLAGS
        + struct.pack("<HIIH", 0x09, 4, 1, 0)  # PROJECTVERSION (its size field is 4, its body 6 bytes)
        + _record(0x0C, b"") + _record(0x3C, b"")  # PROJECTCONSTANTS
    )  # fmt: skip
    listing = struct.pack("<HIH", 0x0F, 2, len(modules)) + _record(0x13, struct.pack("<H", 0xFFFF))
    streams: dict[str, bytes] = {}
    for name, source in modules.items():
        encoded, wide = name.encode(), name.encode("utf-16-le")
        listing += (
            _record(0x19, encoded) + _record(0x47, wide)  # MODULENAME, MODULENAMEUNICODE
            + _record(0x1A, encoded) + _record(0x32, wide)  # MODULESTREAMNAME
            + _record(0x1C, b"") + _record(0x48, b"")  # MODULEDOCSTRING
            + _record(0x31, struct.pack("<I", len(cache)))  # MODULEOFFSET
            + _record(0x1E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
            + _record(0x2C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
            + _record(0x21, b"")  # MODULETYPE: procedural
            + _record(0x2B, b"")  # the module's terminator
        )  # fmt: skip
        text = f'Attribute VB_Name = "{name}"\r\n{source}'.encode("cp1252")
        streams[f"{root}VBA/{name}"] = cache + ovba_compress(text)
    project = 'ID="{00000000-0000-0000-0000-000000000000}"\r\n'
    project += "".join(f"Module={name}\r\n" for name in modules) + 'Name="VBAProject"\r\n'
    return {
        f"{root}PROJECT": project.encode(),
        f"{root}VBA/_VBA_PROJECT": struct.pack("<HHBH", 0x61CC, 0xFFFF, 0, 0),
        f"{root}VBA/dir": ovba_compress(information + listing + _record(0x10, b"")),
        **streams,
    }
