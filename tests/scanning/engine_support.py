"""Helpers shared by the engine's tests: archives built in memory, engines for both backends."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from functools import cache
from pathlib import Path

import py7zr

from bucketguard.demo import pranks
from bucketguard.scanning.blobs import Blob
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.hashes import HashList
from bucketguard.scanning.limits import Limits
from bucketguard.scanning.result import Finding, Reason, Severity
from bucketguard.scanning.ruleset import Ruleset, load_ruleset

BACKENDS = ("yara", "yara-x")


@cache
def bundled() -> Ruleset:
    return load_ruleset()


def engine(
    backend: str = "yara-x",
    *,
    limits: Limits | None = None,
    hashes: HashList | None = None,
    min_severity: Severity = Severity.LOW,
    work_dir: Path | None = None,
) -> Engine:
    return Engine(
        bundled(), engine=backend, limits=limits or Limits(), hashes=hashes, min_severity=min_severity,
        work_dir=work_dir,
    )  # fmt: skip


class Recorder:
    """A visitor that records what a container's opener hands it."""

    def __init__(self) -> None:
        self.members: list[str] = []
        self.problems: list[Reason] = []
        self.findings: list[str] = []

    def member(self, where: str, blob: Blob) -> None:
        self.members.append(where)

    def problem(self, where: str, reason: Reason, detail: str) -> None:
        self.problems.append(reason)

    def finding(self, finding: Finding) -> None:
        self.findings.append(finding.rule)


def zip_of(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_of(members: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def seven_zip_of(
    members: dict[str, bytes], *, password: str | None = None, encrypt_header: bool = False
) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password=password, header_encryption=encrypt_header) as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buffer.getvalue()


def gzip_of(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def bzip2_of(data: bytes) -> bytes:
    return bz2.compress(data)


def xz_of(data: bytes) -> bytes:
    return lzma.compress(data)


EICAR = pranks.eicar()


def nested_zip(depth: int, payload: bytes = EICAR, name: str = "eicar.com") -> bytes:
    """`payload` inside `depth` zips: depth 1 = a zip holding the payload."""
    data = zip_of({name: payload})
    for level in range(depth - 1):
        data = zip_of({f"level{level}.zip": data})
    return data


def v7_tar_of(members: dict[str, bytes]) -> bytes:
    """A tar in the V7 layout (no `ustar` magic, as `tar --format=v7` writes): each header's magic and
    version cleared and its checksum recomputed."""
    data = bytearray(tar_of(members))
    position = 0
    while position + 512 <= len(data) and any(data[position : position + 512]):
        header = data[position : position + 512]
        header[257:265] = bytes(8)
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\x00 " % sum(header)
        data[position : position + 512] = header
        size = int(header[124:136].split(b"\x00")[0] or b"0", 8)
        position += 512 + -(-size // 512) * 512
    return bytes(data)


def jpeg() -> bytes:
    """A small JPEG-shaped file: start-of-image, a JFIF segment, filler, end-of-image."""
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + bytes(range(256)) * 8
        + b"\xff\xd9"
    )
