"""`python -m bucketguard demo`: the camp's story played on the embedded AWS.

The teaching-materials bucket lives in the storage account (222222222222), protected by a storage stack; the
shared scanner runs in the scanner account (111111111111). The campers' pranks and the counsellors' clean
files are uploaded; the listener, scanner and post-scan functions run as Lambda would; the demo shows each
verdict, the tags on each version, what sits in quarantine and what was promoted.

Exits 0 when every upload ended where it should (pranks caught or held, clean files clean and promoted).
`--keep` leaves the embedded AWS and the functions running and prints the endpoint.

Then the second half of the story: the pranksters' version of the camp's infrastructure
(examples/insecure-camp: a public bucket, anyone may PutObject, RDP open...) is checked by the policy pack,
offline, and the demo shows what `pulumi preview --policy-pack policy_pack` would stop.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bucketguard.cli import EXIT_FINDINGS, EXIT_OK
from bucketguard.demo.pranks import Sample, all_samples
from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.postscan import quarantine_key
from bucketguard.scanning.output import verdict_text
from bucketguard.scanning.result import Verdict


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="play the camp's pranks through the whole pipeline on an embedded AWS (no account needed)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the embedded AWS and the functions running afterwards (Ctrl-C to stop)",
    )
    parser.add_argument(
        "--skip-policy",
        action="store_true",
        help="play only the scanning half (the policy half needs the repository's examples/)",
    )
    parser.set_defaults(run=run)


INSECURE_CAMP = Path(__file__).resolve().parents[2] / "examples" / "insecure-camp"


@dataclass
class Upload:
    sample: Sample
    version_id: str
    event: ScanResultEvent | None = None
    tags: dict[str, str] | None = None  # None: the version is no longer in the bucket
    where: str = ""
    copy_tags: dict[str, str] | None = None  # tags on the quarantined copy

    @property
    def as_expected(self) -> bool:
        if self.event is None or self.event.verdict is not self.sample.expected:
            return False
        if (
            self.sample.expected_reason is not None
            and self.event.result.reason is not self.sample.expected_reason
        ):
            return False
        if self.sample.expected is Verdict.MALICIOUS:
            return self.where == "quarantined" and self.tags is None
        if self.sample.expected is Verdict.CLEAN:
            return self.where == "promoted" and (self.tags or {}).get("bucketguard-scan-result") == "clean"
        return (
            self.where == "in place, blocked"
            and (self.tags or {}).get("bucketguard-scan-result") == "unscannable"
        )


def _short_tags(tags: dict[str, str] | None) -> str:
    if tags is None:
        return "(version removed)"
    ours = {k.removeprefix("bucketguard-"): v for k, v in tags.items() if k.startswith("bucketguard-")}
    # the date and ruleset are the same on every row: printed once under the table
    return "\n".join(f"{k}={v}" for k, v in ours.items() if k not in ("scan-date", "ruleset"))


def uploads_table(uploads: Sequence[Upload], title: str) -> Table:
    table = Table(title=title)
    table.add_column("uploaded as", overflow="fold")
    table.add_column("what it is", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("verdict tags (on the copy when quarantined)", overflow="fold")
    table.add_column("now", overflow="fold")
    table.add_column("", no_wrap=True)
    for u in uploads:
        verdict = verdict_text(u.event.verdict) if u.event else Text("no result", style="bold red")
        mark = Text("as expected", style="green") if u.as_expected else Text("WRONG", style="bold red")
        table.add_row(
            u.sample.key,
            u.sample.description,
            verdict,
            _short_tags(u.tags if u.tags is not None else u.copy_tags),
            u.where,
            mark,
        )
    return table


def _listing(pipe: Any, bucket: str) -> list[str]:
    return [f"{v['Key']}  ({v['Size']} bytes)" for v in pipe.versions(bucket)]


def run(args: argparse.Namespace) -> int:
    from bucketguard.sandbox.aws import SCANNER_ACCOUNT, STORAGE_ACCOUNT, EmbeddedAws
    from bucketguard.sandbox.stacks import LocalPipeline

    logging.getLogger("bucketguard").setLevel(logging.CRITICAL)  # the story is told by the tables
    # Wide enough for the verdict table when the output is a file or a CI log.
    console = Console(width=None if sys.stdout.isatty() else 130)
    started = time.monotonic()
    aws = EmbeddedAws().start()
    try:
        pipe = LocalPipeline(aws)
        st = pipe.storage
        console.print(
            f"[bold]Embedded AWS[/] at {aws.endpoint_url}: storage account {STORAGE_ACCOUNT} holds "
            f"[cyan]s3://{st.bucket}[/] (versioned, encrypted, notifications to the listener); the scanner "
            f"runs in account {SCANNER_ACCOUNT} and reads only through presigned URLs.",
            highlight=False,
        )
        samples = all_samples()
        camper = st.account.shared("s3")
        uploads = [
            Upload(s, str(camper.put_object(Bucket=st.bucket, Key=s.key, Body=s.data)["VersionId"]))
            for s in samples
        ]
        console.print(
            f"{len(uploads)} uploads by campers and counsellors; the pipeline runs...", highlight=False
        )
        pipe.drain()
        events = {(e["key"], e["version_id"]): ScanResultEvent.from_json(e) for e in pipe.published_events()}
        quarantined = {v["Key"] for v in pipe.versions(st.quarantine_bucket)}
        promoted = {v["Key"] for v in pipe.versions(st.promote_bucket)}
        for u in uploads:
            u.event = events.get((u.sample.key, u.version_id))
            try:
                u.tags = pipe.tags(u.sample.key, u.version_id)
            except Exception:  # the version was removed (quarantined)
                u.tags = None
            if u.event and quarantine_key(u.event) in quarantined:
                u.where = "quarantined"
                u.copy_tags = pipe.tags(quarantine_key(u.event), bucket=st.quarantine_bucket)
            elif u.sample.key in promoted:
                u.where = "promoted"
            else:
                u.where = "in place, blocked" if u.tags is not None else "gone"
        console.print(uploads_table(uploads, title=f"s3://{st.bucket}: every upload's verdict"))
        rulesets = {u.event.result.ruleset_version for u in uploads if u.event}
        console.print(
            "Each version is also tagged bucketguard-scan-date and bucketguard-ruleset "
            f"({', '.join(sorted(rulesets))}).",
            highlight=False,
        )
        console.print(f"[bold]Quarantine[/] s3://{st.quarantine_bucket}:", highlight=False)
        for line in _listing(pipe, st.quarantine_bucket):
            console.print(f"  {line}", highlight=False)
        console.print(f"[bold]Promoted[/] s3://{st.promote_bucket}:", highlight=False)
        for line in _listing(pipe, st.promote_bucket):
            console.print(f"  {line}", highlight=False)
        alerts = pipe.alerts()
        console.print(f"{len(alerts)} alert(s) sent to the security team's topic.", highlight=False)
        wrong = [u.sample.key for u in uploads if not u.as_expected]
        elapsed = time.monotonic() - started
        if wrong:
            console.print(
                f"[bold red]{len(wrong)} upload(s) did not end where they should:[/] {', '.join(wrong)}"
            )
        else:
            console.print(
                f"Every prank caught or held, every clean file tagged clean and promoted ({elapsed:.1f} s).",
                highlight=False,
            )
        if not args.skip_policy and not _play_guard_rails(console):
            return EXIT_FINDINGS
        if args.keep:
            _keep_running(console, aws, pipe)
        return EXIT_FINDINGS if wrong else EXIT_OK
    finally:
        aws.stop()


def _play_guard_rails(console: Console) -> bool:
    """The pranksters' infrastructure through the policy pack: True when every mandatory rule stopped it."""
    from bucketguard.policy.check import run_check

    if not (INSECURE_CAMP / "Pulumi.yaml").is_file():
        console.print("(policy half skipped: examples/insecure-camp is not next to this installation)")
        return True
    console.print(
        "\n[bold]Next prank[/]: a camper's Pulumi program makes the bucket public, lets anyone PutObject "
        "(as in the incident where strangers rewrote a bucket's .js files), opens RDP to the world... "
        "The policy pack checks it the way `pulumi preview --policy-pack policy_pack` would:",
        highlight=False,
    )
    result = run_check(INSECURE_CAMP, stack="dev", policy_config_file=INSECURE_CAMP / "policy-config.json")
    blocking = [v for v in result.violations if v.enforcement == "mandatory"]
    table = Table(title="examples/insecure-camp: what `pulumi preview` stops", title_justify="left")
    for column in ("severity", "rule", "resource", "why"):
        table.add_column(column, overflow="fold")
    for v in blocking:
        table.add_row(v.severity, v.rule_id, v.resource_name, v.message)
    console.print(table)
    mandatory = sorted({v.rule_id for v in blocking})
    console.print(
        f"{len(mandatory)} mandatory rules stop this program; {len(result.violations) - len(blocking)} "
        "advisory findings are reported too (`python -m bucketguard policy check --program "
        "examples/insecure-camp --stack dev`).",
        highlight=False,
    )
    return bool(mandatory)


def _keep_running(console: Console, aws: Any, pipe: Any) -> None:
    st = pipe.storage
    creds = st.account.session.get_credentials()
    pipe.start()
    console.print(
        "\nThe embedded AWS keeps running, with the functions. Try (storage account credentials):\n"
        f"  export AWS_ACCESS_KEY_ID={creds.access_key} AWS_SECRET_ACCESS_KEY={creds.secret_key} "
        f"AWS_SESSION_TOKEN={creds.token} AWS_DEFAULT_REGION=us-east-1\n"
        f"  aws --endpoint-url {aws.endpoint_url} s3 cp ./file.pdf s3://{st.bucket}/file.pdf\n"
        f"  aws --endpoint-url {aws.endpoint_url} s3api get-object-tagging "
        f"--bucket {st.bucket} --key file.pdf\n"
        f"  python -m bucketguard scan s3://{st.bucket}/ --endpoint-url {aws.endpoint_url}\n"
        "Ctrl-C to stop.",
        highlight=False,
        soft_wrap=True,
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        pipe.stop()
