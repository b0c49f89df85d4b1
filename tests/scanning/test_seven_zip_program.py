"""Formats the 7-Zip program decodes (ARJ, CHM, LZH, NSIS, zip Implode): what they carry is found where the
program is installed; where it is not (the Lambda runtime) they are `unsupported`, never clean. ARJ
samples are written by Debian's `arj`; CHM, NSIS and Implode samples are ClamAV's test files."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.formats.seven_zip_program import program
from bucketguard.scanning.limits import Limits
from bucketguard.scanning.result import Reason, ScanResult, Verdict
from bucketguard.scanning.ruleset import load_ruleset
from tests.scanning.engine_support import EICAR, engine, tar_of, zip_of

TESTFILES = Path("/usr/share/clamav-testfiles")
TEST_PE_RULES = Path(__file__).resolve().parents[2] / "benchmarks" / "rules"
needs_7zip = pytest.mark.skipif(
    program() is None, reason="7-Zip missing: apt-get install 7zip (make test does)"
)
needs_arj = pytest.mark.skipif(
    shutil.which("arj") is None, reason="arj missing: apt-get install arj (make test does)"
)
needs_testfiles = pytest.mark.skipif(
    not TESTFILES.is_dir(), reason="clamav-testfiles missing (make test installs it)"
)
PADDING = b"camp timetable, cabin 4\n" * 200  # compressible: the member is compressed, not stored


def _arj(tmp_path: Path, members: dict[str, bytes]) -> bytes:
    source = tmp_path / "arj-source"
    source.mkdir(parents=True)
    for name, data in members.items():
        (source / name).write_bytes(data)
    subprocess.run(["arj", "a", "-y", "camp.arj", *members], cwd=source, check=True, capture_output=True)
    return (source / "camp.arj").read_bytes()


def _scan(tmp_path: Path, name: str, data: bytes, limits: Limits | None = None) -> ScanResult:
    (tmp_path / name).write_bytes(data)
    return engine(limits=limits).scan_file(tmp_path / name, name=name)


@needs_7zip
@needs_arj
def test_arj_member_is_found_and_a_clean_arj_is_clean(tmp_path: Path) -> None:
    # an uncompressed tar, so ARJ's own compression is all that hides the payload
    packed = _arj(
        tmp_path, {"camp.tar": tar_of({"e.com": EICAR, "notes.txt": PADDING}), "notes.txt": PADDING}
    )
    assert EICAR not in packed
    found = _scan(tmp_path, "photos.arj", packed)
    assert found.verdict is Verdict.MALICIOUS, found
    assert {finding.path for finding in found.findings} == {"photos.arj!camp.tar!e.com"}
    clean = _scan(tmp_path, "notes.arj", _arj(tmp_path / "clean", {"notes.txt": PADDING}))
    assert clean.verdict is Verdict.CLEAN, clean


@needs_7zip
@needs_arj
def test_archive_inside_an_arj_is_opened(tmp_path: Path) -> None:
    result = _scan(tmp_path, "backup.arj", _arj(tmp_path, {"old.zip": zip_of({"e.com": EICAR})}))
    assert {finding.path for finding in result.findings} == {"backup.arj!old.zip!e.com"}


@needs_7zip
@needs_arj
@pytest.mark.parametrize("order", ["eicar first", "eicar second"])
def test_members_sharing_a_name_are_each_scanned(tmp_path: Path, order: str) -> None:
    # `arj -e` stores names without their folders: two members both named homework.com. 7-Zip writing the
    # second over the first would leave one of them unread.
    source = tmp_path / "arj-source"
    bodies = [EICAR, PADDING] if order == "eicar first" else [PADDING, EICAR]
    for folder, body in zip(("a", "b"), bodies, strict=True):
        (source / folder).mkdir(parents=True)
        (source / folder / "homework.com").write_bytes(body)
    command = ["arj", "a", "-e", "-y", "camp.arj", "a/homework.com", "b/homework.com"]
    subprocess.run(command, cwd=source, check=True, capture_output=True)
    result = _scan(tmp_path, "camp.arj", (source / "camp.arj").read_bytes())
    assert result.verdict is Verdict.MALICIOUS, result
    assert [finding.rule for finding in result.findings] == ["EICAR_Test_File"]


@needs_7zip
@needs_arj
def test_damaged_arj_is_unscannable(tmp_path: Path) -> None:
    packed = bytearray(_arj(tmp_path, {"notes.txt": PADDING * 4}))
    packed[-40:-20] = bytes(20)  # inside the compressed data: its CRC no longer matches
    result = _scan(tmp_path, "cut.arj", bytes(packed))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.CORRUPT), result


@needs_7zip
@needs_arj
def test_arj_bomb_stops_at_the_limits(tmp_path: Path) -> None:
    limits = Limits(max_ratio=10, ratio_floor_bytes=1 << 16, max_extracted_bytes=8 << 20)
    result = _scan(tmp_path, "bomb.arj", _arj(tmp_path, {"zeros.bin": bytes(4 << 20)}), limits)
    assert result.verdict is Verdict.UNSCANNABLE, result
    assert result.reason in (Reason.RATIO_EXCEEDED, Reason.EXTRACTED_TOO_LARGE), result


@needs_7zip
@needs_arj
def test_arj_larger_than_the_bytes_left_is_stopped_by_the_file_size_limit(tmp_path: Path) -> None:
    limits = Limits(max_extracted_bytes=1 << 20)  # below the ratio floor: only the budget stops it
    result = _scan(tmp_path, "big.arj", _arj(tmp_path, {"big.txt": PADDING * 500}), limits)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.EXTRACTED_TOO_LARGE), result


@needs_7zip
@needs_testfiles
@pytest.mark.parametrize("name", ["clam.arj", "clam.chm", "clam-nsis.exe", "clam.impl.zip"])
def test_clamav_test_pe_is_found_inside(name: str) -> None:
    result = Engine(load_ruleset([TEST_PE_RULES], include_bundled=False)).scan_file(
        TESTFILES / name, name=name
    )
    assert result.verdict is Verdict.MALICIOUS, result
    assert all(finding.path.startswith(f"{name}!") for finding in result.findings), result


@needs_testfiles
@pytest.mark.parametrize("name", ["clam.arj", "clam.chm", "clam-nsis.exe", "clam.impl.zip"])
def test_without_the_program_they_are_unsupported(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no 7zz: as in the Lambda runtime
    result = engine().scan_file(TESTFILES / name)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNSUPPORTED), result


HEADERS_ONLY = {
    "a.arj": b"\x60\xea\x2c\x00\x22\x0b\x01\x02\x10\x00\x02" + bytes(64),
    "a.chm": b"ITSF\x03\x00\x00\x00" + bytes(64),
    "a.lzh": b"\x24\x00-lh5-" + bytes(64),
    "nsis.exe": pranks.pe_header() + b"\xef\xbe\xad\xdeNullsoftInst" + bytes(64),
    "a.cpio": b"070701" + b"0" * 104 + bytes(64),
    "old.cpio": b"\xc7\x71" + bytes(18) + b"\x02\x00" + bytes(4) + b"a\x00" + bytes(64),
    "a.rpm": b"\xed\xab\xee\xdb\x03\x00" + bytes(90),
    "a.pkg": b"xar!\x00\x1c\x00\x01" + bytes(64),
    "a.wim": b"MSWIM\x00\x00\x00" + bytes(200),
    "a.squashfs": b"hsqs" + bytes(24) + b"\x04\x00" + bytes(98),
    "a.vhd": b"conectix" + bytes(120),
}


@pytest.mark.parametrize("name", HEADERS_ONLY)
def test_a_header_alone_is_never_clean(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if program() is not None:
        assert _scan(tmp_path, name, HEADERS_ONLY[name]).reason is Reason.CORRUPT
    monkeypatch.setenv("PATH", str(tmp_path))
    result = _scan(tmp_path, name, HEADERS_ONLY[name])
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNSUPPORTED), result


UNDECODED_HERE = {
    "lzip": b"LZIP\x01\x0c" + bytes(64),
    "lzop": b"\x89LZO\x00\r\n\x1a\n" + bytes(64),
    "alz": b"ALZ\x01" + bytes(64),
    "egg": b"EGGA\x00\x01" + bytes(64),
    "compress": b"\x1f\x9d\x90" + bytes(64),  # a valid .Z stream (of zeros) to 7-Zip, which it decodes
}


@pytest.mark.parametrize("name", UNDECODED_HERE)
def test_archives_nothing_here_decodes_are_unsupported(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no 7zz: as in the Lambda runtime
    result = _scan(tmp_path, "camp.bin", UNDECODED_HERE[name])
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNSUPPORTED), result


def _cpio(members: dict[str, bytes]) -> bytes:
    """A cpio archive in the `newc` format (cpio -H newc, the format of RPM payloads and initramfs)."""
    out = bytearray()
    for number, (name, data) in enumerate([*members.items(), ("TRAILER!!!", b"")], start=1):
        encoded = name.encode() + b"\x00"
        fields = (number, 0o100644 if data or name != "TRAILER!!!" else 0, 0, 0, 1, 0, len(data), 0, 0, 0, 0)
        out += b"070701" + b"".join(b"%08X" % field for field in fields) + b"%08X%08X" % (len(encoded), 0)
        out += encoded + bytes(-(len(out) + len(encoded)) % 4)
        out += data + bytes(-len(data) % 4)
    return bytes(out)


@needs_7zip
def test_cpio_and_wim_members_are_found(tmp_path: Path) -> None:
    cpio = _cpio({"notes.txt": PADDING, "eicar.com": EICAR})
    (tmp_path / "initrd.cpio").write_bytes(cpio)
    listed = subprocess.run([str(program()), "l", str(tmp_path / "initrd.cpio")], capture_output=True)
    assert b"eicar.com" in listed.stdout, listed  # 7-Zip reads the archive as cpio
    found = _scan(tmp_path, "initrd.cpio", cpio)
    assert found.verdict is Verdict.MALICIOUS, found
    assert [finding.path for finding in found.findings] == ["initrd.cpio!eicar.com"]

    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "eicar.com").write_bytes(EICAR)
    (tmp_path / "image" / "notes.txt").write_bytes(PADDING)
    subprocess.run([str(program()), "a", "-twim", str(tmp_path / "camp.wim"), "."],
                   cwd=tmp_path / "image", check=True, capture_output=True)  # fmt: skip
    wim = (tmp_path / "camp.wim").read_bytes()
    found = _scan(tmp_path, "camp.wim", wim)
    assert found.verdict is Verdict.MALICIOUS, found


def _recording_seven_zip(tmp_path: Path, record: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A 7zz first on PATH that runs the shell command `record`, then becomes the real 7-Zip in the same
    process; returns the PATH set."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "7zz").write_text(f'#!/bin/sh\n{record}\nexec {program()} "$@"\n')
    (shim / "7zz").chmod(0o755)
    path = f"{shim}:/usr/bin:/bin"
    monkeypatch.setenv("PATH", path)
    return path


@needs_7zip
@needs_arj
def test_the_limits_apply_to_the_seven_zip_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _recording_seven_zip(tmp_path, f"cat /proc/$$/limits > {tmp_path}/limits", monkeypatch)
    packed = _arj(tmp_path, {"e.com": EICAR})
    result = _scan(tmp_path, "camp.arj", packed, Limits(max_extracted_bytes=5_000_000))
    assert result.verdict is Verdict.MALICIOUS, result
    rows = {
        line[:26].strip(): line[26:].split()[:2] for line in (tmp_path / "limits").read_text().splitlines()
    }
    assert rows["Max file size"] == ["5000001", "5000001"]  # what the budget has left, plus one
    assert rows["Max cpu time"] == ["60", "60"]


@needs_7zip
@needs_arj
def test_seven_zip_runs_without_the_aws_credentials_of_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _recording_seven_zip(tmp_path, f"env > {tmp_path}/environment", monkeypatch)
    packed = _arj(tmp_path, {"e.com": EICAR})
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "camp-secret")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials")
    assert _scan(tmp_path, "camp.arj", packed).verdict is Verdict.MALICIOUS
    environment = (tmp_path / "environment").read_text()
    assert "camp-secret" not in environment
    assert "169.254.170.23" not in environment
    assert f"PATH={path}" in environment.splitlines()


@needs_7zip
@needs_arj
def test_without_prlimit_seven_zip_is_not_run_and_the_archive_is_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_7zip = tmp_path / "bin"
    only_7zip.mkdir()
    (only_7zip / "7zz").symlink_to(str(program()))
    packed = _arj(tmp_path, {"e.com": EICAR})
    monkeypatch.setenv("PATH", str(only_7zip))
    result = _scan(tmp_path, "camp.arj", packed)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNSUPPORTED), result
    assert "prlimit" in result.detail


@needs_7zip
@needs_arj
def test_a_scan_through_seven_zip_beside_another_thread_runs_no_python_in_the_child(tmp_path: Path) -> None:
    """Python code between fork and exec (a preexec_fn) may deadlock on a lock another thread held at the
    fork; CPython runs the fork hooks exactly when it runs such code, so none may run."""
    packed = _arj(tmp_path, {"camp.tar": tar_of({"e.com": EICAR})})
    forks: list[int] = []
    counting = threading.Event()
    os.register_at_fork(before=lambda: forks.append(1) if counting.is_set() else None)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # as the ranged reader's threads run beside a scan
    other.start()
    counting.set()
    try:
        result = _scan(tmp_path, "camp.arj", packed)
    finally:
        counting.clear()
        stop.set()
        other.join()
    assert result.verdict is Verdict.MALICIOUS, result
    assert {finding.path for finding in result.findings} == {"camp.arj!camp.tar!e.com"}
    assert forks == []


needs_cpio = pytest.mark.skipif(
    shutil.which("cpio") is None, reason="cpio missing: apt-get install cpio (make test does)"
)


def _cpio_of_files(tmp_path: Path, names: list[str], last: bytes = b"") -> bytes:
    """A newc cpio the cpio program writes of empty files named `names`, the last holding `last`."""
    source = tmp_path / "cpio-source"
    source.mkdir()
    for name in names:
        (source / name).touch()
    (source / names[-1]).write_bytes(last)
    listing = "".join(f"{name}\n" for name in names).encode()
    made = subprocess.run(
        ["cpio", "-o", "-H", "newc"], cwd=source, input=listing, capture_output=True, check=True
    )
    return made.stdout


@needs_7zip
@needs_cpio
def test_a_cpio_of_more_entries_than_the_cap_is_refused_before_seven_zip_extracts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `7z x` would write every empty file (inodes, disk, CPU) before one was counted.
    many = _cpio_of_files(tmp_path, [f"f{number}" for number in range(5_000)])
    _recording_seven_zip(tmp_path, f'echo "$1" >> {tmp_path}/commands', monkeypatch)
    result = _scan(tmp_path, "initrd.cpio", many, Limits(max_members=100))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.TOO_MANY_MEMBERS), result
    assert (tmp_path / "commands").read_text().split() == ["l"]  # listed, never extracted


@needs_7zip
@needs_cpio
def test_a_cpio_at_the_cap_is_extracted_and_its_last_member_scanned(tmp_path: Path) -> None:
    names = [f"f{number}" for number in range(99)] + ["eicar.com"]
    result = _scan(tmp_path, "initrd.cpio", _cpio_of_files(tmp_path, names, EICAR), Limits(max_members=100))
    assert result.verdict is Verdict.MALICIOUS, result
    assert [finding.path for finding in result.findings] == ["initrd.cpio!eicar.com"]
