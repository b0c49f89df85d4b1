"""`policy check` output for CI: several formats in one run, files, --min-severity, SARIF that code scanning
accepts (schema-valid, pointing at the line that constructs the resource), JUnit and CSV."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bucketguard.cli.policy import FORMATS
from bucketguard.policy.check import RENDERERS
from tests.policy.test_pack_e2e import policy_check
from tests.sarif_schema import sarif_errors

pytestmark = pytest.mark.e2e

# conftest prepends three import lines; the bucket is constructed on line 5.
PROGRAM = """
b = aws.s3.Bucket("site")
aws.s3.BucketAcl("site-acl", bucket=b.id, acl="public-read")
aws.s3.BucketVersioning("site-versioning", bucket=b.id, versioning_configuration={"status": "Suspended"})
"""
BUCKET_LINE = 5


def test_every_format_the_cli_offers_has_a_renderer() -> None:
    assert set(FORMATS) == set(RENDERERS)


def test_several_formats_in_one_run_each_to_its_file(program, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sarif, junit, table = tmp_path / "p.sarif", tmp_path / "p.xml", tmp_path / "p.csv"
    code, report, _ = policy_check(
        "--program", program(PROGRAM), "--format", "json", "--format", f"sarif={sarif}",
        "--format", f"junit={junit}", "--format", f"csv={table}",
    )  # fmt: skip
    assert code == 1 and report["summary"]["mandatory"] == 1  # JSON, the one format without a file, on stdout
    log = json.loads(sarif.read_text())
    assert sarif_errors(log) == []
    (read,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "s3_bucket_public_read_prohibited"]
    where = read["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"].endswith("program/__main__.py")
    assert where["region"]["startLine"] == BUCKET_LINE
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["s3_bucket_public_read_prohibited"]["properties"]["security-severity"] == "8.0"
    assert rules["s3_bucket_versioning_enabled"]["properties"]["security-severity"] == "5.0"
    suite = ET.fromstring(junit.read_text())  # noqa: S314 (our own output)
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert failed == ["s3_bucket_public_read_prohibited"] and suite.get("failures") == "1"
    rows = list(csv.DictReader(table.read_text().splitlines()))
    assert {(r["rule_id"], r["enforcement"], r["line"]) for r in rows} >= {
        ("s3_bucket_public_read_prohibited", "mandatory", str(BUCKET_LINE)),
        ("s3_bucket_versioning_enabled", "advisory", str(BUCKET_LINE)),
    }


def test_output_takes_the_format_given_without_a_file(program, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "p.sarif"
    code, stdout, _ = policy_check("--program", program(PROGRAM), "--format", "sarif", "--output", out)
    assert code == 1 and stdout == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--format", "json", "--format", "sarif"], "only one format can go to stdout or --output"),
        (["--format", "xml"], "unknown format 'xml'"),
        (["--format", "json=a.json", "--output", "b.json"], "every --format already names its file"),
        (["--format", "json=a", "--format", "csv=a"], "two formats would be written to the same file"),
    ],
)
def test_output_usage_errors_are_one_line(program, args: list[str], error: str) -> None:  # type: ignore[no-untyped-def]
    code, _, stderr = policy_check("--program", program(PROGRAM), *args)
    assert code == 2 and error in stderr and len(stderr.strip().splitlines()) == 1


def test_min_severity_drops_lower_violations_and_decides_the_exit_status(program) -> None:  # type: ignore[no-untyped-def]
    directory = program(PROGRAM)
    code, report, _ = policy_check("--program", directory, "--format", "json", "--min-severity", "high")
    assert code == 1 and {v["severity"] for v in report["violations"]} == {"high"}
    assert report["summary"]["below_min_severity"] > 0 and report["summary"]["min_severity"] == "high"
    code, report, _ = policy_check("--program", directory, "--format", "json", "--min-severity", "critical")
    assert code == 0 and report["violations"] == []
