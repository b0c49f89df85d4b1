"""The stack config rules (pure: no Pulumi runtime)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bucketguard.pipeline.settings import scannable_object_bytes
from infra.config import MAX_STORAGES_PER_SCANNER, ConfigError, parse_config
from tests.infra.conftest import stack_config

REPO = Path(__file__).resolve().parents[2]


def raw_of(stack: str) -> dict[str, Any]:
    return {
        key.split(":", 1)[1]: value
        for key, value in stack_config(stack).items()
        if key.startswith("bucketguard:")
    }


def storages(count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"s{index}", "bucket": f"camp-bucket-{index}", "region": "eu-west-1", "actions": ["tag"]}
        for index in range(count)
    ]


def test_example_stacks_parse_into_typed_values() -> None:
    dev = parse_config(raw_of("dev"))
    assert dev.scanner is not None and dev.scanner.reserved_concurrency == 10
    assert [s.name for s in dev.storages] == ["teaching"]
    assert dev.storages[0].create_bucket and dev.storages[0].block_unscanned
    multi = parse_config(raw_of("multiaccount"))
    assert multi.scanner is not None and multi.scanner.account == "111111111111"
    assert {(s.account, s.region) for s in multi.storages} == {
        ("222222222222", "eu-west-1"),
        ("222222222222", "eu-central-1"),
        ("333333333333", "eu-central-1"),
    }
    # Defaults: blockUnscanned true, quarantine bucket named after the protected bucket.
    uploads = next(s for s in multi.storages if s.name == "uploads")
    assert uploads.block_unscanned and uploads.quarantine_bucket == "camp-student-uploads-quarantine"
    assert not uploads.create_bucket


def test_fifty_storages_pass_and_fifty_one_fail_naming_the_entry() -> None:
    scanner = {"region": "eu-west-1"}
    assert (
        len(parse_config({"scanner": scanner, "storages": storages(50)}).storages) == MAX_STORAGES_PER_SCANNER
    )
    with pytest.raises(
        ConfigError, match=r"bucketguard:storages: 51 storages for one scanner \(at most 50\).*'s50'"
    ):
        parse_config({"scanner": scanner, "storages": storages(51)})


def test_admitted_storage_stacks_count_towards_the_limit() -> None:
    with pytest.raises(ConfigError, match="51 storages"):
        parse_config(
            {"scanner": {"region": "eu-west-1"}, "storages": storages(50), "storageStacks": ["o/p/s"]}
        )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda r: r["storages"].append({**r["storages"][0], "bucket": "other-bucket"}),
            r"^bucketguard:storages\[3\]\.name \(name 'teaching'\): is already used by "
            r"bucketguard:storages\[0\]$",
        ),
        (
            lambda r: r["storages"].append({**r["storages"][0], "name": "second"}),
            r"\[3\] \(name 'second'\): bucket 'camp-teaching-material' is already used by .*storages\[0\]",
        ),
        (
            lambda r: r["storages"][1].pop("roleArn"),
            r"storages\[1\]\.roleArn \(name 'uploads'\): is required for a cross-account entry",
        ),
        (
            lambda r: r["storages"][2].update(region="us-east-1"),
            r"storages\[2\]\.region \(name 'media'\): 'us-east-1' is not in bucketguard:allowedRegions",
        ),
        (
            lambda r: r["scanner"].update(region="ap-south-1"),
            r"^bucketguard:scanner\.region: 'ap-south-1' is not in bucketguard:allowedRegions",
        ),
        (
            lambda r: r["scanner"].update(memoryMb=64),
            r"^bucketguard:scanner\.memoryMb: input should be greater than or equal to 128, got 64$",
        ),
        (
            lambda r: r["scanner"].update(architecture="sparc"),
            r"^bucketguard:scanner\.architecture: input should be 'arm64' or 'x86_64', got 'sparc'$",
        ),
        (
            lambda r: r["scanner"].update(maxObjectBytes=0),
            r"^bucketguard:scanner\.maxObjectBytes: input should be greater than or equal to 1, got 0$",
        ),
        (
            lambda r: r["storages"][0].update(actions=["tag", "explode"]),
            r"storages\[0\]\.actions\[1\] \(name 'teaching'\): input should be 'tag', 'quarantine', "
            r"'promote' or 'notify', got 'explode'",
        ),
        (
            lambda r: r["storages"][1].update(actions=["quarantine"]),
            r"storages\[1\]\.actions \(name 'uploads'\): must include 'tag' when blockUnscanned is true",
        ),
        (
            lambda r: r["storages"][1].update(actions=["tag", "promote"]),
            r"storages\[1\]\.promoteBucket \(name 'uploads'\): is required",
        ),
        (
            lambda r: r["storages"][2].update(quarantineBucket="camp-media-archive"),
            r"storages\[2\]\.quarantineBucket \(name 'media'\): must differ from the protected bucket",
        ),
        (
            # S3 refuses CreateBucket for its reserved prefixes and suffixes: fail at preview, not mid-`up`
            lambda r: r["storages"][0].update(createBucket=True, bucket="sthree-camp"),
            r"storages\[0\]\.bucket \(name 'teaching'\): 'sthree-camp' is not an S3 bucket name: S3 reserves "
            r"'sthree-'",
        ),
        (
            lambda r: r["storages"][1].update(quarantineBucket="camp-quarantine--ol-s3"),
            r"storages\[1\]\.quarantineBucket \(name 'uploads'\): .* S3 reserves '--ol-s3'",
        ),
        (
            lambda r: r["storages"][0].update(roleArn="arn:aws:iam::2222:role/x"),
            r"storages\[0\]\.roleArn \(name 'teaching'\): 'arn:aws:iam::2222:role/x' is not an IAM role ARN",
        ),
        (
            lambda r: r["storages"][0].update(blockUnscaned=False),
            r"^bucketguard:storages\[0\]\.blockUnscaned \(name 'teaching'\): unknown key; "
            r"did you mean blockUnscanned\?$",
        ),
        (
            lambda r: r["storages"][0].update(notifyEmails=["not-an-address"]),
            r"storages\[0\]\.notifyEmails\[0\] \(name 'teaching'\): 'not-an-address' is not an e-mail",
        ),
        (
            lambda r: r.update(scannerStack="org/bucketguard/scanner"),
            r"^bucketguard:scannerStack: set either scanner .* or scannerStack",
        ),
        (
            lambda r: r.update(allowedRegion=["eu-west-1"]),
            r"^bucketguard:allowedRegion: unknown key; did you mean allowedRegions\?$",
        ),
        (
            lambda r: r.update(accountPublicAccesBlock=True),
            r"^bucketguard:accountPublicAccesBlock: unknown key; did you mean accountPublicAccessBlock\?$",
        ),
        (
            lambda r: r["scanner"].update(memoryMB=1024),
            r"^bucketguard:scanner\.memoryMB: unknown key; did you mean memoryMb\?$",
        ),
    ],
)
def test_invalid_values_fail_with_the_key_and_the_entry(mutate: Any, message: str) -> None:
    raw = copy.deepcopy(raw_of("multiaccount"))
    mutate(raw)
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_same_account_storage_without_role_is_not_cross_account() -> None:
    # No roleArn anywhere: everything deploys with the deployer's credentials into one account.
    config = parse_config({"scanner": {"region": "eu-west-1"}, "storages": storages(2)})
    assert all(s.role_arn is None for s in config.storages)
    with pytest.raises(ConfigError, match=r"roleArn.*is required for a cross-account entry"):
        parse_config(
            {
                "scanner": {"region": "eu-west-1"},
                "storages": [{**storages(1)[0], "accountId": "444444444444"}],
            }
        )


def test_storage_only_stack_needs_storages_and_takes_the_architecture() -> None:
    config = parse_config(
        {"scannerStack": "camp/bucketguard/scanner", "storages": storages(1), "architecture": "x86_64"}
    )
    assert not config.deploys_scanner and config.architecture == "x86_64"
    with pytest.raises(ConfigError, match="needs at least one entry"):
        parse_config({"scannerStack": "camp/bucketguard/scanner"})
    with pytest.raises(ConfigError, match=r"^bucketguard:scannerStack: 'scanner' is not a stack reference"):
        parse_config({"scannerStack": "scanner", "storages": storages(1)})


def test_account_public_access_block_is_off_unless_asked() -> None:
    scanner = {"region": "eu-west-1"}
    assert parse_config({"scanner": scanner}).account_public_access_block is False
    assert parse_config({"scanner": scanner, "accountPublicAccessBlock": "true"}).account_public_access_block
    with pytest.raises(ConfigError, match="bucketguard:accountPublicAccessBlock: must be true or false"):
        parse_config({"scanner": scanner, "accountPublicAccessBlock": "yes"})


def test_access_log_bucket_is_one_more_bucket_the_storage_owns() -> None:
    scanner = {"region": "eu-west-1"}
    entry = {"name": "a", "bucket": "camp-a", "region": "eu-west-1", "accessLogBucket": "camp-a-logs"}
    assert (
        parse_config({"scanner": scanner, "storages": [entry]}).storages[0].access_log_bucket == "camp-a-logs"
    )
    with pytest.raises(ConfigError, match=r"storages\[0\]\.accessLogBucket \(name 'a'\): must differ"):
        parse_config({"scanner": scanner, "storages": [{**entry, "accessLogBucket": "camp-a-quarantine"}]})
    other = {"name": "b", "bucket": "camp-b", "region": "eu-west-1", "accessLogBucket": "camp-a-logs"}
    with pytest.raises(
        ConfigError, match=r"storages\[1\] \(name 'b'\): bucket 'camp-a-logs' is already used"
    ):
        parse_config({"scanner": scanner, "storages": [entry, other]})


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:camp-feed-url-AbCdEf"


def test_rule_update_keys_parse_into_feed_sources_and_bad_ones_name_the_entry() -> None:
    scanner = {
        "region": "eu-west-1",
        "ruleCheckSeconds": 600,
        "ruleSources": [
            {
                "name": "forge",
                "url": "https://github.com/YARAHQ/yara-forge/releases/latest/download/x.zip",
                "minSeverity": "high",
                "exclude": ["Noisy_Rule"],
            },
            {"url": "s3://camp-team-rules/yara/", "bucketOwner": 123456789012},  # unquoted, as YAML reads
            {"name": "keyed", "urlSecretArn": SECRET_ARN},
        ],
    }
    parsed = parse_config({"scanner": scanner, "storages": storages(1)}).scanner
    assert parsed is not None and parsed.rule_check_seconds == 600
    assert [(s.name, s.kind, s.min_severity, s.exclude) for s in parsed.rule_sources] == [
        ("forge", None, "high", ("Noisy_Rule",)),
        ("yara", "s3", None, ()),
        ("keyed", None, None, ()),
    ]
    assert parsed.rule_sources[1].bucket_owner == "123456789012"
    defaults = parse_config({"scanner": {"region": "eu-west-1"}, "storages": storages(1)}).scanner
    assert defaults is not None and defaults.rule_check_seconds == 300
    for bad, message in (
        (
            {"ruleCheckSeconds": 5},
            r"^bucketguard:scanner\.ruleCheckSeconds: input should be greater than or equal to 30",
        ),
        (
            {"ruleUpdateSchedule": "daily"},
            r"^bucketguard:scanner\.ruleUpdateSchedule: 'daily' is not an EventBridge",
        ),
        (
            {"ruleSources": [{"url": "https://x.example/a.zip", "sha": "x"}]},
            r"^bucketguard:scanner\.ruleSources\[0\]\.sha: unknown key; did you mean sha256\?$",
        ),
        (
            {"ruleSources": [{"url": "https://x.example/a.zip", "kind": "clamav"}]},
            r"^bucketguard:scanner\.ruleSources\[0\]: source a\.zip: unknown kind 'clamav'",
        ),
        (  # refused at preview, not first by the scheduled update that could never fetch it
            {"ruleSources": [{"url": "http://feeds.example.org/r.zip"}]},
            r"^bucketguard:scanner\.ruleSources\[0\]: source r\.zip: http://feeds\.example\.org/r\.zip: "
            "only https",
        ),
        (
            {"ruleSources": [{"url": "ftp://feeds.example.org/r.zip"}]},
            r"^bucketguard:scanner\.ruleSources\[0\]: .*: unsupported URL scheme 'ftp'",
        ),
        (
            {"ruleSources": [{"url": "https://me:pw@a.example/r.zip"}]},
            r"^bucketguard:scanner\.ruleSources\[0\]: source r\.zip \(https://a\.example/r\.zip\): a user",
        ),
        (
            {"ruleSources": [{"url": "https://a.example/r.zip"}, {"url": "https://b.example/r.zip"}]},
            r"^bucketguard:scanner\.ruleSources\[1\]\.name: 'r\.zip' is used twice",
        ),
        (
            {"ruleSources": [{"name": "k", "url": "https://a.example/r.zip", "urlSecretArn": SECRET_ARN}]},
            r"^bucketguard:scanner\.ruleSources\[0\] \(name 'k'\): url and urlSecretArn are two places",
        ),
        (
            {"ruleSources": [{"url": "https://a.example/r.zip", "bucketOwner": "123456789012"}]},
            r"^bucketguard:scanner\.ruleSources\[0\]: source r\.zip: bucketOwner is the 12-digit account",
        ),
        (
            {"ruleSources": [{"urlSecretArn": SECRET_ARN}]},
            r"^bucketguard:scanner\.ruleSources\[0\]: a source whose URL is a secret needs a name",
        ),
        (
            {"ruleSources": [{"name": "k", "urlSecretArn": "camp-feed-url"}]},
            r"^bucketguard:scanner\.ruleSources\[0\] \(name 'k'\): urlSecretArn 'camp-feed-url' is not a",
        ),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_config({"scanner": {"region": "eu-west-1", **bad}, "storages": storages(1)})


def test_the_program_reads_every_key_of_its_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    # The language host hands the program the whole stack config (PULUMI_CONFIG); a typo must reach the
    # schema to be refused, not be skipped because the program only asked for the keys it knows.
    from infra.program import read_config

    config = {
        "aws:region": "eu-west-1",
        "bucketguard:scanner": json.dumps({"region": "eu-west-1"}),
        "bucketguard:artifactDir": "build/lambda",
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    assert read_config().artifact_dir == "build/lambda"
    config["bucketguard:allowedRegion"] = '["eu-west-1"]'
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    with pytest.raises(
        ConfigError, match=r"^bucketguard:allowedRegion: unknown key; did you mean allowedRegions\?$"
    ):
        read_config()


@pytest.mark.parametrize("namespace", ["bucketgaurd", "bucketgard", "BucketGuard"])
def test_a_misspelt_namespace_is_refused_not_skipped(namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The program reads its own namespace only: `bucketgaurd:storages` would deploy a scanner with no storage.
    from infra.program import read_config

    config = {
        "aws:region": "eu-west-1",
        "pulumi:tags": "{}",
        "bucketguard:scanner": json.dumps({"region": "eu-west-1"}),
        f"{namespace}:storages": json.dumps([{"name": "a", "bucket": "camp-a", "region": "eu-west-1"}]),
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    with pytest.raises(
        ConfigError,
        match=rf"^{namespace}:storages: unknown namespace; did you mean bucketguard:storages\?$",
    ):
        read_config()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"extraPolicyStatements": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]},
            r"extraPolicyStatements\[0\]\.Resource \(name 'a'\): is required \(or NotResource\), not both",
        ),
        (
            {
                "extraPolicyStatements": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::other/*",
                    }
                ]
            },
            r"extraPolicyStatements\[0\]\.Resource \(name 'a'\): 'arn:aws:s3:::other/\*' is not this bucket",
        ),
        (
            {
                "extraPolicyStatements": [
                    {"Effect": "Allow", "Principal": "*", "Actions": "s3:*", "Resource": "x"}
                ]
            },
            r"extraPolicyStatements\[0\]\.Actions \(name 'a'\): unknown key; did you mean Action\?",
        ),
        (
            {
                "extraPolicyStatements": [
                    {
                        "Sid": "BucketGuardDenyReadUnlessScannedClean",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::camp-a/*",
                    }
                ]
            },
            r"extraPolicyStatements\[0\]\.Sid \(name 'a'\): .* is one of the statements bucketguard writes",
        ),
        (
            {
                "extraNotifications": {
                    "topics": [{"arn": "arn:aws:sns:eu-west-1:1:t", "events": ["s3:ObjectCreated:Put"]}]
                }
            },
            r"extraNotifications\.topics\[0\]\.events\[0\] \(name 'a'\): 's3:ObjectCreated:Put' overlaps",
        ),
        (
            {
                "extraNotifications": {
                    "queues": [{"arn": "arn:aws:sns:eu-west-1:1:t", "events": ["s3:ObjectRemoved:*"]}]
                }
            },
            r"extraNotifications\.queues\[0\]\.arn \(name 'a'\): 'arn:aws:sns:eu-west-1:1:t' is not an SQS",
        ),
    ],
)
def test_extra_statements_and_notifications_are_checked(extra: dict[str, Any], message: str) -> None:
    entry = {"name": "a", "bucket": "camp-a", "region": "eu-west-1", "actions": ["tag"], **extra}
    with pytest.raises(ConfigError, match=message):
        parse_config({"scanner": {"region": "eu-west-1"}, "storages": [entry]})


def test_a_bucket_the_deployer_cannot_read_fails_closed() -> None:
    # Only "not found" means there is nothing to lose; any other error stops the preview.
    from infra.existing_bucket import check_storages, read_bucket

    def denied(name: str) -> Any:
        raise RuntimeError(
            f"invoke of aws:s3/getBucket:getBucket failed: reading S3 Bucket ({name}): 403 Forbidden"
        )

    def missing(name: str) -> Any:
        raise RuntimeError(
            f"invoke of aws:s3/getBucket:getBucket failed: reading S3 Bucket ({name}): couldn't find resource"
        )

    config = parse_config({"scanner": {"region": "eu-west-1"}, "storages": storages(1)})
    with pytest.raises(
        ConfigError, match=r"^bucketguard:storages\[0\] \(name 's0'\): cannot read bucket 'camp-bucket-0': "
    ):
        check_storages(config.storages, lambda s: read_bucket(s.bucket, denied, denied))
    check_storages(config.storages, lambda s: read_bucket(s.bucket, missing, missing))


def test_the_object_cap_defaults_to_what_memory_and_timeout_can_scan() -> None:
    def cap(**scanner: Any) -> int | None:
        config = parse_config({"scanner": {"region": "eu-west-1", **scanner}, "storages": storages(1)})
        assert config.scanner is not None
        return config.scanner.max_object_bytes

    default = cap()
    assert default == scannable_object_bytes(2048, 300)
    assert cap(timeoutSeconds=900) == scannable_object_bytes(2048, 900) > default  # more time, more bytes
    assert cap(memoryMb=512) == scannable_object_bytes(512, 300) < default  # a fraction of a vCPU
    assert cap(memoryMb=10240) == default  # the match runs on one core: more memory is not faster
    # past the ephemeral storage: objects are read in ranges (only archives need a copy in /tmp)
    assert cap(maxObjectBytes=50 * 1024**3, ephemeralStorageMb=512) == 50 * 1024**3


def test_rule_publishers_are_roles_of_the_scanner_account() -> None:
    def publishers(arns: list[str], **scanner: str) -> tuple[str, ...]:
        # The storage in the scanner's account: a cross-account storage needs a deployer role.
        stores = [{**storage, **scanner} for storage in storages(1)]
        raw = {"scanner": {"region": "eu-west-1", "rulePublisherArns": arns, **scanner}, "storages": stores}
        parsed = parse_config(raw).scanner
        assert parsed is not None
        return parsed.rule_publisher_arns

    assert publishers([]) == ()
    secops = "arn:aws:iam::111111111111:role/secops"
    assert publishers([secops], accountId="111111111111") == (secops,)
    for arns, scanner, message in (
        (["arn:aws:iam::111111111111:user/me"], {}, r"rulePublisherArns\[0\]: .* is not an IAM role ARN"),
        ([secops, secops], {}, r"rulePublisherArns: .*secops' is listed twice"),
        ([secops], {"accountId": "222222222222"}, r"rulePublisherArns\[0\]: .* not in the scanner's account"),
    ):
        with pytest.raises(ConfigError, match=r"^bucketguard:scanner\." + message + "[^\n]*$"):
            publishers(arns, **scanner)


def test_rescan_on_update_is_a_policy_the_scanner_can_wait_for() -> None:
    raw = raw_of("dev")
    raw["scanner"]["rescanOnUpdate"] = "all-since: 30"
    config = parse_config(raw)
    assert config.scanner is not None and config.scanner.rescan_on_update == "all-since:30"
    raw["scanner"]["rescanOnUpdate"] = "all-since: 0"
    with pytest.raises(
        ConfigError, match=r"bucketguard:scanner\.rescanOnUpdate: 'all-since: 0': expected none"
    ):
        parse_config(raw)
    raw["scanner"].update(rescanOnUpdate="not-clean", ruleCheckSeconds=700)
    with pytest.raises(ConfigError, match=r"rescanOnUpdate: needs ruleCheckSeconds \+ timeoutSeconds <= 900"):
        parse_config(raw)
    # Without feeds, rulesets published by hand are announced with `rules publish --announce`.
    hand = parse_config(
        {"scanner": {"region": "eu-west-1", "rescanOnUpdate": "not-clean"}, "storages": storages(1)}
    )
    assert hand.scanner is not None and hand.scanner.rescan_on_update == "not-clean"


@pytest.mark.parametrize(
    ("monitor", "message"),
    [
        (
            {"region": "eu-west-1", "remediate": ["s3_bucket_public"]},
            r"monitor\.remediate\[0\]: 's3_bucket_public' has no fixer",
        ),
        (
            {"region": "eu-west-1", "accounts": [{"regions": ["eu-west-1"]}]},
            r"accounts\[0\]\.accountId: is required",
        ),
        (
            {
                "region": "eu-west-1",
                "accounts": [{"accountId": "222222222222"}, {"accountId": "222222222222"}],
            },
            r"accounts\[1\]\.accountId: account 222222222222 is listed twice",
        ),
        (
            {"region": "eu-west-1", "regions": ["us-east-1"]},
            r"monitor\.regions\[0\]: 'us-east-1' is not in bucketguard:allowedRegions",
        ),
        ({"region": "eu-west-1", "securityHub": "sometimes"}, r"monitor\.securityHub: must be true or false"),
        (
            {"region": "eu-west-1", "policyConfig": {"s3_bucket_public_read_prohibited": {"nope": 1}}},
            r"monitor\.policyConfig: s3_bucket_public_read_prohibited\.nope: unknown key",
        ),
        (
            {"region": "eu-west-1", "notifyEmail": []},
            r"monitor\.notifyEmail: unknown key; did you mean notifyEmails\?",
        ),
    ],
)
def test_monitor_keys_are_validated(monitor: dict[str, Any], message: str) -> None:
    raw = {"scanner": {"region": "eu-west-1"}, "allowedRegions": ["eu-west-1"], "monitor": monitor}
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def _documented(table: str) -> dict[str, str]:
    """Each key of a config reference table with its default cell (`a`, `b` | `1`, `2`: paired in order)."""
    keys: dict[str, str] = {}
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        key_cell, default_cell = (cell.strip() for cell in row.strip("|").split(" | ")[:2])
        names = re.findall(r"`([^`]+)`", key_cell)
        separator = " / " if " / " in key_cell else ", "
        defaults = default_cell.split(separator)
        for index, name in enumerate(names):
            keys[name] = defaults[index] if len(defaults) == len(names) else default_cell
    return keys


def _shown(default: Any) -> str | None:
    """A default as the reference writes it (`false`, `2048`, `[tag, notify]`, `{}`); None: not a literal."""
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, int | str):
        return f"`{default}`"
    if isinstance(default, tuple) and all(isinstance(item, str) for item in default):
        return f"`[{', '.join(default)}]`"
    if default == {}:
        return "`{}`"
    return None


# Empty in the schema, documented as what the program makes of it.
COMPUTED_DEFAULTS = {("`monitor`", "regions")}  # [region]


def test_the_config_reference_documents_every_key_the_schema_accepts_with_its_default() -> None:
    from pydantic_core import PydanticUndefined

    from bucketguard.validation import _key
    from infra.config import AuditConfig, BucketguardConfig, MonitorConfig, ScannerConfig, StorageConfig

    docs = (REPO / "docs" / "deploying.md").read_text(encoding="utf-8")
    reference = docs[docs.index("## Config reference") : docs.index("## Outputs")]
    tables = {title.splitlines()[0]: title for title in re.split(r"^### ", reference, flags=re.M)[1:]}
    models = {
        "Top level": BucketguardConfig,
        "`scanner`": ScannerConfig,
        "`storages[]`": StorageConfig,
        "`monitor`": MonitorConfig,
        "`audit`": AuditConfig,
    }
    assert sorted(tables) == sorted(models)
    for title, model in models.items():
        documented = _documented(tables[title])
        fields = {_key(name, field): field for name, field in model.model_fields.items()}
        assert sorted(documented) == sorted(fields), title
        for key, field in fields.items():
            default = field.get_default(call_default_factory=True)
            if default is PydanticUndefined or default is None or (title, key) in COMPUTED_DEFAULTS:
                continue
            shown = _shown(default)
            assert shown is None or shown in documented[key], (
                f"{title} {key}: {shown} not in {documented[key]!r}"
            )

    # The README's summary names only keys the schema accepts.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    summary = readme[readme.index("### Config reference") : readme.index("## Performance")]
    sections = {"scanner": ScannerConfig, "scanners[]": ScannerConfig, "storages[]": StorageConfig}
    sections |= {"monitor": MonitorConfig, "audit": AuditConfig}
    for row in (line for line in summary.splitlines() if line.startswith("| `")):
        section = ""
        for name in re.findall(r"`([^`]+)`", row.split(" | ")[0]):
            section, _, key = name.rpartition(".") if "." in name else (section, "", name)
            model = sections.get(section, BucketguardConfig)
            assert key.removesuffix("[]") in {_key(n, f) for n, f in model.model_fields.items()}, row


def test_an_unquoted_account_id_in_yaml_is_the_account_and_a_short_one_says_to_quote_it() -> None:
    import yaml

    # YAML reads these as numbers, as `pulumi config set --path ... 222222222222` stores them.
    raw = yaml.safe_load(
        "scanner: {region: eu-west-1, accountId: 111111111111}\n"
        "storages: [{name: a, bucket: camp-a, region: eu-west-1, accountId: 111111111111}]\n"
        "monitor: {region: eu-west-1, accounts: [{accountId: 222222222222}]}\n"
    )
    config = parse_config(raw)
    assert config.scanner is not None and config.scanner.account == "111111111111"
    assert config.storages[0].account == "111111111111"
    assert config.monitor is not None and config.monitor.accounts[0].account == "222222222222"
    raw["scanner"]["accountId"] = yaml.safe_load("012345670123")  # octal in YAML 1.1: 1402433619
    with pytest.raises(
        ConfigError, match=r"^bucketguard:scanner\.accountId: 1402433619 is not a 12-digit .*'"
    ):
        parse_config(raw)


def test_tag_values_yaml_reads_as_numbers_or_flags_are_the_text_written() -> None:
    import yaml

    raw = {"scanner": {"region": "eu-west-1"}, "storages": storages(1)}
    raw["tags"] = yaml.safe_load("{costCentre: 4711, shared: true, team: platform}")
    assert parse_config(raw).tags == {"costCentre": "4711", "shared": "true", "team": "platform"}
    raw["tags"] = {"team": ["a"]}
    with pytest.raises(ConfigError, match=r"^bucketguard:tags\.team: input should be a valid string"):
        parse_config(raw)
