"""CloudTrail collector: the trails whose home is this region (a multi-region trail is listed once, in its
home region) with their event selectors. A trail's S3 bucket receives logs (exempt from access logging)."""

from __future__ import annotations

from typing import Any

from bucketguard.audit.reader import Call, Reader
from bucketguard.rules.facts import TrailFacts

TRAIL_RULES = (
    "cloudtrail_trail_enabled",
    "cloudtrail_trail_multi_region_enabled",
    "cloudtrail_trail_log_file_validation_enabled",
    "cloudtrail_trail_s3_data_events_enabled",
)
DESCRIBE_TRAILS = Call("describe_trails", TRAIL_RULES)
EVENT_SELECTORS = Call("get_event_selectors", ("cloudtrail_trail_s3_data_events_enabled",))
STATUS = Call("get_trail_status", ("cloudtrail_trail_enabled",))
CALLS = (DESCRIBE_TRAILS, EVENT_SELECTORS, STATUS)
READ_WRITE = {"All": {"read", "write"}, "ReadOnly": {"read"}, "WriteOnly": {"write"}}


def s3_data_events(selectors: dict[str, Any]) -> frozenset[str]:
    """Which S3 object operations (read, write) the trail's basic or advanced selectors log."""
    logged: set[str] = set()
    for selector in selectors.get("EventSelectors") or ():
        if any(d.get("Type") == "AWS::S3::Object" for d in selector.get("DataResources", ())):
            logged |= READ_WRITE.get(str(selector.get("ReadWriteType", "All")), set())
    for selector in selectors.get("AdvancedEventSelectors") or ():
        fields = {str(f.get("Field")): f for f in selector.get("FieldSelectors", ())}
        if "AWS::S3::Object" not in fields.get("resources.type", {}).get("Equals", ()):
            continue
        read_only = tuple(fields.get("readOnly", {}).get("Equals", ()))
        logged |= (
            {"read"}
            if read_only == ("true",)
            else {"write"}
            if read_only == ("false",)
            else {"read", "write"}
        )
    return frozenset(logged)


def collect_cloudtrail(reader: Reader) -> None:
    client = reader.client("cloudtrail")
    response = reader.call(
        client,
        DESCRIBE_TRAILS,
        resource_name=f"account {reader.account}",
        arn=None,
        includeShadowTrails=False,
    )
    for trail in (response or {}).get("trailList", ()):
        arn, name = str(trail["TrailARN"]), str(trail["Name"])
        selectors = reader.call(client, EVENT_SELECTORS, resource_name=name, arn=arn, TrailName=arn) or {}
        status = reader.call(client, STATUS, resource_name=name, arn=arn, Name=arn)
        if trail.get("S3BucketName"):
            reader.collection.log_targets.add(str(trail["S3BucketName"]))
        reader.collection.add(
            "trails",
            TrailFacts(
                name=name,
                type="AWS::CloudTrail::Trail",
                region=str(trail.get("HomeRegion", reader.region)),
                ref=arn,
                is_multi_region=bool(trail.get("IsMultiRegionTrail")),
                log_file_validation=bool(trail.get("LogFileValidationEnabled")),
                s3_data_events=s3_data_events(selectors),
                is_logging=None if status is None else bool(status.get("IsLogging")),
            ),
        )
