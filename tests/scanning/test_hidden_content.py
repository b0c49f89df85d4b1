"""Bytes an archive's own index does not list are still read: 7z entries py7zr skips, archives other tools
recognise without magic, zip content outside the central directory, data after a compressed stream.

The payload is EICAR inside a deflated zip or a gzip stream wherever the archive would otherwise show it as
plain bytes, so only opening the hidden part can find it."""

from __future__ import annotations

import io
import shutil
import stat
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import py7zr
import pytest

from bucketguard.scanning.result import Reason, ScanResult, Verdict
from tests.scanning.engine_support import (
    EICAR,
    bzip2_of,
    engine,
    gzip_of,
    jpeg,
    seven_zip_of,
    tar_of,
    v7_tar_of,
    xz_of,
    zip_of,
)

HIDDEN = zip_of({"eicar.com": EICAR})  # deflated: its raw bytes match no rule
CLEAN = zip_of({"readme.txt": b"welcome to camp\n"})


def _scan(tmp_path: Path, name: str, data: bytes) -> ScanResult:
    (tmp_path / name).write_bytes(data)
    return engine().scan_file(tmp_path / name, name=name)


# --- 7z entries py7zr does not hand over -------------------------------------------------------------


def _seven_zip_with_attributes(name: str, data: bytes, attributes: int) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(b"welcome to camp\n", "readme.txt")
        archive.writestr(data, name)
        archive.header.files_info.files[-1]["attributes"] = attributes  # written with the header on close
    return buffer.getvalue()


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param(stat.FILE_ATTRIBUTE_DIRECTORY, id="directory"),
        pytest.param(0x8000 | (stat.S_IFSOCK << 16), id="unix-socket"),
        pytest.param(stat.FILE_ATTRIBUTE_DIRECTORY | 0x8000 | (stat.S_IFDIR << 16), id="unix-directory"),
    ],
)
def test_7z_entry_flagged_as_a_directory_or_socket_is_scanned(tmp_path: Path, attributes: int) -> None:
    result = _scan(tmp_path, "a.7z", _seven_zip_with_attributes("docs", HIDDEN, attributes))
    assert result.verdict is Verdict.MALICIOUS, result
    assert result.findings[0].path == "a.7z!docs!eicar.com"


# --- archives recognised without their usual magic ---------------------------------------------------


def test_v7_tar_is_opened(tmp_path: Path) -> None:
    archive = v7_tar_of({"readme.txt": b"welcome\n", "eicar.com.gz": gzip_of(EICAR)})
    assert archive[257:262] != b"ustar"
    if shutil.which("tar"):  # GNU tar reads it as a tar
        listing = subprocess.run(["tar", "-t"], input=archive, capture_output=True, check=True).stdout
        assert listing.split() == [b"readme.txt", b"eicar.com.gz"]
    result = _scan(tmp_path, "old.tar", archive)
    assert result.verdict is Verdict.MALICIOUS, result
    assert result.findings[0].path == "old.tar!eicar.com.gz!eicar.com"


@pytest.mark.parametrize("marker", [b"PK\x07\x08", b"PK00"])
def test_zip_starting_with_a_spanning_marker_is_opened(tmp_path: Path, marker: bytes) -> None:
    archive = marker + zip_of({"notes.txt.gz": gzip_of(EICAR)})
    if shutil.which("unzip") and marker == b"PK\x07\x08":
        (tmp_path / "listed.zip").write_bytes(archive)
        listing = subprocess.run(["unzip", "-l", tmp_path / "listed.zip"], capture_output=True, check=False)
        assert b"notes.txt.gz" in listing.stdout
    assert _scan(tmp_path, "spanned.zip", archive).verdict is Verdict.MALICIOUS


# --- zip content the central directory does not list -------------------------------------------------


def _without_directory_entry(archive: bytes, name: bytes) -> bytes:
    """The zip with `name`'s central directory entry removed (its local header and data stay)."""
    end = archive.rindex(b"PK\x05\x06")
    size, offset = struct.unpack_from("<II", archive, end + 12)
    position, kept = offset, []
    while position < offset + size:
        name_length, extra_length, comment_length = struct.unpack_from("<3H", archive, position + 28)
        entry_end = position + 46 + name_length + extra_length + comment_length
        if archive[position + 46 : position + 46 + name_length] != name:
            kept.append(archive[position:entry_end])
        position = entry_end
    directory = b"".join(kept)
    record = bytearray(archive[end:])
    struct.pack_into("<HHI", record, 8, len(kept), len(kept), len(directory))
    return archive[:offset] + directory + bytes(record)


def test_zip_member_missing_from_the_central_directory_is_scanned(tmp_path: Path) -> None:
    archive = _without_directory_entry(zip_of({"readme.txt": b"welcome\n", "eicar.com": EICAR}), b"eicar.com")
    result = _scan(tmp_path, "a.zip", archive)
    assert result.verdict is Verdict.MALICIOUS, result
    assert result.findings[0].path == "a.zip!eicar.com"


def test_zip_member_missing_from_the_central_directory_that_cannot_be_decoded_is_unscannable(
    tmp_path: Path,
) -> None:
    archive = bytearray(
        _without_directory_entry(zip_of({"readme.txt": b"hi\n", "eicar.com": EICAR}), b"eicar.com")
    )
    local = archive.index(b"PK\x03\x04", 4)
    archive[local + 8 : local + 10] = struct.pack("<H", 6)  # Implode: not decodable here
    result = _scan(tmp_path, "a.zip", bytes(archive))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNSUPPORTED), result


