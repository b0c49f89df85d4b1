"""The scheduled rule update (scanner account): `rules update` with its gates, published to the rules bucket.

The artifact in use is the previous one: it makes unchanged feeds cost one request each, and a ruleset
that did not change is not published again. A refused update or a feed that cannot be fetched alerts the
scanner's alert topic and publishes nothing, so the scanner keeps what it has.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketguard.pipeline import env
from bucketguard.pipeline.messages import utc_now_iso
from bucketguard.pipeline.rescan import ruleset_published_message
from bucketguard.pipeline.rules_bucket import (
    ARTIFACT_NAME,
    RulesetRejected,
    RulesetWatcher,
    S3ObjectStore,
    publish_artifact,
)
from bucketguard.pipeline.settings import SettingsError, refuse_unknown_variables
from bucketguard.scanning.feeds import FeedError, FeedSource, HttpClient, SecretUrlSource, source_from_config
from bucketguard.scanning.ruleset import Ruleset
from bucketguard.scanning.update import UpdateLimits, build, fetch_feeds

log = logging.getLogger("bucketguard.rule_updates")


@dataclass(frozen=True)
class RuleUpdateSettings:
    rules_bucket: str
    sources: tuple[FeedSource | SecretUrlSource, ...]
    alert_topic_arn: str = ""
    ruleset_topic_arn: str = ""  # announces each published ruleset (storages rescan: rescanOnUpdate)
    engine: str = "auto"
    tmp_dir: Path | None = None
    limits: UpdateLimits = field(default_factory=UpdateLimits)

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None) -> RuleUpdateSettings:
        e = os.environ if environ is None else environ
        refuse_unknown_variables(e)
        if not e.get(env.RULES_BUCKET):
            raise SettingsError(f"{env.RULES_BUCKET} is not set: nowhere to publish")
        try:
            entries = json.loads(e.get(env.RULE_SOURCES, "[]"))
            sources = tuple(
                source_from_config(entry, f"{env.RULE_SOURCES}[{i}]") for i, entry in enumerate(entries)
            )
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{env.RULE_SOURCES}: {exc}") from None
        return cls(
            rules_bucket=e[env.RULES_BUCKET],
            sources=sources,
            alert_topic_arn=e.get(env.ALERT_TOPIC_ARN, ""),
            ruleset_topic_arn=e.get(env.RULESET_TOPIC_ARN, ""),
            engine=e.get(env.ENGINE, "auto"),
            tmp_dir=Path(e[env.TMP_DIR]) if e.get(env.TMP_DIR) else None,
        )


def sources_json(sources: tuple[FeedSource | SecretUrlSource, ...]) -> str:
    """The sources as the function reads them from its environment (the deploying code writes this)."""
    return json.dumps([source.to_config() for source in sources])


@dataclass(frozen=True)
class RuleUpdateOutcome:
    status: str  # "published" | "unchanged" | "refused" | "failed"
    ruleset_version: str | None
    detail: str


def _previous(s3: Any, bucket: str, work: Path) -> tuple[Ruleset, dict[str, Any]] | None:
    """The published artifact, verified as the scanner verifies it (None when nothing is published)."""
    watcher = RulesetWatcher(s3, bucket, ARTIFACT_NAME, interval_seconds=0, work_dir=work)
    try:
        ruleset = watcher.newer_ruleset()
    except RulesetRejected as exc:
        log.warning("published ruleset unusable: rebuilding from every feed", extra={"error": str(exc)})
        return None
    if ruleset is None:
        return None
    return ruleset, watcher.manifest


def with_urls(sources: tuple[FeedSource | SecretUrlSource, ...], secrets: Any) -> list[FeedSource]:
    """The sources, those whose URL is a secret with it read (`secrets`: a Secrets Manager client)."""
    return [
        source.resolve(secrets, f"{env.RULE_SOURCES}[{index}]")
        if isinstance(source, SecretUrlSource)
        else source
        for index, source in enumerate(sources)
    ]


def run_rule_update(
    settings: RuleUpdateSettings,
    s3: Any,
    sns: Any,
    *,
    http: HttpClient | None = None,
    secrets: Any = None,
) -> RuleUpdateOutcome:
    with tempfile.TemporaryDirectory(prefix="bucketguard-update-", dir=settings.tmp_dir) as directory:
        work = Path(directory)
        previous = _previous(s3, settings.rules_bucket, work)
        try:
            feeds = fetch_feeds(
                with_urls(settings.sources, secrets),
                http=http or HttpClient(),
                store=S3ObjectStore(s3),
                previous=previous,
                progress=log.info,
            )
        except FeedError as exc:
            return _alert(sns, settings, RuleUpdateOutcome("failed", None, str(exc)))
        output = work / ARTIFACT_NAME
        report = build(
            feeds,
            output,
            engine=settings.engine,
            limits=settings.limits,
            previous=previous[0] if previous else None,
            progress=log.info,
        )
        version = report.ruleset.version
        if report.refused:
            return _alert(sns, settings, RuleUpdateOutcome("refused", version, "; ".join(report.refused)))
        if previous is not None and previous[0].version == version:
            return RuleUpdateOutcome("unchanged", version, "no feed changed the ruleset")
        published = publish_artifact(s3, output, f"s3://{settings.rules_bucket}/")
        dropped = f", {len(report.dropped)} rules dropped" if report.dropped else ""
        detail = f"{report.ruleset.rule_count} rules, {report.ruleset.hash_count} hashes{dropped}"
        log.info("ruleset published", extra={"ruleset": version, "version_id": published.version_id})
        if settings.ruleset_topic_arn:
            sns.publish(
                TopicArn=settings.ruleset_topic_arn,
                Message=ruleset_published_message(version, utc_now_iso()),
            )
        return RuleUpdateOutcome("published", version, detail)


def _alert(sns: Any, settings: RuleUpdateSettings, outcome: RuleUpdateOutcome) -> RuleUpdateOutcome:
    log.error("rule update %s: %s", outcome.status, outcome.detail)
    if settings.alert_topic_arn:
        sns.publish(
            TopicArn=settings.alert_topic_arn,
            Subject=f"bucketguard rule update {outcome.status}",
            Message=f"The rule update was {outcome.status}; the scanner keeps its ruleset.\n{outcome.detail}",
        )
    return outcome
