"""`rules update`: the bundled rules and every feed merged into one ruleset, then verified before use.

Merging: each feed file becomes its own namespace (`feed/<source>/<path>`), so rules of the same name in
two sources never collide; filters (`exclude`, `minSeverity`) apply rule by rule; a rule that does not
compile under the target engine is dropped alone (the compiler's error line says which), and a file whose
preamble fails (an unknown module) is dropped whole, all with the reason.

Gates, in order: the merged rules compile; the bundled samples keep their verdicts; a feed rule (or
listed hash) that fires on a clean sample or on the `--clean-corpus` is dropped and listed; compile time,
artifact size and the scan time of a fixed sample stay within limits (a ruleset that makes the scanner
`max_slowdown` times slower than the bundled rules alone is refused).
"""

from __future__ import annotations

import hashlib
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketguard.demo import pranks
from bucketguard.scanning.backends import (
    SEVERITIES,
    CompileFailure,
    RuleSource,
    add_yara_x_source,
    compile_yara,
    severity_of,
    yara_x_compiler,
)
from bucketguard.scanning.engine import HASH_RULE, Engine
from bucketguard.scanning.feeds import (
    FeedContent,
    FeedSource,
    FeedState,
    HttpClient,
    ObjectStore,
    fetch,
    shown,
)
from bucketguard.scanning.hashes import HashList
from bucketguard.scanning.result import FindingSource, Verdict
from bucketguard.scanning.rule_text import RuleFile, split_rules, strip_includes
from bucketguard.scanning.ruleset import (
    Ruleset,
    RulesetError,
    bundled_sources,
    load_ruleset,
    normalise_source,
    ruleset_version,
    write_artifact,
)
from bucketguard.scanning.sample_gate import sample_verdict_problems

BUNDLED = "bundled"
_LISTED_SHA256 = re.compile(r"sha256 ([0-9a-f]{64}) is on the blocklist")


@dataclass(frozen=True)
class Dropped:
    source: str  # the feed's name
    file: str  # the path inside the feed
    rule: str  # "*": the whole file (or, for hashes, the digest)
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "file": self.file, "rule": self.rule, "why": self.why}


@dataclass(frozen=True)
class FeedInput:
    """A fetched (or, when unchanged, reused) feed with what the manifest records about it."""

    source: FeedSource
    content: FeedContent
    state: FeedState
    status: str  # "fetched" | "unchanged"


@dataclass(frozen=True)
class UpdateLimits:
    max_compile_seconds: float = 120.0
    max_artifact_bytes: int = 256 << 20
    max_slowdown: float = 10.0
    sample_bytes: int = 64 << 20


@dataclass
class Measured:
    compile_seconds: float = 0.0
    artifact_bytes: int = 0
    scan_seconds: float = 0.0
    baseline_scan_seconds: float = 0.0

    def refusals(self, limits: UpdateLimits) -> list[str]:
        """Which limit the new ruleset breaks (empty: within every limit)."""
        refused = []
        if self.compile_seconds > limits.max_compile_seconds:
            refused.append(
                f"compiling takes {self.compile_seconds:.1f} s, "
                f"over the limit of {limits.max_compile_seconds:g} s"
            )
        if self.artifact_bytes > limits.max_artifact_bytes:
            refused.append(
                f"the artifact is {self.artifact_bytes} bytes, over the limit of {limits.max_artifact_bytes}"
            )
        # Below a few hundredths of a second a timing is noise, not a ruleset's cost.
        slowest = limits.max_slowdown * max(self.baseline_scan_seconds, 0.05)
        if self.scan_seconds > slowest:
            refused.append(
                f"scanning the {limits.sample_bytes >> 20} MiB sample takes {self.scan_seconds:.2f} s, over "
                f"{limits.max_slowdown:g}x the bundled rules' {self.baseline_scan_seconds:.2f} s"
            )
        return refused


@dataclass
class Merged:
    ruleset: Ruleset
    dropped: list[Dropped] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # rule name -> namespaces holding it


def feed_namespace(source_name: str, path: str) -> str:
    return f"feed/{source_name}/{path}"


