"""`python -m bucketguard policy check`: a Pulumi program's (or CloudFormation template's) misconfigurations,
offline.

Runs the program under the SDK's mock runtime (no CLI, no cloud), sends every resource to the policy pack
over the analyzer gRPC protocol as the Pulumi engine does, and prints the violations.
Exit status: 0 no mandatory violation, 1 mandatory violations, 2 usage or runtime error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bucketguard.cli import EXIT_FINDINGS, EXIT_OK, UsageError, checked
from bucketguard.rules.frameworks import frameworks, get_framework
from bucketguard.scanning.result import Severity
from bucketguard.validation import AccountId, RegionName

# Named here, not taken from bucketguard.policy.check.RENDERERS: that module imports pulumi and grpc (slow).
FORMATS = ("table", "json", "sarif", "junit", "csv")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "policy",
        help="check a Pulumi program against the policy pack, offline",
        description="Guard rails for Pulumi programs: the bucketguard CrossGuard policy pack.",
    )
    commands = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="run a program under the mock runtime and analyze it with the pack",
        description="Run a Pulumi Python program under the SDK's mock runtime and analyze every resource "
        "with the policy pack over gRPC, in the order the Pulumi engine uses.",
    )
    source = check.add_mutually_exclusive_group()
    source.add_argument("--program", type=Path, help="directory holding Pulumi.yaml (default: .)")
    source.add_argument(
        "--cloudformation",
        type=Path,
        nargs="+",
        action="extend",
        metavar="FILE",
        help="CloudFormation templates (JSON or YAML) to check instead of a Pulumi program",
    )
    source.add_argument(
        "--terraform-plan",
        type=Path,
        nargs="+",
        action="extend",
        metavar="FILE",
        help="Terraform plans as `terraform show -json PLAN` writes them",
    )
    template = check.add_argument_group("templates (--cloudformation)")
    template.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter's value (repeatable); a parameter with neither value nor Default is "
        "unknown, and the rules that need it report undecided",
    )
    template.add_argument(
        "--account-id", type=checked(AccountId), help="the AWS::AccountId the templates are deployed into"
    )
    template.add_argument(
        "--region", type=checked(RegionName), help="the AWS::Region the templates are deployed into"
    )
    stack = check.add_mutually_exclusive_group()
    stack.add_argument("--stack", help="stack name: reads Pulumi.<NAME>.yaml next to the program")
    stack.add_argument(
        "--config", type=Path, metavar="FILE", help="a stack config file (Pulumi.<stack>.yaml)"
    )
    check.add_argument(
        "--policy-config",
        type=Path,
        metavar="FILE",
        help="policy config JSON, the format of `pulumi preview --policy-pack-config`",
    )
    check.add_argument(
        "--pack", type=Path, metavar="DIR", help="policy pack directory (default: policy_pack/)"
    )
    when = check.add_mutually_exclusive_group()
    when.add_argument(
        "--preview",
        dest="preview",
        action="store_true",
        default=True,
        help="(default) what `pulumi preview --policy-pack` sees: outputs the provider computes for new "
        "resources (ids, ARNs) are unknown",
    )
    when.add_argument(
        "--up",
        dest="preview",
        action="store_false",
        help="every value known, as after `pulumi up`",
    )
    check.add_argument(
        "--format",
        action="append",
        metavar="FORMAT[=FILE]",
        help=f"one of {', '.join(FORMATS)}, written to FILE or else to --output or stdout; repeatable "
        "(`--format table --format sarif=policy.sarif --format junit=policy.xml`). Default: table",
    )
    check.add_argument(
        "--output", type=Path, metavar="FILE", help="where the one format given without =FILE is written"
    )
    check.add_argument(
        "--framework",
        choices=tuple(frameworks()),
        help="only the rules mapped to this compliance framework; the report adds each control's status",
    )
    check.add_argument(
        "--min-severity",
        choices=[s.value for s in Severity],
        help="report only violations of this severity or above (they alone decide the exit status)",
    )
    check.set_defaults(run=run_check)


def output_plan(
    formats: list[str] | None, output: Path | None, known: Sequence[str] = FORMATS
) -> list[tuple[str, Path | None]]:
    """--format/--output -> [(format, file or None for stdout)]; refuses what cannot be honoured."""
    plan: list[tuple[str, Path | None]] = []
    for spec in formats or ["table"]:
        name, equals, file = spec.partition("=")
        if name not in known:
            raise UsageError(f"--format {spec}: unknown format {name!r} (one of {', '.join(known)})")
        if equals and not file:
            raise UsageError(f"--format {spec}: no file after '='")
        plan.append((name, Path(file) if file else None))
    bare = [name for name, file in plan if file is None]
    if len(bare) > 1:
        raise UsageError(f"--format {' and '.join(bare)}: only one format can go to stdout or --output")
    if output is not None:
        if not bare:
            raise UsageError(f"--output {output}: every --format already names its file")
        plan = [(name, file or output) for name, file in plan]
    files = [file for _, file in plan if file is not None]
    if len(set(files)) != len(files):
        raise UsageError("--format: two formats would be written to the same file")
    return plan


def write_outputs(plan: list[tuple[str, Path | None]], render: Callable[[str, bool], str]) -> None:
    """Each planned format, rendered by ``render(format, to_a_terminal)``, to its file or to stdout."""
    for name, file in plan:
        text = render(name, file is None and sys.stdout.isatty())
        if file is None:
            print(text)
            continue
        try:
            file.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--format {name}={file}: cannot write: {exc.strerror}") from exc


def parameters(given: list[str]) -> dict[str, str]:
    result = {}
    for spec in given:
        key, equals, value = spec.partition("=")
        if not equals or not key:
            raise UsageError(f"--parameter {spec}: expected KEY=VALUE")
        result[key] = value
    return result


def run_check(args: argparse.Namespace) -> int:
    # Imported here: pulumi and grpc are slow to import and only this command needs them.
    from bucketguard.policy.check import DEFAULT_PACK_DIR, RENDERERS, run_check
    from bucketguard.templates.check import run_template_check

    plan = output_plan(args.format, args.output)
    if args.policy_config is not None and not args.policy_config.is_file():
        raise UsageError(f"--policy-config {args.policy_config}: no such file")
    pack_dir = args.pack or DEFAULT_PACK_DIR
    templates = args.cloudformation or args.terraform_plan
    if templates:
        option = "--cloudformation" if args.cloudformation else "--terraform-plan"
        for name in ("stack", "config"):
            if getattr(args, name) is not None:
                raise UsageError(f"--{name}: a Pulumi program's option, not for {option}")
        if args.terraform_plan and (args.parameter or args.account_id or args.region):
            raise UsageError(
                "--parameter, --account-id, --region: a template's options (the plan has the values)"
            )
        for template in templates:
            if not template.is_file():
                raise UsageError(f"{option} {template}: no such file")
        result = run_template_check(
            templates,
            terraform=bool(args.terraform_plan),
            parameters=parameters(args.parameter),
            account_id=args.account_id,
            region=args.region,
            policy_config_file=args.policy_config,
            pack_dir=pack_dir,
        )
    else:
        for option in ("parameter", "account_id", "region"):
            if getattr(args, option):
                raise UsageError(f"--{option.replace('_', '-')}: a template's option (give --cloudformation)")
        program = args.program or Path()
        if not program.is_dir():
            raise UsageError(f"--program {program}: not a directory")
        if args.config is not None and not args.config.is_file():
            raise UsageError(f"--config {args.config}: no such file")
        result = run_check(
            program,
            stack=args.stack,
            config_file=args.config,
            policy_config_file=args.policy_config,
            pack_dir=pack_dir,
            preview=args.preview,
        )
    if args.framework:
        result = result.for_framework(get_framework(args.framework))
    if args.min_severity:
        result = result.at_least(Severity(args.min_severity))
    write_outputs(plan, lambda name, _on_terminal: RENDERERS[name](result))
    return EXIT_FINDINGS if result.mandatory else EXIT_OK
