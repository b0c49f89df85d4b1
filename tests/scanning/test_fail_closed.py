"""Nothing unread is reported clean: members that parsers skip quietly, headers that lie, window edges."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from bucketguard.scanning.result import Reason, Verdict
from tests.scanning.engine_support import EICAR, engine, zip_of


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
