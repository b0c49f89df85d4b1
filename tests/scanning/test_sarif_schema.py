"""`scan --format sarif` validates against the SARIF 2.1.0 schema (the policy check's SARIF is validated in
tests/policy/test_outputs.py; both come from bucketguard.sarif)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

import pytest

from bucketguard.cli import main
from bucketguard.sarif import artifact_uri
from tests.sarif_schema import sarif_errors
from tests.scanning.engine_support import EICAR, zip_of


def test_scan_sarif_is_valid_sarif_2_1_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "homework.zip").write_bytes(zip_of({"docs/eicar.com": EICAR}))
    (tmp_path / "notes.txt").write_bytes(b"clean notes")
    assert main(["scan", "--format", "sarif", str(tmp_path)]) == 1
    log = json.loads(capsys.readouterr().out)
    assert log["runs"][0]["results"] and sarif_errors(log) == []
    (rule,) = [r for r in log["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "EICAR_Test_File"]
    assert float(rule["properties"]["security-severity"]) >= 7.0


def test_the_validator_rejects_what_is_not_sarif() -> None:
    assert sarif_errors({"version": "2.1.0", "runs": [{"results": []}]})  # no tool


# Names an uploader chooses: a link in SARIF's message syntax, a ':' making a path's first segment a scheme,
# an ESC sequence, a line break, U+202E, '%', '#' and '?', and bytes that are no UTF-8.
HOSTILE_NAMES = [
    b"x](javascript:alert(1)).txt",
    b"javascript:alert(1)",
    b"evil\x1b[2J.txt",
    b"line\nclean.txt",
    "a\u202egnp.exe".encode(),
    b"50%25#?.txt",
    b"\xff\xfe.txt",
]


def test_hostile_names_stay_paths_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in HOSTILE_NAMES:
        (tmp_path / os.fsdecode(name)).write_bytes(EICAR)
    monkeypatch.chdir(tmp_path)
    assert main(["scan", "--format", "sarif", *(os.fsdecode(name) for name in HOSTILE_NAMES)]) == 1
    log = json.loads(capsys.readouterr().out)
    assert sarif_errors(log) == []
    results = log["runs"][0]["results"]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    assert all(urlsplit(uri).scheme == "" for uri in uris)  # a relative reference: never javascript:
    assert sorted(unquote_to_bytes(uri) for uri in uris) == sorted(HOSTILE_NAMES)  # the bytes on disk
    for text in (r["message"]["text"] for r in results):
        assert text.isprintable()  # one line, no ESC, no U+202E, no surrogate
        unescaped = re.sub(r"\\[\\\[\]]", "", text)
        assert "[" not in unescaped and "]" not in unescaped  # no embedded link can start
    assert any(r"x\](javascript:alert(1)).txt" in r["message"]["text"] for r in results)


def test_a_path_is_never_a_uri_of_another_scheme() -> None:
    assert artifact_uri("javascript:alert(1)") == "javascript%3Aalert(1)"
    assert artifact_uri("C:\\src\\a b.txt") == "C%3A/src/a%20b.txt"
    assert artifact_uri("s3://camp/homework/a:b #1.pdf") == "s3://camp/homework/a:b%20%231.pdf"
    assert artifact_uri("arn:aws:s3:::camp") == "arn:aws:s3:::camp"
