"""`python -m bucketguard rules list`: the catalogue as a table, JSON or the markdown of docs/rules.md.

Wired into the `rules` command (bucketguard/cli/rules.py) by ``add_list_command(rules_subparsers)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from bucketguard.cli import UsageError
from bucketguard.rules.docs import render_markdown, to_json_document
from bucketguard.rules.model import Rule, Severity, all_rules
from bucketguard.tables import Table, console, table

FORMATS = ("table", "json", "markdown")


def add_list_command(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "list",
        help="list the misconfiguration rules",
        description="List the misconfiguration rule catalogue (--format markdown regenerates docs/rules.md).",
    )
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument(
        "--min-severity", choices=[s.value for s in Severity], default="low", help="hide rules below this"
    )
    parser.add_argument("--service", help="only rules whose id starts with this service (s3, iam, ...)")
    parser.set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    minimum = Severity(args.min_severity)
    services = sorted({r.rule_id.split("_", 1)[0] for r in all_rules()})
    if args.service and args.service not in services:
        raise UsageError(f"--service {args.service}: no such service (choose from {', '.join(services)})")
    rules = [
        r
        for r in all_rules()
        if r.severity.at_least(minimum) and (not args.service or r.rule_id.startswith(f"{args.service}_"))
    ]
    if args.format == "markdown":
        # docs/rules.md is the whole catalogue: filters would make a stale page.
        sys.stdout.write(render_markdown())
    elif args.format == "json":
        print(json.dumps(to_json_document(rules), indent=2))
    else:
        console().print(rules_table(rules))
    return 0


def rules_table(rules: Sequence[Rule[Any]]) -> Table:
    drawn = table("RULE ID", "SEVERITY", "RESOURCE", "FSBP", "TITLE", listing=True)
    for r in rules:
        fsbp = ",".join(r.references.fsbp) or "-"
        drawn.add_row(r.rule_id, r.severity.value, r.facts_kind, fsbp, r.title)
    return drawn
