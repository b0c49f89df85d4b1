"""ASFF: `audit --format asff` findings are valid BatchImportFindings input (botocore's model of the API
checks each one), `--import-security-hub` sends them to moto's Security Hub, refused findings are reported."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

from bucketguard.asff import ImportFailed, asff_finding, import_findings, resource_type
from bucketguard.audit.report import RENDERERS
from bucketguard.cli.audit import FORMATS
from bucketguard.sandbox.aws import EmbeddedAws
from tests.audit.conftest import ACCOUNT, REGION, client
from tests.audit.test_cli import run

pytestmark = pytest.mark.usefixtures("credentials")


def model_errors(findings: list[dict[str, Any]]) -> str:
    """What botocore's model of BatchImportFindings (AWS's API definition) finds wrong in ``findings``: its
    validator's report, and every string its shape's pattern refuses (botocore does not check those)."""
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    report = ParamValidator().validate({"Findings": findings}, shape).generate_report()
    return "\n".join([report, *_pattern_errors({"Findings": findings}, shape, "")]).strip()


def _pattern_errors(value: Any, shape: Shape, where: str) -> Iterator[str]:
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in value.items():
            if name in shape.members:
                yield from _pattern_errors(member, shape.members[name], f"{where}.{name}")
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for number, item in enumerate(value):
            yield from _pattern_errors(item, shape.member, f"{where}[{number}]")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            yield from _pattern_errors(key, shape.key, f"{where} key {key!r}")
            yield from _pattern_errors(item, shape.value, f"{where}[{key!r}]")
    elif (
        isinstance(value, str)
        and (pattern := shape.metadata.get("pattern"))
        and not re.search(pattern, value)
    ):
        yield f"{where}: {value!r} does not match {pattern}"


def test_resource_types_follow_the_arn() -> None:
    assert resource_type("arn:aws:s3:::camp-site") == "AwsS3Bucket"
    assert resource_type("arn:aws:s3:::camp-site/key.js") == "Other"  # an object, not a bucket
    assert resource_type("arn:aws:ec2:us-east-1:123456789012:security-group/sg-1") == "AwsEc2SecurityGroup"
    assert resource_type("arn:aws:iam::123456789012:role/helper") == "AwsIamRole"
    assert resource_type("arn:aws:iam::123456789012:root") == "AwsAccount"
    assert resource_type("arn:aws:lambda:us-east-1:123456789012:function:f#sid") == "AwsLambdaFunction"
    assert resource_type("arn:aws:sqs:us-east-1:123456789012:q") == "AwsSqsQueue"
    assert resource_type("arn:aws:kms:us-east-1:123456789012:key/abc") == "AwsKmsKey"
    assert resource_type("not an arn") == "Other"


def test_formats_offered_are_the_renderers() -> None:
    assert tuple(RENDERERS) == FORMATS


def test_audit_writes_asff_and_imports_it_into_security_hub(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="camp-site")
    s3.put_bucket_acl(Bucket="camp-site", ACL="public-read")
    # AWS allows an empty tag value; the ASFF's maps do not (the finding would be refused)
    tags = [{"Key": "team", "Value": "camp"}, {"Key": "owner", "Value": ""}]
    s3.put_bucket_tagging(Bucket="camp-site", Tagging={"TagSet": tags})
    ec2 = client(aws, "ec2")
    group = ec2.create_security_group(GroupName="rdp", Description="open")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group, IpProtocol="tcp", FromPort=3389, ToPort=3389, CidrIp="0.0.0.0/0"
    )
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    client(aws, "iam").create_policy(PolicyName="everything", PolicyDocument=json.dumps(everything))
    out = tmp_path / "findings.asff.json"

    code, _, err = run(
        aws,
        capsys,
        tmp_path,
        *("--region", REGION, "--service", "s3", "--service", "ec2", "--service", "iam"),
        *("--format", f"asff={out}", "--import-security-hub"),
    )

    assert code == 1
    findings = json.loads(out.read_text())["Findings"]
    assert model_errors(findings) == ""
    by_rule = {(f["GeneratorId"], f["Resources"][0]["Id"]): f for f in findings}
    public = by_rule["s3_bucket_public_read_prohibited", "arn:aws:s3:::camp-site"]
    assert public["Resources"][0]["Type"] == "AwsS3Bucket"
    assert public["Resources"][0]["Tags"] == {"team": "camp"}
    assert public["Severity"]["Label"] == "HIGH" and public["Compliance"]["Status"] == "FAILED"
    related = public["Compliance"]["RelatedRequirements"]
    assert "AWS Foundational Security Best Practices v1.0.0/S3.2" in related
    assert public["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    assert public["Remediation"]["Recommendation"]["Text"]
    rdp = next(f for f in findings if f["GeneratorId"] == "ec2_security_group_rdp_restricted")
    assert rdp["Resources"][0]["Type"] == "AwsEc2SecurityGroup" and group in rdp["Resources"][0]["Id"]
    admin = next(f for f in findings if f["GeneratorId"] == "iam_policy_admin_access_prohibited")
    # IAM is global: reported in the account's first audited region, a region Security Hub has
    assert admin["Region"] == REGION and admin["Resources"][0]["Type"] == "AwsIamPolicy"

    assert f"imported {len(findings)} finding(s) into Security Hub {ACCOUNT}/{REGION}" in err
    hub = client(aws, "securityhub")
    stored = [f for page in hub.get_paginator("get_findings").paginate() for f in page["Findings"]]
    assert sorted(f["Id"] for f in stored) == sorted(f["Id"] for f in findings)


FINDING_ARGS: dict[str, Any] = {
    "finding_id": "finding-1",
    "account": ACCOUNT,
    "region": REGION,
    "generator_id": "s3_bucket_versioning_enabled",
    "title": "S3 buckets keep object versions",
    "description": "x" * 5000,  # clipped to the ASFF's 1,024 characters
    "severity": "medium",
    "resource_arn": "arn:aws:s3:::bucket-1",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-02T00:00:00Z",
}


def finding(number: int, **overrides: Any) -> dict[str, Any]:
    built = asff_finding(
        **{**FINDING_ARGS, "finding_id": f"finding-{number}", "resource_arn": f"arn:aws:s3:::bucket-{number}"}
    )
    return {**built, **overrides}


def test_import_sends_batches_of_100(aws: EmbeddedAws) -> None:
    hub = client(aws, "securityhub")
    findings = [finding(n) for n in range(250)]
    assert model_errors(findings) == "" and len(findings[0]["Description"]) == 1024

    result = import_findings(hub, findings)

    assert (result.imported, result.calls) == (250, 3)
    assert len(hub.get_findings(MaxResults=100)["Findings"]) == 100


def test_a_refused_finding_fails_the_import_after_the_rest_are_sent(aws: EmbeddedAws) -> None:
    hub = client(aws, "securityhub")
    # moto, like Security Hub, refuses a finding without a resource
    findings = [finding(1), finding(2, Resources=[]), finding(3)]

    with pytest.raises(ImportFailed) as refused:
        import_findings(hub, findings)

    assert [f["Id"] for f in refused.value.failed] == ["finding-2"] and refused.value.imported == 2
    assert "refused 1 finding(s) (2 imported); first: finding-2: InvalidInput" in str(refused.value)


def test_blank_tags_and_fields_are_left_out_and_long_ones_clipped() -> None:
    # AWS lets a tag's value be empty (and a key or value be spaces); the ASFF's maps hold no blank string
    tags = {"owner": "", "team": "camp", " ": "x", "note": "  ", **{f"k{n}": "v" for n in range(60)}}
    built = asff_finding(
        **{
            **FINDING_ARGS,
            "resource_tags": tags,
            "product_fields": {"bucketguard/actor": "", "x" * 200: "y" * 3000},
        }
    )
    assert model_errors([built]) == ""
    kept = built["Resources"][0]["Tags"]
    assert kept["team"] == "camp" and not {"owner", " ", "note"} & set(kept) and len(kept) == 50
    [(key, value)] = built["ProductFields"].items()
    assert (len(key), len(value)) == (128, 2048)


def test_the_model_check_refuses_a_blank_value() -> None:
    assert "does not match" in model_errors([{**finding(1), "ProductFields": {"bucketguard/actor": ""}}])
