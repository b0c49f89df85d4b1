"""Regenerates docs/img/audit-dashboard.png: the camp's pranks seeded in the embedded AWS, audited twice
(the first run dated 90 days ago, so the history gives first-seen dates), rendered by `audit --format html`
and photographed by headless Chromium (Debian's chromium package).

    python docs/img/audit_dashboard.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # AdministratorAccess exists in the embedded AWS

from bucketguard.audit.clients import ClientFactory  # noqa: E402
from bucketguard.audit.dashboard import render_html  # noqa: E402
from bucketguard.audit.history import SqliteHistory  # noqa: E402
from bucketguard.audit.report import build_report  # noqa: E402
from bucketguard.audit.run import Account, audit_accounts  # noqa: E402
from bucketguard.audit.settings import load_settings  # noqa: E402
from bucketguard.demo.camp_account import ABROAD_REGION, seed_pranks  # noqa: E402
from bucketguard.sandbox.aws import EmbeddedAws, bootstrap_session  # noqa: E402

REGION = "eu-west-1"
OUT = REPO / "docs" / "img" / "audit-dashboard.png"


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    settings = load_settings(REPO / "examples" / "insecure-camp" / "policy-config.json")
    with EmbeddedAws() as aws, tempfile.TemporaryDirectory() as work:
        clients = ClientFactory(bootstrap_session(), endpoint_url=aws.endpoint_url)
        seed_pranks(clients.client, REGION)
        account_id = str(clients.client("sts").get_caller_identity()["Account"])
        account = Account(account_id, clients, (REGION, ABROAD_REGION))
        history = SqliteHistory(Path(work) / "history.db")
        earlier = (
            (datetime.now(UTC) - timedelta(days=90)).isoformat(timespec="seconds").replace("+00:00", "Z")
        )
        build_report(
            audit_accounts([account], rule_configs=settings.judged), settings, history=history, at=earlier
        )
        clients.client("s3", REGION).put_bucket_acl(Bucket="camp-prank-public", ACL="private")  # fixed since
        report = build_report(
            audit_accounts([account], rule_configs=settings.judged), settings, history=history
        )
        page = Path(work) / "audit.html"
        page.write_text(render_html(report), encoding="utf-8")
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,1500",
                f"--screenshot={OUT}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"{OUT.relative_to(REPO)}: {len(report.violations)} violations rendered")


if __name__ == "__main__":
    main()
