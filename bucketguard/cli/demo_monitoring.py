"""The demo's monitoring act: after deployment, a child signed in to the camp's account (an IAM role, as
console access gives one) makes the teaching bucket public and opens RDP to the world. The deployed monitor
(the stack's bucketguard:monitor, remediation on for those rules) sees each call, alerts naming the child's
role and puts both back; a re-audit of what the child touched finds nothing.

moto records no CloudTrail events: bucketguard.sandbox.cloudtrail writes the record CloudTrail would for
each call the child made and puts it on the account's default bus, where the deployed rule's pattern
(evaluated by moto) routes it to the monitor's queue and the local runner runs the deployed function.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from bucketguard.tables import table

if TYPE_CHECKING:
    from bucketguard.monitor.core import Alert
    from bucketguard.sandbox.sandbox import Sandbox

CHILD_ROLE = "camp-child-helper"
MAINTENANCE_GROUP = "camp-maintenance"
PUBLIC_SID = "EveryoneMayReadTheLessons"
RDP = 3389
WORLD = "0.0.0.0/0"


@dataclass(frozen=True)
class MonitoringOutcome:
    """What the act left in the account, read back from it."""

    alerts: tuple[Alert, ...]
    bucket_public: bool  # a statement for everyone is still in the bucket policy
    block_public_access: bool  # all four of the bucket's Block Public Access settings on
    rdp_open: bool  # the group still admits RDP from anywhere
    still_failing: tuple[str, ...]  # the re-audit's violations on what the child touched, new since before
    failing_before: tuple[str, ...]  # the audit's violations there before the child came

    @property
    def put_back(self) -> bool:
        return not self.bucket_public and self.block_public_access and not self.rdp_open


def play_monitoring(
    console: Console, pipe: Sandbox, policy_config: Path, account_block_note: str = ""
) -> MonitoringOutcome:
    """The act; its outcome is read from the account, not from the alerts."""
    from bucketguard.monitor.deliver import alert_from_message
    from bucketguard.sandbox.cloudtrail import TrailedCalls, deliver, signed_in_role

    assert pipe.monitor is not None, "the camp's stack config deploys bucketguard:monitor"
    monitor, st = pipe.monitor, pipe.storage
    console.print(
        "\n[bold]After the camp[/]: the deployment is watched. A child signed in as the role "
        f"{CHILD_ROLE} turns off the teaching bucket's Block Public Access, adds a statement letting anyone "
        f'read it, and opens RDP to the world on the {MAINTENANCE_GROUP} security group "for a minute"'
        f"{account_block_note}...",
        highlight=False,
    )
    ec2 = st.account.client("ec2", region_name=st.region)
    group = ec2.create_security_group(GroupName=MAINTENANCE_GROUP, Description="maintenance access")[
        "GroupId"
    ]
    s3 = st.account.shared("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=st.bucket)["Policy"])
    public = {
        "Sid": PUBLIC_SID,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{st.bucket}/*",
    }
    before = _audit_touched(pipe, group, policy_config)
    child = TrailedCalls(signed_in_role(pipe.aws, st.account, CHILD_ROLE, st.region), st.region)
    started = time.monotonic()
    child.delete_bucket_public_access_block(st.bucket)
    child.put_bucket_policy(st.bucket, {**policy, "Statement": [*policy["Statement"], public]})
    child.authorize_ingress(group, RDP, WORLD)
    # CloudTrail's part (moto has none): each call's record onto the default bus, as EventBridge gets it
    deliver(monitor.account, child.records)
    pipe.drain()
    alerts = tuple(alert_from_message(envelope["Message"]) for envelope in pipe.monitor_alerts())
    seconds = time.monotonic() - started
    alerts_table = table(
        "status",
        "severity",
        "rule",
        "resource",
        "who",
        "call",
        title=f"the monitor's alerts (topic {monitor.alert_topic_arn.rsplit(':', 1)[1]})",
    )
    for alert in alerts:
        alerts_table.add_row(
            Text(alert.status, style="green" if alert.status == "remediated" else "bold red"),
            alert.severity,
            alert.rule_id,
            alert.resource_name,
            alert.actor,
            f"{alert.event_name} from {alert.source_ip}",
        )
    console.print(alerts_table)
    console.print(
        f"{len(alerts)} alert(s), {seconds:.1f} s from the child's first call to the last alert read from "
        "the topic (the calls' CloudTrail records written by the sandbox: moto records none).",
        highlight=False,
    )

    outcome = _read_back(pipe, group, alerts, policy_config, before)
    now = table("what the child did", "now", "", title="the account afterwards, read back from it")
    rows = (
        ("Block Public Access off on the bucket", outcome.block_public_access, "on again (all four)"),
        (f"{PUBLIC_SID}: anyone may GetObject", not outcome.bucket_public, "removed, the deployed ones kept"),
        (f"RDP from {WORLD} on {group}", not outcome.rdp_open, "revoked, the group kept"),
    )
    for what, fixed, how in rows:
        mark = Text("put back", style="green") if fixed else Text("NOT FIXED", style="bold red")
        now.add_row(what, how if fixed else "as the child left it", mark)
    console.print(now)
    still, before_child = outcome.still_failing, outcome.failing_before
    console.print(
        Text.assemble(
            "Re-audit of the teaching bucket and the group: ",
            (
                "nothing the child changed is left."
                if not still
                else (f"{len(still)} violation(s) left: ", "bold red")
            ),
            ", ".join(still),
            f" ({len(before_child)} finding(s) there before the child, unchanged: {', '.join(before_child)})"
            if before_child
            else "",
        )
    )
    return outcome


def _audit_touched(pipe: Sandbox, group: str, policy_config: Path) -> frozenset[str]:
    """The violations (``rule on resource``) an audit with the camp's policy config finds on the teaching
    bucket and the group."""
    from bucketguard.audit.clients import ClientFactory
    from bucketguard.audit.report import build_report
    from bucketguard.audit.run import Account, audit_accounts, listener_digest
    from bucketguard.audit.settings import load_settings

    st = pipe.storage
    clients = ClientFactory(st.account.session, endpoint_url=st.account.endpoint_url)
    account = Account(st.account.account_id, clients, (st.region,))
    audited = audit_accounts(
        [account], services=("s3", "ec2"), listeners=frozenset({listener_digest(st.listener_queue_arn)})
    )
    report = build_report(audited, load_settings(policy_config))
    touched = {
        f"arn:aws:s3:::{st.bucket}",
        f"arn:aws:ec2:{st.region}:{account.account_id}:security-group/{group}",
    }
    return frozenset(
        f"{v.finding.rule_id} on {v.finding.resource_name}"
        for v in report.violations
        if v.finding.arn in touched
    )


def _read_back(
    pipe: Sandbox, group: str, alerts: tuple[Alert, ...], policy_config: Path, before: frozenset[str]
) -> MonitoringOutcome:
    """The bucket and the group as they are now, and what a re-audit finds on them that was not there
    before the child."""
    from botocore.exceptions import ClientError

    st = pipe.storage
    s3 = st.account.shared("s3")
    statements = json.loads(s3.get_bucket_policy(Bucket=st.bucket)["Policy"])["Statement"]
    try:
        block = s3.get_public_access_block(Bucket=st.bucket)["PublicAccessBlockConfiguration"]
    except ClientError:  # none at all
        block = {}
    ec2 = st.account.client("ec2", region_name=st.region)
    (described,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return MonitoringOutcome(
        alerts=alerts,
        bucket_public=any(s.get("Sid") == PUBLIC_SID for s in statements),
        block_public_access=len(block) == 4 and all(block.values()),
        rdp_open=any(
            p.get("FromPort", 0) <= RDP <= p.get("ToPort", 65535)
            and any(r["CidrIp"] == WORLD for r in p["IpRanges"])
            for p in described["IpPermissions"]
        ),
        still_failing=tuple(sorted(_audit_touched(pipe, group, policy_config) - before)),
        failing_before=tuple(sorted(before)),
    )
