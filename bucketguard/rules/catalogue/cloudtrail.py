"""CloudTrail rules (stack level, advisory): a trail exists, covers every region, validates, logs S3 data."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules.facts import StackFacts, TrailFacts
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, Violation, rule

TRAIL_SNIPPET = """\
import pulumi_aws as aws

logs = aws.s3.Bucket("trail-logs", tags={"bucketguard:role": "logs"})  # plus the CloudTrail bucket policy
aws.cloudtrail.Trail(
    "account-trail",
    s3_bucket_name=logs.id,
    is_multi_region_trail=True,
    enable_log_file_validation=True,
    event_selectors=[
        {
            "read_write_type": "All",
            "include_management_events": True,
            "data_resources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}],
        }
    ],
)
"""
TRAIL_CONSOLE = "CloudTrail > Trails > Create trail (or edit): apply to all regions, log file validation on, "
TRAIL_CLI = "aws cloudtrail update-trail --name TRAIL --is-multi-region-trail --enable-log-file-validation"
NOTE = "Stack level and advisory: stacks without any resource are not judged. "


def _has_resources(stack: StackFacts) -> bool:
    return bool(stack.resources) or any(True for _ in stack.typed_resources())


def _violation(trail: TrailFacts, message: str) -> Violation:
    return Violation(message, trail.kind, trail.name, trail.ref)


@rule(
    "cloudtrail_trail_enabled",
    StackFacts,
    Severity.MEDIUM,
    title="A CloudTrail trail records the account's API activity",
    risk=(
        "Without a trail, who changed a bucket policy or deleted teaching material is lost after 90 days of "
        "event history. A trail keeps the record in S3 for investigation."
    ),
    remediation=Remediation(
        summary="Declare a multi-region trail (or exempt the rule where an organisation trail exists).",
        pulumi=TRAIL_SNIPPET,
        console=TRAIL_CONSOLE + "choose an S3 bucket.",
        cli="aws cloudtrail create-trail --name TRAIL --s3-bucket-name BUCKET --is-multi-region-trail",
    ),
    references=References(fsbp=("CloudTrail.1",), cis=("3.1",), prowler=("cloudtrail_multi_region_enabled",)),
    notes=NOTE + "Fails when the stack declares no trail, and for each trail whose logging is stopped; "
    "exempt it where an organisation trail covers the account.",
)
def cloudtrail_trail_enabled(stack: StackFacts, config: RulesConfig) -> Iterator[str | Violation]:
    if not stack.trails and _has_resources(stack):
        yield "the stack declares no CloudTrail trail"
    for trail in stack.trails:
        if trail.is_logging is False:
            yield _violation(trail, f"trail {trail.name} is not logging (StopLogging)")


@rule(
    "cloudtrail_trail_multi_region_enabled",
    StackFacts,
    Severity.MEDIUM,
    title="At least one CloudTrail trail covers every region",
    risk=(
        "A single-region trail misses activity in every other region, where an attacker can work unseen. "
        "A multi-region trail records API calls wherever they happen."
    ),
    remediation=Remediation(
        summary="Set is_multi_region_trail=True on the trail.",
        pulumi=TRAIL_SNIPPET,
        console=TRAIL_CONSOLE + "'Apply trail to all regions' Yes.",
        cli=TRAIL_CLI,
    ),
    references=References(
        fsbp=("CloudTrail.1",),
        cis=("3.1",),
        checkov=("CKV_AWS_67",),
        prowler=("cloudtrail_multi_region_enabled",),
    ),
    notes=NOTE + "Fails when trails exist and none is multi-region (AWS default: single region).",
)
def cloudtrail_trail_multi_region_enabled(stack: StackFacts, config: RulesConfig) -> Iterator[Violation]:
    if stack.trails and not any(t.is_multi_region for t in stack.trails):
        for trail in stack.trails:
            yield _violation(trail, "the trail records only its own region")


@rule(
    "cloudtrail_trail_log_file_validation_enabled",
    StackFacts,
    Severity.LOW,
    title="CloudTrail trails validate their log files",
    risk=(
        "Without log file validation, someone who reaches the log bucket can edit or delete records "
        "without trace. Digest files prove the logs are complete and unchanged."
    ),
    remediation=Remediation(
        summary="Set enable_log_file_validation=True on every trail.",
        pulumi=TRAIL_SNIPPET,
        console=TRAIL_CONSOLE + "Log file validation Enabled.",
        cli=TRAIL_CLI,
    ),
    references=References(
        fsbp=("CloudTrail.4",),
        cis=("3.2",),
        checkov=("CKV_AWS_36",),
        prowler=("cloudtrail_log_file_validation_enabled",),
    ),
    notes=NOTE + "Each trail without validation fails (AWS default: off).",
)
def cloudtrail_trail_log_file_validation_enabled(
    stack: StackFacts, config: RulesConfig
) -> Iterator[Violation]:
    for trail in stack.trails:
        if not trail.log_file_validation:
            yield _violation(trail, "log file validation is off")


@rule(
    "cloudtrail_trail_s3_data_events_enabled",
    StackFacts,
    Severity.LOW,
    title="A CloudTrail trail records S3 object reads and writes",
    risk=(
        "Management events do not show who downloaded or overwrote an object, which is exactly what an "
        "investigation of a prank or leak needs. S3 data events record every object-level call."
    ),
    remediation=Remediation(
        summary="Add an event selector for AWS::S3::Object data resources (read and write).",
        pulumi=TRAIL_SNIPPET,
        console="CloudTrail > trail > Data events > Edit: add S3, log read and write events.",
        cli="aws cloudtrail put-event-selectors --trail-name TRAIL --event-selectors "
        '\'[{"ReadWriteType":"All","DataResources":[{"Type":"AWS::S3::Object","Values":["arn:aws:s3"]}]}]\'',
    ),
    references=References(
        fsbp=("S3.22", "S3.23"),
        cis=("3.8", "3.9"),
        prowler=("cloudtrail_s3_dataevents_write_enabled", "cloudtrail_s3_dataevents_read_enabled"),
    ),
    notes=NOTE + "Fails when trails exist and none logs both read and write S3 object events.",
)
def cloudtrail_trail_s3_data_events_enabled(stack: StackFacts, config: RulesConfig) -> Iterator[str]:
    if not stack.trails:
        return
    logged = frozenset().union(*(t.s3_data_events for t in stack.trails))
    missing = sorted({"read", "write"} - logged)
    if missing:
        yield f"no trail records S3 object {' or '.join(missing)} data events"
