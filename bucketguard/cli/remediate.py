"""`audit --fix` and `audit --undo FILE`: the remediation half of `python -m bucketguard audit`.

`--fix` shows the plan (resource, rule, change) on stderr, asks on a terminal (or applies with `--yes`),
records every previous state in the undo file before changing it, prints what each fix did, and the audit's
report is then the re-audit's (stdout keeps its one document). `--undo FILE` restores the recorded states,
newest first, refusing in one line each resource that changed again since.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bucketguard.cli import EXIT_FINDINGS, EXIT_OK, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remediation")
    group.add_argument(
        "--fix",
        action="store_true",
        help="fix what the fixable rules find (with --rule: only those; opt-in rules only when named), "
        "then re-audit",
    )
    group.add_argument("--yes", action="store_true", help="with --fix: apply the plan without asking")
    group.add_argument(
        "--undo-file",
        type=Path,
        metavar="FILE",
        help="with --fix: where the previous states go (default .bucketguard/undo-<timestamp>.json)",
    )
    group.add_argument("--undo", type=Path, metavar="FILE", help="restore the states an undo file recorded")


def refuse_options_without_fix(args: argparse.Namespace) -> None:
    """Options that act only with --fix are refused without it, not ignored (`--yes` alone audits and
    changes nothing); --undo restores and --fix changes: one at a time."""
    if args.fix and getattr(args, "undo", None) is not None:
        raise UsageError("--fix and --undo: give one (--undo puts back what a --fix changed)")
    for flag, given in (("--yes", getattr(args, "yes", False)), ("--undo-file", args.undo_file is not None)):
        if given and not args.fix:
            raise UsageError(f"{flag} is only used with --fix")


def chosen_rules(named: Sequence[str], settings: Any) -> frozenset[str]:
    """The rules --fix fixes: those named (the fixable ones), else the defaults and the rules the policy
    config sets to ``remediate``; never a disabled rule."""
    from bucketguard.remediation import FIXERS, default_rules

    if named:
        fixable = frozenset(named) & frozenset(FIXERS)
        if not fixable:
            raise UsageError(
                f"--fix --rule {', '.join(named)}: no fixer (fixable: {', '.join(sorted(FIXERS))})"
            )
    else:
        remediate = {r for r, s in settings.rules.items() if s.enforcement == "remediate"}
        fixable = (default_rules() | remediate) & frozenset(FIXERS)
    return fixable & frozenset(settings.judged)


def fix_and_reaudit(
    args: argparse.Namespace,
    accounts: Sequence[Any],
    results: Sequence[Any],
    settings: Any,
    reaudit: Callable[[], Any],
) -> Any:
    """Plan, confirm, apply; the re-audit's results (the first audit's when nothing was applied)."""
    from bucketguard.audit.run import SEVERITY_ORDER
    from bucketguard.remediation import UndoFile, apply, held_back, plan_fixes
    from bucketguard.tables import console as tables_console

    console = tables_console(stderr=True)
    rules = chosen_rules(args.rule, settings)
    floor = SEVERITY_ORDER.index(args.min_severity)
    findings = [f for r in results for f in r.findings if SEVERITY_ORDER.index(f.severity) >= floor]
    fixes = plan_fixes(findings, rules, settings)
    for finding, reason in held_back(findings, rules, settings):
        console.print(
            f"held back  {finding.rule_id} on {finding.resource_name}: {reason}", markup=False, soft_wrap=True
        )
    if not fixes:
        console.print("nothing to fix")
        return results
    console.print(_plan_table(fixes))
    if not args.yes and not _confirmed(console, len(fixes)):
        console.print("nothing applied")
        return results
    path = args.undo_file or Path(".bucketguard") / f"undo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    undo_log = UndoFile(path)
    clients = {a.account_id: a.clients for a in accounts}
    outcomes = [apply(fix, clients[fix.finding.account], undo_log) for fix in fixes]
    console.print(_outcomes_table(outcomes))
    if undo_log.entries:
        undo_command = f"python -m bucketguard audit --undo {path}"
        console.print(
            f"previous states recorded in {path} (undo: {undo_command})", markup=False, soft_wrap=True
        )
    return reaudit()


def _confirmed(console: Any, count: int) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("--fix: not on a terminal, nothing applied: add --yes to apply the plan")
    from rich.prompt import Confirm

    return bool(Confirm.ask(f"apply {count} fix(es)?", console=console, default=False))


def _plan_table(fixes: Sequence[Any]) -> Any:
    from bucketguard.tables import table as new_table

    table = new_table("resource", "account/region", "rule", "change", title="fix plan")
    for fix in fixes:
        finding = fix.finding
        table.add_row(
            finding.resource_name, f"{finding.account}/{finding.region}", finding.rule_id, fix.change
        )
    return table


def _outcomes_table(outcomes: Sequence[Any]) -> Any:
    from bucketguard.tables import table as new_table

    table = new_table("status", "resource", "rule", "reason", title="fixes")
    for outcome in outcomes:
        finding = outcome.fix.finding
        style = "green" if outcome.status == "remediated" else "red"
        table.add_row(outcome.status, finding.resource_name, finding.rule_id, outcome.reason, style=style)
    return table


def run_undo(args: argparse.Namespace) -> int:
    """Exit 0: every entry restored or already as before; 1: some refused or failed."""
    import boto3

    from bucketguard.audit.run import account_of, assume_role
    from bucketguard.remediation import UndoFileError, read_undo_file, undo

    if not args.undo.is_file():
        raise UsageError(f"--undo {args.undo}: no such file")
    try:
        entries = read_undo_file(args.undo)
    except UndoFileError as exc:
        raise UsageError(f"--undo {exc}") from exc
    session = boto3.Session(region_name=(args.region or [None])[0])
    sessions = [session, *(assume_role(session, arn, args.endpoint_url) for arn in args.role_arn)]
    clients: Mapping[str, Any] = {
        account.account_id: account.clients
        for account in (account_of(own, args.endpoint_url) for own in sessions)
    }
    from bucketguard.tables import render, table

    results = undo(entries, clients.get)
    drawn = table("status", "rule", "resource", "reason", listing=True)
    for result in results:
        drawn.add_row(result.status, result.entry.rule_id, result.entry.arn, result.reason)
    print(render(drawn))
    return EXIT_FINDINGS if any(r.status in ("refused", "failed") for r in results) else EXIT_OK
