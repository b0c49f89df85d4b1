"""The demo's verdict table as a first-time reader sees it."""

from __future__ import annotations

from rich.console import Console

from bucketguard.cli.demo import Upload, uploads_table
from bucketguard.demo.pranks import all_samples

SEAL = "RdpV03+nFmwkgHBmnf9xkcoY8nFkZjwvs5RPeELYhP8="


def test_each_row_shows_the_verdict_tags_and_not_the_seal_nor_what_every_row_shares() -> None:
    sample = all_samples()[0]
    tags = {
        "bucketguard-scan-result": "malicious",
        "bucketguard-scan-detail": "EICAR_Test_File",
        "bucketguard-scan-date": "2026-12-02T03:15:00Z",
        "bucketguard-ruleset": "sha256:f995088840fc",
        "bucketguard-seal": SEAL,
        "team": "camp",
    }
    console = Console(record=True, width=200)
    console.print(uploads_table([Upload(sample, "v1", copy_tags=tags, where="quarantined")], title="t"))
    shown = console.export_text()
    assert "scan-result=malicious" in shown and "scan-detail=EICAR_Test_File" in shown
    # an opaque HMAC, the date and the ruleset (the same on every row) are said once under the table
    assert SEAL[:12] not in shown and "seal=" not in shown
    assert "2026-12-02T03:15" not in shown and "f995088840fc" not in shown