def _filtered(
    source: FeedSource, rule: str, meta: Mapping[str, str | int], excluded: Mapping[str, str]
) -> str:
    """Why a feed rule (`namespace:rule`) is left out, or ""."""
    rule_name = rule.rpartition(":")[2]
    if rule_name in source.exclude:
        return "excluded by the source's config"
    if rule in excluded:
        return excluded[rule]
    if source.min_severity is not None:
        severity = severity_of(meta)
        if SEVERITIES.index(severity) < SEVERITIES.index(source.min_severity):
            return f"severity {severity} is below the source's minSeverity {source.min_severity}"
    return ""


def _yara_x_failures(namespace: str, origin: str, parsed: RuleFile, keep: set[int]) -> dict[int | None, str]:
    """Why each rule yara-x refuses fails (key None: the preamble, so the whole file). A file that does not
    compile whole is compiled again rule by rule into one compiler (a failed rule adds nothing), so a feed
    of thousands of rules costs two compiles, however many of its rules fail."""
    whole = yara_x_compiler()
    whole.new_namespace(namespace)
    try:
        add_yara_x_source(whole, RuleSource(namespace, origin, parsed.text(keep)))
    except CompileFailure:
        pass
    else:
        return {}
    compiler = yara_x_compiler()
    compiler.new_namespace(namespace)
    try:
        add_yara_x_source(compiler, RuleSource(namespace, origin, parsed.preamble))
    except CompileFailure as failure:
        return {None: failure.message}
    failures: dict[int | None, str] = {}
    for index in sorted(keep):
        try:
            add_yara_x_source(compiler, RuleSource(namespace, origin, parsed.rules[index].text))
        except CompileFailure as failure:
            failures[index] = failure.message
    return failures


def _yara_failure(namespace: str, origin: str, parsed: RuleFile, keep: set[int]) -> dict[int | None, str]:
    """The first rule libyara refuses (its error names the line), or nothing when the file compiles."""
    try:
        compile_yara([RuleSource(namespace, origin, parsed.text(keep))])
    except CompileFailure as failure:
        at = parsed.index_at(failure.line) if failure.line is not None else None
        return {at if at in keep else None: failure.message}
    return {}


def _feed_file(
    source: FeedSource, path: str, text: str, backend: str, excluded: Mapping[str, str]
) -> tuple[RuleSource | None, list[Dropped]]:
    """One feed file with its filtered and non-compiling rules taken out, each alone."""
    parsed = split_rules(normalise_source(strip_includes(text)))
    namespace, origin = feed_namespace(source.name, path), f"{source.name}:{path}"
    dropped: list[Dropped] = []
    keep = set()
    for index, rule in enumerate(parsed.rules):
        why = _filtered(source, f"{namespace}:{rule.name}", rule.meta(), excluded)
        if why:
            dropped.append(Dropped(source.name, path, rule.name, why))
        else:
            keep.add(index)
    find_failures = _yara_x_failures if backend == "yara-x" else _yara_failure
    while keep and (failures := find_failures(namespace, origin, parsed, keep)):
        for at, message in failures.items():
            rule_name = "*" if at is None else parsed.rules[at].name
            dropped.append(Dropped(source.name, path, rule_name, f"{message} ({backend})"))
            if at is None:
                return None, dropped
            keep.discard(at)
        if backend == "yara-x":
            break  # every refused rule is known after one pass
    if not keep:
        return None, dropped
    return RuleSource(namespace, origin, parsed.text(keep)), dropped


