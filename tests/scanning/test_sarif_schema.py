"""`scan --format sarif` validates against the SARIF 2.1.0 schema (the policy check's SARIF is validated in
tests/policy/test_outputs.py; both come from bucketguard.sarif)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bucketguard.cli import main
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
