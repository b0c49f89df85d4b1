"""Real samples of the formats the engine decodes, written by small writers kept here (harmless payloads).

`compound_file` writes an OLE2 compound file (MS-CFB version 3) that olefile reads: one FAT sector, storages
named by `/` in stream paths, streams under 4 KiB in the mini stream as the specification requires.
`vba_project` writes a VBA project (MS-OVBA) as Office stores it: a `dir` stream and module streams
compressed per MS-OVBA 2.4.1, which olevba reads."""

from __future__ import annotations

import struct
import zlib

ENDOFCHAIN, FATSECT, FREESECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF, 0xFFFFFFFF
SECTOR, MINI_SECTOR, MINI_CUTOFF = 512, 64, 4096


def compound_file(streams: dict[str, bytes]) -> bytes:
    """An OLE2 file holding `streams`, keyed by path (`Macros/VBA/dir`); storages are made as needed."""
    # Directory entries: [name, kind, children, data]; entry 0 is the root storage.
    entries: list[list] = [["Root Entry", 5, [], b""]]
    for path, data in streams.items():
        parent = 0
        *storages, leaf = path.split("/")
        for name in storages:
            found = [i for i in entries[parent][2] if entries[i][0] == name and entries[i][1] == 1]
            if not found:
                entries.append([name, 1, [], b""])
                entries[parent][2].append(len(entries) - 1)
                found = [len(entries) - 1]
            parent = found[0]
        entries.append([leaf, 2, [], data])
        entries[parent][2].append(len(entries) - 1)
    small = [i for i, e in enumerate(entries) if e[1] == 2 and len(e[3]) < MINI_CUTOFF]
    mini_stream, mini_fat, starts = b"", [], {}
    for index in small:
        data = entries[index][3]
        count = -(-len(data) // MINI_SECTOR)
        starts[index] = len(mini_fat) if data else ENDOFCHAIN
        mini_fat += [*range(len(mini_fat) + 1, len(mini_fat) + count), ENDOFCHAIN][:count]
        mini_stream += data.ljust(count * MINI_SECTOR, b"\x00")
    directory_sectors = -(-len(entries) * 128 // SECTOR)
    mini_fat_sectors = -(-len(mini_fat) * 4 // SECTOR)
    fat = [FATSECT]
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
    for index, entry in enumerate(entries):
        if entry[1] == 2 and index not in starts:
            starts[index] = place(entry[3])
    assert len(fat) <= SECTOR // 4, "one FAT sector only"
    fat += [FREESECT] * (SECTOR // 4 - len(fat))
    # Each storage's children: a chain of right siblings in the specification's order (length, then
    # upper-case name), a degenerate binary tree that readers walk without rebalancing.
    right = {}
    for *_, kids, _ in entries:
        kids.sort(key=lambda i: (len(entries[i][0]), entries[i][0].upper()))
        right.update(zip(kids, [*kids[1:], NOSTREAM], strict=False))
    directory = b""
    for index, (name, kind, kids, data) in enumerate(entries):
        start, size = (root_start, len(mini_stream)) if index == 0 else (starts.get(index, 0), len(data))
        child = kids[0] if kids else NOSTREAM
        directory += _entry(name, kind, right=right.get(index, NOSTREAM), child=child, start=start, size=size)
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
    streams = {}
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


def ole_package(file_name: str, data: bytes) -> bytes:
    """An OLE Package's native data (MS-OLEDS OLENativeStream without its size): the file it carries."""
    name = file_name.encode() + b"\x00"
    return (
        struct.pack("<H", 2) + name + b"C:\\camp\\" + name + struct.pack("<II", 0, 0)
        + b"C:\\temp\\" + name + struct.pack("<I", len(data)) + data
    )  # fmt: skip


def ole10native(file_name: str, data: bytes) -> bytes:
    package = ole_package(file_name, data)
    return struct.pack("<I", len(package)) + package


def rtf_with_package(file_name: str, data: bytes) -> bytes:
    """An RTF document embedding `data` as an OLE Package object (OLE 1.0 in hex, as Word writes it)."""
    package = ole_package(file_name, data)
    ole1 = struct.pack("<II", 0x0501, 2) + struct.pack("<I", 8) + b"Package\x00" + struct.pack("<II", 0, 0)
    ole1 += struct.pack("<I", len(package)) + package
    return (
        b"{\\rtf1\\ansi{\\object\\objemb{\\*\\objclass Package}{\\*\\objdata " + ole1.hex().encode() + b"}}}"
    )


def powerpoint_stream(embedded: bytes) -> bytes:
    """A PowerPoint Document stream holding one compressed embedded object (ExOleObjStg, instance 1)."""
    body = struct.pack("<I", len(embedded)) + zlib.compress(embedded)
    return struct.pack("<HHI", 0x0FF0, 0x03E8, 0) + struct.pack("<HHI", 0x0010, 0x1011, len(body)) + body


BINHEX_ALPHABET = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"


def binhex(file_name: str, data: bytes) -> bytes:
    """BinHex 4.0 (run-length marker escaped, no runs compressed; CRCs left zero)."""
    name = file_name.encode()
    raw = bytes([len(name)]) + name + b"\x00" + b"TEXTttxt" + bytes(2)
    raw += struct.pack(">II", len(data), 0) + bytes(2) + data + bytes(2) + bytes(2)
    escaped = raw.replace(b"\x90", b"\x90\x00")
    bits = "".join(f"{byte:08b}" for byte in escaped)
    bits += "0" * (-len(bits) % 6)
    chars = bytes(BINHEX_ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    lines = b"\n".join(chars[i : i + 64] for i in range(0, len(chars), 64))
    return b"(This file must be converted with BinHex 4.0)\n:" + lines + b":\n"


def szdd(data: bytes, *, declared: int | None = None) -> bytes:
    """SZDD (`COMPRESS.EXE -r`), every byte written as a literal: a valid stream `expand` decodes."""
    body = bytearray()
    for start in range(0, len(data), 8):
        chunk = data[start : start + 8]
        body += bytes([(1 << len(chunk)) - 1]) + chunk
    size = len(data) if declared is None else declared
    return b"SZDD\x88\xf0\x27\x33A" + b"m" + struct.pack("<I", size) + bytes(body)


def deflate64_zip(name: str, data: bytes) -> bytes:
    """A one-member zip compressed with Deflate64 (method 9), which zipfile does not implement."""
    import inflate64

    deflater = inflate64.Deflater()
    packed = deflater.deflate(data) + deflater.flush()
    crc, encoded = zlib.crc32(data), name.encode()
    local = struct.pack(
        "<4s5H3I2H", b"PK\x03\x04", 21, 0, 9, 0, 0, crc, len(packed), len(data), len(encoded), 0
    )
    central = struct.pack(
        "<4s6H3I5H2I",
        b"PK\x01\x02",
        21,
        21,
        0,
        9,
        0,
        0,
        crc,
        len(packed),
        len(data),
        len(encoded),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    directory_offset = len(local) + len(encoded) + len(packed)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(encoded), directory_offset, 0)
    return local + encoded + packed + central + encoded + end


def iso_image(files: dict[str, bytes], *, joliet: bool = True) -> bytes:
    """An ISO 9660 image written by pycdlib (level 1 names: `SETUP.EXE;1`)."""
    import io

    import pycdlib

    image = pycdlib.PyCdlib()
    image.new(interchange_level=3, joliet=3 if joliet else None)
    for name, data in files.items():
        kwargs = {"joliet_path": "/" + name.lower()} if joliet else {}
        image.add_fp(io.BytesIO(data), len(data), "/" + name.upper() + ";1", **kwargs)
    out = io.BytesIO()
    image.write_fp(out)
    image.close()
    return out.getvalue()


def pdf_with_attachment(file_name: str, data: bytes, *, password: str | None = None) -> bytes:
    """A one-page PDF written by pypdf with `data` as an embedded file (a FlateDecode stream)."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_attachment(file_name, data)
    if password is not None:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_stream(body: bytes, filters: str) -> bytes:
    """A minimal PDF whose one stream object holds `body` under `filters` (e.g. `[/ASCIIHexDecode
    /FlateDecode]`); the cross-reference table is left out, as readers repair it."""
    stream = b"1 0 obj\n<< /Length %d /Filter %s >>\nstream\n" % (len(body), filters.encode()) + body
    return b"%PDF-1.4\n" + stream + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
