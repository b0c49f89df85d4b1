"""Every container type opened, every member scanned, corrupt and encrypted containers never clean."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.containers import FORMATS, Format, Kind, decompressed_name, detect
from bucketguard.scanning.result import Reason, Verdict
from tests.scanning.engine_support import (
    EICAR,
    bzip2_of,
    engine,
    gzip_of,
    seven_zip_of,
    tar_of,
    xz_of,
    zip_of,
)

CLEAN_MEMBERS = {"docs/readme.txt": b"welcome to camp\n", "img/logo.png": pranks.clean_png()}
BAD_MEMBERS = {"docs/readme.txt": b"welcome to camp\n", "docs/eicar.com": EICAR}

CONTAINERS: dict[str, tuple[Callable[[dict[str, bytes]], bytes], str]] = {
    # name -> (builder, inner path prefix of docs/eicar.com)
    "a.zip": (zip_of, "a.zip!"),
    "a.tar": (tar_of, "a.tar!"),
    "a.tar.gz": (lambda m: gzip_of(tar_of(m)), "a.tar.gz!a.tar!"),
    "a.tgz": (lambda m: tar_of(m, "w:gz"), "a.tgz!a.tar!"),
    "a.tar.bz2": (lambda m: bzip2_of(tar_of(m)), "a.tar.bz2!a.tar!"),
    "a.tar.xz": (lambda m: xz_of(tar_of(m)), "a.tar.xz!a.tar!"),
    "a.7z": (seven_zip_of, "a.7z!"),
}


@pytest.mark.parametrize("entry", FORMATS, ids=lambda entry: entry.kind.value)
def test_every_format_names_functions_its_module_has(entry: Format) -> None:
    # Resolved the first time a file might be of the format: a wrong name would fail there, not at import.
    assert callable(entry.opener)
    assert entry.recognise(b"\0" * 512) in (True, False)


@pytest.mark.parametrize("name", CONTAINERS)
def test_member_of_every_container_type_is_found(tmp_path: Path, name: str) -> None:
    build, prefix = CONTAINERS[name]
    (tmp_path / name).write_bytes(build(BAD_MEMBERS))
    result = engine().scan_file(tmp_path / name, name=name)
    assert result.verdict is Verdict.MALICIOUS, result
    assert [f.path for f in result.findings] == [f"{prefix}docs/eicar.com"]


@pytest.mark.parametrize("name", CONTAINERS)
def test_clean_container_of_every_type_is_clean(tmp_path: Path, name: str) -> None:
    build, _ = CONTAINERS[name]
    (tmp_path / name).write_bytes(build(CLEAN_MEMBERS))
    assert engine().scan_file(tmp_path / name, name=name).verdict is Verdict.CLEAN


@pytest.mark.parametrize(
    ("name", "compress"), [("eicar.com.gz", gzip_of), ("eicar.com.bz2", bzip2_of), ("eicar.com.xz", xz_of)]
)
def test_single_compressed_file(tmp_path: Path, name: str, compress: Callable[[bytes], bytes]) -> None:
    (tmp_path / name).write_bytes(compress(EICAR))
    result = engine().scan_file(tmp_path / name, name=name)
    assert result.verdict is Verdict.MALICIOUS
    assert result.findings[0].path == f"{name}!eicar.com"


def test_containers_nest_across_types(tmp_path: Path) -> None:
    inner_7z = seven_zip_of({"payload/eicar.com": EICAR})
    tarball = gzip_of(tar_of({"inner.7z": inner_7z}))
    outer = zip_of({"backup/site.tar.gz": tarball})
    (tmp_path / "o.zip").write_bytes(outer)
    result = engine().scan_file(tmp_path / "o.zip", name="o.zip")
    assert result.verdict is Verdict.MALICIOUS
    assert result.findings[0].path == "o.zip!backup/site.tar.gz!site.tar!inner.7z!payload/eicar.com"


def test_container_type_comes_from_content_not_name(tmp_path: Path) -> None:
    (tmp_path / "holiday.jpg").write_bytes(zip_of({"eicar.com": EICAR}))
    result = engine().scan_file(tmp_path / "holiday.jpg", name="holiday.jpg")
    assert result.verdict is Verdict.MALICIOUS


def test_encrypted_7z_is_unscannable(tmp_path: Path) -> None:
    (tmp_path / "s.7z").write_bytes(seven_zip_of({"eicar.com": EICAR}, password="camp"))
    result = engine().scan_file(tmp_path / "s.7z", name="s.7z")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.ENCRYPTED)


def test_7z_with_encrypted_file_list_is_unscannable(tmp_path: Path) -> None:
    (tmp_path / "s.7z").write_bytes(seven_zip_of({"eicar.com": EICAR}, password="camp", encrypt_header=True))
    result = engine().scan_file(tmp_path / "s.7z", name="s.7z")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.ENCRYPTED)


@pytest.mark.skipif(shutil.which("7zz") is None, reason="needs the 7-Zip program")
def test_7z_holding_an_empty_file_is_read_whole(tmp_path: Path) -> None:
    """py7zr hands empty files to the writers too: they were counted as entries holding data, and every
    7z with an empty file (an `__init__.py`) was `corrupt` ("-1 of 1 entries ... not extracted")."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "__init__.py").touch()
    (folder / "readme.txt").write_bytes(b"welcome to camp\n")
    subprocess.run(["7zz", "a", "-bd", "../p.7z", "."], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    assert engine().scan_file(tmp_path / "p.7z", name="p.7z").verdict is Verdict.CLEAN
    (folder / "eicar.com").write_bytes(EICAR)
    subprocess.run(["7zz", "a", "-bd", "../q.7z", "."], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    result = engine().scan_file(tmp_path / "q.7z", name="q.7z")
    assert [finding.path for finding in result.findings] == ["q.7z!eicar.com"], result


CORRUPTIONS: dict[str, Callable[[], bytes]] = {
    "zip without central directory": lambda: zip_of(CLEAN_MEMBERS)[:-30],
    "zip with a bad CRC": lambda: _flip_in_member_data(zip_of({"a.txt": b"A" * 200}, compression=0)),
    "truncated gzip": lambda: gzip_of(b"x" * 5000)[:-12],
    "truncated bzip2": lambda: bzip2_of(b"x" * 5000)[:-10],
    "truncated xz": lambda: xz_of(b"x" * 5000)[:-10],
    "truncated 7z": lambda: seven_zip_of(CLEAN_MEMBERS)[:-20],
    "tar cut inside a member": lambda: tar_of({"a.txt": b"a" * 3000})[:1500],
    "tar without its end marker": lambda: tar_of({"a.txt": b"a" * 1024})[: 512 + 1024],
    "tar with garbage where a header should be": lambda: (
        tar_of({"a.txt": b"a" * 512})[:1024] + b"\x07" * 1024
    ),
}


def _flip_in_member_data(data: bytes) -> bytes:
    position = data.index(b"A" * 10) + 5
    return data[:position] + b"B" + data[position + 1 :]


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_containers_are_unscannable_never_clean(tmp_path: Path, case: str) -> None:
    (tmp_path / "x").write_bytes(CORRUPTIONS[case]())
    result = engine().scan_file(tmp_path / "x", name="x")
    assert result.verdict is Verdict.UNSCANNABLE, result
    assert result.reason is Reason.CORRUPT


def test_corrupt_member_does_not_hide_a_malicious_sibling(tmp_path: Path) -> None:
    broken = _flip_in_member_data(zip_of({"a.txt": b"A" * 200}, compression=0))
    (tmp_path / "x.zip").write_bytes(zip_of({"broken.zip": broken, "eicar.com": EICAR}, compression=0))
    assert engine().scan_file(tmp_path / "x.zip", name="x.zip").verdict is Verdict.MALICIOUS


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"PK\x03\x04rest", Kind.ZIP),
        (b"\x1f\x8b\x08", Kind.GZIP),
        (b"BZh91AY", Kind.BZIP2),
        (b"\xfd7zXZ\x00\x00", Kind.XZ),
        (b"7z\xbc\xaf\x27\x1c\x00", Kind.SEVEN_ZIP),
        (bytes(257) + b"ustar\x0000", Kind.TAR),
        (b"%PDF-1.4", Kind.PDF),
        (b"/*! camp-site helpers */\n(function () {", None),
        (b"", None),
    ],
)
def test_detect_by_magic(head: bytes, kind: Kind | None) -> None:
    assert detect(head) is kind


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("songs.tar.gz", Kind.GZIP, "songs.tar"),
        ("a/b.tgz", Kind.GZIP, "b.tar"),
        ("x.bz2", Kind.BZIP2, "x"),
        ("x.txz", Kind.XZ, "x.tar"),
        ("noext", Kind.GZIP, "noext.out"),
        ("o.zip!in/x.gz", Kind.GZIP, "x"),
    ],
)
def test_decompressed_name(name: str, kind: Kind, expected: str) -> None:
    assert decompressed_name(name, kind) == expected
