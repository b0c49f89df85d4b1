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
    sarif, table = tmp_path / "t.sarif", tmp_path / "t.txt"
    code, report, _ = policy_check(
        "--cloudformation", FIXTURES / "insecure.yaml", "--format", "json", "--format", f"sarif={sarif}",
        "--format", f"table={table}",
    )  # fmt: skip
    assert code == 1
    assert mandatory_ids(report) == CAMP_MANDATORY
    rows = table.read_text().splitlines()
    assert rows[0].split() == ["ENFORCEMENT", "SEVERITY", "RULE", "RESOURCE", "MESSAGE"]
    assert {row.split()[2] for row in rows[1:] if row.startswith("mandatory ")} == CAMP_MANDATORY
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


def test_nested_stacks_are_judged_with_their_parent_and_what_is_not_read_is_listed(tmp_path: Path) -> None:
    parent = FIXTURES / "nested" / "parent.yaml"
    code, report, _ = policy_check("--cloudformation", parent, "--region", "eu-west-1", "--format", "json")
    assert code == 1
    # The nested bucket's ACL comes from the parent's parameter; the parent's policy names the bucket
    # through the nested stack's output.
    assert mandatory_ids(report) == {
        "s3_bucket_public_read_prohibited",
        "s3_bucket_public_write_prohibited",
        "s3_bucket_public_access_block_enabled",
    }
    (read,) = [v for v in report["violations"] if v["rule_id"] == "s3_bucket_public_read_prohibited"]
    assert read["resource_name"] == "Storage.Site"
    assert read["source"] == {"file": "tests/templates/fixtures/nested/storage.yaml", "line": 12}
    assert [e["rule_id"] for e in report["exemptions"]] == ["s3_bucket_versioning_enabled"]
    assert {(n["resource_type"], n["resource_name"]) for n in report["not_evaluated"]} == {
        ("AWS::Logs::LogGroup", "Storage.Logs"),
        ("AWS::CloudFormation::Stack", "Network"),
    }
    code, report, _ = policy_check(
        "--cloudformation", parent, "--parameter", "Acl=Private", "--format", "json"
    )
    assert "s3_bucket_public_read_prohibited" not in mandatory_ids(report)


def test_sam_functions_are_judged_as_the_resources_sam_creates() -> None:
    template = FIXTURES / "sam.yaml"
    code, report, _ = policy_check(
        "--cloudformation", template, "--region", "eu-west-1", "--account-id", "111122223333",
        "--format", "json",
    )  # fmt: skip
    assert code == 1
    found = {
        (v["rule_id"], v["resource_name"]) for v in report["violations"] if v["enforcement"] == "mandatory"
    }
    assert found == {
        ("iam_principal_administrator_access_prohibited", "ReportRole"),  # Policies: [AdministratorAccess]
        ("lambda_function_role_admin_prohibited", "Report"),
        ("lambda_function_url_auth_required", "ReportUrl"),  # AuthType NONE from Globals
        ("lambda_permission_public_access_prohibited", "ReportUrlPublicPermissions"),
    }
    assert not [v for v in report["violations"] if v["resource_name"].startswith("Tidy")]
    assert report["undecided"] == []
    skipped = {n["resource_name"]: n for n in report["not_evaluated"]}
    assert set(skipped) == {
        "Report.Policies.S3ReadPolicy", "ServerlessRestApi", "ReportQueue", "TidyNightly", "Scores",
    }  # fmt: skip
    assert skipped["Scores"]["resource_type"] == "AWS::DynamoDB::Table"
    assert skipped["Report.Policies.S3ReadPolicy"]["source"]["line"] == 12


def test_iam_users_and_groups_feed_the_admin_rules_in_templates_and_plans() -> None:
    expected = {
        ("iam_principal_administrator_access_prohibited", "AdministratorAccess is attached to user intern"),
        (
            "iam_policy_admin_access_prohibited",
            "a statement (Action: *) allows every action on every resource",
        ),
    }
    for args in (
        ("--cloudformation", FIXTURES / "iam-principals.json"),
        ("--terraform-plan", FIXTURES / "principals.tfplan.json"),
    ):
        code, report, _ = policy_check(*args, "--format", "json")
        assert code == 1
        found = {
            (v["rule_id"], v["message"]) for v in report["violations"] if v["enforcement"] == "mandatory"
        }
        assert found == expected, args


