"""The scheduled rule update against moto's S3 and SNS and a loopback feed server: publishes once, costs
one conditional request and publishes nothing when no feed changed, alerts and publishes nothing when a
feed fails."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from bucketguard.pipeline.rescan import Sweep, rescan_message
from bucketguard.pipeline.rule_updates import RuleUpdateSettings, run_rule_update, sources_json
from bucketguard.pipeline.settings import SettingsError
from bucketguard.sandbox.aws import SCANNER_ACCOUNT, AccountSession, EmbeddedAws
from bucketguard.scanning.feeds import FeedSource, HttpClient
from bucketguard.scanning.update import UpdateLimits
from tests.scanning.test_feeds import FEED_KEY, FeedServer, _serve


@pytest.fixture
def feeds() -> Iterator[str]:
    yield from _serve()


@pytest.fixture(scope="module")
def account() -> Iterator[AccountSession]:
    with EmbeddedAws() as aws:
        yield aws.account(SCANNER_ACCOUNT)


@pytest.fixture(scope="module")
def clients(account: AccountSession) -> tuple[Any, Any, Any]:
    return account.client("s3"), account.client("sns"), account.client("sqs")


def _alerts(sns: Any, sqs: Any, name: str) -> tuple[str, str]:
    topic = sns.create_topic(Name=name)["TopicArn"]
    inbox = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"}
    )
    return topic, inbox


def test_update_publishes_then_an_unchanged_feed_publishes_nothing(
    feeds: str, clients: tuple[Any, Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bucketguard.rule_updates")
    s3, sns, sqs = clients
    s3.create_bucket(Bucket="rules-a")
    s3.put_bucket_versioning(Bucket="rules-a", VersioningConfiguration={"Status": "Enabled"})
    announcements, storage_queue = _alerts(sns, sqs, "ruleset-published")
    environ = {
        "BUCKETGUARD_RULES_BUCKET": "rules-a",
        "BUCKETGUARD_RULESET_TOPIC_ARN": announcements,
        "BUCKETGUARD_RULE_SOURCES": sources_json(
            (FeedSource("forge", f"{feeds}/rules.zip", min_severity="low"),)
        ),
    }
    # Small sample, no slowdown gate: a test never depends on timing.
    limits = UpdateLimits(sample_bytes=1 << 20, max_slowdown=1e9)
    settings = dataclasses.replace(RuleUpdateSettings.resolve(environ), limits=limits)
    http = HttpClient(backoff_seconds=0)
    first = run_rule_update(settings, s3, sns, http=http)
    assert first.status == "published"
    steps = [r.getMessage() for r in caplog.records if r.name == "bucketguard.rule_updates"]
    assert steps[:2] == [f"fetching forge ({feeds}/rules.zip)", "forge: fetched, 1 rule files, 0 hashes"]
    assert steps[-2:] == [
        "scanning a 1 MiB sample with these rules and the bundled ones",
        "ruleset published",
    ]
    head = s3.head_object(Bucket="rules-a", Key="ruleset.zip")
    assert head["Metadata"]["ruleset-version"] == first.ruleset_version
    # Storages subscribed to the announcements rescan what older rulesets judged.
    [announced] = sqs.receive_message(QueueUrl=storage_queue, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=storage_queue, ReceiptHandle=announced["ReceiptHandle"])
    assert rescan_message(announced["Body"]) == Sweep(first.ruleset_version, announced=True)

    second = run_rule_update(settings, s3, sns, http=http)
    assert (second.status, second.ruleset_version) == ("unchanged", first.ruleset_version)
    assert FeedServer.hits["/rules.zip"] == 2  # the second run asked once, conditionally
    assert len(s3.list_object_versions(Bucket="rules-a")["Versions"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=storage_queue)  # nothing new: no rescan


def test_a_failing_feed_alerts_and_publishes_nothing(feeds: str, clients: tuple[Any, Any, Any]) -> None:
    s3, sns, sqs = clients
    s3.create_bucket(Bucket="rules-b")
    topic, inbox = _alerts(sns, sqs, "scanner-alerts")
    environ = {
        "BUCKETGUARD_RULES_BUCKET": "rules-b",
        "BUCKETGUARD_ALERT_TOPIC_ARN": topic,
        "BUCKETGUARD_RULE_SOURCES": json.dumps([{"name": "down", "url": f"{feeds}/broken"}]),
    }
    outcome = run_rule_update(RuleUpdateSettings.resolve(environ), s3, sns, http=HttpClient(retries=0))
    assert outcome.status == "failed" and "HTTP 500" in outcome.detail
    assert "Contents" not in s3.list_objects_v2(Bucket="rules-b")
    [alert] = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    assert "source down" in alert["Body"] and "keeps its ruleset" in alert["Body"]


def test_a_misspelt_variable_stops_the_rule_update() -> None:
    with pytest.raises(
        SettingsError,
        match=r"^BUCKETGUARD_RULE_SOURCE: unknown variable; did you mean BUCKETGUARD_RULE_SOURCES\?$",
    ):
        RuleUpdateSettings.resolve({"BUCKETGUARD_RULES_BUCKET": "r", "BUCKETGUARD_RULE_SOURCE": "[]"})


def test_a_feed_whose_url_is_a_secret_is_fetched_with_its_key_kept_out_of_config_logs_and_ruleset(
    feeds: str, account: AccountSession, caplog: pytest.LogCaptureFixture
) -> None:
    s3, sns, secrets = account.client("s3"), account.client("sns"), account.client("secretsmanager")
    s3.create_bucket(Bucket="rules-c")
    arn = secrets.create_secret(Name="camp-feed-url", SecretString=f"{feeds}/keyed?key={FEED_KEY}")["ARN"]
    for logger in ("bucketguard", "urllib3"):  # botocore's DEBUG logs bodies: never on in production
        caplog.set_level(logging.DEBUG, logger)
    environ = {
        "BUCKETGUARD_RULES_BUCKET": "rules-c",
        "BUCKETGUARD_RULE_SOURCES": json.dumps([{"name": "camp", "urlSecretArn": arn, "minSeverity": "low"}]),
    }
    limits = UpdateLimits(sample_bytes=1 << 20, max_slowdown=1e9)
    settings = dataclasses.replace(RuleUpdateSettings.resolve(environ), limits=limits)

    outcome = run_rule_update(settings, s3, sns, http=HttpClient(backoff_seconds=0), secrets=secrets)

    assert outcome.status == "published", outcome.detail
    assert FeedServer.hits["/keyed"] == 1  # answered only with the key
    assert f"fetching camp ({feeds}/keyed)" in caplog.text and FEED_KEY not in caplog.text
    artifact = s3.get_object(Bucket="rules-c", Key="ruleset.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(artifact)) as published:
        assert not [name for name in published.namelist() if FEED_KEY.encode() in published.read(name)]
        assert f"{feeds}/keyed".encode() in published.read("manifest.json")  # where it came from, no key
    # A secret the function cannot read fails the update alone, naming the source, publishing nothing.
    missing = dataclasses.replace(
        settings, sources=(dataclasses.replace(settings.sources[0], secret_arn=f"{arn[:-6]}XXXXXX"),)
    )
    failed = run_rule_update(missing, s3, sns, secrets=secrets)
    assert (failed.status, failed.detail) == (
        "failed",
        "source camp: its URL secret could not be read (ResourceNotFoundException)",
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "camp", "urlSecretArn": "camp-feed-url"},
            r"^BUCKETGUARD_RULE_SOURCES: BUCKETGUARD_RULE_SOURCES\[0\]: urlSecretArn 'camp-feed-url' is not",
        ),
        (
            {"urlSecretArn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:f-AbCdEf"},
            r"BUCKETGUARD_RULE_SOURCES\[0\]: a source whose URL is a secret needs a name$",
        ),
        (
            {
                "name": "camp",
                "url": "https://a.example/r.zip",
                "urlSecretArn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:f-AbCdEf",
            },
            r"BUCKETGUARD_RULE_SOURCES\[0\]: url and urlSecretArn are two places for one URL",
        ),
        (
            {
                "name": "camp",
                "minSeverity": "urgent",
                "urlSecretArn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:f-AbCdEf",
            },
            r"BUCKETGUARD_RULE_SOURCES\[0\]: source camp: minSeverity 'urgent'",
        ),
    ],
)
def test_a_url_secret_entry_is_checked_before_any_secret_is_read(entry: dict[str, Any], message: str) -> None:
    environ = {"BUCKETGUARD_RULES_BUCKET": "r", "BUCKETGUARD_RULE_SOURCES": json.dumps([entry])}
    with pytest.raises(SettingsError, match=message):
        RuleUpdateSettings.resolve(environ)
