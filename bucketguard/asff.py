"""AWS Security Finding Format (ASFF, schema 2018-10-08): one builder for every bucketguard finding sent to
Security Hub (audit violations, monitor alerts), and the BatchImportFindings call that sends them.

Findings are imported as a custom integration of the finding's own account and region
(``product/<account>/default``): Security Hub accepts them without a partner subscription.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
BATCH_SIZE = 100  # BatchImportFindings takes at most 100 findings per call
# Field limits of the ASFF (longer values are refused by BatchImportFindings).
TITLE_MAX, DESCRIPTION_MAX, RECOMMENDATION_MAX = 256, 1024, 512
FIELDS_MAX, FIELD_KEY_MAX, PRODUCT_FIELD_MAX, TAG_VALUE_MAX = 50, 128, 2048, 256
RELATED_REQUIREMENTS_MAX = 32
SEVERITY_LABELS = {
    "info": "INFORMATIONAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "critical": "CRITICAL",
}

# ARN (service, resource prefix) -> ASFF resource type; anything else is "Other".
_RESOURCE_TYPES = {
    ("s3", ""): "AwsS3Bucket",
    ("ec2", "security-group"): "AwsEc2SecurityGroup",
    ("ec2", "instance"): "AwsEc2Instance",
    ("iam", "role"): "AwsIamRole",
    ("iam", "user"): "AwsIamUser",
    ("iam", "group"): "AwsIamGroup",
    ("iam", "policy"): "AwsIamPolicy",
    ("iam", "root"): "AwsAccount",
    ("lambda", "function"): "AwsLambdaFunction",
    ("sqs", ""): "AwsSqsQueue",
    ("sns", ""): "AwsSnsTopic",
    ("kms", "key"): "AwsKmsKey",
    ("cloudtrail", "trail"): "AwsCloudTrailTrail",
}


def resource_type(arn: str) -> str:
    """The ASFF ``Resources[].Type`` of an ARN (``arn:aws:s3:::b`` -> ``AwsS3Bucket``)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return "Other"
    service, resource = parts[2], parts[5]
    if service in ("s3", "sqs", "sns"):
        # a bucket has no '/' in its ARN (an object has); a queue or topic ARN ends with its plain name
        return _RESOURCE_TYPES[(service, "")] if "/" not in resource else "Other"
    prefix = resource.split("/", 1)[0].split(":", 1)[0]
    return _RESOURCE_TYPES.get((service, prefix), "Other")


def partition(arn: str) -> str:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "arn" and parts[1] else "aws"


def product_arn(account: str, region: str, arn_partition: str = "aws") -> str:
    """The custom-integration product of ``account`` in ``region``: where its own findings are imported."""
    return f"arn:{arn_partition}:securityhub:{region}:{account}:product/{account}/default"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field_map(fields: Mapping[str, str], value_max: int) -> dict[str, str]:
    """A map as the ASFF takes one (ProductFields, a resource's Tags): at most 50 pairs, keys and values
    clipped, and none blank: each must hold a character other than whitespace, and an S3 tag's value may
    be empty (a bucket tagged `owner=` made Security Hub refuse every finding about it)."""
    kept = {
        _clip(k, FIELD_KEY_MAX): _clip(v, value_max) for k, v in fields.items() if k.strip() and v.strip()
    }
    return dict(list(kept.items())[:FIELDS_MAX])


def asff_finding(
    *,
    finding_id: str,
    account: str,
    region: str,
    generator_id: str,
    title: str,
    description: str,
    severity: str,
    resource_arn: str,
    created_at: str,
    updated_at: str,
    resource_region: str | None = None,
    resource_tags: Mapping[str, str] | None = None,
    related_requirements: Sequence[str] = (),
    recommendation: str = "",
    recommendation_url: str | None = None,
    product_fields: Mapping[str, str] | None = None,
    compliance_status: str = "FAILED",
) -> dict[str, Any]:
    """One ASFF finding about ``resource_arn`` (a failed configuration check by default).

    ``region`` is where the finding is imported (a real region, also for global resources such as IAM);
    ``created_at`` is when the failure was first seen, ``updated_at`` this observation (RFC 3339, UTC).
    Texts longer than the ASFF allows are clipped rather than refused by the import.
    """
    arn_partition = partition(resource_arn)
    resource: dict[str, Any] = {
        "Type": resource_type(resource_arn),
        "Id": resource_arn,
        "Partition": arn_partition,
        "Region": resource_region or region,
    }
    if resource_tags and (tags := _field_map(resource_tags, TAG_VALUE_MAX)):
        resource["Tags"] = tags
    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id,
        "ProductArn": product_arn(account, region, arn_partition),
        "ProductName": "bucketguard",
        "CompanyName": "bucketguard",
        "GeneratorId": generator_id,
        "AwsAccountId": account,
        "Region": region,
        "Types": [FINDING_TYPE],
        "CreatedAt": created_at,
        "UpdatedAt": updated_at,
        "FirstObservedAt": created_at,
        "LastObservedAt": updated_at,
        "Severity": {"Label": SEVERITY_LABELS[severity], "Original": severity},
        "Title": _clip(title, TITLE_MAX),
        "Description": _clip(description, DESCRIPTION_MAX),
        "Resources": [resource],
        "Compliance": {"Status": compliance_status},
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
    }
    if related_requirements:
        finding["Compliance"]["RelatedRequirements"] = list(related_requirements)[:RELATED_REQUIREMENTS_MAX]
    if recommendation:
        finding["Remediation"] = {"Recommendation": {"Text": _clip(recommendation, RECOMMENDATION_MAX)}}
        if recommendation_url:
            finding["Remediation"]["Recommendation"]["Url"] = recommendation_url
    if product_fields and (fields := _field_map(product_fields, PRODUCT_FIELD_MAX)):
        finding["ProductFields"] = fields
    return finding


class ImportFailed(Exception):
    """Security Hub refused some findings: ``failed`` lists them as it answered (Id, ErrorCode,
    ErrorMessage)."""

    def __init__(self, failed: Sequence[Mapping[str, Any]], imported: int, where: str = "") -> None:
        self.failed = list(failed)
        self.imported = imported
        first = self.failed[0]
        super().__init__(
            f"{where}Security Hub refused {len(self.failed)} finding(s) ({imported} imported); first: "
            f"{first.get('Id', '?')}: {first.get('ErrorCode', '?')} {first.get('ErrorMessage', '')}".rstrip()
        )


@dataclass(frozen=True)
class ImportResult:
    imported: int
    calls: int


def import_findings(securityhub: Any, findings: Iterable[Mapping[str, Any]]) -> ImportResult:
    """BatchImportFindings in batches of 100 through ``securityhub`` (a boto3 client of the findings'
    region). Every batch is sent; then, if any finding was refused, ``ImportFailed`` lists them all: a
    partial import is never reported as a success."""
    batch: list[Mapping[str, Any]] = []
    imported = calls = 0
    failed: list[Mapping[str, Any]] = []

    def send() -> None:
        nonlocal imported, calls
        answer = securityhub.batch_import_findings(Findings=batch)
        calls += 1
        imported += int(answer.get("SuccessCount", 0))
        failed.extend(answer.get("FailedFindings", ()))

    for finding in findings:
        batch.append(finding)
        if len(batch) == BATCH_SIZE:
            send()
            batch = []
    if batch:
        send()
    if failed:
        raise ImportFailed(failed, imported)
    return ImportResult(imported, calls)
