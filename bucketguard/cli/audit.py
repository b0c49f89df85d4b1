"""`python -m bucketguard audit`: the rule catalogue judges live accounts.

Collects every account and region (the caller's own account, each --role-arn, or every account and region a
stack config deploys into), evaluates the same rules `pulumi preview` runs, and prints the violations.
Exit status: 0 no mandatory violation, 1 mandatory violations (denied reads included), 2 usage or runtime
error. `audit history [--since DATE]` lists what changed between runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from bucketguard.cli import (
    EXIT_FINDINGS,
    EXIT_OK,
    UsageError,
    aws_problem,
    checked,
    endpoint_url,
    remediate,
    stack_config,
)
from bucketguard.validation import QueueArn, RegionName, RoleArn

SEVERITIES = ("low", "medium", "high", "critical")
# Named here, not taken from bucketguard.audit.report.RENDERERS: that module imports boto3 (slow to start).
FORMATS = ("table", "json", "sarif", "junit", "csv", "asff", "html")
DEFAULT_HISTORY = Path(".bucketguard/history.db")


def register(subparsers: Any) -> None:
    from bucketguard.audit.run import SERVICES
    from bucketguard.rules.frameworks import frameworks

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit",
        help="judge live AWS accounts with the rule catalogue",
        description="Collect live accounts with boto3 and judge them with the rules the policy pack runs at "
        "`pulumi preview`. Exit 0: no mandatory violation; 1: mandatory violations; 2: error.",
    )
    parser.add_argument(
        "--region",
        action="append",
        default=[],
        type=checked(RegionName),
        help="region to audit (repeat; default: "
        "every region enabled for the account, or the regions of --config)",
    )
    parser.add_argument(
        "--role-arn",
        action="append",
        default=[],
        type=checked(RoleArn),
        metavar="ARN",
        help="assume this role and audit its account (repeat)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="a stack config (Pulumi.<stack>.yaml): audit the accounts and regions it deploys into",
    )
    parser.add_argument(
        "--endpoint-url",
        type=endpoint_url,
        metavar="URL",
        help="send every AWS call there (moto, LocalStack)",
    )
    parser.add_argument(
        "--policy-config",
        type=Path,
        metavar="FILE",
        help="the policy pack's config: enforcement levels, exemptions, allowed regions/accounts",
    )
    add_listener_option(parser)
    parser.add_argument("--min-severity", choices=SEVERITIES, default="low")
    parser.add_argument(
        "--service", action="append", choices=SERVICES, default=[], help="only these services"
    )
    parser.add_argument("--rule", action="append", default=[], metavar="ID", help="only these rules")
    parser.add_argument(
        "--framework",
        choices=tuple(frameworks()),
        help="only the rules mapped to this compliance framework; the report adds each control's status",
    )
    parser.add_argument(
        "--format",
        action="append",
        metavar="FORMAT[=FILE]",
        help=f"one of {', '.join(FORMATS)} (asff: AWS Security Hub findings; html: a dashboard), written to "
        "FILE or else to --output or stdout; repeatable. Default: table",
    )
    parser.add_argument(
        "--import-security-hub",
        action="store_true",
        help="also import the findings into each audited account's Security Hub (BatchImportFindings)",
    )
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="where the format given without =FILE goes"
    )
    parser.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        default=DEFAULT_HISTORY,
        help=f"findings history (SQLite; default {DEFAULT_HISTORY})",
    )
    parser.add_argument("--no-history", action="store_true", help="neither read nor record the history")
    parser.add_argument("--workers", type=int, default=8, help="concurrent account/region collections")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    remediate.add_arguments(parser)
    commands = parser.add_subparsers(dest="audit_command", metavar="[history]")
    history = commands.add_parser("history", help="what changed between audit runs")
    history.add_argument("--since", type=date.fromisoformat, metavar="DATE", help="changes on or after DATE")
    history.add_argument("--history", type=Path, metavar="FILE", default=DEFAULT_HISTORY, dest="history_file")
    history.add_argument("--format", choices=("table", "json"), default="table", dest="history_format")
    parser.set_defaults(run=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    if args.audit_command == "history":
        return show_history(args)
    remediate.refuse_options_without_fix(args)
    from botocore.exceptions import BotoCoreError, ClientError

    from bucketguard.policy.pack_config import PolicyConfigError

    try:
        return remediate.run_undo(args) if args.undo is not None else _audit(args)
    except (BotoCoreError, ClientError, PolicyConfigError, ValueError) as exc:
        if args.debug:
            raise
        raise UsageError(aws_problem(exc)) from exc


def add_listener_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listener-queue",
        action="append",
        default=[],
        type=checked(QueueArn),
        metavar="ARN",
        help="a storage's listener queue (the stack's storages output; repeat): a bucket notifying it is "
        "scanned. Its bucketguard:role tag proves nothing: anyone who may tag a queue can write it",
    )


def listeners(args: argparse.Namespace) -> frozenset[str]:
    from bucketguard.audit.run import listener_digest

    return frozenset(listener_digest(arn) for arn in args.listener_queue)


def _audit(args: argparse.Namespace) -> int:
    import boto3

    from bucketguard.audit.history import SqliteHistory
    from bucketguard.audit.report import RENDERERS, build_report
    from bucketguard.audit.run import SERVICES, audit_accounts
    from bucketguard.audit.settings import load_settings
    from bucketguard.cli.policy import output_plan, write_outputs
    from bucketguard.rules.frameworks import get_framework
    from bucketguard.rules.model import all_rules

    plan = output_plan(args.format, args.output, FORMATS)
    for flag, path in (("--config", args.config), ("--policy-config", args.policy_config)):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path}: no such file")
    known = {r.rule_id for r in all_rules()}
    unknown = sorted(set(args.rule) - known)
    if unknown:
        raise UsageError(
            f"--rule {', '.join(unknown)}: no such rule (see `python -m bucketguard rules list`)"
        )
    settings = load_settings(args.policy_config)
    framework = get_framework(args.framework) if args.framework else None
    judged = {
        r: c
        for r, c in settings.judged.items()
        if (not args.rule or r in args.rule) and (framework is None or r in framework.rules)
    }
    session = boto3.Session(region_name=(args.region or [None])[0])
    accounts = _accounts(session, args)
    started = time.perf_counter()

    def collect() -> list[Any]:
        return audit_accounts(
            accounts,
            services=args.service or SERVICES,
            rule_configs=judged,
            workers=args.workers,
            progress=_progress(accounts),
            listeners=listeners(args),
        )

    results = collect()
    if args.fix:
        results = remediate.fix_and_reaudit(args, accounts, results, settings, collect)
    history = None if args.no_history else SqliteHistory(args.history)
    report = build_report(results, settings, min_severity=args.min_severity, history=history)
    report.seconds = time.perf_counter() - started
    report.framework = framework
    report.home_regions = {a.account_id: a.regions[0] for a in accounts if a.regions}
    report.api_calls = sum(a.clients.calls for a in accounts)
    write_outputs(plan, lambda name, on_terminal: RENDERERS[name](report, terminal=on_terminal))
    if args.import_security_hub:
        _import_security_hub(report, accounts)
    return EXIT_FINDINGS if report.mandatory else EXIT_OK


def _import_security_hub(report: Any, accounts: Sequence[Any]) -> None:
    from bucketguard.asff import ImportFailed
    from bucketguard.audit.report import import_into_security_hub

    try:
        imported = import_into_security_hub(report, {a.account_id: a.clients for a in accounts})
    except ImportFailed as exc:
        raise UsageError(f"--import-security-hub: {exc}") from exc
    for (account, region), count in imported.items():
        print(f"imported {count} finding(s) into Security Hub {account}/{region}", file=sys.stderr)


def _accounts(session: Any, args: argparse.Namespace) -> list[Any]:
    from bucketguard.audit.run import account_of, assume_role, enabled_regions

    targets: list[tuple[str | None, tuple[str, ...]]] = [(arn, tuple(args.region)) for arn in args.role_arn]
    if args.config is not None:
        targets.extend(_stack_targets(args.config, tuple(args.region)))
    if not targets:
        targets = [(None, tuple(args.region))]
    accounts: dict[str, Any] = {}
    for role_arn, regions in targets:
        own = session if role_arn is None else assume_role(session, role_arn, args.endpoint_url)
        account = account_of(own, args.endpoint_url)
        if account.account_id in accounts:  # several storages in one account: one audit, all their regions
            merged = accounts[account.account_id]
            merged.regions = tuple(sorted({*merged.regions, *regions}))
            continue
        account.regions = regions or enabled_regions(account)
        accounts[account.account_id] = account
    return list(accounts.values())


def _stack_targets(path: Path, regions: tuple[str, ...]) -> list[tuple[str | None, tuple[str, ...]]]:
    """The (role ARN or None for the caller's account, regions) a stack config deploys into."""
    config = stack_config(path)
    places = [(s.role_arn, s.region) for s in config.storages]
    places += [(s.role_arn, s.region) for s in config.fleet]
    by_role: dict[str | None, set[str]] = {}
    for role_arn, region in places:
        by_role.setdefault(role_arn, set()).add(region)
    return [(role, regions or tuple(sorted(found))) for role, found in by_role.items()]


def _progress(accounts: Sequence[Any]) -> Any:
    """A progress bar per account/region on a terminal (stderr); nothing otherwise."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import Progress

    progress = Progress(transient=True)
    task = progress.add_task("collecting", total=sum(len(a.regions) + 1 for a in accounts))
    progress.start()

    def advance(account: str, region: str) -> None:
        progress.update(task, advance=1, description=f"{account} {region}")
        if progress.tasks[0].finished:
            progress.stop()

    return advance


def show_history(args: argparse.Namespace) -> int:
    from bucketguard.audit.history import SqliteHistory

    if not args.history_file.is_file():
        raise UsageError(f"--history {args.history_file}: no history yet (run `audit` first)")
    changes = SqliteHistory(args.history_file).changes(args.since.isoformat() if args.since else None)
    if args.history_format == "json":
        print(json.dumps({"schema_version": 1, "changes": [c.__dict__ for c in changes]}, indent=2))
    else:
        from bucketguard.tables import render, table

        drawn = table("at", "change", "rule", "account/region", "resource", listing=True)
        for c in changes:
            drawn.add_row(c.at, c.change, c.rule_id, f"{c.account}/{c.region}", c.resource_name)
        print(render(drawn, f"{len(changes)} change(s)"))
    return EXIT_OK