def test_plan_suppression_tags_exempt_and_unmapped_resources_show_in_every_format(tmp_path: Path) -> None:
    plan = FIXTURES / "principals.tfplan.json"
    outputs = {kind: tmp_path / f"out.{kind}" for kind in ("sarif", "junit", "csv", "table")}
    _, report, _ = policy_check(
        "--terraform-plan", plan, "--format", "json",
        *(f"--format={kind}={path}" for kind, path in outputs.items()),
    )  # fmt: skip
    assert report["exemptions"] == [
        {
            "rule_id": "s3_bucket_versioning_enabled",
            "detail": "aws_s3_bucket.scratch (scratch space, emptied nightly)",
        }
    ]
    (skipped,) = report["not_evaluated"]
    assert skipped["resource_name"] == "aws_cloudwatch_log_group.scratch"
    assert report["summary"]["not_evaluated"] == 1
    line = skipped["source"]["line"]
    assert '"address": "aws_cloudwatch_log_group.scratch"' in plan.read_text().splitlines()[line - 1]
    log = json.loads(outputs["sarif"].read_text())
    assert sarif_errors(log) == []
    (note,) = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert "aws_cloudwatch_log_group.scratch" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["region"]["startLine"] == line
    assert 'name="aws_cloudwatch_log_group aws_cloudwatch_log_group.scratch"' in outputs["junit"].read_text()
    assert "<skipped" in outputs["junit"].read_text()
    assert (
        ",not-evaluated,aws_cloudwatch_log_group,aws_cloudwatch_log_group.scratch,"
        in outputs["csv"].read_text()
    )
    assert (
        "not evaluated aws_cloudwatch_log_group aws_cloudwatch_log_group.scratch "
        f"(tests/templates/fixtures/principals.tfplan.json:{line}): no rule reads this resource type"
    ) in outputs["table"].read_text()


def test_framework_reports_each_control_from_the_rules_that_test_it(tmp_path: Path) -> None:
    table = tmp_path / "t.txt"
    code, report, _ = policy_check(
        "--cloudformation", FIXTURES / "insecure.yaml", "--framework", "fsbp", "--format", "json",
        "--format", f"table={table}",
    )  # fmt: skip
    assert code == 1
    # Only the framework's rules: FSBP has no control for AdministratorAccess attached to a role.
    assert mandatory_ids(report) == CAMP_MANDATORY - {"iam_principal_administrator_access_prohibited"}
    section = report["framework"]
    controls = {c["id"]: c for c in section["controls"]}
    assert (
        controls["S3.2"]["status"] == controls["S3.3"]["status"] == controls["EC2.14"]["status"] == "failed"
    )
    assert {f["resource_name"] for f in controls["EC2.14"]["failing"]} == {
        v["resource_name"]
        for v in report["violations"]
        if v["rule_id"] == "ec2_security_group_rdp_restricted"
    }
    failed_rules = {v["rule_id"] for v in report["violations"]}
    passed = [c for c in controls.values() if c["status"] == "passed"]
    assert passed and all(not failed_rules & set(c["rules"]) for c in passed)
    assert section["score"]["not_covered"] == sum(1 for c in controls.values() if not c["rules"])
    assert "fsbp S3.2 failed" in table.read_text()


def test_a_control_whose_rule_is_undecided_is_not_evaluated_never_passed() -> None:
    _, report, _ = policy_check(
        "--cloudformation", FIXTURES / "conditional.yaml", "--region", "eu-west-1", "--framework", "fsbp",
        "--format", "json",
    )  # fmt: skip
    controls = {c["id"]: c["status"] for c in report["framework"]["controls"]}
    assert controls["S3.2"] == controls["EC2.14"] == "not_evaluated"
