"""`python -m bucketguard demo` deploys the camp example with infra/ into the embedded AWS, plays the pranks
through the deployed functions and exits 0."""

from __future__ import annotations

import pytest

from bucketguard.cli import main

pytestmark = pytest.mark.e2e


def test_demo_runs_the_camp_through_the_deployed_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    # what infra/ deployed, read back from the embedded AWS
    assert "BucketGuardDenyReadUnlessScannedClean" in out  # the real bucket policy
    assert "s3:ObjectCreated:*" in out  # the real notification configuration
    assert "functions.scanner.app.handler" in out  # the real functions
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
    assert "bucketguard-demo-audit.html" in out
