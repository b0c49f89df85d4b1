"""`python -m bucketguard audit` on moto's server: the JSON document, exit status, the policy config, a
stack config's accounts, the history between runs, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from bucketguard.cli import main
from bucketguard.sandbox.aws import EmbeddedAws
from tests.audit.conftest import ACCOUNT, REGION, client
from tests.sarif_schema import sarif_errors

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("credentials")


def run(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str
) -> tuple[int, Any, str]:
    code = main(
        [
            "audit",
            "--endpoint-url",
            aws.endpoint_url,
            "--history",
            str(tmp_path / "history.db"),
            *(args if "--format" in args else ("--format", "json", *args)),
        ]
    )
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip().startswith("{") else out, err


def test_json_document_history_and_exit_status(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="camp-site")
    s3.put_bucket_acl(Bucket="camp-site", ACL="public-read")

    code, first, _ = run(aws, capsys, tmp_path, "--region", REGION, "--service", "s3")

    assert code == 1  # public read is high: mandatory by default
    public = next(v for v in first["violations"] if v["rule_id"] == "s3_bucket_public_read_prohibited")
    assert (
        public["account"] == ACCOUNT
        and public["region"] == REGION
        and public["arn"] == "arn:aws:s3:::camp-site"
    )
    assert (
        public["status"] == "new"
        and public["enforcement"] == "mandatory"
        and public["references"]["fsbp"] == ["S3.2"]
    )
    assert len(public["finding_id"]) == 64 and first["schema_version"] == 1
    assert first["summary"]["by_service"]["s3"] == len(first["violations"]) and first["summary"][
        "accounts"
    ] == [ACCOUNT]
    assert not any(v["rule_id"].startswith("cloudtrail") for v in first["violations"])  # not collected

    s3.put_bucket_acl(Bucket="camp-site", ACL="private")
    code, second, _ = run(aws, capsys, tmp_path, "--region", REGION, "--service", "s3")

    assert [r["rule_id"] for r in second["resolved"]] == ["s3_bucket_public_read_prohibited"]
    versioning = next(v for v in second["violations"] if v["rule_id"] == "s3_bucket_versioning_enabled")
    same = next(v for v in first["violations"] if v["rule_id"] == "s3_bucket_versioning_enabled")
    assert (versioning["status"], versioning["finding_id"], versioning["first_seen"]) == (
        "still_failing",
        same["finding_id"],
        same["first_seen"],
    )
    assert code == 1  # the account-level Block Public Access is off (medium) ... and bucket BPA (high)

    assert main(["audit", "history", "--history", str(tmp_path / "history.db"), "--format", "json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert [c["change"] for c in changes if c["rule_id"] == "s3_bucket_public_read_prohibited"] == [
        "new",
        "resolved",
    ]


def test_policy_config_levels_and_exemptions(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-site")
    config = tmp_path / "policy.json"
    config.write_text(
        json.dumps(
            {
                "all": "advisory",
                "s3_bucket_versioning_enabled": {
                    "exemptions": [{"resource": "arn:aws:s3:::camp-site", "reason": "scratch space"}]
                },
                "s3_bucket_mfa_delete_enabled": "disabled",
            }
        )
    )

    code, report, _ = run(
        aws, capsys, tmp_path, "--region", REGION, "--service", "s3", "--policy-config", str(config)
    )

    assert code == 0
    rules = {v["rule_id"] for v in report["violations"]}
    assert "s3_bucket_versioning_enabled" not in rules and "s3_bucket_mfa_delete_enabled" not in rules
    assert report["exemptions"] == [
        {
            "rule_id": "s3_bucket_versioning_enabled",
            "resource": "camp-site",
            "arn": "arn:aws:s3:::camp-site",
            "reason": "scratch space",
        }
    ]
    assert {v["enforcement"] for v in report["violations"]} == {"advisory"}


def test_a_stack_config_audits_the_accounts_and_regions_it_deploys_into(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stack = REPO / "examples" / "stacks" / "Pulumi.multiaccount.yaml"

    code, report, _ = run(
        aws, capsys, tmp_path, "--config", str(stack), "--service", "s3", "--min-severity", "medium"
    )

    assert sorted(report["summary"]["accounts"]) == ["111111111111", "222222222222", "333333333333"]
    assert {v["rule_id"] for v in report["violations"]} == {
        "s3_account_public_access_block_enabled"
    } or code in (0, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rule", "s3_no_such_rule"], "--rule s3_no_such_rule: no such rule"),
        (["--policy-config", "/nonexistent.json"], "--policy-config /nonexistent.json: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = run(aws, capsys, tmp_path, "--region", REGION, *args)

    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_an_unknown_policy_in_the_config_is_refused(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"s3_bucket_versionning_enabled": "advisory"}))

    code, _, err = run(aws, capsys, tmp_path, "--region", REGION, "--policy-config", str(config))

    assert code == 2 and "unknown policies: s3_bucket_versionning_enabled" in err
    assert len(err.strip().splitlines()) == 1


def test_sarif_junit_and_csv_for_ci(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="camp-site")
    s3.put_bucket_acl(Bucket="camp-site", ACL="public-read")
    sarif, junit, table = tmp_path / "audit.sarif", tmp_path / "audit.xml", tmp_path / "audit.txt"

    code, report, _ = run(
        aws,
        capsys,
        tmp_path,
        "--region",
        REGION,
        "--service",
        "s3",
        "--format",
        f"sarif={sarif}",
        "--format",
        f"junit={junit}",
        "--format",
        f"table={table}",
        "--format",
        "csv",
    )

    assert code == 1
    document = json.loads(sarif.read_text())
    assert sarif_errors(document) == []
    [run_] = document["runs"]
    public = next(r for r in run_["results"] if r["ruleId"] == "s3_bucket_public_read_prohibited")
    assert public["level"] == "error" and public["locations"][0]["logicalLocations"][0]["name"] == "camp-site"
    suite = ElementTree.fromstring(junit.read_text())  # noqa: S314 - our own output
    assert int(suite.get("failures", "0")) >= 1
    assert "s3_bucket_public_read_prohibited" in {c.get("name") for c in suite.iter("testcase")}
    rows = list(csv.DictReader(io.StringIO(report)))
    assert {r["rule_id"] for r in rows} == {r["ruleId"] for r in run_["results"]}
    assert all(r["account"] == ACCOUNT and len(r["finding_id"]) == 64 for r in rows)
    assert "HIGH" in table.read_text() and "camp-site" in table.read_text()
