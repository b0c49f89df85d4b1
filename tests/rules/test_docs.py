"""docs/rules.md is generated from the catalogue; `rules list` prints the catalogue."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bucketguard.cli.rules_list import add_list_command
from bucketguard.rules import all_rules
from bucketguard.rules.docs import render_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_docs_rules_md_is_up_to_date() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/rules.md is stale: run `python -m bucketguard rules list --format markdown > docs/rules.md`"
    )


def test_markdown_has_one_section_per_rule_with_its_metadata() -> None:
    markdown = render_markdown()
    for each in all_rules():
        section = markdown.split(f"### `{each.rule_id}`", 1)[1].split("\n### ", 1)[0]
        assert f"Severity: **{each.severity.value}**" in section
        assert each.risk in section
        assert each.remediation.pulumi.strip() in section
        for ref in (*each.references.fsbp, *each.references.checkov, *each.references.prowler):
            assert f"`{ref}`" in section


def _run_list(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    parser = argparse.ArgumentParser()
    add_list_command(parser.add_subparsers())
    args = parser.parse_args(["list", *argv])
    assert args.run(args) == 0
    return capsys.readouterr().out


def test_list_json_is_one_document_with_schema_version(capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(_run_list(["--format", "json"], capsys))
    assert document["schema_version"] == 1
    rules = {r["rule_id"]: r for r in document["rules"]}
    assert rules["s3_bucket_public_write_prohibited"]["severity"] == "critical"
    assert rules["s3_bucket_public_write_prohibited"]["references"]["fsbp"] == ["S3.3"]
    assert set(rules["s3_bucket_public_write_prohibited"]["references"]) == {
        "fsbp",
        "cis",
        "conformity",
        "checkov",
        "prowler",
    }


def test_list_filters_by_severity_and_service(capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(
        _run_list(["--format", "json", "--min-severity", "critical", "--service", "s3"], capsys)
    )
    assert [r["rule_id"] for r in document["rules"]] == ["s3_bucket_public_write_prohibited"]


def test_list_markdown_is_the_docs_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_list(["--format", "markdown"], capsys) == render_markdown()


def test_rules_list_through_the_cli_dispatcher(capsys: pytest.CaptureFixture[str]) -> None:
    from bucketguard.cli import main

    assert main(["rules", "list", "--format", "json", "--service", "kms"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [r["rule_id"] for r in document["rules"]] == [
        "kms_key_public_access_prohibited",
        "kms_key_rotation_enabled",
    ]
    assert main(["rules", "list", "--service", "s4"]) == 2
    assert "no such service" in capsys.readouterr().err


def test_list_table_has_one_line_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _run_list([], capsys).splitlines()
    assert lines[0].split() == ["RULE", "ID", "SEVERITY", "RESOURCE", "FSBP", "TITLE"]
    assert [line.split()[0] for line in lines[1:]] == [r.rule_id for r in all_rules()]
