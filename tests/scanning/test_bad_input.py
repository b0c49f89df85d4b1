"""Bad input gets a result or a clear error; the run never dies halfway; nothing unread is clean."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from bucketguard.scanning import engine as engine_module
from bucketguard.scanning.blobs import IN_MEMORY_MAX, Blob
from bucketguard.scanning.hashes import HashList, HashListError
from bucketguard.scanning.result import Reason, Verdict
from tests.scanning.engine_support import engine


def test_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "gone")
    result = engine().scan_file(link, name="dangling")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNREADABLE)
    assert "broken symbolic link" in result.detail


def test_missing_file(tmp_path: Path) -> None:
    result = engine().scan_file(tmp_path / "nope")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNREADABLE)


def test_fifo_is_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = engine().scan_file(fifo, name="pipe")  # would block forever if opened for reading
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.NOT_A_REGULAR_FILE)
    assert "named pipe" in result.detail


def test_a_large_file_swapped_for_a_fifo_mid_scan_is_unscannable_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file past the in-memory size is opened again window by window; if its path became a FIFO in
    between (a local attacker's race), that open must fail instead of waiting for a writer forever."""
    target = tmp_path / "big.bin"
    target.write_bytes(b"\0" * (IN_MEMORY_MAX + 1))
    first_open = engine_module._top_level_blob

    def then_swapped(path: str, descriptor: int, size: int) -> Blob:
        blob = first_open(path, descriptor, size)
        Path(path).unlink()
        os.mkfifo(path)
        return blob

    monkeypatch.setattr(engine_module, "_top_level_blob", then_swapped)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the scan blocked opening the FIFO"))
    signal.alarm(60)  # a watchdog for the hang, not a time limit: the scan itself takes milliseconds
    try:
        result = engine().scan_file(target, name="big.bin")
    finally:
        signal.alarm(0)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNREADABLE)
    assert "not a regular file any more (named pipe)" in result.detail


def test_directory_is_not_a_regular_file(tmp_path: Path) -> None:
    result = engine().scan_file(tmp_path)
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.NOT_A_REGULAR_FILE)


def test_character_device(tmp_path: Path) -> None:
    result = engine().scan_file(Path("/dev/null"))
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.NOT_A_REGULAR_FILE)


def test_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_bytes(b"hello")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    result = engine().scan_file(tmp_path / "link.txt")
    assert result.verdict is Verdict.CLEAN
    assert result.sha256 == hashlib.sha256(b"hello").hexdigest()


def test_unreadable_file_is_unscannable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # Root reads any file whatever its mode: /proc/self/mem is a regular file whose first read fails
        # (EIO), a real unreadable file for root.
        path = Path("/proc/self/mem")
    else:
        path = tmp_path / "secret.txt"
        path.write_bytes(b"top secret")
        path.chmod(0o000)
    result = engine().scan_file(path, name="secret")
    assert (result.verdict, result.reason) == (Verdict.UNSCANNABLE, Reason.UNREADABLE)
    assert result.sha256 is None


def test_huge_file_over_the_limit_is_not_read(tmp_path: Path) -> None:
    from bucketguard.scanning.limits import Limits

    huge = tmp_path / "huge.bin"
    with huge.open("wb") as stream:
        stream.truncate(50 << 30)  # sparse: 50 GiB that occupy no disk
    result = engine(limits=Limits(max_file_bytes=1 << 30)).scan_file(huge)
    assert (result.verdict, result.reason, result.size) == (Verdict.UNSCANNABLE, Reason.TOO_LARGE, 50 << 30)


def test_hash_list_formats(tmp_path: Path) -> None:
    a, b, c = (hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c"))
    listing = tmp_path / "list.txt"
    listing.write_text(
        f"# camp blocklist\n\n{a}\n{b.upper()}  prank dropper\n"
        '# "first_seen_utc","sha256_hash","md5_hash","sha1_hash","reporter","file_name","file_type_guess",'
        '"mime_type","signature"\n'
        f'"2024-07-01 09:00:00", "{c}", "d41d8cd98f00b204e9800998ecf8427e", "x", "camp", "c.exe", "exe",'
        ' "application/x-dosexec", "AgentTesla"\n'
    )
    hashes = HashList.load(listing)
    assert len(hashes) == 3
    assert hashes.lookup(a) == "list.txt"
    assert hashes.lookup(b) == "prank dropper"
    assert hashes.lookup(c) == "MalwareBazaar: AgentTesla"
    assert hashlib.sha256(b"d").hexdigest() not in hashes


def test_hash_list_error_names_file_and_line(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# ok\n" + "0" * 64 + "\nnot-a-hash\n")
    with pytest.raises(HashListError, match=r"list\.txt:3:"):
        HashList.load(listing)
    with pytest.raises(HashListError, match="cannot read"):
        HashList.load(tmp_path / "missing.txt")
