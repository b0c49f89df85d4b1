"""`audit --format html` in a real headless Chromium (Debian's chromium; `make test` installs it): the counts
the rendered page shows equal the JSON of the same run, its script filters (it runs under the page's CSP),
nothing is fetched, and attacker-controlled names and tags stay text."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bucketguard.audit.dashboard import render_html
from bucketguard.audit.report import AuditReport, build_report
from bucketguard.audit.settings import load_settings
from bucketguard.sandbox.aws import EmbeddedAws
from tests.audit.conftest import REGION, audit, client
from tests.audit.test_cli import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.usefixtures("credentials"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it)"),
]
XSS = (
    '"><img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'
    "<a href=\"javascript:document.title='pwned'\">fix</a>[fix](javascript:alert(1))"
)


def chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


class Page(HTMLParser):
    """The rendered DOM: text by element id, the findings rows (hidden or not), and every element seen."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.rows: list[dict[str, str | None]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[str] = []
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "tr" and "data-severity" in found:
            self.rows.append(found)
        self._open.append(found.get("id") or ("title" if tag == "title" else ""))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1]:
            self.text[self._open[-1]] = self.text.get(self._open[-1], "") + data


def seed(aws: EmbeddedAws) -> None:
    s3 = client(aws, "s3")
    for name in ("camp-site", "camp-uploads"):
        s3.create_bucket(Bucket=name)
    s3.put_bucket_acl(Bucket="camp-site", ACL="public-read-write")
    ec2 = client(aws, "ec2")
    group = ec2.create_security_group(GroupName="rdp", Description="open")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group, IpProtocol="tcp", FromPort=3389, ToPort=3389, CidrIp="0.0.0.0/0"
    )


def test_the_page_shows_the_counts_of_the_json_and_filters(
    aws: EmbeddedAws, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed(aws)
    page_file, json_file = tmp_path / "audit.html", tmp_path / "audit.json"
    code, _, _ = run(
        aws,
        capsys,
        tmp_path,
        *("--region", REGION, "--service", "s3", "--service", "ec2"),
        *("--format", f"html={page_file}", "--format", f"json={json_file}"),
    )
    assert code == 1
    document = json.loads(json_file.read_text())
    html = page_file.read_text()
    # self-contained: nothing to fetch (no src, no stylesheet link, no external script)
    assert "src=" not in html and "<link" not in html

    page = Page(chromium("--dump-dom", page_file.as_uri()))

    severities = Counter(v["severity"] for v in document["violations"])
    assert page.text["count-total"] == str(len(document["violations"]))
    for severity in ("critical", "high", "medium", "low"):
        assert page.text[f"count-{severity}"] == str(severities[severity]), severity
    assert len(page.rows) == len(document["violations"]) and page.text["shown"] == str(len(page.rows))
    ranks = [("low", "medium", "high", "critical").index(r["data-severity"] or "") for r in page.rows]
    assert ranks == sorted(ranks, reverse=True)  # most critical first

    filtered = Page(chromium("--dump-dom", page_file.as_uri() + "#severity=high&service=ec2"))
    shown = [r for r in filtered.rows if "hidden" not in r]
    expected = [
        v for v in document["violations"] if v["severity"] == "high" and v["rule_id"].startswith("ec2")
    ]
    assert len(shown) == len(expected) > 0 and filtered.text["shown"] == str(len(expected))

    screenshot = tmp_path / "audit.png"
    chromium("--window-size=1280,1400", f"--screenshot={screenshot}", page_file.as_uri())
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


def test_attacker_controlled_names_and_tags_stay_text(aws: EmbeddedAws, tmp_path: Path) -> None:
    client(aws, "s3").create_bucket(Bucket="camp-site")
    result = audit(aws, services=("s3",))
    # Bucket names cannot hold markup in AWS, but names, tags and messages of every service reach the page:
    # the renderer must not rely on AWS's character rules.
    result.findings[:] = [
        replace(f, resource_name=XSS, message=XSS, tags={XSS: XSS}, arn=f"arn:aws:s3:::{XSS}")
        for f in result.findings
    ]
    report: AuditReport = build_report([result], load_settings(None))
    page_file = tmp_path / "audit.html"
    page_file.write_text(render_html(report), encoding="utf-8")

    dom = chromium("--dump-dom", page_file.as_uri())
    page = Page(dom)

    assert "pwned" not in page.text["title"]  # neither payload ran
    assert not [attrs for tag, attrs in page.tags if tag == "img"]
    hrefs = [attrs.get("href") or "" for tag, attrs in page.tags if tag == "a"]
    assert all(href.startswith("#rule-") for href in hrefs)  # no link a name made, javascript: or other
    assert [tag for tag, _ in page.tags].count("script") == 1  # the page's own
    assert '&lt;script&gt;document.title="pwned"&lt;/script&gt;' in dom  # shown as text
    assert page.rows and all(XSS.lower() in (r["data-text"] or "") for r in page.rows)
    assert page.text["shown"] == str(len(page.rows))  # the page's script still ran
