"""`audit --fix` and `audit --undo` on moto's server: the plan, applying with --yes, the re-audit's report,
the undo file, undo refusing a resource changed again, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bucketguard.cli import main
from bucketguard.sandbox.aws import EmbeddedAws
from tests.remediation.conftest import REGION, client, public_access_block_off, public_acl

pytestmark = pytest.mark.usefixtures("credentials")

BPA = "s3_bucket_public_access_block_enabled"
READ = "s3_bucket_public_read_prohibited"


def run(aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["audit", "--endpoint-url", aws.endpoint_url, "--no-history", "--region", REGION, *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.startswith("{") else out, err


def fix(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], undo_file: Path, *args: str
) -> tuple[int, Any, str]:
    return run(
        aws, capsys, "--service", "s3", "--format", "json", "--fix", "--undo-file", str(undo_file), *args
    )


def block(aws: EmbeddedAws, bucket: str) -> dict[str, bool]:
    return dict(client(aws, "s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"])


def test_fix_yes_then_undo(aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    public_access_block_off(aws)
    public_acl(aws)
    before = block(aws, "bpa-off")
    undo_file = tmp_path / "undo.json"

    code, report, err = fix(aws, capsys, undo_file, "--yes", "--rule", BPA, "--rule", READ)

    assert code == 0, err
    assert report["violations"] == []  # the re-audit's report
    assert "fix plan" in err and err.count("remediated") == 3  # two buckets' BPA, one public ACL
    assert f"audit --undo {undo_file}" in err
    assert all(block(aws, "bpa-off").values())

    code, out, err = run(aws, capsys, "--undo", str(undo_file))

    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == ["status", "rule", "resource", "reason"]
    assert [row.split()[0] for row in rows] == ["restored"] * 3  # BPA x2, ACL
    assert block(aws, "bpa-off") == before
    code, report, _ = run(aws, capsys, "--service", "s3", "--format", "json", "--rule", READ)
    assert (code, [v["resource_name"] for v in report["violations"]]) == (1, ["acl-public"])


def test_undo_refuses_a_resource_changed_again(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    public_access_block_off(aws)
    undo_file = tmp_path / "undo.json"
    assert fix(aws, capsys, undo_file, "--yes", "--rule", BPA)[0] == 0
    client(aws, "s3").delete_public_access_block(Bucket="bpa-off")

    code, out, _ = run(aws, capsys, "--undo", str(undo_file))

    assert code == 1
    (row,) = out.splitlines()[1:]
    assert row.split(maxsplit=3) == [
        "refused",
        BPA,
        "arn:aws:s3:::bpa-off",
        "it changed again since the fix: not overwritten",
    ]


def test_fix_off_a_terminal_without_yes_applies_nothing(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    public_access_block_off(aws)
    before = block(aws, "bpa-off")

    code, _, err = fix(aws, capsys, tmp_path / "undo.json", "--rule", BPA)

    assert code == 2
    assert "fix plan" in err and "bpa-off" in err
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("--fix: not on a terminal, nothing applied: add --yes to apply the plan")
    )
    assert block(aws, "bpa-off") == before
    assert not (tmp_path / "undo.json").exists()


def test_fix_holds_back_a_tagged_bucket(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    public_access_block_off(aws)
    tags = {"TagSet": [{"Key": "bucketguard:remediate", "Value": "false"}]}
    client(aws, "s3").put_bucket_tagging(Bucket="bpa-off", Tagging=tags)

    code, report, err = fix(aws, capsys, tmp_path / "undo.json", "--yes", "--rule", BPA)

    assert code == 1
    assert [v["resource_name"] for v in report["violations"]] == ["bpa-off"]
    assert f"held back  {BPA} on bpa-off: tagged bucketguard:remediate=false" in err
    assert "nothing to fix" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--fix", "--rule", "s3_bucket_mfa_delete_enabled"),
            "--fix --rule s3_bucket_mfa_delete_enabled: no fixer",
        ),
        (("--undo", "missing.json"), "--undo missing.json: no such file"),
        (("--undo", "{undo}"), "--undo {undo}: entries[0].fixer: no such fixer"),
    ],
)
def test_one_line_errors(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    undo = tmp_path / "bad.json"
    entry = {
        "id": "1",
        "at": "2026-12-01T12:00:00+00:00",
        "ruleId": "x",
        "fixer": "rm -rf",
        "account": "1",
        "region": None,
        "arn": "a",
        "before": None,
    }
    undo.write_text(json.dumps({"schema_version": 1, "entries": [entry]}))

    code, _, err = run(aws, capsys, *(a.format(undo=undo) for a in args))

    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message.format(undo=undo) in err, err
