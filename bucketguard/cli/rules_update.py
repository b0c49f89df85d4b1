"""`rules update`, `rules publish` and `rules diff`: rulesets built from feeds, verified, published.

    rules update [--source [KIND=]URL|PATH|s3://...]... [--config Pulumi.<stack>.yaml] [--clean-corpus DIR]
        [--engine auto|yara|yara-x] -o ruleset.zip [--previous FILE] [--endpoint-url URL]
    rules publish ruleset.zip --to s3://bucket/prefix [--endpoint-url URL]
    rules diff OLD.zip NEW.zip

`update` exits 0 when it wrote the artifact, 1 when a gate refused it (the file at -o is left as it was),
2 on an error (a feed that cannot be fetched, bad input). An existing artifact at -o (or --previous) makes
the update conditional: each unchanged feed costs one request and its rules are taken from that artifact.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bucketguard.cli import (
    EXIT_FINDINGS,
    EXIT_OK,
    UsageError,
    aws_problem,
    checked,
    endpoint_url,
    stack_config,
)
from bucketguard.cli.scan import parse_size
from bucketguard.scanning.feeds import FeedError, FeedSource, HttpClient, shown, split_s3_url
from bucketguard.scanning.ruleset import ENGINES, Ruleset, RulesetError, load_artifact, read_manifest
from bucketguard.scanning.update import (
    FeedInput,
    UpdateLimits,
    UpdateReport,
    build,
    fetch_feeds,
    rule_index,
)
from bucketguard.validation import TopicArn, read_stack_config

SCHEMA_VERSION = 1
CONFIG_NAMESPACE = "bucketguard:scanner"
FLEET_NAMESPACE = "bucketguard:scanners"


def config_sources(path: Path, scanner_name: str | None = None) -> list[FeedSource]:
    """`scanner.ruleSources` of a Pulumi stack config file, or those of the `scanners` entry named."""
    stack_config(path)  # the whole file as the program reads it: a misspelt key is refused, not skipped
    config = read_stack_config(path)
    fleet = config.get(FLEET_NAMESPACE)
    where, scanner = CONFIG_NAMESPACE, config.get(CONFIG_NAMESPACE) or {}
    if isinstance(fleet, list):
        named = {str(entry.get("name")): i for i, entry in enumerate(fleet) if isinstance(entry, dict)}
        if scanner_name not in named:
            raise UsageError(
                f"{path}: {FLEET_NAMESPACE} is a fleet: name its scanner with --scanner ({', '.join(named)})"
            )
        index = named[scanner_name]
        where, scanner = f"{FLEET_NAMESPACE}[{index}]", fleet[index]
    elif scanner_name is not None:
        raise UsageError(f"--scanner {scanner_name}: {path} has no {FLEET_NAMESPACE}")
    entries = scanner.get("ruleSources") or []
    try:
        return [
            FeedSource.from_config(entry, f"{path}: {where}.ruleSources[{i}]")
            for i, entry in enumerate(entries)
        ]
    except FeedError as exc:
        raise UsageError(str(exc)) from None


def _sources(args: argparse.Namespace) -> list[FeedSource]:
    try:
        sources = [FeedSource.parse(text) for text in args.sources]
    except FeedError as exc:
        raise UsageError(str(exc)) from None
    if args.config is not None:
        sources += config_sources(args.config, args.scanner)
    names = [s.name for s in sources]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"two sources are named {', '.join(twice)}: give them distinct names in the config")
    return sources


def _previous(path: Path | None) -> tuple[Ruleset, dict[str, Any]] | None:
    if path is None or not path.exists():
        return None
    try:
        return load_artifact(path), read_manifest(path)
    except RulesetError as exc:
        raise UsageError(f"previous artifact: {exc}") from None


def _s3_store(endpoint_url: str | None) -> Any:
    import boto3

    from bucketguard.pipeline.rules_bucket import S3ObjectStore

    return S3ObjectStore(boto3.client("s3", endpoint_url=endpoint_url))


def _progress() -> Callable[[str], None]:
    """Each step on a terminal's stderr (a feed of 20 MiB and the gates take minutes); nothing otherwise."""
    if not sys.stderr.isatty():
        return lambda _line: None
    return lambda line: print(f"rules update: {line}", file=sys.stderr, flush=True)


def _fetch_all(sources: list[FeedSource], args: argparse.Namespace, previous: Any) -> list[FeedInput]:
    http = HttpClient(timeout_seconds=args.timeout, ca_certs=args.ca_certs)
    store = _s3_store(args.endpoint_url) if any(s.is_s3 for s in sources) else None
    try:
        return fetch_feeds(sources, http=http, store=store, previous=previous, progress=_progress())
    except FeedError as exc:
        raise UsageError(f"{exc} (nothing written)") from None