def test_directory_entry_holding_data_is_scanned(tmp_path: Path) -> None:
    archive = zip_of({"readme.txt": b"welcome\n", "docsX": EICAR}).replace(b"docsX", b"docs/")
    result = _scan(tmp_path, "a.zip", archive)
    assert result.verdict is Verdict.MALICIOUS, result


def test_first_of_two_concatenated_zips_is_scanned(tmp_path: Path) -> None:
    result = _scan(tmp_path, "two.zip", zip_of({"eicar.com": EICAR}) + CLEAN)
    assert result.verdict is Verdict.MALICIOUS, result
    assert result.findings[0].path == "two.zip!eicar.com"


def test_zip_appended_to_an_image_is_opened(tmp_path: Path) -> None:
    result = _scan(tmp_path, "holiday.jpg", jpeg() + HIDDEN)
    assert result.verdict is Verdict.MALICIOUS, result
    assert result.findings[0].path.startswith("holiday.jpg!")


def test_image_with_a_clean_zip_appended_is_clean(tmp_path: Path) -> None:
    assert _scan(tmp_path, "holiday.jpg", jpeg() + CLEAN).verdict is Verdict.CLEAN


def test_data_between_zip_members_is_scanned(tmp_path: Path) -> None:
    first = zip_of({"readme.txt": b"welcome\n"})
    directory = first.index(b"PK\x01\x02")
    inserted = gzip_of(EICAR)
    archive = bytearray(first[:directory] + inserted + first[directory:])
    struct.pack_into("<I", archive, len(archive) - 6, directory + len(inserted))  # where the directory now is
    result = _scan(tmp_path, "a.zip", bytes(archive))
    assert result.verdict is Verdict.MALICIOUS, result


# --- data after the end of a stream or an archive ----------------------------------------------------

STREAMS: dict[str, Callable[[bytes], bytes]] = {
    "a.txt.gz": gzip_of,
    "a.txt.bz2": bzip2_of,
    "a.txt.xz": xz_of,
    "a.tar": lambda data: tar_of({"a.txt": data}),
}


@pytest.mark.parametrize("name", STREAMS)
def test_archive_glued_after_a_stream_is_scanned(tmp_path: Path, name: str) -> None:
    result = _scan(tmp_path, name, STREAMS[name](b"camp notes\n") + HIDDEN)
    assert result.verdict is Verdict.MALICIOUS, result


@pytest.mark.parametrize("name", ["a.txt.gz", "a.txt.bz2", "a.txt.xz"])
def test_every_stream_of_a_multi_stream_file_is_read(tmp_path: Path, name: str) -> None:
    compress = STREAMS[name]
    data = compress(b"camp notes\n") + bytes(4) + compress(HIDDEN)  # zero padding between streams
    result = _scan(tmp_path, name, data)
    assert result.verdict is Verdict.MALICIOUS, result
    assert result.findings[0].path == f"{name}!a.txt!eicar.com"


@pytest.mark.parametrize("name", STREAMS)
def test_zero_padding_after_a_stream_stays_clean(tmp_path: Path, name: str) -> None:
    assert _scan(tmp_path, name, STREAMS[name](b"camp notes\n") + bytes(1024)).verdict is Verdict.CLEAN


@pytest.mark.parametrize("name", ["a.txt.gz", "a.txt.bz2", "a.txt.xz"])
def test_truncated_second_stream_is_unscannable(tmp_path: Path, name: str) -> None:
    compress = STREAMS[name]
    data = compress(b"camp notes\n") + compress(b"x" * 5000)[:-8]
    result = _scan(tmp_path, name, data)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.CORRUPT), result


def test_archive_glued_after_a_7z_is_scanned(tmp_path: Path) -> None:
    archive = seven_zip_of({"readme.txt": b"welcome\n"}) + HIDDEN
    assert _scan(tmp_path, "a.7z", archive).verdict is Verdict.MALICIOUS


def test_members_of_a_zip_whose_central_directory_is_unreadable_are_scanned(tmp_path: Path) -> None:
    archive = zip_of({"readme.txt": b"welcome\n", "eicar.com": EICAR})
    cut = archive[: archive.index(b"PK\x01\x02")]  # streamed zips cut short look like this
    assert _scan(tmp_path, "cut.zip", cut).verdict is Verdict.MALICIOUS
    clean = _scan(tmp_path, "clean.zip", CLEAN[: CLEAN.index(b"PK\x01\x02")])
    assert (clean.verdict, clean.reason) == (Verdict.UNSCANNABLE, Reason.CORRUPT)


@pytest.mark.skipif(shutil.which("7zz") is None, reason="needs the 7-Zip program")
def test_a_7z_behind_a_photo_that_7zip_opens_is_not_clean(tmp_path: Path) -> None:
    """7-Zip opens a 7z glued behind a JPEG from the JPEG itself; the engine does not open it, so the
    image is flagged for what it hides (it was clean, an encrypted one too)."""
    (tmp_path / "eicar.com").write_bytes(EICAR)
    for name, password in (("plain.7z", []), ("locked.7z", ["-pcamp"])):
        subprocess.run(["7zz", "a", "-bd", *password, name, "eicar.com"], cwd=tmp_path, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        photo = tmp_path / f"{name}.jpg"
        photo.write_bytes(jpeg() + (tmp_path / name).read_bytes())
        listed = subprocess.run(["7zz", "l", "-p", str(photo)], capture_output=True, text=True, check=False)
        assert "eicar.com" in listed.stdout  # 7-Zip finds it in the photo
        result = engine().scan_file(photo, name="lake.jpg")
        assert {finding.rule for finding in result.findings} == {"Archive_Hidden_In_Image"}, result
