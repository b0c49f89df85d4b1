"""`python -m bucketguard demo`: the camp's story played on the embedded AWS.

examples/stacks/Pulumi.dev.yaml (the camp: one account, one region) is deployed into moto by the real
infra/ program (bucketguard.sandbox.deployer): the teaching-material bucket with its bucket policy and
notifications, the scanner, the listener and post-scan functions. The campers' pranks and the counsellors'
clean files are uploaded; the deployed functions run as Lambda would; the demo shows the deployed policy,
notifications and functions, then each verdict, the tags on each version and what sits in quarantine.

Exits 0 when every upload ended where it should (pranks caught or held, clean files clean).
`--keep` leaves the embedded AWS and the functions running and prints the endpoint.

Then the second half of the story: the pranksters' version of the camp's infrastructure
(examples/insecure-camp: a public bucket, anyone may PutObject, RDP open...) is checked by the policy pack,
offline, and the demo shows what `pulumi preview --policy-pack policy_pack` would stop. Last, the campers make
the same pranks by hand in the camp's account (bucketguard.demo.camp_account), where no preview sees them: the
live audit finds each one, with the same rules and the same policy config, and writes the HTML report.
Finally the deployed monitor at work (bucketguard.cli.demo_monitoring): a child makes the teaching bucket
public and opens RDP; the monitor alerts naming the child's role and puts both back.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bucketguard.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from bucketguard.demo.pranks import Sample, all_samples
from bucketguard.pipeline.messages import ScanResultEvent
from bucketguard.pipeline.postscan import quarantine_key
from bucketguard.pipeline.tagging import TAG_DATE, TAG_RESULT, TAG_RULESET, TAG_SEAL
from bucketguard.scanning.output import verdict_text
from bucketguard.scanning.result import Verdict

if TYPE_CHECKING:  # the sandbox imports boto3 and moto: loaded when the demo runs
    from bucketguard.sandbox.sandbox import Sandbox


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
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="where the audit act writes its HTML dashboard (default: audit.html in a new private directory)",
    )
    parser.set_defaults(run=run)


INSECURE_CAMP = Path(__file__).resolve().parents[2] / "examples" / "insecure-camp"
CAMP_STACK = Path(__file__).resolve().parents[2] / "examples" / "stacks" / "Pulumi.dev.yaml"
READ_BLOCK_SID = "BucketGuardDenyReadUnlessScannedClean"
# moto stores the bucket policy but does not evaluate its conditions: say what protects the object, not
# that a download was refused.
BLOCKED = "in place, held*"
BLOCKED_NOTE = (
    "* held: in place, blocked by the bucket policy (not evaluated by the embedded AWS): its "
    f"{READ_BLOCK_SID} statement denies reads of versions not tagged clean; moto stores the policy but "
    "does not evaluate its tag condition."
)
NOT_BLOCKED = "in place, readable (no access-blocking statement in the bucket policy)"


# moto does not enforce S3 Block Public Access: say what AWS would do with the account setting the camp's
# stack turns on, rather than let the story claim that a public policy or ACL could land there.
ACCOUNT_BLOCK_NOTE = (
    " (in AWS, the account-wide Block Public Access the camp's stack turns on, accountPublicAccessBlock, "
    "refuses a public ACL or bucket policy outright; the embedded AWS does not enforce it, so they land "
    "here as in an account without it)"
)


def _account_blocks_public_access() -> bool:
    from bucketguard.sandbox.deployer import read_stack_config

    return read_stack_config(CAMP_STACK).get("bucketguard:accountPublicAccessBlock") is True


@dataclass
class Upload:
    sample: Sample
    version_id: str
    event: ScanResultEvent | None = None
    tags: dict[str, str] | None = None  # None: the version is no longer in the bucket
    where: str = ""
    copy_tags: dict[str, str] | None = None  # tags on the quarantined copy
    promote: bool = True  # the storage has a promote bucket

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
            clean = (self.tags or {}).get(TAG_RESULT) == Verdict.CLEAN
            return clean and self.where == ("promoted" if self.promote else "in place")
        return self.where == BLOCKED and (self.tags or {}).get(TAG_RESULT) == Verdict.UNSCANNABLE


def _short_tags(tags: dict[str, str] | None) -> str:
    if tags is None:
        return "(version removed)"
    # The date and ruleset are the same on every row, the seal an opaque HMAC: said once under the table.
    return "\n".join(
        f"{k.removeprefix('bucketguard-')}={v}"
        for k, v in tags.items()
        if k.startswith("bucketguard-") and k not in (TAG_DATE, TAG_RULESET, TAG_SEAL)
    )


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


def _listing(pipe: Sandbox, bucket: str) -> list[str]:
    return [f"{v['Key']}  ({v['Size']} bytes)" for v in pipe.versions(bucket)]


def run(args: argparse.Namespace) -> int:
    if not CAMP_STACK.is_file():
        raise UsageError(f"{CAMP_STACK}: the camp's stack config is not next to this installation")
    if args.output is not None and not args.output.parent.is_dir():
        raise UsageError(f"--output {args.output}: no such directory {args.output.parent}")
    quiet = logging.getLogger("bucketguard")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the story is told by the tables
    try:
        return _play(args)
    finally:
        quiet.setLevel(level)  # a caller in the same process (a test) keeps its logs


def _play(args: argparse.Namespace) -> int:
    from bucketguard.cli.sandbox import keep_running
    from bucketguard.sandbox.aws import EmbeddedAws
    from bucketguard.sandbox.deployer import read_stack_config, stack_name
    from bucketguard.sandbox.resources import DeployError
    from bucketguard.sandbox.sandbox import Sandbox

    # Wide enough for the verdict table when the output is a file or a CI log.
    console = Console(width=None if sys.stdout.isatty() else 130)
    started = time.monotonic()
    # The audit act attaches AWS's AdministratorAccess: the embedded AWS must know AWS's managed policies.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    console.print(
        f"Deploying {CAMP_STACK.name} with infra/ into an embedded AWS (moto on 127.0.0.1; about half a "
        "minute)...",
        highlight=False,
    )
    with EmbeddedAws() as aws:
        try:
            pipe = Sandbox.up(aws, read_stack_config(CAMP_STACK), stack=stack_name(CAMP_STACK))
        except DeployError as exc:
            raise UsageError(f"{CAMP_STACK}: {exc}") from None
        try:
            wrong = _play_uploads(console, pipe, started)
            if not args.skip_policy and not (
                _play_guard_rails(console) and _play_audit(console, pipe, args.output)
            ):
                return EXIT_FINDINGS
            if not args.skip_policy and not _monitoring_worked(console, pipe):
                return EXIT_FINDINGS
            if args.keep:
                keep_running(console, pipe)
            return EXIT_FINDINGS if wrong else EXIT_OK
        finally:
            pipe.stop()


def _show_deployment(console: Console, pipe: Sandbox) -> bool:
    """What infra/ deployed, read back from the embedded AWS; True when the bucket policy denies reads of
    objects not scanned clean."""
    st = pipe.storage
    s3 = st.account.shared("s3")
    console.print(
        f"[bold]Embedded AWS[/] at {pipe.aws.endpoint_url}: infra/ deployed {len(pipe.deployment.resources)} "
        f"resources of {CAMP_STACK.name} into account {st.account.account_id} ({st.region}) in "
        f"{pipe.deployment.seconds:.1f} s.",
        highlight=False,
    )
    statements = json.loads(s3.get_bucket_policy(Bucket=st.bucket)["Policy"])["Statement"]
    policy = Table(title=f"s3://{st.bucket}: the deployed bucket policy", title_justify="left")
    for column in ("statement", "effect", "actions", "condition"):
        policy.add_column(column, overflow="fold")
    for statement in statements:
        actions = statement.get("Action", [])
        policy.add_row(
            statement.get("Sid", ""),
            statement["Effect"],
            ", ".join(actions if isinstance(actions, list) else [actions]),
            ", ".join(sorted(statement.get("Condition", {}))) or "-",
        )
    console.print(policy)
    notifications = s3.get_bucket_notification_configuration(Bucket=st.bucket).get("QueueConfigurations", [])
    for n in notifications:
        console.print(f"Notifications: {', '.join(n['Events'])} -> {n['QueueArn']}", highlight=False)
    functions = Table(
        title="the deployed functions (those fed by a queue run locally from the deployed code)",
        title_justify="left",
    )
    for column in ("function", "handler", "memory", "timeout", "trigger"):
        functions.add_column(column, overflow="fold")
    fed = {source.function_name: source for source in pipe.runner.sources}
    for f in pipe.runner.functions:
        source = fed.get(f.name)
        functions.add_row(
            f.name,
            f.handler,
            f"{f.memory_mb} MB",
            f"{f.timeout_seconds} s",
            f"{source.queue_arn.rsplit(':', 1)[1]} (batch {source.batch_size})"
            if source
            else "a schedule (not run here)",
        )
    console.print(functions)
    return any(s.get("Sid") == READ_BLOCK_SID for s in statements)


def _play_uploads(console: Console, pipe: Sandbox, started: float) -> list[str]:
    """The campers' uploads through the deployed pipeline; the keys that did not end where they should."""
    st = pipe.storage
    reads_blocked = _show_deployment(console, pipe)
    samples = all_samples()
    camper = st.account.shared("s3")
    uploads = [
        Upload(
            s,
            str(camper.put_object(Bucket=st.bucket, Key=s.key, Body=s.data)["VersionId"]),
            promote=st.promote_bucket is not None,
        )
        for s in samples
    ]
    console.print(f"{len(uploads)} uploads by campers and counsellors; the pipeline runs...", highlight=False)
    pipe.drain()
    events = {(e["key"], e["version_id"]): ScanResultEvent.from_json(e) for e in pipe.published_events()}
    quarantined = {v["Key"] for v in pipe.versions(st.quarantine_bucket)} if st.quarantine_bucket else set()
    promoted = {v["Key"] for v in pipe.versions(st.promote_bucket)} if st.promote_bucket else set()
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
        elif u.tags is None:
            u.where = "gone"
        elif (u.tags or {}).get(TAG_RESULT) == Verdict.CLEAN:
            u.where = "in place"
        else:
            u.where = BLOCKED if reads_blocked else NOT_BLOCKED
    console.print(uploads_table(uploads, title=f"s3://{st.bucket}: every upload's verdict"))
    if any(u.where == BLOCKED for u in uploads):
        console.print(BLOCKED_NOTE, highlight=False)
    rulesets = {u.event.result.ruleset_version for u in uploads if u.event}
    console.print(
        f"Each version is also tagged {TAG_DATE}, {TAG_RULESET} ({', '.join(sorted(rulesets))}) and "
        f"{TAG_SEAL} (an HMAC of its verdict tags, version and ETag under a key only post-scan may use: "
        "a verdict tag written by anyone else has no valid seal and decides nothing).",
        highlight=False,
    )
    for title, bucket in (("Quarantine", st.quarantine_bucket), ("Promoted", st.promote_bucket)):
        if bucket:
            console.print(f"[bold]{title}[/] s3://{bucket}:", highlight=False)
            for line in _listing(pipe, bucket):
                console.print(f"  {line}", highlight=False)
    alerts = pipe.alerts()
    console.print(f"{len(alerts)} alert(s) sent to the security team's topic.", highlight=False)
    wrong = [u.sample.key for u in uploads if not u.as_expected]
    if wrong:
        console.print(
            f"[bold red]{len(wrong)} upload(s) did not end where they should:[/] {', '.join(wrong)}"
        )
    else:
        console.print(
            "Every prank caught or held, every clean file tagged clean "
            f"({time.monotonic() - started:.1f} s).",
            highlight=False,
        )
    return wrong


