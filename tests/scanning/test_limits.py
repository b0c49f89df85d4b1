"""Every limit: a default, a flag (tested in the CLI tests), and `unscannable` with its reason when hit."""

from __future__ import annotations

import io
import lzma
import re
import shutil
import struct
import subprocess
import tarfile
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import cabarchive
import olefile
import py7zr
import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.containers import Blob, Kind, open_container
from bucketguard.scanning.formats import zips
from bucketguard.scanning.limits import Budget, Limits, ScanProblem
from bucketguard.scanning.result import Reason, ScanResult, Verdict
from tests.scanning.engine_support import (
    EICAR,
    Recorder,
    engine,
    gzip_of,
    nested_zip,
    seven_zip_of,
    tar_of,
    zip_of,
)


def scan(tmp_path: Path, data: bytes, limits: Limits, name: str = "x.zip") -> ScanResult:
    (tmp_path / "f").write_bytes(data)
    return engine(limits=limits).scan_file(tmp_path / "f", name=name)


def traced_scan(tmp_path: Path, data: bytes, limits: Limits, name: str = "x.zip") -> tuple[ScanResult, int]:
    """A scan and the peak of the memory Python allocated during it (tracemalloc's, not the process's)."""
    tracemalloc.start()
    try:
        return scan(tmp_path, data, limits, name), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_defaults() -> None:
    limits = Limits()
    assert (limits.max_depth, limits.max_members, limits.max_file_bytes) == (17, 10_000, None)
    assert limits.max_extracted_bytes == 1 << 30
    assert limits.max_ratio == 100


def test_depth_within_the_limit_is_opened(tmp_path: Path) -> None:
    result = scan(tmp_path, nested_zip(17), Limits())
    assert result.verdict is Verdict.MALICIOUS
    assert result.findings[0].path.count("!") == 17


def test_depth_beyond_the_limit_is_unscannable(tmp_path: Path) -> None:
    result = scan(tmp_path, nested_zip(18, b"harmless"), Limits())
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.DEPTH_EXCEEDED)
    small = scan(tmp_path, nested_zip(2, b"harmless"), Limits(max_depth=1))
    assert small.reason is Reason.DEPTH_EXCEEDED
    assert scan(tmp_path, nested_zip(2, b"harmless"), Limits(max_depth=2)).verdict is Verdict.CLEAN


def test_a_users_nested_archives_are_opened_at_the_default_depth(tmp_path: Path) -> None:
    """A backup zip holding a project's .tar.gz holding a zip of mail with a .tar.gz attachment: each
    compression and each archive is a level (6 here), more than the earlier default of 5 allowed."""
    attachment = gzip_of(tar_of({"invoice.com": EICAR}))
    mail = zip_of({"mail/attachment.tar.gz": attachment})
    backup = zip_of({"project.tar.gz": gzip_of(tar_of({"mail.zip": mail}))})
    result = scan(tmp_path, backup, Limits())
    assert result.verdict is Verdict.MALICIOUS, result
    assert result.findings[0].path.count("!") == 6


def test_a_deep_fan_out_stays_within_the_member_budget(tmp_path: Path) -> None:
    """Depth multiplies a fan-out (ten copies of the level below, four levels: 11,110 members); the member
    budget spans every level, so the deeper default lets no more be expanded."""
    level = b"harmless"
    for _ in range(4):
        level = zip_of({f"copy{n}.zip": level for n in range(10)}, compression=zipfile.ZIP_STORED)
    result = scan(tmp_path, level, Limits())
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result


def test_max_depth_zero_opens_nothing(tmp_path: Path) -> None:
    result = scan(tmp_path, zip_of({"a.txt": b"a"}), Limits(max_depth=0))
    assert result.reason is Reason.DEPTH_EXCEEDED


@pytest.mark.parametrize("build", [zip_of, tar_of, seven_zip_of], ids=["zip", "tar", "7z"])
def test_too_many_members(tmp_path: Path, build: object) -> None:
    members = {f"f{i}.txt": b"x" for i in range(6)}
    assert callable(build)
    result = scan(tmp_path, build(members), Limits(max_members=5))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS)
    assert scan(tmp_path, build(members), Limits(max_members=6)).verdict is Verdict.CLEAN


def test_members_are_counted_across_nesting_levels(tmp_path: Path) -> None:
    inner = zip_of({f"f{i}.txt": b"x" for i in range(3)})
    outer = zip_of({"a.zip": inner, "b.zip": inner})  # 2 + 6 = 8 members
    assert scan(tmp_path, outer, Limits(max_members=7)).reason is Reason.TOO_MANY_MEMBERS
    assert scan(tmp_path, outer, Limits(max_members=8)).verdict is Verdict.CLEAN


