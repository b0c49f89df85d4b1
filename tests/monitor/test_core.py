"""The monitor core's decisions on real changes in moto: what it ignores, what it remembers, what a change
back resolves, what it refuses to read in an event, and `monitor replay`'s document and exit status."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bucketguard.cli import main
from bucketguard.monitor.core import REPLAY_FIELDS, Alert, Monitor
from bucketguard.monitor.events import InvalidEvent, parse_document, parse_event
from bucketguard.monitor.table import WATCHED, event_pattern, watch_for
from bucketguard.sandbox.aws import EmbeddedAws
from tests.audit.conftest import ACCOUNT, REGION, client
from tests.monitor.conftest import CHILD_ROLE, OWN_ROLE, cloudtrail_event, public_bucket, unique
from tests.pipeline.events import load_event

S3 = "s3.amazonaws.com"


def _acl_event(name: str, **kwargs: Any) -> dict[str, Any]:
    return cloudtrail_event(S3, "PutBucketAcl", {"bucketName": name}, **kwargs)


def test_the_documented_event_is_read_as_aws_wrote_it() -> None:
    record = parse_event(load_event("cloudtrail-put-bucket-acl.json"))
    assert (record.event_name, record.account, record.aws_region) == ("PutBucketAcl", ACCOUNT, REGION)
    assert record.user_identity.actor == CHILD_ROLE  # the session's issuer
    assert record.user_identity.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/camp-child/camper-7"
    assert (record.source_ip_address, record.request_id) == ("203.0.113.17", "7XPFKNTQ5DW0NF2P")
    # the bare record and a CloudTrail log file give the same record
    detail = load_event("cloudtrail-put-bucket-acl.json")["detail"]
    assert parse_event(detail) == record
    assert list(parse_document({"Records": [detail, detail]})) == [record, record]


def test_identities_other_than_assumed_roles() -> None:
    detail = load_event("cloudtrail-put-bucket-acl.json")["detail"]
    user = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/counsellor", "accountId": ACCOUNT}
    assert parse_event({**detail, "userIdentity": user}).user_identity.actor == user["arn"]
    service = {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}
    assert parse_event({**detail, "userIdentity": service}).user_identity.actor == service["invokedBy"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.update({"account": "210987654321"}), "disagrees with its record"),
        (lambda e: e.update({"detail-type": "Object Created"}), "is not 'AWS API Call via CloudTrail'"),
        (lambda e: e.update({"source": "aws.iam"}), "does not match s3.amazonaws.com"),
        (lambda e: e["detail"].update({"recipientAccountId": "12345"}), "12-digit"),
        (lambda e: e["detail"].update({"awsRegion": "moon-1"}), "region"),
        (lambda e: e["detail"].update({"eventName": "Put Bucket"}), "operation name"),
        (lambda e: e["detail"].pop("eventID"), "eventID"),
    ],
)
def test_an_event_that_is_not_a_well_formed_cloudtrail_event_is_refused(change: Any, message: str) -> None:
    event = load_event("cloudtrail-put-bucket-acl.json")
    change(event)
    with pytest.raises(InvalidEvent, match=message):
        parse_event(event)


@pytest.mark.parametrize(
    ("source", "name", "parameters", "message"),
    [
        (S3, "PutBucketAcl", {"bucketName": "../../etc"}, "bucket name"),
        (S3, "PutBucketAcl", None, "bucket name"),
        (
            "sns.amazonaws.com",
            "SetTopicAttributes",
            {"topicArn": "arn:aws:sns:us-east-1:210987654321:t"},
            "account",
        ),
        ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", {"groupId": "sg-*"}, "security group"),
        ("iam.amazonaws.com", "AttachRolePolicy", {"roleName": "a b", "policyArn": "x"}, "role name"),
    ],
)
def test_a_resource_the_event_cannot_name_is_refused_never_widened(
    source: str, name: str, parameters: dict[str, Any] | None, message: str
) -> None:
    record = parse_event(cloudtrail_event(source, name, parameters))
    watch = watch_for(record)
    assert watch is not None
    with pytest.raises(InvalidEvent, match=message):
        watch.locate(record)


def test_failed_calls_are_ignored(aws: EmbeddedAws, monitor: Monitor) -> None:
    name = public_bucket(aws)  # public, but the event says the call failed
    outcome = monitor.handle(parse_event(_acl_event(name, error_code="AccessDenied")))
    assert (outcome.result, outcome.alerts) == ("ignored", ())
    assert "AccessDenied" in outcome.reason
    # the same change by the child, succeeded: alerted
    assert [a.rule_id for a in monitor.handle(parse_event(_acl_event(name))).alerts] == [
        "s3_bucket_public_read_prohibited"
    ]


def test_bucketguards_own_roles_are_ignored_exactly(aws: EmbeddedAws, monitor: Monitor) -> None:
    name = public_bucket(aws)
    own = monitor.handle(parse_event(_acl_event(name, actor_role=OWN_ROLE)))
    assert own.result == "ignored" and "bucketguard" in own.reason
    # a role merely named like ours, in a path of its own, is still watched
    look_alike = f"arn:aws:iam::{ACCOUNT}:role/x/bucketguard-monitor"
    outcome = monitor.handle(parse_event(_acl_event(name, actor_role=look_alike)))
    assert outcome.result == "evaluated" and outcome.alerts[0].actor == look_alike


def test_unwatched_events_are_ignored(monitor: Monitor) -> None:
    event = cloudtrail_event(S3, "GetBucketAcl", {"bucketName": "camp-site"})
    assert monitor.handle(parse_event(event)).result == "ignored"


def test_a_failure_already_known_is_not_alerted_again_and_a_fix_resolves_it(
    aws: EmbeddedAws, monitor: Monitor
) -> None:
    name = public_bucket(aws)
    [first] = monitor.handle(parse_event(_acl_event(name))).alerts
    assert first.status == "new"
    # another event on the same bucket (a different event id): still failing, no new alert
    assert monitor.handle(parse_event(_acl_event(name))).alerts == ()
    client(aws, "s3").put_bucket_acl(Bucket=name, ACL="private")
    [resolved] = monitor.handle(parse_event(_acl_event(name))).alerts
    assert (resolved.status, resolved.rule_id, resolved.finding_id) == (
        "resolved",
        first.rule_id,
        first.finding_id,
    )


def test_a_resource_deleted_before_the_monitor_looks(aws: EmbeddedAws, monitor: Monitor) -> None:
    name = public_bucket(aws)
    assert monitor.handle(parse_event(_acl_event(name))).alerts
    s3 = client(aws, "s3")
    s3.delete_bucket(Bucket=name)
    outcome = monitor.handle(parse_event(_acl_event(name)))
    assert outcome.result == "evaluated"
    assert [a.status for a in outcome.alerts] == ["resolved"]  # nothing left to be public
    assert any("gone" in n for n in outcome.notes)


def test_the_region_rule_on_a_create_event(aws: EmbeddedAws, monitor: Monitor, tmp_path: Path) -> None:
    from bucketguard.audit.settings import load_settings

    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"aws_resource_region_allowed": {"allowedRegions": ["eu-west-1"]}}))
    monitor.settings = load_settings(config)
    name = unique("camp")
    client(aws, "s3", "ap-southeast-1").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"}
    )
    event = cloudtrail_event(S3, "CreateBucket", {"bucketName": name}, region="ap-southeast-1")
    alerts = {a.rule_id: a for a in monitor.handle(parse_event(event)).alerts}
    region = alerts["aws_resource_region_allowed"]
    assert region.region == "ap-southeast-1" and "outside the allowed regions (eu-west-1)" in region.message


def test_a_failed_delivery_is_retried_with_the_same_alerts(aws: EmbeddedAws, monitor: Monitor) -> None:
    name = public_bucket(aws)
    event = parse_event(_acl_event(name))
    delivered: list[Sequence[Alert]] = []

    def unreachable(alerts: Sequence[Alert]) -> None:
        raise ConnectionError("SNS unreachable")

    monitor.deliver = unreachable
    with pytest.raises(ConnectionError):
        monitor.handle(event)
    monitor.deliver = delivered.append
    outcome = monitor.handle(event)  # EventBridge/SQS redelivers: not a duplicate, still new
    assert outcome.result == "evaluated"
    assert [a.status for a in delivered[0]] == ["new"]


def test_the_event_pattern_admits_the_table_and_only_successful_calls() -> None:
    pattern = event_pattern()
    detail = pattern["detail"]
    assert detail["errorCode"] == [{"exists": False}]
    names = {n for n in detail["eventName"] if isinstance(n, str)}
    prefixes = {n["prefix"] for n in detail["eventName"] if isinstance(n, dict)}
    for watch in WATCHED:
        if watch.versioned:
            assert f"{watch.name}20" in prefixes
        else:
            assert watch.name in names
        assert watch.source in detail["eventSource"]
        assert "aws." + watch.source.split(".")[0] in pattern["source"]


# ---------------------------------------------------------------------------------------------- replay


def replay(
    aws: EmbeddedAws, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, Any, str]:
    code = main(
        ["monitor", "replay", "--endpoint-url", aws.endpoint_url, "--history", str(tmp_path / "h.db"), *args]
    )
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.startswith("{") else out, err


@pytest.mark.usefixtures("credentials")
def test_replay_json_document_and_exit_status(
    aws: EmbeddedAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = public_bucket(aws)
    log_file = tmp_path / "log.json"  # a CloudTrail log file: two deliveries of one event, one unwatched
    event = _acl_event(name)
    unwatched = cloudtrail_event(S3, "GetBucketAcl", {"bucketName": name})
    log_file.write_text(json.dumps({"Records": [event["detail"], event["detail"], unwatched["detail"]]}))

    code, document, _ = replay(aws, tmp_path, capsys, str(log_file), "--format", "json")

    assert code == 1
    [alert] = document["alerts"]
    assert document["schema_version"] == 1 and tuple(alert) == REPLAY_FIELDS
    assert alert | {"references": None} == {
        "rule_id": "s3_bucket_public_read_prohibited",
        "severity": "high",
        "resource_arn": f"arn:aws:s3:::{name}",
        "account": ACCOUNT,
        "region": REGION,
        "actor": CHILD_ROLE,
        "event_name": "PutBucketAcl",
        "event_time": "2026-07-01T09:15:01Z",
        "source_ip": "203.0.113.17",
        "status": "new",
        "references": None,
    }
    assert "S3.2" in alert["references"]["fsbp"]

    client(aws, "s3").put_bucket_acl(Bucket=name, ACL="private")
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(_acl_event(name)))
    code, document, _ = replay(aws, tmp_path, capsys, str(fixed), "--format", "json")
    assert code == 0 and [a["status"] for a in document["alerts"]] == ["resolved"]

    code, table, _ = replay(aws, tmp_path, capsys, str(fixed))
    assert code == 0 and "duplicate" in table


@pytest.mark.usefixtures("credentials")
def test_replay_errors_are_one_line(
    aws: EmbeddedAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    code, _, err = replay(aws, tmp_path, capsys, str(broken))
    assert code == 2 and err.startswith(f"bucketguard: {broken}: not JSON")
    other = tmp_path / "other.json"
    event = _acl_event("camp-site")
    event["account"] = event["detail"]["recipientAccountId"] = "210987654321"
    other.write_text(json.dumps(event))
    code, _, err = replay(aws, tmp_path, capsys, str(other))
    assert code == 2
    assert (
        err.strip()
        == "bucketguard: events of account 210987654321: the credentials are for account 123456789012"
    )
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({**_acl_event("camp-site"), "detail-type": "Object Created"}))
    code, _, err = replay(aws, tmp_path, capsys, str(invalid))
    assert code == 2 and err.startswith(f"bucketguard: {invalid}: detail-type") and err.count("\n") == 1


# ------------------------------------------------------------------------------------------ remediation
def _fixing(monitor: Monitor, tmp_path: Path) -> Path:
    from bucketguard.monitor.remediate import RemediationFixer
    from bucketguard.remediation import UndoFile, default_rules

    undo_file = tmp_path / "undo.json"
    monitor.remediate = default_rules()
    monitor.fixer = RemediationFixer(monitor.settings, UndoFile(undo_file), monitor.ledger)
    return undo_file


def _public_grants(aws: EmbeddedAws, name: str) -> list[Any]:
    grants = client(aws, "s3").get_bucket_acl(Bucket=name)["Grants"]
    return [g for g in grants if "AllUsers" in g["Grantee"].get("URI", "")]


def test_a_fix_puts_the_bucket_back_and_the_re_audit_is_clean(
    aws: EmbeddedAws, monitor: Monitor, tmp_path: Path
) -> None:
    undo_file = _fixing(monitor, tmp_path)
    name = public_bucket(aws)
    [alert] = monitor.handle(parse_event(_acl_event(name))).alerts
    assert (alert.status, alert.rule_id, alert.actor) == (
        "remediated",
        "s3_bucket_public_read_prohibited",
        CHILD_ROLE,
    )
    assert _public_grants(aws, name) == []  # really private again, in moto
    [entry] = json.loads(undo_file.read_text())["entries"]
    assert entry["arn"] == f"arn:aws:s3:::{name}" and entry["applied"]
    # the fix closed the finding: the next look at the bucket finds nothing new and nothing to resolve
    assert monitor.handle(parse_event(_acl_event(name))).alerts == ()


def test_someone_fighting_the_fixer_gets_a_critical_alert_instead(
    aws: EmbeddedAws, monitor: Monitor, tmp_path: Path
) -> None:
    _fixing(monitor, tmp_path)
    name = public_bucket(aws)
    statuses = []
    for _ in range(4):  # the child makes it public again, four times in a row
        client(aws, "s3").put_bucket_acl(Bucket=name, ACL="public-read")
        [alert] = monitor.handle(parse_event(_acl_event(name))).alerts
        statuses.append((alert.status, alert.severity))
    assert statuses == [("remediated", "high")] * 3 + [("remediation_failed", "critical")]
    assert "keeps undoing" in alert.detail
    assert _public_grants(aws, name)  # left as the child made it: not fixed a fourth time


def test_a_resource_tagged_not_to_be_fixed_is_held_back(
    aws: EmbeddedAws, monitor: Monitor, tmp_path: Path
) -> None:
    _fixing(monitor, tmp_path)
    name = public_bucket(aws)
    client(aws, "s3").put_bucket_tagging(
        Bucket=name, Tagging={"TagSet": [{"Key": "bucketguard:remediate", "Value": "false"}]}
    )
    [alert] = monitor.handle(parse_event(_acl_event(name))).alerts
    assert alert.status == "remediation_failed" and "held back" in alert.detail
    assert _public_grants(aws, name)


@pytest.mark.usefixtures("credentials")
def test_replay_fix_exits_zero_when_everything_was_put_back(
    aws: EmbeddedAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = public_bucket(aws)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(_acl_event(name)))
    undo = tmp_path / "undo.json"
    code, document, _ = replay(
        aws, tmp_path, capsys, str(event), "--fix", "--undo-file", str(undo), "--format", "json"
    )
    assert code == 0 and [a["status"] for a in document["alerts"]] == ["remediated"]
    assert undo.is_file() and _public_grants(aws, name) == []