def _size(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _report_json(report: UpdateReport, output: Path) -> dict[str, Any]:
    m, limits = report.measured, report.limits
    return {
        "schema_version": SCHEMA_VERSION,
        "artifact": str(output),
        "written": not report.refused,
        "ruleset_version": report.ruleset.version,
        "previous_version": report.previous_version,
        "backend": report.backend,
        "rules": report.ruleset.rule_count,
        "hashes": report.ruleset.hash_count,
        "feeds": report.feed_records(),
        "added": report.added,
        "removed": report.removed,
        "hashes_added": report.hashes_added,
        "hashes_removed": report.hashes_removed,
        "dropped": [d.to_dict() for d in report.dropped],
        "duplicates": report.duplicates,
        "measured": {
            "compile_seconds": round(m.compile_seconds, 3),
            "artifact_bytes": m.artifact_bytes,
            "scan_seconds": round(m.scan_seconds, 3),
            "baseline_scan_seconds": round(m.baseline_scan_seconds, 3),
            "sample_bytes": limits.sample_bytes,
        },
        "limits": {
            "max_compile_seconds": limits.max_compile_seconds,
            "max_artifact_bytes": limits.max_artifact_bytes,
            "max_slowdown": limits.max_slowdown,
        },
        "warnings": report.warnings,
        "refused": report.refused,
    }


def _say(line: str) -> None:
    """A line naming what feeds wrote (their files and rules, compile errors quoting them), printable."""
    from bucketguard.printable import one_line

    print(one_line(line))


def _print_report(report: UpdateReport, output: Path) -> None:
    previous = f" (was {report.previous_version})" if report.previous_version else ""
    _say(
        f"ruleset {report.ruleset.version}{previous} for {report.backend}: "
        f"{report.ruleset.rule_count} rules, {report.ruleset.hash_count} hashes"
    )
    for feed in report.feed_records():
        _say(
            f"  feed {feed['name']} ({feed['url']}): {feed['status']}, {feed['kind']}, "
            f"{feed['rules']} rules, {feed['hashes']} hashes"
        )
    if report.previous_version:
        _say(
            f"added {len(report.added)} rules, removed {len(report.removed)}; "
            f"hashes +{report.hashes_added} -{report.hashes_removed}"
        )
        for key in report.added[:20]:
            _say(f"  + {key}")
        for key in report.removed[:20]:
            _say(f"  - {key}")
    if report.dropped:
        _say(f"dropped {len(report.dropped)}:")
        for d in report.dropped:
            where = f"{d.source}:{d.file}" if d.file else d.source
            _say(f"  {where} {d.rule}: {d.why}")
    for name, spaces in report.duplicates.items():
        _say(
            f"note: rule {name} is defined in {len(spaces)} namespaces and kept in each: {', '.join(spaces)}"
        )
    for warning in report.warnings:
        _say(f"warning: {warning}")
    m, limits = report.measured, report.limits
    _say(
        f"limits: compile {m.compile_seconds:.2f} s (max {limits.max_compile_seconds:g} s), "
        f"artifact {_size(m.artifact_bytes)} (max {_size(limits.max_artifact_bytes)}), "
        f"{_size(limits.sample_bytes)} sample scanned in {m.scan_seconds:.3f} s "
        f"(bundled rules {m.baseline_scan_seconds:.3f} s, max {limits.max_slowdown:g}x)"
    )
    if report.refused:
        _say(f"REFUSED, {output} left as it was:")
        for why in report.refused:
            _say(f"  {why}")
    else:
        _say(f"wrote {output}")


def run_update(args: argparse.Namespace) -> int:
    output: Path = args.output
    if output.is_dir() or not output.parent.is_dir():
        raise UsageError(f"{output}: give the artifact's file name in an existing directory with -o")
    if args.clean_corpus is not None and not args.clean_corpus.is_dir():
        raise UsageError(f"{args.clean_corpus}: no such clean corpus directory")
    sources = _sources(args)
    previous = _previous(args.previous or output)
    feeds = _fetch_all(sources, args, previous)
    limits = UpdateLimits(
        max_compile_seconds=args.max_compile_seconds,
        max_artifact_bytes=args.max_artifact_bytes,
        max_slowdown=args.max_slowdown,
        sample_bytes=args.sample_size,
    )
    report = build(
        feeds,
        output,
        engine=args.engine,
        clean_corpus=args.clean_corpus,
        limits=limits,
        previous=previous[0] if previous else None,
        progress=_progress(),
    )
    if args.format == "json":
        print(json.dumps(_report_json(report, output), indent=2))
    else:
        _print_report(report, output)
    return EXIT_FINDINGS if report.refused else EXIT_OK


def _s3_prefix(text: str) -> str:
    """--to, checked before the artifact is loaded and judged (which takes seconds)."""
    try:
        split_s3_url(text)
    except FeedError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def run_publish(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from bucketguard.pipeline.rules_bucket import publish_artifact

    try:
        published = publish_artifact(
            boto3.client("s3", endpoint_url=args.endpoint_url), args.artifact, args.to
        )
    except (RulesetError, FeedError) as exc:
        raise UsageError(str(exc)) from None
    except (BotoCoreError, ClientError) as exc:
        raise UsageError(f"{shown(args.to)}: cannot publish: {aws_problem(exc)}") from None
    print(
        f"published ruleset {published.ruleset_version} to s3://{published.bucket}/{published.key} "
        f"(version {published.version_id or 'unversioned'}, sha256 {published.sha256})"
    )
    if args.announce:
        from bucketguard.aws import arn_region
        from bucketguard.pipeline.messages import utc_now_iso
        from bucketguard.pipeline.rescan import ruleset_published_message

        try:
            sns = boto3.client("sns", endpoint_url=args.endpoint_url, region_name=arn_region(args.announce))
            sns.publish(
                TopicArn=args.announce,
                Message=ruleset_published_message(published.ruleset_version, utc_now_iso()),
            )
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise UsageError(
                f"--announce {args.announce}: published, but not announced: {aws_problem(exc)}"
            ) from None
        print(f"announced on {args.announce}: storages rescan what older rulesets judged")
    return EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    try:
        old, new = load_artifact(args.old), load_artifact(args.new)
    except RulesetError as exc:
        raise UsageError(str(exc)) from None
    before, after = rule_index(old.sources), rule_index(new.sources)
    old_hashes = set(old.hashes.entries) if old.hashes else set()
    new_hashes = set(new.hashes.entries) if new.hashes else set()
    diff: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "old": old.version,
        "new": new.version,
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k]),
        "hashes_added": sorted(new_hashes - old_hashes),
        "hashes_removed": sorted(old_hashes - new_hashes),
    }
    if args.format == "json":
        print(json.dumps(diff, indent=2))
    else:
        print(f"{old.version} -> {new.version}")
        for label, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            for key in diff[label]:
                _say(f"  {sign} rule {key}")
        for label, sign in (("hashes_added", "+"), ("hashes_removed", "-")):
            for digest in diff[label]:
                print(f"  {sign} hash {digest}")
    changed = any(diff[k] for k in ("added", "removed", "changed", "hashes_added", "hashes_removed"))
    return EXIT_FINDINGS if changed else EXIT_OK


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"must be a number above 0: {text!r}")
    return value


