"""`python -m bucketguard monitor replay EVENT.json...`: the monitor core on recorded CloudTrail events.

Each file holds one event, an EventBridge envelope, a JSON list of them, or a CloudTrail log file (its
``Records``). The events are judged against the account of the caller's credentials, with the findings
history the audit keeps. Exit status: 0 no new failure, 1 new failures remain, 2 usage or runtime error.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bucketguard.cli import EXIT_FINDINGS, EXIT_OK, UsageError, aws_problem, checked, endpoint_url
from bucketguard.cli.audit import DEFAULT_HISTORY, add_listener_option, listeners
from bucketguard.validation import PrincipalArn


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "monitor",
        help="real-time monitoring: judge CloudTrail events as the deployed monitor does",
        description="Run the monitor core on recorded CloudTrail events. Exit 0: no new failure; "
        "1: new failures remain; 2: error.",
    )
    commands = parser.add_subparsers(dest="monitor_command", metavar="SUBCOMMAND", required=True)
    replay = commands.add_parser(
        "replay",
        help="judge recorded CloudTrail events against the account",
        description="Each EVENT file: one CloudTrail event, an EventBridge envelope, a JSON list of them, or "
        'a CloudTrail log file ({"Records": [...]}).',
    )
    replay.add_argument("events", nargs="+", type=Path, metavar="EVENT.json")
    replay.add_argument(
        "--endpoint-url",
        type=endpoint_url,
        metavar="URL",
        help="send every AWS call there (moto, LocalStack)",
    )
    replay.add_argument(
        "--fix",
        action="store_true",
        help="put back what the events broke (every rule with a fixer but the opt-in ones)",
    )
    replay.add_argument(
        "--undo-file",
        type=Path,
        metavar="FILE",
        help="where --fix records the previous states (default .bucketguard/undo-<timestamp>.json)",
    )
    replay.add_argument("--format", choices=("table", "json"), default="table")
    replay.add_argument("--policy-config", type=Path, metavar="FILE", help="the policy pack's config")
    replay.add_argument(
        "--history",
        type=Path,
        default=DEFAULT_HISTORY,
        metavar="FILE",
        help=f"findings history and handled event ids (SQLite; default {DEFAULT_HISTORY})",
    )
    replay.add_argument(
        "--ignore-principal",
        action="append",
        default=[],
        type=checked(PrincipalArn),
        metavar="ARN",
        help="events made by this role or user are not judged (bucketguard's own roles; repeat)",
    )
    add_listener_option(replay)
    replay.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.set_defaults(run=run_monitor)


def run_monitor(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from bucketguard.cli.remediate import refuse_options_without_fix
    from bucketguard.policy.pack_config import PolicyConfigError

    refuse_options_without_fix(args)
    try:
        return _replay(args)
    except (BotoCoreError, ClientError, PolicyConfigError) as exc:
        if args.debug:
            raise
        raise UsageError(aws_problem(exc)) from exc


def _records(paths: Sequence[Path]) -> list[Any]:
    from bucketguard.monitor.events import parse_document

    records: list[Any] = []
    for path in paths:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
        records.extend(parse_document(raw, str(path)))
    return records


def _replay(args: argparse.Namespace) -> int:
    import boto3

    from bucketguard.audit.clients import ClientFactory
    from bucketguard.audit.history import SqliteHistory
    from bucketguard.audit.settings import load_settings
    from bucketguard.monitor.core import Monitor
    from bucketguard.monitor.ledger import SqliteLedger
    from bucketguard.remediation import default_rules

    if args.policy_config is not None and not args.policy_config.is_file():
        raise UsageError(f"--policy-config {args.policy_config}: no such file")
    records = _records(args.events)
    settings = load_settings(args.policy_config)
    clients = ClientFactory(boto3.Session(), endpoint_url=args.endpoint_url)
    account = str(clients.client("sts").get_caller_identity()["Account"])
    others = sorted({r.account for r in records} - {account})
    if others:
        raise UsageError(f"events of account {', '.join(others)}: the credentials are for account {account}")
    history, ledger = SqliteHistory(args.history), SqliteLedger(args.history)
    fixer = None
    if args.fix:
        from bucketguard.monitor.remediate import RemediationFixer
        from bucketguard.remediation import UndoFile

        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        undo_file = args.undo_file or args.history.parent / f"undo-{stamp}.json"
        fixer = RemediationFixer(settings, UndoFile(undo_file), ledger)
    monitor = Monitor(
        clients_for=lambda _: clients,
        history=history,
        ledger=ledger,
        settings=settings,
        ignored_principals=frozenset(args.ignore_principal),
        listeners=listeners(args),
        remediate=default_rules() if args.fix else frozenset(),
        fixer=fixer,
    )
    outcomes = [monitor.handle(record) for record in records]
    alerts = [a for o in outcomes for a in o.alerts]
    if args.format == "json":
        print(json.dumps({"schema_version": 1, "alerts": [a.replay_dict() for a in alerts]}, indent=2))
    else:
        print(_table(outcomes))
    failing = any(a.status in ("new", "remediation_failed") for a in alerts)
    return EXIT_FINDINGS if failing else EXIT_OK


def _table(outcomes: Sequence[Any]) -> str:
    from bucketguard.tables import render, table

    drawn = table("event", "result", "alert", "severity", "rule", "resource", "what happened", title="replay")
    for outcome in outcomes:
        event = f"{outcome.event_name} {outcome.event_id}"
        if not outcome.alerts:
            drawn.add_row(event, outcome.result, "", "", "", "", outcome.reason)
        for a in outcome.alerts:
            happened = [a.message, f"by {a.actor} from {a.source_ip or '-'} at {a.event_time}", a.detail]
            drawn.add_row(
                event,
                outcome.result,
                a.status,
                a.severity,
                a.rule_id,
                a.resource_arn,
                "\n".join(line for line in happened if line),
            )
    return render(drawn)
