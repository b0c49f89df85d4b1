"""`audit --framework`: only the framework's rules are judged and the report gives each control's status,
with the failing resources; a control whose rules were not all judged is never reported as passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketguard.cli import main
from bucketguard.rules.frameworks import get_framework
from bucketguard.sandbox.aws import EmbeddedAws
from tests.audit.conftest import REGION, client
from tests.audit.test_cli import run

pytestmark = pytest.mark.usefixtures("credentials")


def test_cis_controls_from_a_live_account(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-site")  # no TLS-only policy, no Block Public Access

    code, report, _ = run(
        aws, capsys, tmp_path, "--region", REGION, "--service", "s3", "--framework", "cis-3.0"
    )

    cis = get_framework("cis-3.0")
    assert code == 1
    assert {v["rule_id"] for v in report["violations"]} <= set(cis.rules)  # versioning etc. are not CIS
    assert "s3_bucket_versioning_enabled" not in {v["rule_id"] for v in report["violations"]}
    controls = {c["id"]: c for c in report["framework"]["controls"]}
    assert list(controls) == list(cis.controls)
    tls = controls["2.1.1"]
    assert tls["status"] == "failed" and tls["rules"] == ["s3_bucket_secure_transport_required"]
    assert [f["resource_name"] for f in tls["failing"]] == ["camp-site"]
    assert controls["1.1"]["status"] == "not_covered"  # contact details: no rule tests it
    assert controls["3.1"]["status"] == "not_evaluated"  # CloudTrail was not collected: not a pass
    score = report["framework"]["score"]
    assert sum(score.values()) == len(cis.controls) and score["not_covered"] > 40
    assert report["summary"]["by_framework"]["cis-3.0"] == len(report["violations"])
    assert report["summary"]["api_calls"] > 0  # counted before the outputs are written


def test_table_lists_controls_and_what_no_rule_covers(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-site")

    code, table, _ = run(
        aws,
        capsys,
        tmp_path,
        *("--region", REGION, "--service", "s3", "--framework", "pci-dss-4.0"),
        *("--format", "table"),
    )

    assert code == 1
    assert "PCI DSS v4.0 (pci-dss-4.0)" in table
    assert "4.2.1" in table and "camp-site" in table
    assert "not covered by any rule: " in table and "8.3.6" in table


def test_an_unknown_framework_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "--framework", "sox"])
    assert exit_.value.code == 2 and "invalid choice: 'sox'" in capsys.readouterr().err