def merge(
    feeds: Sequence[FeedInput],
    backend: str,
    *,
    excluded: Mapping[str, str] | None = None,
    excluded_hashes: Mapping[str, str] | None = None,
) -> Merged:
    """The bundled rules plus every feed's rules and hashes; `excluded` maps feed rules (`namespace:rule`)
    and `excluded_hashes` digests to why they are left out."""
    excluded = excluded or {}
    excluded_hashes = excluded_hashes or {}
    sources = bundled_sources()
    dropped: list[Dropped] = []
    hash_lists: list[tuple[str, HashList]] = []
    for feed in feeds:
        for path, text in feed.content.rule_files:
            kept, file_dropped = _feed_file(feed.source, path, text, backend, excluded)
            dropped.extend(file_dropped)
            if kept is not None:
                sources.append(kept)
        listed = {d: label for d, label in feed.content.hashes.entries.items() if d not in excluded_hashes}
        dropped.extend(
            Dropped(feed.source.name, "", d, excluded_hashes[d])
            for d in feed.content.hashes.entries
            if d in excluded_hashes
        )
        if listed:
            hash_lists.append((feed.source.name, HashList(listed)))
    ruleset = Ruleset(ruleset_version(sources, hash_lists), tuple(sources), tuple(hash_lists))
    return Merged(ruleset, dropped, _duplicates(ruleset.sources))


def rule_index(sources: Iterable[RuleSource]) -> dict[str, str]:
    """`namespace:rule` -> sha256 of the rule's text: what `rules diff` and the report compare."""
    index = {}
    for source in sources:
        for rule in split_rules(source.text).rules:
            index[f"{source.namespace}:{rule.name}"] = hashlib.sha256(rule.text.strip().encode()).hexdigest()
    return index


def _duplicates(sources: Iterable[RuleSource]) -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for key in rule_index(sources):
        namespace, _, name = key.rpartition(":")
        where.setdefault(name, []).append(namespace)
    return {name: spaces for name, spaces in sorted(where.items()) if len(spaces) > 1}


# --- gates --------------------------------------------------------------------------------------------------


def _scan(engine: Engine, name: str, data: bytes, work_dir: Path) -> tuple[Verdict, set[str], set[str]]:
    """Verdict, YARA rule names and listed hashes that fired on one file."""
    path = work_dir / "sample"
    path.write_bytes(data)
    result = engine.scan_file(path, name=name)
    rules = {f.rule for f in result.findings if f.source is not FindingSource.HASH}
    listed = {
        m.group(1) for f in result.findings if f.rule == HASH_RULE if (m := _LISTED_SHA256.search(f.detail))
    }
    return result.verdict, rules, listed


def clean_files(corpus: Path | None) -> list[tuple[str, bytes]]:
    """The bundled clean samples plus every file under the clean corpus."""
    files = [(s.key, s.data) for s in pranks.CLEAN_FILES]
    if corpus is not None:
        files += [
            (p.relative_to(corpus).as_posix(), p.read_bytes())
            for p in sorted(corpus.rglob("*"))
            if p.is_file()
        ]
    return files


def feed_rules(sources: Iterable[RuleSource]) -> dict[str, list[RuleSource]]:
    """Each rule name the feeds define -> the feed files defining it."""
    defined: dict[str, list[RuleSource]] = {}
    for source in sources:
        if source.namespace.startswith("feed/"):
            for rule in split_rules(source.text).rules:
                defined.setdefault(rule.name, []).append(source)
    return defined


def _fires_alone(source: RuleSource, rule: str, name: str, data: bytes, work: Path) -> bool:
    engine = Engine(Ruleset(source.namespace, (source,)))
    try:
        return rule in _scan(engine, name, data, work)[1]
    finally:
        engine.close()