def _positive_size(text: str) -> int:
    value = parse_size(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0 bytes: {text!r}")
    return value


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return text


def register_update(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "update",
        help="build a verified ruleset artifact from the bundled rules and rule feeds",
        description="Fetch every source, merge it with the bundled rules, drop rules that do not compile or "
        "that fire on clean files, check the limits, and write the artifact only if every gate passes.",
    )
    parser.add_argument(
        "--source",
        dest="sources",
        action="append",
        default=[],
        metavar="[KIND=]URL|PATH|s3://BUCKET/PREFIX",
        help="a rule feed (repeatable); KIND= forces yara-zip, yara-file, hash-list or malwarebazaar-csv",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="read bucketguard:scanner.ruleSources")
    parser.add_argument(
        "--scanner", metavar="NAME", help="with --config: the bucketguard:scanners entry to read"
    )
    parser.add_argument("--clean-corpus", type=Path, metavar="DIR", help="files no rule may fire on")
    parser.add_argument(
        "--engine", choices=ENGINES, default="auto", help="the scanner's engine (auto: yara-x)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="artifact to write")
    parser.add_argument("--previous", type=Path, metavar="FILE", help="the last artifact (default: -o)")
    parser.add_argument(
        "--endpoint-url", type=endpoint_url, metavar="URL", help="S3 endpoint for s3:// sources"
    )
    parser.add_argument("--timeout", type=_positive, default=30.0, metavar="SECONDS", help="per request")
    parser.add_argument(
        "--ca-certs", type=_existing_file, metavar="FILE", help="CA bundle to verify feeds with"
    )
    defaults = UpdateLimits()
    parser.add_argument("--max-compile-seconds", type=_positive, default=defaults.max_compile_seconds)
    parser.add_argument("--max-artifact-bytes", type=_positive_size, default=defaults.max_artifact_bytes)
    parser.add_argument("--max-slowdown", type=_positive, default=defaults.max_slowdown)
    parser.add_argument(
        "--sample-size",
        type=_positive_size,
        default=defaults.sample_bytes,
        help="benchmark sample (default 64MiB)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run_update)


def register_publish(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "publish", help="upload a verified artifact to the rules bucket the scanner watches"
    )
    parser.add_argument("artifact", type=Path, metavar="FILE")
    parser.add_argument("--to", required=True, type=_s3_prefix, metavar="s3://BUCKET/PREFIX")
    parser.add_argument(
        "--announce",
        type=checked(TopicArn),
        metavar="TOPIC_ARN",
        help="then announce it on the stack's rulesetTopicArn, so storages rescan (scanner.rescanOnUpdate)",
    )
    parser.add_argument("--endpoint-url", type=endpoint_url, metavar="URL")
    parser.set_defaults(run=run_publish)


def register_diff(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "diff", help="rules and hashes added, removed and changed between two artifacts"
    )
    parser.add_argument("old", type=Path, metavar="OLD")
    parser.add_argument("new", type=Path, metavar="NEW")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run_diff)
