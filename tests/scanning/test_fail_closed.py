"""Nothing unread is reported clean: members that parsers skip quietly, headers that lie, window edges."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.engine import WINDOW_BYTES, WINDOW_OVERLAP, Engine
from bucketguard.scanning.result import Reason, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from tests.scanning.engine_support import BACKENDS, EICAR, engine, tar_of, zip_of


def _scan(tmp_path: Path, name: str, data: bytes, backend: str = "yara-x") -> tuple[Verdict, Reason | None]:
    (tmp_path / name).write_bytes(data)
    result = engine(backend).scan_file(tmp_path / name, name=name)
    return result.verdict, result.reason


def _tar_member_of_type(type_flag: bytes, name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.type = type_flag
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("type_flag", [b"Z", b"V", b"M"])
def test_tar_member_of_a_type_unknown_to_tarfile_is_scanned(tmp_path: Path, type_flag: bytes) -> None:
    # tarfile skips over the data of member types it does not know; other tar readers extract them.
    inner = zip_of({"eicar.com": EICAR})  # deflated: the tar's raw bytes do not match any rule
    archive = _tar_member_of_type(type_flag, "notes.zip", inner)
    assert _scan(tmp_path, "odd.tar", archive)[0] is Verdict.MALICIOUS


def test_tar_links_and_directories_carry_no_bytes_and_stay_clean(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, kind in (("docs", tarfile.DIRTYPE), ("link", tarfile.SYMTYPE), ("hard", tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "docs/readme.txt"
            archive.addfile(info)
        info = tarfile.TarInfo("docs/readme.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"camp\n"))
    assert _scan(tmp_path, "links.tar", buffer.getvalue()) == (Verdict.CLEAN, None)


def _zip_declaring(data: bytes, declared: bytes, *, crc_of: bytes) -> bytes:
    """A one-member zip holding `data` (deflated) whose headers declare len(declared) bytes and a CRC."""
    archive = bytearray(zip_of({"notes.txt": data}))
    size, crc = struct.pack("<I", len(declared)), struct.pack("<I", zlib.crc32(crc_of))
    archive[14:18], archive[22:26] = crc, size  # local file header
    central = archive.rindex(b"PK\x01\x02")
    archive[central + 16 : central + 20], archive[central + 24 : central + 28] = crc, size
    return bytes(archive)


def test_zip_member_declaring_fewer_bytes_than_it_holds_is_not_clean(tmp_path: Path) -> None:
    # Declared size and CRC of a harmless prefix: zipfile returns the prefix alone and checks out.
    prefix = b"camp notes\n"
    archive = _zip_declaring(prefix + zip_of({"eicar.com": EICAR}), prefix, crc_of=prefix)
    assert _scan(tmp_path, "notes.zip", archive) == (Verdict.UNSCANNABLE, Reason.CORRUPT)


def test_zip_member_whose_size_lies_but_crc_covers_all_is_read_in_full(tmp_path: Path) -> None:
    data = zip_of({"eicar.com": EICAR})
    archive = _zip_declaring(data, data[:30], crc_of=data)
    assert _scan(tmp_path, "notes.zip", archive)[0] is Verdict.MALICIOUS


def test_zip_member_declaring_more_bytes_than_it_holds_is_not_clean(tmp_path: Path) -> None:
    data = b"camp notes\n" * 10
    archive = _zip_declaring(data, data + b"!", crc_of=data)
    assert _scan(tmp_path, "notes.zip", archive) == (Verdict.UNSCANNABLE, Reason.CORRUPT)


def _file_with(path: Path, size: int, inserts: dict[int, bytes]) -> Path:
    """A sparse file of `size` bytes (zeros) with `inserts` written at their offsets."""
    with path.open("wb") as stream:
        stream.truncate(size)
        for offset, data in inserts.items():
            stream.seek(offset)
            stream.write(data)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_later_window_starting_like_an_executable_is_not_an_executable(
    tmp_path: Path, backend: str
) -> None:
    # The second window starts inside the file; rules anchored at offset 0 must not see its bytes there.
    second = WINDOW_BYTES - WINDOW_OVERLAP
    path = _file_with(tmp_path / "poster.jpg", WINDOW_BYTES + (8 << 20), {second: pranks.pe_header()})
    result = engine(backend).scan_file(path, name="poster.jpg")
    assert result.verdict is Verdict.CLEAN, result


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_short_last_window_does_not_make_a_large_file_small(tmp_path: Path, backend: str) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "small.yar").write_text(
        'rule Small_File_With_Marker { strings: $m = "camp-marker" condition: $m and filesize < 8MB }\n'
    )
    matcher_engine = Engine(load_ruleset([tmp_path / "rules"]), engine=backend)
    path = _file_with(tmp_path / "big.bin", WINDOW_BYTES + (100 << 10), {WINDOW_BYTES + 10: b"camp-marker"})
    assert matcher_engine.scan_file(path, name="big.bin").verdict is Verdict.CLEAN
    small = _file_with(tmp_path / "small.bin", 1 << 20, {10: b"camp-marker"})
    assert matcher_engine.scan_file(small, name="small.bin").verdict is Verdict.MALICIOUS


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_executable_at_the_start_of_a_large_file_is_still_found(tmp_path: Path, backend: str) -> None:
    path = _file_with(tmp_path / "poster.jpg", WINDOW_BYTES + (8 << 20), {0: pranks.pe_header()})
    assert engine(backend).scan_file(path, name="poster.jpg").verdict is Verdict.MALICIOUS


@pytest.mark.parametrize("backend", BACKENDS)
def test_member_name_that_is_not_utf8_is_scanned(tmp_path: Path, backend: str) -> None:
    # tarfile decodes such names with surrogate escapes, which yara-x would refuse as a rule variable.
    archive = bytearray(tar_of({"notes-xx.com": EICAR}))
    archive[6:8] = b"\xaf\xff"  # inside the name field; the header checksum is fixed below
    archive[148:156] = b" " * 8
    archive[148:155] = b"%06o\x00" % sum(archive[:512])
    (tmp_path / "names.tar").write_bytes(bytes(archive))
    assert engine(backend).scan_file(tmp_path / "names.tar", name="names.tar").verdict is Verdict.MALICIOUS
