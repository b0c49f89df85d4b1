"""The rules bucket through boto3 against moto's server: s3:// rule sources listed, read, and unchanged
when no object changed; artifacts published with their digest and version, corrupt ones refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketguard.cli import main
from bucketguard.demo import pranks
from bucketguard.pipeline.rescan import Sweep, rescan_message
from bucketguard.pipeline.rules_bucket import S3ObjectStore
from bucketguard.sandbox.aws import SCANNER_ACCOUNT, AccountSession, EmbeddedAws
from bucketguard.scanning.feeds import FeedError, FeedSource, HttpClient, fetch
from bucketguard.scanning.ruleset import RulesetError, load_artifact, load_ruleset, write_artifact
from tests.scanning.test_feeds import RULE

EICAR_SHA256 = hashlib.sha256(pranks.eicar()).hexdigest()


@pytest.fixture(scope="module")
def account() -> Iterator[AccountSession]:
    with EmbeddedAws() as aws:
        yield aws.account(SCANNER_ACCOUNT)


@pytest.fixture(scope="module")
def s3(account: AccountSession) -> Any:
    client = account.client("s3")
    client.create_bucket(Bucket="team-rules")
    return client


def test_s3_prefix_gives_its_rules_and_hash_lists_and_notices_changes(s3: Any) -> None:
    s3.put_object(Bucket="team-rules", Key="feed/yara/camp.yar", Body=RULE.encode())
    s3.put_object(Bucket="team-rules", Key="feed/hashes.txt", Body=f"{EICAR_SHA256} eicar\n".encode())
    s3.put_object(Bucket="team-rules", Key="other/ignored.yar", Body=b"not a rule")
    store, source = S3ObjectStore(s3), FeedSource.parse("s3://team-rules/feed/")

    first = fetch(source, store=store)
    assert first.content is not None
    assert first.content.rule_files == (("yara/camp.yar", RULE),)
    assert first.content.hashes.lookup(EICAR_SHA256) == "eicar"
    assert fetch(source, store=store, previous=first.state).unchanged

    s3.put_object(Bucket="team-rules", Key="feed/yara/camp.yar", Body=RULE.replace("7f3a", "7f3b").encode())
    changed = fetch(source, store=store, previous=first.state)
    assert changed.content is not None and "7f3b" in changed.content.rule_files[0][1]


def test_an_s3_source_with_its_owner_named_is_read_only_from_a_bucket_that_account_owns(s3: Any) -> None:
    # A bucket name is global: S3 answers 403 to a request whose expected owner is not the bucket's. moto does
    # not check it, so the header on each request is what is checked here.
    s3.create_bucket(Bucket="owned-rules")
    s3.put_object(Bucket="owned-rules", Key="feed/camp.yar", Body=RULE.encode())
    source = FeedSource.from_config({"url": "s3://owned-rules/feed/", "bucketOwner": SCANNER_ACCOUNT}, "s")
    assert source.to_config()["bucketOwner"] == SCANNER_ACCOUNT  # kept in the update function's environment
    sent: list[tuple[str, bytes | None]] = []

    def record(request: Any, event_name: str, **_: Any) -> None:
        sent.append((event_name.rsplit(".", 1)[-1], request.headers.get("x-amz-expected-bucket-owner")))

    s3.meta.events.register("before-send.s3", record)
    try:
        fetched = fetch(source, store=S3ObjectStore(s3))
    finally:
        s3.meta.events.unregister("before-send.s3", record)
    assert fetched.content is not None and fetched.content.rule_files == (("camp.yar", RULE),)
    owner = SCANNER_ACCOUNT.encode()
    assert sent == [("ListObjectsV2", owner), ("GetObject", owner)]
    for entry, message in (
        ({"url": "https://a.example/r.zip", "bucketOwner": SCANNER_ACCOUNT}, "bucketOwner is the 12-digit"),
        ({"url": "s3://owned-rules/feed/", "bucketOwner": "1234"}, "bucketOwner is the 12-digit"),
    ):
        with pytest.raises(FeedError, match=message):
            FeedSource.from_config(entry, "s")


def test_s3_object_over_the_cap_and_missing_bucket_fail_naming_the_source(s3: Any) -> None:
    s3.put_object(Bucket="team-rules", Key="big/rules.yar", Body=RULE.encode())
    with pytest.raises(FeedError, match=r"source big .*over the feed size cap"):
        fetch(FeedSource("big", "s3://team-rules/big/", kind="s3"), store=S3ObjectStore(s3),
              http=HttpClient(max_bytes=10))  # fmt: skip
    with pytest.raises(FeedError, match="cannot list: NoSuchBucket"):
        fetch(FeedSource.parse("s3://no-such-bucket/x"), store=S3ObjectStore(s3))


def test_publish_uploads_the_artifact_with_its_digest_and_version(
    account: AccountSession, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    creds = account.session.get_credentials()
    for name, value in (("AWS_ACCESS_KEY_ID", creds.access_key), ("AWS_SECRET_ACCESS_KEY", creds.secret_key),
                        ("AWS_SESSION_TOKEN", creds.token), ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        monkeypatch.setenv(name, value)
    s3.create_bucket(Bucket="rules")
    s3.put_bucket_versioning(Bucket="rules", VersioningConfiguration={"Status": "Enabled"})
    ruleset = load_ruleset()
    artifact = tmp_path / "ruleset.zip"
    write_artifact(ruleset, artifact)
    args = [
        "rules",
        "publish",
        str(artifact),
        "--to",
        "s3://rules/scanner/",
        "--endpoint-url",
        account.endpoint_url,
    ]
    assert main(args) == 0
    assert f"published ruleset {ruleset.version} to s3://rules/scanner/ruleset.zip" in capsys.readouterr().out
    head = s3.head_object(Bucket="rules", Key="scanner/ruleset.zip")
    assert head["Metadata"] == {
        "sha256": hashlib.sha256(artifact.read_bytes()).hexdigest(),
        "ruleset-version": ruleset.version,
    }
    assert head["VersionId"]

    # Published by hand and announced: the storages subscribed to the topic sweep their buckets.
    sns, sqs = account.client("sns"), account.client("sqs")
    topic = sns.create_topic(Name="ruleset-published")["TopicArn"]
    storage_queue = sqs.create_queue(QueueName="storage-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=storage_queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    assert main([*args, "--announce", topic]) == 0
    assert f"announced on {topic}" in capsys.readouterr().out
    [message] = sqs.receive_message(QueueUrl=storage_queue)["Messages"]
    assert rescan_message(message["Body"]) == Sweep(ruleset.version, announced=True)
    with pytest.raises(SystemExit) as refused:  # refused before anything is published
        main([*args, "--announce", "not-an-arn"])
    assert refused.value.code == 2
    assert "'not-an-arn' is not an SNS topic ARN" in capsys.readouterr().err

    artifact.write_bytes(artifact.read_bytes()[:-10])  # a truncated artifact is never published
    assert main(args) == 2
    assert "unreadable ruleset artifact" in capsys.readouterr().err
    assert len(s3.list_object_versions(Bucket="rules")["Versions"]) == 2  # published twice, then refused


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _artifact(tmp_path: Path, name: str, rule_text: str | None = None) -> Path:
    from bucketguard.scanning.feeds import FeedContent, FeedState
    from bucketguard.scanning.update import FeedInput, UpdateLimits, build

    feeds = []
    if rule_text is not None:
        source = FeedSource("team", str(tmp_path / f"{name}.yar"))
        content = FeedContent("yara-file", ((f"{name}.yar", rule_text),))
        feeds.append(FeedInput(source, content, FeedState(), "fetched"))
    path = tmp_path / f"{name}.zip"
    report = build(feeds, path, limits=UpdateLimits(sample_bytes=1 << 20, max_slowdown=1e9))
    assert not report.refused
    return path


def _publish(s3: Any, path: Path, bucket: str, *, sha256: str | None = None) -> None:
    from bucketguard.pipeline.rules_bucket import publish_artifact

    if sha256 is None:
        publish_artifact(s3, path, f"s3://{bucket}/scanner")
    else:  # what a tampered or hand-made upload looks like
        s3.put_object(
            Bucket=bucket, Key="scanner/ruleset.zip", Body=path.read_bytes(), Metadata={"sha256": sha256}
        )


def test_watcher_heads_at_most_once_an_interval_and_loads_each_new_version_once(
    s3: Any, tmp_path: Path
) -> None:
    from bucketguard.pipeline.rules_bucket import RulesetWatcher

    s3.create_bucket(Bucket="watched")
    s3.put_bucket_versioning(Bucket="watched", VersioningConfiguration={"Status": "Enabled"})
    clock = Clock()
    watcher = RulesetWatcher(s3, "watched", "scanner/ruleset.zip", interval_seconds=300, clock=clock)
    assert watcher.newer_ruleset() is None  # nothing published yet: the bundled ruleset stays

    first = _artifact(tmp_path, "first", RULE)
    _publish(s3, first, "watched")
    clock.now += 299
    assert watcher.newer_ruleset() is None  # not time yet, though something was published
    clock.now += 1
    loaded = watcher.newer_ruleset()
    assert loaded is not None and loaded.version == load_artifact(first).version
    clock.now += 300
    assert watcher.newer_ruleset() is None  # the same version is not downloaded again


def _compiled(tmp_path: Path, name: str, rule_text: str, *, include_bundled: bool) -> Path:
    """What `rules compile [--no-bundled-rules] --rules DIR -o FILE` writes: no gate of `rules update`."""
    rules = tmp_path / f"{name}-rules"
    rules.mkdir()
    (rules / "team.yar").write_text(rule_text)
    path = tmp_path / f"{name}.zip"
    write_artifact(load_ruleset([rules], include_bundled=include_bundled), path)
    return path


EVERYTHING = "rule Everything { condition: true }\n"


def test_publish_refuses_an_artifact_that_judges_the_bundled_samples_wrong(s3: Any, tmp_path: Path) -> None:
    # Compiled without the bundled rules, the scanner would call EICAR clean; with a rule that fires on
    # everything, it would quarantine every upload. Both were published as they were.
    s3.create_bucket(Bucket="gated")
    without = _compiled(tmp_path, "without", RULE, include_bundled=False)
    with pytest.raises(
        RulesetError, match=r"not published: .*homework.zip \(EICAR.*\) is clean, expected mal"
    ):
        _publish(s3, without, "gated")
    everything = _compiled(tmp_path, "everything", EVERYTHING, include_bundled=True)
    with pytest.raises(
        RulesetError, match=r"secret.zip \(password-protected zip\) is malicious, .* \(and 5 more\)"
    ):
        _publish(s3, everything, "gated")
    assert "Contents" not in s3.list_objects_v2(Bucket="gated")
    _publish(s3, _compiled(tmp_path, "team", RULE, include_bundled=True), "gated")
    assert s3.list_objects_v2(Bucket="gated")["KeyCount"] == 1


def test_watcher_rejects_a_tampered_artifact_once_and_keeps_watching(s3: Any, tmp_path: Path) -> None:
    from bucketguard.pipeline.rules_bucket import RulesetRejected, RulesetWatcher

    s3.create_bucket(Bucket="tampered")
    clock = Clock()
    watcher = RulesetWatcher(s3, "tampered", "scanner/ruleset.zip", interval_seconds=60, clock=clock)
    good = _artifact(tmp_path, "good", RULE)
    _publish(s3, good, "tampered", sha256="0" * 64)
    with pytest.raises(RulesetRejected, match="is not the 0000"):
        watcher.newer_ruleset()
    clock.now += 60
    assert watcher.newer_ruleset() is None  # rejected once, not downloaded and alerted every minute

    broken = tmp_path / "broken.zip"
    broken.write_bytes(good.read_bytes()[:-50])
    _publish(s3, broken, "tampered", sha256=hashlib.sha256(broken.read_bytes()).hexdigest())
    clock.now += 60
    with pytest.raises(RulesetRejected, match="unreadable ruleset artifact"):
        watcher.newer_ruleset()

    _publish(s3, good, "tampered")
    clock.now += 60
    assert watcher.newer_ruleset() is not None


def _scanner_environment(
    monkeypatch: pytest.MonkeyPatch, account: AccountSession, bucket: str, shipped: Path
) -> None:
    """What the deployed scanner is given, its AWS clients reaching the embedded AWS as this account."""
    for name, value in {
        **account.environment(),
        "BUCKETGUARD_RULESET_PATH": str(shipped),
        "BUCKETGUARD_RULES_BUCKET": bucket,
        "BUCKETGUARD_RULES_KEY": "scanner/ruleset.zip",
    }.items():
        monkeypatch.setenv(name, value)


def test_the_scanner_starts_on_a_newer_published_ruleset_and_never_loads_the_shipped_one(
    account: AccountSession, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The function's init (once per container) checks the rules bucket before loading the shipped ruleset:
    # the first batch would otherwise load it only to replace it.
    from bucketguard.pipeline.lambda_functions import ScannerFunction

    s3.create_bucket(Bucket="init-rules")
    published = _artifact(tmp_path, "published", RULE)
    _publish(s3, published, "init-rules")
    shipped = tmp_path / "shipped.zip"
    shipped.write_bytes(b"never read: loading it would raise")
    _scanner_environment(monkeypatch, account, "init-rules", shipped)
    function = ScannerFunction.from_environment()
    assert function.scanner.engine.ruleset_version == load_artifact(published).version
    assert function.scanner.refresh_ruleset() is None  # checked at init: not again before the interval


def test_a_ruleset_built_with_other_bundled_rules_is_used_with_a_warning_naming_them(
    s3: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # After an upgrade, the published artifact still holds the previous version's bundled rules: the
    # scanner loads it first, so a bundled rule added by the upgrade was silently not in use.
    from bucketguard.pipeline.rules_bucket import RulesetWatcher
    from bucketguard.scanning.ruleset import Ruleset, bundled_sources, ruleset_version

    s3.create_bucket(Bucket="older")
    s3.put_bucket_versioning(Bucket="older", VersioningConfiguration={"Status": "Enabled"})
    watcher = RulesetWatcher(s3, "older", "scanner/ruleset.zip", interval_seconds=0)
    sources = [s if "eicar" not in s.namespace else s._replace(text=s.text + "// v1\n")
               for s in bundled_sources()]  # fmt: skip
    older = tmp_path / "older.zip"
    write_artifact(Ruleset(ruleset_version(sources), tuple(sources)), older)
    _publish(s3, older, "older")
    assert watcher.newer_ruleset() is not None
    [warned] = [r for r in caplog.records if "other bundled rules" in r.getMessage()]
    assert warned.bundled_files == ["bucketguard/eicar.yar"]  # type: ignore[attr-defined]
    caplog.clear()
    _publish(s3, _artifact(tmp_path, "current", RULE), "older")
    assert watcher.newer_ruleset() is not None
    assert not [r for r in caplog.records if "other bundled rules" in r.getMessage()]


def test_the_scanner_keeps_its_ruleset_when_an_upload_past_rules_publish_judges_samples_wrong(
    account: AccountSession, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bucketguard.pipeline.lambda_functions import ScannerFunction

    s3.create_bucket(Bucket="init-ungated")
    s3.put_bucket_versioning(Bucket="init-ungated", VersioningConfiguration={"Status": "Enabled"})
    shipped = _artifact(tmp_path, "shipped")
    _scanner_environment(monkeypatch, account, "init-ungated", shipped)
    monkeypatch.setenv("BUCKETGUARD_RULES_CHECK_SECONDS", "0")  # every batch looks
    function = ScannerFunction.from_environment()
    assert function.scanner.engine.ruleset_version == load_artifact(shipped).version
    for name, text, include_bundled in (("without", RULE, False), ("everything", EVERYTHING, True)):
        ungated = _compiled(tmp_path, name, text, include_bundled=include_bundled)
        _publish(s3, ungated, "init-ungated", sha256=hashlib.sha256(ungated.read_bytes()).hexdigest())
        assert function.scanner.refresh_ruleset() == "rejected"
        assert function.scanner.engine.ruleset_version == load_artifact(shipped).version
    eicar = tmp_path / "eicar.txt"
    eicar.write_bytes(pranks.eicar())
    assert function.scanner.engine.scan_file(eicar).verdict.value == "malicious"


def test_the_scanner_starts_on_the_shipped_ruleset_when_the_published_one_is_refused(
    account: AccountSession, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bucketguard.pipeline.lambda_functions import ScannerFunction

    s3.create_bucket(Bucket="init-tampered")
    shipped = _artifact(tmp_path, "shipped")
    _publish(s3, _artifact(tmp_path, "published", RULE), "init-tampered", sha256="0" * 64)
    _scanner_environment(monkeypatch, account, "init-tampered", shipped)
    function = ScannerFunction.from_environment()
    assert function.scanner.engine.ruleset_version == load_artifact(shipped).version


def test_publish_names_no_encryption_so_the_rules_buckets_own_key_applies(s3: Any, tmp_path: Path) -> None:
    # The rules bucket denies a PutObject naming an encryption of its own (infra: WritesUseTheScannerKey);
    # moto does not evaluate that condition, so the headers the publish sends are read instead.
    from bucketguard.pipeline.rules_bucket import publish_artifact

    s3.create_bucket(Bucket="rules-default-key")
    artifact = tmp_path / "ruleset.zip"
    write_artifact(load_ruleset(), artifact)
    sent: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(dict(request.headers))

    s3.meta.events.register("before-send.s3.PutObject", record)
    try:
        publish_artifact(s3, artifact, "s3://rules-default-key/")
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", record)
    (headers,) = sent
    assert not [name for name in headers if name.lower().startswith("x-amz-server-side-encryption")]
