"""`python -m bucketguard demo` deploys the camp example with infra/ into the embedded AWS, plays the pranks
through the deployed functions and exits 0."""

from __future__ import annotations

import json
import logging
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bucketguard.cli import main
from bucketguard.cli.demo_monitoring import CHILD_ROLE, MAINTENANCE_GROUP, PUBLIC_SID
from bucketguard.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.e2e


def _read_the_account_before_stopping(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the demo left in moto, read when it stops its deployment (the embedded AWS stops with it)."""
    seen: dict[str, Any] = {}
    stop = Sandbox.stop

    def read_then_stop(self: Sandbox) -> None:
        st = self.storage
        s3 = st.account.shared("s3")
        seen["statements"] = json.loads(s3.get_bucket_policy(Bucket=st.bucket)["Policy"])["Statement"]
        seen["block"] = s3.get_public_access_block(Bucket=st.bucket)["PublicAccessBlockConfiguration"]
        (seen["group"],) = st.account.client("ec2", region_name=st.region).describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [MAINTENANCE_GROUP]}]
        )["SecurityGroups"]
        stop(self)

    monkeypatch.setattr(Sandbox, "stop", read_then_stop)
    return seen


def test_demo_runs_the_camp_through_the_deployed_pipeline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    account = _read_the_account_before_stopping(monkeypatch)
    # Another user's link at the name the dashboard once had in the shared temporary directory.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "victim.txt"
    victim.write_text("not the demo's")
    (tmp_path / "bucketguard-demo-audit.html").symlink_to(victim)
    before = logging.getLogger("bucketguard").level
    assert main(["demo"]) == 0
    # Its quiet logs end with it: a later test in this process that reads a warning still sees it.
    assert logging.getLogger("bucketguard").level == before
    out = capsys.readouterr().out
    # the half-minute deployment is announced before it starts
    assert out.startswith("Deploying Pulumi.dev.yaml with infra/ into an embedded AWS")
    # what infra/ deployed, read back from the embedded AWS
    assert "BucketGuardDenyReadUnlessScannedClean" in out  # the real bucket policy
    assert "s3:ObjectCreated:*" in out  # the real notification configuration
    assert "functions.scanner.app.handler" in out  # the real functions
    # ... every one, the rule update a schedule invokes too (the camp's stack has rule feeds)
    assert "functions.rules_update.app.handler" in out and "a schedule (not run here)" in out
    # moto lets a public ACL and policy land where the stack's account Block Public Access would refuse them:
    # said in both acts that make them, not claimed to be possible in AWS
    assert " ".join(out.split()).count("refuses a public ACL or bucket policy outright") == 2
    # the verdicts
    assert "camp-teaching-material-dev-quarantine" in out
    assert "camp-teaching-material-dev/homework.zip" in out  # the nested-zip EICAR sits in quarantine
    assert "week1/timetable.pdf" in out
    assert "WRONG" not in out
    # an unscannable object stays in place; moto does not evaluate the policy's tag condition: no claim that
    # a download was refused (issue 8 item 12)
    assert "blocked by the bucket policy (not evaluated by the embedded AWS)" in out
    # the second half: the pranksters' infrastructure stopped by the policy pack
    assert "s3_bucket_public_write_prohibited" in out
    assert "ec2_security_group_rdp_restricted" in out
    assert "8 mandatory rules stop this program" in out
    # the last act: the same pranks made by hand in the live account, found by the audit
    assert "what the audit found by hand" in out
    assert "iam_principal_administrator_access_prohibited" in out and "MISSED" not in out
    # the dashboard in a new directory only this user may enter, the planted link not followed
    page = Path(re.search(r"the dashboard:\s+(\S+)", out)[1])  # type: ignore[index]
    assert "<html" in page.read_text()[:200].lower()
    assert page.parent.parent == tmp_path and stat.S_IMODE(page.parent.stat().st_mode) == 0o700
    assert victim.read_text() == "not the demo's"
    # the monitoring act: the child's changes alerted by the deployed monitor, naming its role, and put back
    assert "the monitor's alerts" in out
    assert f":role/{CHILD_ROLE}" in out and "remediated" in out and "NOT FIXED" not in out
    assert "Re-audit of the teaching bucket and the group: nothing the child changed is left" in out
    assert "s3_bucket_malware_scanning_enabled on camp-teaching-material-dev" not in out  # it is scanned
    # ... as the account shows: the public statement removed (the deployed ones kept), Block Public Access
    # back on, the world's RDP rule revoked
    assert PUBLIC_SID not in {s.get("Sid") for s in account["statements"]}
    assert "BucketGuardDenyReadUnlessScannedClean" in {s.get("Sid") for s in account["statements"]}
    assert account["block"] == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    assert account["group"]["IpPermissions"] == []
