"""`python -m bucketguard demo` plays the camp on the embedded AWS and exits 0."""

from __future__ import annotations

import pytest

from bucketguard.cli import main

pytestmark = pytest.mark.e2e


def test_demo_runs_the_camp_through_the_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "camp-teaching-materials-quarantine" in out
    assert "camp-teaching-materials/homework.zip" in out  # the nested-zip EICAR sits in quarantine
    assert "week1/timetable.pdf" in out
    assert "WRONG" not in out
    # the second half: the pranksters' infrastructure stopped by the policy pack
    assert "s3_bucket_public_write_prohibited" in out
    assert "ec2_security_group_rdp_restricted" in out
    assert "8 mandatory rules stop this program" in out
