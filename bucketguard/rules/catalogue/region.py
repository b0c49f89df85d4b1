"""Region rule: every resource lives in a configured allowed region."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules.facts import ResourceFacts
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, rule

# CloudTrail hands the calls of global services to EventBridge in us-east-1 alone (IAM, Organizations, Account
# Management, Route 53): a rule there forwarding only their events belongs to them, as IAM has no region.
GLOBAL_EVENTS_REGION = "us-east-1"
GLOBAL_EVENT_SOURCES = frozenset({"aws.iam", "aws.organizations", "aws.account", "aws.route53"})


@rule(
    "aws_resource_region_allowed",
    ResourceFacts,
    Severity.HIGH,
    title="Resources are deployed only in the allowed regions",
    risk=(
        "Data stored outside the agreed regions may break residency commitments made to the camp's "
        "families. Resources in unexpected regions also escape the monitoring set up for the usual ones."
    ),
    remediation=Remediation(
        summary="Deploy through a provider pinned to an allowed region.",
        pulumi="""\
import pulumi
import pulumi_aws as aws

eu = aws.Provider("eu-west-1", region="eu-west-1")
aws.s3.Bucket("teaching", opts=pulumi.ResourceOptions(provider=eu))
""",
        console="Recreate the resource in an allowed region and migrate its data; delete the old one.",
        cli="pulumi config set aws:region eu-west-1",
    ),
    references=References(),
    config_keys=("allowed_regions",),
    notes="Only when allowed_regions is configured. Judges the generic resource list (every resource, its "
    "own region or its provider's); global services (IAM, CloudFront, Organizations) have none, nor has an "
    "EventBridge rule in us-east-1 matching only their events (with its targets): AWS delivers them there "
    "alone, so the monitor's IAM forwarder lives there whatever the allowed regions. A region "
    "computed at preview, or left to the deployer's AWS_REGION, leaves the resource undecided.",
)
def aws_resource_region_allowed(resource: ResourceFacts, config: RulesConfig) -> Iterator[str]:
    if not config.allowed_regions or resource.region is None or resource.region in config.allowed_regions:
        return
    allowed = ", ".join(sorted(config.allowed_regions))
    what = resource.type or "resource"
    yield f"{what} is in region {resource.region}, outside the allowed regions ({allowed})"
