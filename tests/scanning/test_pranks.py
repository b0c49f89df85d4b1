"""The prank samples: deterministic, harmless, and what they claim to be (verdicts: test_engine.py)."""

from __future__ import annotations

import time

import pytest

from bucketguard.demo import pranks


def test_samples_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    first = [s.data for s in pranks.all_samples()]
    # a second later (a busy machine crosses a second boundary between two calls): same bytes
    later = time.time() + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert [s.data for s in pranks.all_samples()] == first


def test_eicar_is_the_standard_68_bytes() -> None:
    assert len(pranks.eicar()) == 68
    assert pranks.eicar().startswith(b"X5O!P%@AP")


def test_encrypted_zip_really_is_encrypted_and_opens_with_its_password() -> None:
    import io
    import zipfile

    archive = zipfile.ZipFile(io.BytesIO(pranks.encrypted_zip()))
    (info,) = archive.infolist()
    assert info.flag_bits & 0x1
    assert archive.read(info, pwd=b"camp") == pranks.eicar()


def test_zip_bomb_expands_to_what_it_says() -> None:
    import io
    import zipfile

    archive = zipfile.ZipFile(io.BytesIO(pranks.zip_bomb(2 << 20)))
    assert archive.read("free-games.txt") == bytes(2 << 20)