def dirs_then_eicar(kind: str, directories: int, mode: str = "w") -> bytes:
    """`directories` directory entries, then EICAR: a real tar, zip or 7z."""
    buffer = io.BytesIO()
    if kind == "7z":
        with py7zr.SevenZipFile(buffer, "w") as seven:
            for i in range(directories):
                seven.write(Path(__file__).parent, f"d{i}")  # the directory's entry alone
            seven.writestr(EICAR, "eicar.com")
        return buffer.getvalue()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as archive:
            for i in range(directories):
                archive.mkdir(f"d{i}")
            archive.writestr("eicar.com", EICAR)
        return buffer.getvalue()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for i in range(directories):
            info = tarfile.TarInfo(f"d{i}")
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        eicar = tarfile.TarInfo("eicar.com")
        eicar.size = len(EICAR)
        archive.addfile(eicar, io.BytesIO(EICAR))
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar", "7z"])
def test_directory_entries_count_toward_the_member_cap(tmp_path: Path, kind: str) -> None:
    # Directories were not counted: a tar of 200,000 (97 MiB) was called clean after 115 MiB of entries.
    archive = dirs_then_eicar(kind, 5)
    result = scan(tmp_path, archive, Limits(max_members=5), name=f"x.{kind}")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result
    just_under = scan(tmp_path, archive, Limits(max_members=6), name=f"x.{kind}")
    assert just_under.verdict is Verdict.MALICIOUS, just_under
    assert just_under.findings[0].path == f"x.{kind}!eicar.com"


def test_a_tar_of_many_directories_is_refused_at_the_default_cap(tmp_path: Path) -> None:
    archive = dirs_then_eicar("tar", 12_000)  # 6 MiB
    result = scan(tmp_path, archive, Limits(), name="dirs.tar")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result


def test_a_zips_entries_are_counted_before_zipfile_reads_them(tmp_path: Path) -> None:
    """zipfile makes an object of every central directory entry its recorded size holds, whatever the end
    record declares: the cap is checked by walking the directory first, in little memory."""
    archive = dirs_then_eicar("zip", 50_000)
    end = archive.rindex(b"PK\x05\x06")
    declares_one = archive[: end + 8] + (1).to_bytes(2, "little") * 2 + archive[end + 12 :]
    assert len(zipfile.ZipFile(io.BytesIO(declares_one)).infolist()) == 50_001  # zipfile reads them all
    result, peak = traced_scan(tmp_path, declares_one, Limits(max_members=1_000))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result
    assert peak < 16 << 20  # the 4.5 MB archive read twice at most; zipfile's 50,000 objects take 24 MiB more


def cabinet_of(members: list[bytes], *, one_name: bool = False) -> bytes:
    """A real cabinet of `members` (named m00000...), all named `aaaaaa` with `one_name` (cabarchive files
    them by name: written under distinct names of that length, renamed in the bytes)."""
    cabinet = cabarchive.CabArchive()
    for i, data in enumerate(members):
        cabinet[f"m{i:05}"] = cabarchive.CabFile(data)
    saved = cabinet.save()
    return re.sub(rb"m\d{5}\0", b"aaaaaa\0", saved) if one_name else saved


def test_a_cabinets_members_are_counted_as_they_are_parsed(tmp_path: Path) -> None:
    many = cabinet_of([b"x"] * 20_000)
    result, peak = traced_scan(tmp_path, many, Limits(max_members=100), name="x.cab")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result
    assert peak < 3 << 20  # cabarchive's 20,000 members, parsed before they were counted, took 6 MiB
    one_name = cabinet_of([b"x"] * 99 + [EICAR], one_name=True)  # each renamed in one step, not 99
    found = scan(tmp_path, one_name, Limits(max_members=100), name="x.cab")
    assert [finding.path for finding in found.findings] == ["x.cab!aaaaaa#100"], found


def test_total_extracted_bytes(tmp_path: Path) -> None:
    members = {f"f{i}.bin": bytes([i]) * 400_000 for i in range(3)}  # 1.2 MB expanded
    result = scan(tmp_path, zip_of(members), Limits(max_extracted_bytes=1_000_000))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.EXTRACTED_TOO_LARGE)
    assert scan(tmp_path, zip_of(members), Limits(max_extracted_bytes=1_300_000)).verdict is Verdict.CLEAN


