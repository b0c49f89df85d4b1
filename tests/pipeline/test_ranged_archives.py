"""Archives opened where they lie: zipfile and py7zr read an object through the seekable range reader
(blocks of the presigned GET, cached under a bound), with no copy on disk; every block pinned to the
version's ETag, so an overwrite while the archive is parsed is an error, never a verdict; a storage that
ignores Range or sends fewer bytes than it declares is refused or retried, never scanned in part. The
storage is a local HTTP server answering the way S3 answers presigned GETs (tests/range_server.py)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from bucketguard.demo import pranks
from bucketguard.pipeline.download import (
    BLOCK_BYTES,
    CACHED_BLOCKS,
    RANGE_BYTES,
    RangedObject,
    ReadFailed,
    TransientDownloadError,
)
from bucketguard.pipeline.messages import ScanRequest
from bucketguard.pipeline.scanner import Scanner
from bucketguard.pipeline.settings import ScannerSettings
from bucketguard.scanning.engine import Engine, _windows
from bucketguard.scanning.ruleset import load_ruleset
from tests.range_server import Overwritten, RangeHandler, Stored, StoredBytes, serve

CACHE_BOUND = CACHED_BLOCKS * BLOCK_BYTES


class ArchiveHandler(RangeHandler):
    objects: ClassVar[dict[str, Stored | Overwritten]] = {}
    requests: ClassVar[list[tuple[str, str]]] = []
    short_after: ClassVar[int] = 0  # ranges of /camp/short/ after this many get half their bytes
    served_short: ClassVar[int] = 0

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        stored = self.objects.get(path)
        if path.startswith("/camp/whole/") and isinstance(stored, StoredBytes):
            self.send_response(200)  # the whole object, whatever range was asked for
            self.send_header("Content-Length", str(stored.size))
            self.end_headers()
            self.stream(stored, 0, stored.size)
            return
        if path.startswith("/camp/short/") and isinstance(stored, StoredBytes):
            ArchiveHandler.served_short += 1
        if path.startswith("/camp/short/") and self.served_short > self.short_after:
            assert isinstance(stored, StoredBytes)
            start, last = map(int, self.headers["Range"].removeprefix("bytes=").split("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{last}/{stored.size}")
            self.send_header("Content-Length", str(last - start + 1))
            self.end_headers()
            self.wfile.write(stored.read(start, (last - start + 1) // 2))
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture(scope="module")
def storage() -> Iterator[str]:
    yield from serve(ArchiveHandler)


def _filler_zip(members: int, last: bytes) -> bytes:
    """`members` stored members of 1 MiB of random bytes each (kept in memory when expanded: no member
    needs temporary space either), then `last`: found only through the central directory at the end."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for index in range(members):
            archive.writestr(f"photos/{index:03}.jpg", os.urandom(1 << 20))
        archive.writestr("zz/last.com", last)
    return out.getvalue()


def _serve(path: str, stored: Stored | Overwritten) -> str:
    ArchiveHandler.objects[path] = stored
    return path


def _engine(tmp_path: Path) -> Engine:
    return Engine(load_ruleset(), work_dir=tmp_path / "missing")  # no temporary space at all


def test_a_zip_member_at_the_end_of_a_large_archive_is_found_with_no_copy_and_the_cache_bound(
    storage: str, tmp_path: Path
) -> None:
    data = _filler_zip(40, pranks.eicar())  # 40 MiB: windows read straight, the archive through blocks
    path = _serve("/camp/photos.zip", StoredBytes(data))
    etag = StoredBytes(data).etag
    with RangedObject(f"{storage}{path}?versionId=v1", size=len(data), etag=etag) as source:
        result = _engine(tmp_path).scan_source(source, name="photos.zip")
    assert result.verdict.value == "malicious", result
    assert [f.path for f in result.findings] == ["photos.zip!zz/last.com"]
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert source.peak_cached_bytes <= CACHE_BOUND
    # the windows once, the members once more through the blocks: each byte fetched at most twice
    assert len(data) < source.fetched_bytes <= 2 * len(data) + 2 * BLOCK_BYTES


def test_a_7z_is_read_by_py7zr_through_the_reader(storage: str, tmp_path: Path) -> None:
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as archive:
        for index in range(6):  # 6 MiB over two blocks; members of 1 MiB stay in memory
            archive.writestr(os.urandom(1 << 20), f"photos/{index}.jpg")
        archive.writestr(pranks.eicar(), "zz/last.com")
    data = out.getvalue()
    path = _serve("/camp/photos.7z", StoredBytes(data))
    with RangedObject(f"{storage}{path}?versionId=v1", size=len(data), etag=StoredBytes(data).etag) as source:
        result = _engine(tmp_path).scan_source(source, name="photos.7z")
    assert source.fetched_bytes > BLOCK_BYTES, "not read through the blocks"
    assert (result.verdict.value, [f.path for f in result.findings]) == (
        "malicious",
        ["photos.7z!zz/last.com"],
    )


def test_small_objects_are_one_get_whatever_their_parsers_read(storage: str, tmp_path: Path) -> None:
    data = pranks.eicar_nested_zip()
    path = _serve("/camp/small.zip", StoredBytes(data))
    ArchiveHandler.requests.clear()
    with RangedObject(f"{storage}{path}?versionId=v1", size=len(data), etag=StoredBytes(data).etag) as source:
        assert _engine(tmp_path).scan_source(source, name="small.zip").verdict.value == "malicious"
    assert ArchiveHandler.requests == [(path, f"bytes=0-{len(data) - 1}")]


