"""End to end: programs recorded under the mock runtime, analyzed by the real pack process over gRPC in the
engine's call order, through `python -m bucketguard policy check`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bucketguard import __version__
from tests.policy.conftest import REPO

pytestmark = pytest.mark.e2e

INSECURE_CAMP_MANDATORY = {
    "aws_resource_region_allowed",
    "ec2_security_group_rdp_restricted",
    "iam_principal_administrator_access_prohibited",
    "lambda_function_role_admin_prohibited",
    "lambda_permission_public_access_prohibited",
    "s3_bucket_public_access_block_enabled",
    "s3_bucket_public_read_prohibited",
    "s3_bucket_public_write_prohibited",
}


VIOLATION_KEYS = {
    "rule_id",
    "policy",
    "severity",
    "enforcement",
    "resource_type",
    "resource_name",
    "urn",
    "message",
    "references",
    "source",
}


def policy_check(*args: str | Path) -> tuple[int, Any, str]:
    completed = subprocess.run(
        [sys.executable, "-m", "bucketguard", "policy", "check", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output: Any = completed.stdout
    if "--format" in args and completed.stdout.strip().startswith("{"):
        output = json.loads(completed.stdout)
    return completed.returncode, output, completed.stderr


def mandatory_ids(report: dict[str, Any]) -> set[str]:
    return {v["rule_id"] for v in report["violations"] if v["enforcement"] == "mandatory"}


def test_insecure_camp_fails_with_exactly_the_expected_rules() -> None:
    camp = REPO / "examples" / "insecure-camp"
    code, report, _ = policy_check(
        "--program", camp, "--policy-config", camp / "policy-config.json", "--format", "json"
    )
    assert code == 1
    assert mandatory_ids(report) == INSECURE_CAMP_MANDATORY
    assert report["schema_version"] == 1
    write = next(v for v in report["violations"] if v["rule_id"] == "s3_bucket_public_write_prohibited")
    assert write["resource_name"] == "teaching-material"
    assert write["policy"] == f"bucketguard@v{__version__}/s3_bucket_public_write_prohibited"
    assert write["source"] == {"file": "__main__.py", "line": 10}  # teaching = aws.s3.Bucket(...)
    assert write["resource_type"] == "aws:s3/bucket:Bucket"
    assert write["severity"] == "critical"
    assert write["urn"].endswith("::aws:s3/bucket:Bucket::teaching-material")
    assert "S3.3" in write["references"]["fsbp"]
    assert set(write["references"]) == {"fsbp", "cis", "conformity", "checkov", "prowler"}
    assert all(set(v) == VIOLATION_KEYS for v in report["violations"])  # the shape issue 5 gives
    region = next(v for v in report["violations"] if v["rule_id"] == "aws_resource_region_allowed")
    assert region["resource_name"] == "holiday-photos" and "ap-southeast-2" in region["message"]
    assert report["summary"]["mandatory"] == len(
        [v for v in report["violations"] if v["enforcement"] == "mandatory"]
    )


def test_secure_camp_passes_and_reports_its_exemption_with_the_reason() -> None:
    camp = REPO / "examples" / "secure-camp"
    code, report, _ = policy_check(
        "--program", camp, "--policy-config", camp / "policy-config.json", "--format", "json"
    )
    assert code == 0, report
    assert report["violations"] == []
    (exemption,) = report["exemptions"]
    assert exemption["rule_id"] == "s3_bucket_object_lock_enabled"
    assert "access-logs" in exemption["detail"] and "lifecycle rule" in exemption["detail"]


PUBLIC_ACL = """
b = aws.s3.Bucket("site")
aws.s3.BucketAcl("site-acl", bucket=b.id, acl="public-read")
"""


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config))
    return path


def test_exemption_by_name_lifts_the_violation(program, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    directory = program(PUBLIC_ACL)
    code, report, _ = policy_check("--program", directory, "--format", "json")
    assert code == 1 and "s3_bucket_public_read_prohibited" in mandatory_ids(report)
    config = write_config(
        tmp_path,
        {
            "s3_bucket_public_read_prohibited": {
                "exemptions": [{"resource": "site", "reason": "the camp's public brochure site"}]
            }
        },
    )
    code, report, _ = policy_check("--program", directory, "--policy-config", config, "--format", "json")
    assert "s3_bucket_public_read_prohibited" not in mandatory_ids(report)
    assert {
        "rule_id": "s3_bucket_public_read_prohibited",
        "detail": "site (the camp's public brochure site)",
    } in report["exemptions"]


def test_exemption_without_reason_is_rejected(program, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = write_config(
        tmp_path, {"s3_bucket_public_read_prohibited": {"exemptions": [{"resource": "site"}]}}
    )
    code, _, stderr = policy_check("--program", program(PUBLIC_ACL), "--policy-config", config)
    assert code == 2
    assert "reason" in stderr and "s3_bucket_public_read_prohibited" in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("config", "line"),
    [
        (
            {"aws_resource_region_allowed": {"allowedRegionz": ["eu-west-1"]}},
            "aws_resource_region_allowed.allowedRegionz: unknown key; did you mean allowedRegions?",
        ),
        (
            {"all": {"allowedRegions": ["eu-west-1"]}},
            'all.allowedRegions: "all" takes only enforcementLevel; set allowedRegions on the policies that '
            "declare it",
        ),
        (
            # A key another rule declares is still refused: this rule would silently ignore it.
            {"s3_bucket_versioning_enabled": {"allowedRegions": ["eu-west-1"]}},
            "s3_bucket_versioning_enabled.allowedRegions: unknown key (known: exemptions)",
        ),
        (
            {"aws_resource_region_alowed": "mandatory"},
            "aws_resource_region_alowed: unknown policy; did you mean aws_resource_region_allowed?",
        ),
        (
            {"aws_resource_region_allowed": {"allowedRegions": ["eu-mars"]}},
            "aws_resource_region_allowed.allowedRegions[0]: 'eu-mars' is not an AWS region name such as "
            "eu-west-1",
        ),
    ],
)
def test_policy_config_typos_are_refused_in_one_line(  # type: ignore[no-untyped-def]
    program, tmp_path: Path, config: dict[str, Any], line: str
) -> None:
    path = write_config(tmp_path, config)
    code, _, stderr = policy_check("--program", program(PUBLIC_ACL), "--policy-config", path)
    assert code == 2
    assert stderr.splitlines() == [f"bucketguard: {path}: {line}"]


def test_enforcement_level_per_rule(program, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    directory = program(PUBLIC_ACL)
    config = write_config(tmp_path, {"all": "advisory"})
    code, report, _ = policy_check("--program", directory, "--policy-config", config, "--format", "json")
    assert code == 0 and mandatory_ids(report) == set() and report["violations"]
    config = write_config(
        tmp_path,
        {
            "all": "advisory",
            "s3_bucket_versioning_enabled": "mandatory",
            "s3_bucket_public_read_prohibited": "disabled",
        },
    )
    code, report, _ = policy_check("--program", directory, "--policy-config", config, "--format", "json")
    assert code == 1 and mandatory_ids(report) == {"s3_bucket_versioning_enabled"}
    assert "s3_bucket_public_read_prohibited" not in {v["rule_id"] for v in report["violations"]}


def test_remediation_rewrites_nothing_below_the_remediate_level(program, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    directory = program(PUBLIC_ACL)
    for config in ({}, {"s3_remediate_canned_acl_private": "advisory"}):
        path = write_config(tmp_path, config)
        _code, report, _ = policy_check("--program", directory, "--policy-config", path, "--format", "json")
        assert report["remediations"] == []
        assert "s3_bucket_public_read_prohibited" in mandatory_ids(report)


def test_remediation_rewrites_public_acl_at_remediate_level(program, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path, {"s3_remediate_canned_acl_private": "remediate"})
    _code, report, _ = policy_check(
        "--program", program(PUBLIC_ACL), "--policy-config", config, "--format", "json", "--preview"
    )
    (remediation,) = report["remediations"]
    assert remediation["policy"] == "s3_remediate_canned_acl_private"
    assert remediation["properties"]["acl"] == "private"
    # The bucket name is unknown at preview: it flows through the remediation untouched.
    assert remediation["properties"]["bucket"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert "s3_bucket_public_read_prohibited" not in {v["rule_id"] for v in report["violations"]}


def test_undecided_at_preview_names_the_unknown_input_and_decides_the_rest(program) -> None:  # type: ignore[no-untyped-def]
    directory = program("""
        b = aws.s3.Bucket("site")
        aws.s3.BucketAcl("site-acl", bucket=b.id, acl="public-read")
        aws.s3.BucketPolicy("site-policy", bucket=b.id, policy=b.arn.apply(lambda arn: json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"{arn}/*"}]})))
    """)
    code, report, _ = policy_check("--program", directory, "--format", "json", "--up")
    assert code == 1 and "s3_bucket_public_write_prohibited" in mandatory_ids(report)
    code, report, _ = policy_check("--program", directory, "--format", "json")  # preview: the default
    assert code == 1 and report["summary"]["preview"] is True
    # The ACL decides public read whatever the policy says; public write needs the policy.
    assert mandatory_ids(report) == {"s3_bucket_public_read_prohibited"}
    assert "s3_bucket_public_write_prohibited" not in {v["rule_id"] for v in report["violations"]}
    write = next(u for u in report["undecided"] if u["rule_id"] == "s3_bucket_public_write_prohibited")
    assert write["detail"].startswith(
        "undecided for site: needs the policy of site-policy (aws:s3/bucketPolicy:BucketPolicy), "
        "computed from site once created."
    )
    assert report["summary"]["undecided"] == len(report["undecided"])


INSECURE_PROGRAMS = {
    "public-acl": PUBLIC_ACL,
    "public-write-policy": """
        b = aws.s3.Bucket("site")
        aws.s3.BucketPolicy("site-policy", bucket=b.id, policy=b.bucket.apply(lambda name: json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{name}/*"}]})))
        aws.s3.BucketPublicAccessBlock("site-bpa", bucket=b.id, block_public_policy=False)
    """,
    "public-lambda": """
        role = aws.iam.Role("r", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
        aws.iam.RolePolicyAttachment("admin", role=role.name,
                                     policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")
        fn = aws.lambda_.Function("f", role=role.arn, runtime="python3.12", handler="index.handler",
                                  code=pulumi.StringAsset("x"))
        aws.lambda_.Permission("anyone", action="lambda:InvokeFunction", function=fn.name, principal="*")
        aws.lambda_.FunctionUrl("url", function_name=fn.name, authorization_type="NONE")
    """,
    "public-queue-and-topic": """
        q = aws.sqs.Queue("q")
        aws.sqs.QueuePolicy("qp", queue_url=q.id, policy=q.name.apply(lambda n: json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:eu-west-1:123456789012:{n}"}]})))
        t = aws.sns.Topic("t")
        aws.sns.TopicPolicy("tp", arn=t.arn, policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*"}]}))
    """,
    "open-ports": """
        sg = aws.ec2.SecurityGroup("sg", ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                                    "cidr_blocks": ["0.0.0.0/0"]}])
        aws.vpc.SecurityGroupIngressRule("rdp", security_group_id=sg.id, ip_protocol="tcp", from_port=3389,
                                         to_port=3389, cidr_ipv4="0.0.0.0/0")
    """,
}


EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/Pulumi.yaml"))


def mandatory_findings(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (v["rule_id"], v["resource_name"]) for v in report["violations"] if v["enforcement"] == "mandatory"
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", [*EXAMPLES, *INSECURE_PROGRAMS])
def test_preview_gives_the_same_mandatory_findings_as_up(case: str, program) -> None:  # type: ignore[no-untyped-def]
    example = REPO / "examples" / case
    if example.is_dir():
        config = example / "policy-config.json"
        args: list[str | Path] = ["--program", example, "--format", "json"]
        args += ["--policy-config", config] if config.is_file() else []
    else:
        args = ["--program", program(INSECURE_PROGRAMS[case]), "--format", "json"]
    _, up, _ = policy_check(*args, "--up")
    _, preview, _ = policy_check(*args, "--preview")
    assert preview["summary"]["preview"] and not up["summary"]["preview"]
    assert mandatory_findings(preview) == mandatory_findings(up)
    assert bool(mandatory_findings(up)) == (case != "secure-camp")


def test_program_that_fails_to_import_exits_2_with_its_own_error(program) -> None:  # type: ignore[no-untyped-def]
    directory = program("import camp_helpers_that_do_not_exist\n")
    code, _, stderr = policy_check("--program", directory)
    assert code == 2
    (line,) = stderr.strip().splitlines()  # the program's traceback only with --debug (tests/cli)
    assert line.startswith("bucketguard: the program in ")
    assert "No module named 'camp_helpers_that_do_not_exist'" in line


def test_sarif_output(program) -> None:  # type: ignore[no-untyped-def]
    code, sarif, _ = policy_check("--program", program(PUBLIC_ACL), "--format", "sarif")
    assert code == 1 and sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    result = next(r for r in run["results"] if r["ruleId"] == "s3_bucket_public_read_prohibited")
    assert result["level"] == "error" and rule_ids[result["ruleIndex"]] == result["ruleId"]
    assert result["locations"][0]["logicalLocations"][0]["name"] == "site"
