"""`policy check --cloudformation` end to end: the templates through the real pack over gRPC, the same
document and exit codes as a Pulumi program, SARIF pointing at the template's lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.policy.test_pack_e2e import mandatory_ids, policy_check
from tests.sarif_schema import sarif_errors

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).parent / "fixtures"
CAMP_MANDATORY = {
    "s3_bucket_public_read_prohibited",  # AccessControl: PublicRead
    "s3_bucket_public_write_prohibited",  # anyone may PutObject
    "s3_bucket_public_access_block_enabled",
    "ec2_security_group_rdp_restricted",  # 3389 from 0.0.0.0/0
    "iam_principal_administrator_access_prohibited",  # AdministratorAccess attached
}


def test_the_camps_insecure_template_fails_on_exactly_its_mistakes(tmp_path: Path) -> None:
    sarif = tmp_path / "t.sarif"
    code, report, _ = policy_check(
        "--cloudformation", FIXTURES / "insecure.yaml", "--format", "json", "--format", f"sarif={sarif}"
    )
    assert code == 1
    assert mandatory_ids(report) == CAMP_MANDATORY
    lines = {
        (v["rule_id"], v["resource_type"]): v["source"]["line"] for v in report["violations"] if v["source"]
    }
    assert lines[("s3_bucket_public_read_prohibited", "AWS::S3::Bucket")] == 8
    assert lines[("ec2_security_group_rdp_restricted", "AWS::EC2::SecurityGroup")] == 32
    assert lines[("iam_principal_administrator_access_prohibited", "AWS::IAM::Role")] == 41
    log = json.loads(sarif.read_text())
    assert sarif_errors(log) == []
    where = {
        r["ruleId"]: r["locations"][0]["physicalLocation"]
        for r in log["runs"][0]["results"]
        if r["level"] == "error"
    }
    assert where["s3_bucket_public_write_prohibited"] == {
        "artifactLocation": {"uri": "tests/templates/fixtures/insecure.yaml"},
        "region": {"startLine": 8},
    }


def test_the_secure_template_passes() -> None:
    code, report, _ = policy_check("--cloudformation", FIXTURES / "secure.json", "--format", "json")
    assert code == 0, report
    assert mandatory_ids(report) == set()
    assert report["undecided"] == []


def test_unresolved_parameters_are_undecided_never_a_pass_and_suppressions_exempt() -> None:
    template = FIXTURES / "conditional.yaml"
    code, report, _ = policy_check("--cloudformation", template, "--region", "eu-west-1", "--format", "json")
    undecided = {u["rule_id"]: u["detail"] for u in report["undecided"]}
    assert (
        "Site: needs the acl of Site.AccessControl: could not evaluate: depends on parameter SiteAcl"
        in (undecided["s3_bucket_public_read_prohibited"])
    )
    assert (
        "depends on imported value camp-network-AdminCidr" in undecided["ec2_security_group_rdp_restricted"]
    )
    assert "pulumi up" not in undecided["s3_bucket_public_read_prohibited"]
    assert "s3_bucket_public_read_prohibited" not in {v["rule_id"] for v in report["violations"]}
    assert code == 0  # undecided is advisory, as at `pulumi preview`

    code, report, _ = policy_check(
        "--cloudformation", template, "--region", "eu-west-1",
        "--parameter", "SiteAcl=PublicRead", "--parameter", "Env=prod", "--format", "json",
    )  # fmt: skip
    assert code == 1 and mandatory_ids(report) == {"s3_bucket_public_read_prohibited"}
    assert report["exemptions"] == [
        {
            "rule_id": "s3_bucket_versioning_enabled",
            "detail": "Shared (shared scratch space, emptied nightly)",
        }
    ]
    assert "s3_bucket_access_logging_enabled" in {u["rule_id"] for u in report["undecided"]}  # SSM parameter


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    not_template = tmp_path / "notes.yaml"
    not_template.write_text("shopping: [milk, eggs]\n")
    code, _, err = policy_check("--cloudformation", not_template)
    assert code == 2
    assert err.strip() == f"bucketguard: {not_template}: not a CloudFormation template: no Resources mapping"
    code, _, err = policy_check("--cloudformation", FIXTURES / "insecure.yaml", "--parameter", "Nope=1")
    assert code == 2 and "declares no such parameter" in err and len(err.strip().splitlines()) == 1
    code, _, err = policy_check("--parameter", "A=1")
    assert code == 2 and "--parameter: a template's option" in err


def test_a_terraform_plan_points_at_each_resource_of_the_plan(tmp_path: Path) -> None:
    plan = FIXTURES / "insecure.tfplan.json"
    code, report, _ = policy_check("--terraform-plan", plan, "--format", "json")
    assert code == 1 and mandatory_ids(report) == CAMP_MANDATORY
    (rdp,) = [v for v in report["violations"] if v["rule_id"] == "ec2_security_group_rdp_restricted"]
    assert rdp["resource_name"] == "module.desktop.aws_security_group.rdp"  # from a child module
    assert rdp["resource_type"] == "aws_security_group"
    line = plan.read_text().splitlines()[rdp["source"]["line"] - 1]
    assert '"address": "module.desktop.aws_security_group.rdp"' in line
    not_plan = tmp_path / "state.json"
    not_plan.write_text('{"version": 4, "resources": []}')
    code, _, err = policy_check("--terraform-plan", not_plan)
    assert (
        code == 2
        and err.startswith(f"bucketguard: {not_plan}: not a Terraform plan")
        and err.count("\n") == 1
    )