def test_random_reads_stay_within_the_cache_bound_and_repeated_ones_are_not_fetched_again(
    storage: str,
) -> None:
    data = os.urandom(20 * BLOCK_BYTES)
    path = _serve("/camp/random.bin", StoredBytes(data))
    with RangedObject(f"{storage}{path}?versionId=v1", size=len(data)) as source:
        picks = random.Random(7)
        for _ in range(200):
            offset = picks.randrange(len(data))
            assert source.read_at(offset, 4096) == data[offset : offset + 4096]
        assert source.peak_cached_bytes <= CACHE_BOUND
        fetched = source.fetched_bytes
        assert source.read_at(len(data) - 100, 100) == data[-100:]
        assert source.read_at(len(data) - 5000, 100) == data[-5000:-4900]
        assert source.fetched_bytes - fetched <= BLOCK_BYTES  # the tail's block, once
    with RangedObject(f"{storage}{path}?versionId=v1", size=len(data)) as source:
        reader = io.BufferedReader(_file(source))
        assert reader.read() == data  # read front to back
        assert source.fetched_bytes <= len(data) + IN_FLIGHT_AHEAD
        assert source.peak_cached_bytes <= CACHE_BOUND


IN_FLIGHT_AHEAD = 3 * BLOCK_BYTES  # blocks fetched ahead of the last read may go unused


def _file(source: RangedObject) -> io.RawIOBase:
    from bucketguard.scanning.blobs import SourceFile

    return SourceFile(source)


def _scanner(storage: str, tmp_path: Path) -> Scanner:
    settings = ScannerSettings.resolve({}, tmp_dir=tmp_path, download_origins=(storage,))
    return Scanner(settings, None)


def _request(storage: str, path: str, stored: Stored) -> ScanRequest:
    return ScanRequest(
        request_id="req-1", bucket="camp", key=path.removeprefix("/camp/"), version_id="v1",
        etag=stored.etag, size=stored.size, url=f"{storage}{path}?versionId=v1&X-Amz-Signature=secret",
        result_topic_arn="arn:aws:sns:us-east-1:222222222222:results", storage_stack_id="camp",
        requested_at="2026-07-01T09:30:00.000Z",
    )  # fmt: skip


@pytest.mark.parametrize("malware_first", [True, False])
def test_an_archive_overwritten_while_it_is_parsed_is_an_error_never_a_verdict(
    storage: str, tmp_path: Path, malware_first: bool
) -> None:
    """The windows were read whole from one version; the archive's blocks come after the overwrite. A
    parser turns a failed read into "corrupt": the engine raises the reader's failure all the same."""
    dirty, clean = StoredBytes(_filler_zip(40, pranks.eicar())), StoredBytes(_filler_zip(40, b"hello camp"))
    before, after = (dirty, clean) if malware_first else (clean, dirty)
    path = _serve(
        "/camp/overwritten.zip", Overwritten(before, after, after_ranges=_before_the_parser(before))
    )
    result = _scanner(storage, tmp_path).scan(_request(storage, path, before))
    assert (result.verdict.value, result.detail) == (
        "error",
        "the object changed since the scan request (412)",
    )


def test_a_storage_ignoring_range_is_refused_without_reading_the_object(storage: str, tmp_path: Path) -> None:
    stored = StoredBytes(_filler_zip(40, pranks.eicar()))
    path = _serve("/camp/whole/photos.zip", stored)
    with RangedObject(f"{storage}{path}?versionId=v1", size=stored.size, etag=stored.etag) as source:
        with pytest.raises(ReadFailed) as refused:
            _engine(tmp_path).scan_source(source, name="photos.zip")
        assert str(refused.value) == "the storage ignored the range"
        assert source.fetched_bytes == 0
    # the refused answer's connection, its body unread, does not answer the next object's ranges
    small = StoredBytes(pranks.eicar_nested_zip())
    _serve("/camp/after.zip", small)
    assert (
        _scanner(storage, tmp_path).scan(_request(storage, "/camp/after.zip", small)).verdict.value
        == "malicious"
    )


def test_a_short_answer_while_the_archive_is_parsed_is_retried_not_judged(
    storage: str, tmp_path: Path
) -> None:
    stored = StoredBytes(_filler_zip(40, pranks.eicar()))
    ArchiveHandler.short_after, ArchiveHandler.served_short = _before_the_parser(stored), 0
    path = _serve("/camp/short/photos.zip", stored)
    with pytest.raises(TransientDownloadError):
        _scanner(storage, tmp_path).scan(_request(storage, path, stored))


def _before_the_parser(stored: Stored) -> int:
    """The ranges read before zipfile reads a member: the windows' ranges, then the blocks of the head
    (what the object is) and of the tail (the central directory, which zipfile reads first)."""
    starts, length = _windows(stored.size)
    return len(starts) * -(-length // RANGE_BYTES) + 2


def test_a_member_said_to_lie_past_the_end_is_corrupt_not_a_failed_download(
    storage: str, tmp_path: Path
) -> None:
    """A parser seeking where the archive says is no read out of range: the member is corrupt."""
    data = bytearray(_filler_zip(1, b"hello camp"))
    entry = data.rindex(b"PK\x01\x02")  # the last member's central directory entry
    data[entry + 42 : entry + 46] = (0x7FFFFFF0).to_bytes(4, "little")  # its local header's offset
    stored = StoredBytes(bytes(data))
    path = _serve("/camp/lying.zip", stored)
    with RangedObject(f"{storage}{path}?versionId=v1", size=stored.size, etag=stored.etag) as source:
        result = _engine(tmp_path).scan_source(source, name="lying.zip")
    assert (result.verdict.value, result.reason and result.reason.value) == ("unscannable", "corrupt"), result
    assert source.failure is None