def test_zip_bomb_declared_in_header(tmp_path: Path) -> None:
    result = scan(tmp_path, pranks.zip_bomb(8 << 20), Limits())
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.RATIO_EXCEEDED)
    relaxed = scan(tmp_path, pranks.zip_bomb(8 << 20), Limits(max_ratio=10_000))
    assert relaxed.verdict is Verdict.CLEAN


def test_zip_bomb_that_lies_about_its_size_is_stopped_while_inflating(tmp_path: Path) -> None:
    bomb = bytearray(pranks.zip_bomb(8 << 20))
    declared = (8 << 20).to_bytes(4, "little")
    small = (1000).to_bytes(4, "little")
    bomb[:] = bomb.replace(declared, small)  # local and central headers now claim 1000 bytes
    result = scan(tmp_path, bytes(bomb), Limits())
    assert result.verdict is Verdict.UNSCANNABLE
    assert result.reason in (Reason.RATIO_EXCEEDED, Reason.CORRUPT)


def test_gzip_bomb(tmp_path: Path) -> None:
    result = scan(tmp_path, gzip_of(bytes(16 << 20)), Limits(), name="zeros.gz")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.RATIO_EXCEEDED)


def test_small_very_compressible_members_are_not_bombs(tmp_path: Path) -> None:
    # 500 KB of zeros compresses ~1000x but stays under the ratio floor (1 MiB): ordinary.
    assert scan(tmp_path, zip_of({"zeros.bin": bytes(500_000)}), Limits()).verdict is Verdict.CLEAN


def test_tar_expanding_past_the_extraction_budget(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo("zeros.bin")
        data = bytes(8 << 20)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    # A plain tar of zeros has ratio ~1: not a bomb, but larger than the extraction budget.
    assert scan(tmp_path, buffer.getvalue(), Limits(max_extracted_bytes=4 << 20)).reason is (
        Reason.EXTRACTED_TOO_LARGE
    )


def test_max_file_bytes_for_the_object(tmp_path: Path) -> None:
    result = scan(tmp_path, b"x" * 2000, Limits(max_file_bytes=1000), name="big.txt")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_LARGE)
    assert result.sha256 is None  # not read, so no digest
    assert result.size == 2000


@pytest.mark.parametrize(
    ("build", "too_large"),
    [(zip_of, "x.zip!big.bin"), (lambda m: gzip_of(tar_of(m)), "x.tar.gz!x.tar")],
    ids=["zip member", "gzip stream"],
)
def test_max_file_bytes_for_a_member(tmp_path: Path, build: object, too_large: str) -> None:
    assert callable(build)
    archive = build({"big.bin": b"x" * 5000, "small.txt": b"ok"})
    result = scan(tmp_path, archive, Limits(max_file_bytes=len(archive) + 10), name=too_large.split("!")[0])
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_LARGE)
    assert too_large in result.detail


def test_limit_on_one_member_does_not_hide_malware_in_another(tmp_path: Path) -> None:
    archive = zip_of({"big.bin": b"x" * 5000, "eicar.com": EICAR})
    result = scan(tmp_path, archive, Limits(max_file_bytes=len(archive) + 10))
    assert result.verdict is Verdict.MALICIOUS


@pytest.mark.parametrize(
    "bad",
    [
        {"max_depth": -1},
        {"max_members": -1},
        {"max_extracted_bytes": -1},
        {"max_ratio": 1.0},
        {"max_file_bytes": -5},
    ],
)
def test_invalid_limits_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Limits(**bad)  # type: ignore[arg-type]


def zip_tool(tmp_path: Path, members: dict[str, bytes]) -> bytes:
    """A zip the zip program writes (stored)."""
    for name, data in members.items():
        (tmp_path / name).write_bytes(data)
    subprocess.run(["zip", "-q", "-0", "tool.zip", *members], cwd=tmp_path, check=True)
    return (tmp_path / "tool.zip").read_bytes()