def _dashboard_path(output: Path | None) -> Path:
    """The given file, or audit.html in a new directory only this user may enter: a fixed name in the
    shared temporary directory could be another user's symlink, or another run's page."""
    return output or Path(tempfile.mkdtemp(prefix="bucketguard-demo-")) / "audit.html"


def _play_audit(console: Console, pipe: Sandbox, output: Path | None) -> bool:
    """The pranks made by hand in the camp's account, found by a live audit: True when each one is."""
    from bucketguard.audit.clients import ClientFactory
    from bucketguard.audit.dashboard import render_html
    from bucketguard.audit.report import build_report
    from bucketguard.audit.run import Account, audit_accounts, listener_digest
    from bucketguard.audit.settings import load_settings
    from bucketguard.demo.camp_account import ABROAD_REGION, seed_pranks

    st = pipe.storage
    console.print(
        "\n[bold]Last prank[/]: the campers skip Pulumi and click the same pranks into the camp's account, "
        "where no preview sees them. `python -m bucketguard audit` reads the live account with the same "
        f"rules and the same policy config{ACCOUNT_BLOCK_NOTE if _account_blocks_public_access() else ''}:",
        highlight=False,
    )
    clients = ClientFactory(st.account.session, endpoint_url=st.account.endpoint_url)
    pranks = seed_pranks(clients.client, st.region)
    settings = load_settings(INSECURE_CAMP / "policy-config.json")
    account = Account(st.account.account_id, clients, (st.region, ABROAD_REGION))
    audited = audit_accounts(
        [account], rule_configs=settings.judged, listeners=frozenset({listener_digest(st.listener_queue_arn)})
    )
    report = build_report(audited, settings)
    table = Table(title=f"account {account.account_id}: what the audit found by hand", title_justify="left")
    for column in ("prank", "rule", "resource", "region", ""):
        table.add_column(column, overflow="fold")
    found_all = True
    for prank in pranks:
        found = next(
            (
                v.finding
                for v in report.mandatory
                if v.finding.rule_id == prank.rule_id and prank.resource in v.finding.resource_name
            ),
            None,
        )
        found_all = found_all and found is not None
        table.add_row(
            prank.what,
            prank.rule_id,
            found.resource_name if found else prank.resource,
            found.region if found else "",
            Text("found", style="green") if found else Text("MISSED", style="bold red"),
        )
    console.print(table)
    page = _dashboard_path(output)
    page.write_text(render_html(report), encoding="utf-8")
    summary = report.summary()
    console.print(
        f"{summary['mandatory']} mandatory and {summary['advisory']} advisory violations in "
        f"{summary['resources']} resources ({clients.calls} API calls); the dashboard: "
        f"{page}",
        highlight=False,
        soft_wrap=True,  # the path whole, to copy
    )
    return found_all


def _monitoring_worked(console: Console, pipe: Sandbox) -> bool:
    """The monitoring act (bucketguard.cli.demo_monitoring): True when each change was alerted, put back."""
    from bucketguard.cli.demo_monitoring import play_monitoring

    note = ACCOUNT_BLOCK_NOTE if _account_blocks_public_access() else ""
    outcome = play_monitoring(console, pipe, INSECURE_CAMP / "policy-config.json", note)
    return bool(outcome.alerts) and outcome.put_back and not outcome.still_failing


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