def false_positives(
    engine: Engine, files: Sequence[tuple[str, bytes]], defined: Mapping[str, Sequence[RuleSource]]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Feed rules (`namespace:rule`) and hashes that fire on clean files (-> why), and bundled rules that
    do (those are reported, never dropped: they are tested with their own samples). A finding names its
    rule, not its namespace: a name `defined` by feeds is theirs to drop, even when a bundled rule has it
    too (a bundled rule firing is met by the samples gate), and when several feed files define it, each is
    scanned alone to drop only those that fire (a feed could otherwise take another's rule with it)."""
    rules: dict[str, str] = {}
    hashes: dict[str, str] = {}
    bundled_hits: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bucketguard-gate-") as work:
        for name, data in files:
            _verdict, fired, listed = _scan(engine, name, data, Path(work))
            for rule in sorted(fired):
                if rule not in defined:
                    bundled_hits.append(f"{rule} fires on clean {name}")
                    continue
                candidates = defined[rule]
                firing = [
                    s
                    for s in candidates
                    if len(candidates) == 1 or _fires_alone(s, rule, name, data, Path(work))
                ]
                for source in firing or defined[rule]:
                    rules.setdefault(f"{source.namespace}:{rule}", f"fires on clean file {name}")
            for digest in listed:
                hashes.setdefault(digest, f"listed hash of clean file {name}")
    return rules, hashes, bundled_hits


def benchmark_sample(size: int) -> bytes:
    """A fixed sample: half random bytes, half ordinary text and markup (what buckets hold)."""
    half = size // 2
    text = pranks.clean_js() + pranks.clean_pdf()
    noise = random.Random(64).randbytes(half)  # noqa: S311 - a fixed sample, not a secret
    return noise + (text * (size // len(text) + 1))[: size - half]


def scan_seconds(engine: Engine, sample: bytes) -> float:
    with tempfile.TemporaryDirectory(prefix="bucketguard-bench-") as work:
        path = Path(work) / "sample.bin"
        path.write_bytes(sample)
        started = time.perf_counter()
        engine.scan_file(path, name="sample.bin")
        return time.perf_counter() - started


def _compiled_engine(ruleset: Ruleset, backend: str) -> tuple[Engine, float]:
    """An engine over a ruleset not compiled yet, and how long compiling it took."""
    started = time.perf_counter()
    engine = Engine(ruleset, engine=backend)
    return engine, time.perf_counter() - started


# --- the whole update ------------------------------------------------------------------------------------


@dataclass
class UpdateReport:
    ruleset: Ruleset
    backend: str
    feeds: list[FeedInput]
    limits: UpdateLimits
    measured: Measured = field(default_factory=Measured)
    dropped: list[Dropped] = field(default_factory=list)
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    hashes_added: int = 0
    hashes_removed: int = 0
    warnings: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    previous_version: str | None = None

    def feed_records(self) -> list[dict[str, object]]:
        """What the manifest keeps of each feed: enough to ask for it conditionally next time."""
        counts: dict[str, int] = {}
        for key in rule_index(self.ruleset.sources):
            if key.startswith("feed/"):
                name = key.split("/", 2)[1]
                counts[name] = counts.get(name, 0) + 1
        hashes = dict(self.ruleset.hash_lists)
        return [
            {
                "name": f.source.name,
                "url": shown(f.source.url),
                "kind": f.content.kind,
                "status": f.status,
                "etag": f.state.etag,
                "last_modified": f.state.last_modified,
                "sha256": f.state.sha256,
                "rules": counts.get(f.source.name, 0),
                "hashes": len(hashes[f.source.name]) if f.source.name in hashes else 0,
                "filters": filters_of(f.source),
            }
            for f in self.feeds
        ]


def filters_of(source: FeedSource) -> dict[str, object]:
    """The config that shaped a feed's rules: when it changes, the feed is read again in full."""
    return {"kind": source.kind, "min_severity": source.min_severity, "exclude": sorted(source.exclude)}


def previous_feed(source: FeedSource, manifest: Mapping[str, Any], previous: Ruleset) -> FeedInput | None:
    """The feed as the previous artifact holds it, when that artifact was built with the same config."""
    record = next((r for r in manifest.get("feeds", []) if r.get("name") == source.name), None)
    if (
        record is None
        or record.get("url") != shown(source.url)
        or record.get("filters") != filters_of(source)
    ):
        return None
    prefix = feed_namespace(source.name, "")
    files = tuple(
        (s.namespace.removeprefix(prefix), s.text) for s in previous.sources if s.namespace.startswith(prefix)
    )
    hashes = dict(previous.hash_lists).get(source.name, HashList())
    state = FeedState(record.get("etag"), record.get("last_modified"), record.get("sha256"))
    return FeedInput(source, FeedContent(str(record.get("kind")), files, hashes), state, "unchanged")


def _silent(_line: str) -> None:
    pass


def fetch_feeds(
    sources: Sequence[FeedSource],
    *,
    http: HttpClient,
    store: ObjectStore | None = None,
    previous: tuple[Ruleset, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] = _silent,
) -> list[FeedInput]:
    """Every source fetched, conditionally when the previous artifact (ruleset, manifest) holds it; an
    unchanged one is taken from there. Raises FeedError for the first source that cannot be fetched.
    `progress` is told each source before it is asked for (a slow one is named while it is awaited)."""
    feeds = []
    for source in sources:
        prior = previous_feed(source, previous[1], previous[0]) if previous else None
        progress(f"fetching {source.name} ({shown(source.url)})")
        got = fetch(source, http=http, store=store, previous=prior.state if prior else None)
        if got.content is not None:
            feeds.append(FeedInput(source, got.content, got.state, "fetched"))
        elif prior is not None:
            feeds.append(prior)
        content = feeds[-1].content
        progress(
            f"{source.name}: {feeds[-1].status}, {len(content.rule_files)} rule files, "
            f"{len(content.hashes)} hashes"
        )
    return feeds


def build(
    feeds: Sequence[FeedInput],
    output: Path,
    *,
    engine: str = "auto",
    clean_corpus: Path | None = None,
    limits: UpdateLimits = UpdateLimits(),
    previous: Ruleset | None = None,
    progress: Callable[[str], None] = _silent,
) -> UpdateReport:
    """Merge, verify and (when every gate passes) write the artifact to `output`; otherwise `output` is
    left as it was and the report says why. `progress` is told each step before it runs."""
    backend = "yara-x" if engine == "auto" else engine
    progress("merging the feeds with the bundled rules (each feed file compiled)")
    merged = merge(feeds, backend)
    report = UpdateReport(merged.ruleset, backend, list(feeds), limits)
    try:
        progress(f"compiling {merged.ruleset.rule_count} rules, then scanning the clean files")
        scanner, report.measured.compile_seconds = _compiled_engine(merged.ruleset, backend)
        rules_fp, hashes_fp, report.warnings = false_positives(
            scanner, clean_files(clean_corpus), feed_rules(merged.ruleset.sources)
        )
        if rules_fp or hashes_fp:
            merged = merge(feeds, backend, excluded=rules_fp, excluded_hashes=hashes_fp)
            scanner, report.measured.compile_seconds = _compiled_engine(merged.ruleset, backend)
    except RulesetError as exc:
        report.refused.append(f"the merged rules do not compile: {exc}")
        return report
    report.ruleset, report.dropped, report.duplicates = merged.ruleset, merged.dropped, merged.duplicates
    progress("scanning the bundled samples")
    report.refused += sample_verdict_problems(scanner)
    progress(f"scanning a {limits.sample_bytes >> 20} MiB sample with these rules and the bundled ones")
    sample = benchmark_sample(limits.sample_bytes)
    report.measured.scan_seconds = scan_seconds(scanner, sample)
    report.measured.baseline_scan_seconds = scan_seconds(Engine(load_ruleset(), engine=backend), sample)
    if previous is not None:
        _compare(report, previous)
    temporary = output.with_name(output.name + ".new")
    try:
        write_artifact(
            merged.ruleset,
            temporary,
            feeds=report.feed_records(),
            dropped=[d.to_dict() for d in report.dropped],
        )
        report.measured.artifact_bytes = temporary.stat().st_size
        report.refused += report.measured.refusals(limits)
        if not report.refused:
            temporary.replace(output)
    finally:
        temporary.unlink(missing_ok=True)
    return report


def _compare(report: UpdateReport, previous: Ruleset) -> None:
    old, new = rule_index(previous.sources), rule_index(report.ruleset.sources)
    report.previous_version = previous.version
    report.added = sorted(set(new) - set(old))
    report.removed = sorted(set(old) - set(new))
    old_hashes = set(previous.hashes.entries) if previous.hashes else set()
    new_hashes = set(report.ruleset.hashes.entries) if report.ruleset.hashes else set()
    report.hashes_added, report.hashes_removed = len(new_hashes - old_hashes), len(old_hashes - new_hashes)