def commented_zip(members: dict[str, bytes], comment: bytes) -> bytes:
    """A zip whose every entry carries `comment` in the central directory (the zip program cuts comments
    to 256 bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.comment = comment
            archive.writestr(info, data)
    return buffer.getvalue()


def opened_measured(
    kind: Kind,
    data: bytes,
    limits: Limits | None = None,
    *,
    on_disk: Path | None = None,
) -> tuple[Recorder, ScanProblem | None, int]:
    """What opening `data` (in memory, or in the file `on_disk`) as a `kind` container hands its visitor or
    raises, and the peak of Python's allocations."""
    recorder, raised = Recorder(), None
    if on_disk is not None:
        on_disk.write_bytes(data)
    tracemalloc.start()
    try:
        blob = Blob(len(data), None, data=None if on_disk else data, path=on_disk)
        open_container(
            kind, blob, name=f"x.{kind.value}", budget=Budget(limits or Limits()), visitor=recorder
        )
    except ScanProblem as exc:
        raised = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return recorder, raised, peak


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs the zip program")
def test_a_zip_directory_of_bytes_that_are_no_entries_is_not_read_into_memory(tmp_path: Path) -> None:
    """zipfile reads the directory's recorded size whole before parsing it: an archive whose end record
    declares 24 MiB of filler as its directory (a large object can declare gigabytes) is corrupt before
    that read, and the members behind its local headers are scanned all the same."""
    archive = zip_tool(tmp_path, {"eicar.com": EICAR, "notes.txt": b"harmless"})
    directory = archive.index(b"PK\x01\x02")
    end = archive.rindex(b"PK\x05\x06")
    filler = bytes(24 << 20)
    size, offset = struct.unpack("<2I", archive[end + 12 : end + 20])
    record = archive[end : end + 12] + struct.pack("<2I", size + len(filler), offset) + archive[end + 20 :]
    padded = archive[:directory] + filler + archive[directory:end] + record
    opened, _, peak = opened_measured(Kind.ZIP, padded, on_disk=tmp_path / "f")
    assert opened.members[:2] == ["x.zip!eicar.com", "x.zip!notes.txt"], opened.members  # then the rest
    assert opened.problems == [Reason.CORRUPT]
    assert peak < 8 << 20  # zipfile's read of the declared directory took 24 MiB
    harmless = padded.replace(EICAR, b"X" * len(EICAR))
    result = scan(tmp_path, harmless, Limits())
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.CORRUPT), result
    assert "central directory are no entries" in result.detail


def test_a_zip_directory_too_large_to_parse_in_memory_is_unscannable(tmp_path: Path) -> None:
    """Entries whose comments fill a directory of 68 MB (zipfile held it twice: the read and the entries'
    comments) are not parsed; the members are still read from their local headers."""
    members = {f"m{n:04}.txt": b"harmless" for n in range(1_040)}
    archive = commented_zip(members, b"c" * 65_000)
    assert len(archive) - archive.index(b"PK\x01\x02") > zips.DIRECTORY_MAX
    opened, _, peak = opened_measured(Kind.ZIP, archive, on_disk=tmp_path / "f")
    assert opened.problems == [Reason.TOO_LARGE]
    assert opened.members[:-1] == [f"x.zip!{name}" for name in members]  # then the directory's bytes
    assert peak < 16 << 20  # zipfile took 136 MB: the directory read, then its entries' comments
    result = scan(tmp_path, archive, Limits())
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_LARGE), result
    with_eicar = commented_zip({**members, "eicar.com": EICAR}, b"c" * 65_000)
    result = scan(tmp_path, with_eicar, Limits())
    assert [finding.path for finding in result.findings] == ["x.zip!eicar.com"], result


@pytest.mark.skipif(shutil.which("7zz") is None, reason="needs the 7-Zip program")
def test_a_7z_header_declaring_more_entries_than_the_cap_is_refused_before_py7zr_builds_them(
    tmp_path: Path,
) -> None:
    """py7zr makes an object of every file its header declares (up to 8 million) before one is counted:
    an 8 KB 7z of 30,000 empty files took 15 MB and 1.6 s of CPU to be refused at a cap of 1,000."""
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(30_000):
        (folder / f"f{number:05}").touch()
    subprocess.run(["7zz", "a", "-bd", "-mhc=on", "../many.7z", "."], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    archive = (tmp_path / "many.7z").read_bytes()
    _, raised, peak = opened_measured(Kind.SEVEN_ZIP, archive, Limits(max_members=1_000))
    assert raised is not None and raised.reason is Reason.TOO_MANY_MEMBERS, raised
    assert peak < 5 << 20
    _, raised, _ = opened_measured(Kind.SEVEN_ZIP, archive, Limits(max_members=30_000))
    assert raised is None  # at the cap, py7zr reads it as before


def seven_zip_with_encoded_header(header: bytes) -> bytes:
    """A 7z whose header is LZMA-compressed (as 7-Zip writes it with -mhc=on) and decodes to `header`."""
    dictionary = 1 << 20
    packed = lzma.compress(header, format=lzma.FORMAT_RAW,
                           filters=[{"id": lzma.FILTER_LZMA1, "dict_size": dictionary}])  # fmt: skip
    properties = bytes([0x5D]) + dictionary.to_bytes(4, "little")  # lc 3, lp 0, pb 2

    def number(value: int) -> bytes:
        out = io.BytesIO()
        py7zr.archiveinfo.write_uint64(out, value)
        return out.getvalue()

    pack_info = b"\x06" + number(0) + number(1) + b"\x09" + number(len(packed)) + b"\x00"
    coder = number(1) + b"\x23\x03\x01\x01" + number(len(properties)) + properties  # LZMA, with properties
    unpack_info = b"\x07\x0b" + number(1) + b"\x00" + coder + b"\x0c" + number(len(header)) + b"\x00"
    next_header = b"\x17" + pack_info + unpack_info + b"\x00"
    start = struct.pack("<QQI", len(packed), len(next_header), zlib.crc32(next_header))
    return (
        py7zr.py7zr.MAGIC_7Z
        + b"\x00\x04"
        + struct.pack("<I", zlib.crc32(start))
        + start
        + packed
        + next_header
    )


def test_a_7z_header_decoding_past_what_is_parsed_in_memory_is_not_decoded() -> None:
    """py7zr decodes a compressed header of up to 256 MiB whole before parsing it: one of 80 MiB in a
    12 KB file took 170 MB and was then an empty archive, clean."""
    archive = seven_zip_with_encoded_header(b"\x01" + bytes(80 << 20) + b"\x00")
    assert len(archive) < 64 << 10
    _, raised, peak = opened_measured(Kind.SEVEN_ZIP, archive, Limits())
    assert raised is not None and raised.reason is Reason.TOO_LARGE, raised
    assert peak < 8 << 20
    small = seven_zip_with_encoded_header(b"\x01\x00")  # the same header, small: an empty archive
    assert opened_measured(Kind.SEVEN_ZIP, small, Limits())[1] is None


def many_files_image(tmp_path: Path, *options: str, count: int = 20_000) -> bytes:
    folder = tmp_path / "image" / "d"
    folder.mkdir(parents=True)
    for number in range(count):
        (folder / f"f{number:05}.txt").touch()
    subprocess.run(["genisoimage", "-quiet", *options, "-o", "many.iso", "image"], cwd=tmp_path, check=True)
    return (tmp_path / "many.iso").read_bytes()


@pytest.mark.skipif(shutil.which("genisoimage") is None, reason="needs genisoimage")
def test_a_disk_images_entries_are_counted_before_pycdlib_parses_them(tmp_path: Path) -> None:
    """pycdlib inserts every directory record into its parent's sorted list before one member is counted:
    30,000 empty files (a 6 MB image) took 94 MB and 16 s of CPU to be refused at a cap of 1,000."""
    image = many_files_image(tmp_path, "-J", "-R")
    _, refused, peak = opened_measured(Kind.DISK_IMAGE, image, Limits(max_members=1_000))
    assert refused is not None and refused.reason is Reason.TOO_MANY_MEMBERS, refused
    assert peak < 8 << 20  # 62 MB for these 20,000
    read = opened_measured(Kind.DISK_IMAGE, image, Limits(max_members=20_001))
    assert len(read[0].members) == 20_000  # the files and their directory, counted once whatever the trees


@pytest.mark.skipif(shutil.which("genisoimage") is None, reason="needs genisoimage")
def test_a_disk_images_udf_entries_are_counted_before_pycdlib_parses_them(tmp_path: Path) -> None:
    """The UDF tree's entries count too: an image whose ISO 9660 tree holds one file and whose UDF tree
    holds 20,000."""
    image = bytearray(many_files_image(tmp_path, "-udf"))
    root = image[16 * 2048 + 156 : 16 * 2048 + 190]
    directory = int.from_bytes(root[2:6], "little") * 2048
    entry = image.index(b"\x01D", directory) - 32  # the record of the ISO 9660 tree's directory "D"
    image[entry + 25] &= ~2  # now a file there: the ISO 9660 tree holds nothing more
    _, refused, _ = opened_measured(Kind.DISK_IMAGE, bytes(image), Limits(max_members=1_000))
    assert refused is not None and refused.reason is Reason.TOO_MANY_MEMBERS, refused


def test_a_7z_header_recorded_past_what_is_parsed_in_memory_is_not_read() -> None:
    """py7zr reads the header whole, at the size the start header records: a large object recording one of
    65 MiB (py7zr then found its checksum wrong) took that much before anything was refused."""
    archive = bytearray(seven_zip_of({"a.txt": b"camp"}) + bytes(65 << 20))
    start = struct.pack("<QQI", 0, 65 << 20, 0)
    archive[12:32] = start
    archive[8:12] = struct.pack("<I", zlib.crc32(start))
    _, raised, peak = opened_measured(Kind.SEVEN_ZIP, bytes(archive), Limits())
    assert raised is not None and raised.reason is Reason.TOO_LARGE, raised
    assert peak < 8 << 20


def compound_file_of_empty_streams(count: int) -> bytes:
    """A compound file ([MS-CFB] version 3) of `count` empty streams under its root, their tree balanced as
    a writer balances it (olefile walks it recursively), its FAT in as many sectors as that takes."""
    free, end, fat_sect, no_stream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    directory_sectors = -(-(count + 1) // 4)
    fat_sectors = -(-directory_sectors // 127)
    assert fat_sectors <= 109, "the header's DIFAT only"
    fat = [fat_sect] * fat_sectors + [*range(fat_sectors + 1, fat_sectors + directory_sectors), end]
    fat += [free] * (fat_sectors * 128 - len(fat))
    left, right = [no_stream] * (count + 1), [no_stream] * (count + 1)

    def balanced(low: int, high: int) -> int:  # entries low..high, in name order
        if low > high:
            return no_stream
        middle = (low + high) // 2
        left[middle], right[middle] = balanced(low, middle - 1), balanced(middle + 1, high)
        return middle

    top = balanced(1, count)

    def entry(name: str, kind: int, child: int, index: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return struct.pack(
            "<64sHBBIII16sI16sIQ", encoded, len(encoded), kind, 1, left[index], right[index], child,
            bytes(16), 0, bytes(16), end, 0,
        )  # fmt: skip

    directory = entry("Root Entry", 5, top, 0) + b"".join(
        entry(f"s{index:06}", 2, no_stream, index) for index in range(1, count + 1)
    )
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", bytes(16), 0x3E, 3, 0xFFFE, 9, 6,
        bytes(6), 0, fat_sectors, fat_sectors, 0, 4096, end, 0, end, 0,
    )  # fmt: skip
    header += struct.pack("<109I", *range(fat_sectors), *[free] * (109 - fat_sectors))
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory.ljust(directory_sectors * 512, b"\0")


def test_a_compound_files_directory_is_counted_before_olefile_builds_it(tmp_path: Path) -> None:
    """olefile makes an object of every directory entry its tree reaches before one stream is counted."""
    many = compound_file_of_empty_streams(50_000)
    assert len(olefile.OleFileIO(many).listdir()) == 50_000  # a compound file olefile reads whole
    result, peak = traced_scan(tmp_path, many, Limits(max_members=1_000), name="x.doc")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result
    assert peak < 16 << 20, peak
    under = scan(tmp_path, compound_file_of_empty_streams(999), Limits(max_members=1_000))
    assert under.verdict is Verdict.CLEAN, under


def test_an_rtfs_objects_are_counted_before_rtfobj_parses_them(tmp_path: Path) -> None:
    """rtfobj decodes and parses every embedded object before one is counted."""
    many = b"{\\rtf1 " + b"{\\object{\\*\\objdata 01}}" * 50_000 + b"}"
    result, peak = traced_scan(tmp_path, many, Limits(max_members=1_000), name="x.rtf")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result
    assert peak < 8 << 20, peak  # rtfobj's 50,000 objects took 24 MiB
    under = b"{\\rtf1 " + b"{\\object{\\*\\objdata 01}}" * 999 + b"}"
    assert scan(tmp_path, under, Limits(max_members=1_000), name="x.rtf").verdict is Verdict.CLEAN


def test_an_mboxs_messages_are_counted_before_they_are_split(tmp_path: Path) -> None:
    """Each message of an mbox was sliced into a copy of its own before one was counted."""
    message = b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\nSubject: x\n\nhi\n"
    result, peak = traced_scan(tmp_path, message * 200_000, Limits(max_members=1_000), name="x.mbox")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result
    assert peak < 30 << 20, peak  # the 11.8 MB mbox read twice; its 200,000 slices took 17 MiB more
    under = scan(tmp_path, message * 999, Limits(max_members=1_000), name="x.mbox")
    assert under.verdict is Verdict.CLEAN, under
