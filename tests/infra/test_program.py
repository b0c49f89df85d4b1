"""The Pulumi program under mocks: resource graph, IAM, encryption, providers, limits, split rollout.

Each program runs in a fresh interpreter (tests/infra/harness.py): the mock root stack registers once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketguard import packaging
from bucketguard.audit.permissions import UNSCOPED_ACTIONS, read_statements
from bucketguard.packaging import HANDLERS
from bucketguard.pipeline import env
from bucketguard.rules.facts import ROLE_TAG
from tests.infra.conftest import ROOT, run_program, stack_config
from tests.infra.provider_schema import input_problems, policy_problems

Resource = dict[str, Any]
READS = ("Get", "List", "Describe")
POLICY_TYPES = {
    "aws:iam/rolePolicy:RolePolicy",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:kms/keyPolicy:KeyPolicy",
}


class Graph:
    def __init__(self, result: dict[str, Any]) -> None:
        assert result["error"] is None, result["error"]
        self.resources: list[Resource] = result["resources"]
        self.retained: set[str] = set(result["retained"])
        self.urns: dict[str, list[str]] = result["urns"]
        self.dependencies: dict[str, list[str]] = result["dependencies"]
        self.log: list[str] = result["log"]

    def of_type(self, token: str) -> list[Resource]:
        return [r for r in self.resources if r["type"] == token]

    def named(self, name: str) -> Resource:
        matches = [r for r in self.resources if r["name"] == name]
        assert len(matches) == 1, f"{name}: {len(matches)} resources"
        return matches[0]

    def urn(self, name: str) -> str:
        (urn,) = [u for u in self.urns if u.endswith(f"::{name}")]
        return urn

    def policy(self, name: str) -> list[dict[str, Any]]:
        statements: list[dict[str, Any]] = json.loads(self.named(name)["inputs"]["policy"])["Statement"]
        return statements

    def policies(self) -> Iterator[tuple[Resource, dict[str, Any]]]:
        for resource in self.resources:
            if resource["type"] in POLICY_TYPES:
                for statement in json.loads(resource["inputs"]["policy"])["Statement"]:
                    yield resource, statement

    def role_arns(self) -> set[str]:
        return {
            f"arn:aws:iam::{r['account']}:role/{r['name']}-0a1b2c" for r in self.of_type("aws:iam/role:Role")
        }


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def dev(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return Graph(run_program(stack_config("dev"), lambda_artifacts, tmp_path_factory.mktemp("dev")))


@pytest.fixture(scope="module")
def multi(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Graph:
    config = stack_config("multiaccount")
    return Graph(
        run_program(config, lambda_artifacts, tmp_path_factory.mktemp("multi"), stack="multiaccount")
    )


PUBLISHERS = ("arn:aws:iam::123456789012:role/secops", "arn:aws:iam::123456789012:role/rule-author")
FEED_URL_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:camp-feed-url-AbCdEf"


@pytest.fixture(scope="module")
def rescanning(lambda_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """The dev stack with scanner.rescanOnUpdate and rulePublisherArns: every generic check below runs on it
    too."""
    config = stack_config("dev")
    scanner = config["bucketguard:scanner"]
    config["bucketguard:scanner"] = {
        **scanner,
        "rescanOnUpdate": "not-clean",
        "rulePublisherArns": list(PUBLISHERS),
        "ruleSources": [
            *scanner["ruleSources"],
            {"name": "keyed", "urlSecretArn": FEED_URL_SECRET},
            {"url": "s3://camp-team-rules/yara/", "bucketOwner": "111111111111"},
        ],
    }
    return Graph(run_program(config, lambda_artifacts, tmp_path_factory.mktemp("rescan")))


@pytest.fixture(params=["dev", "multi", "rescanning"])
def graph(request: pytest.FixtureRequest) -> Graph:
    result: Graph = request.getfixturevalue(request.param)
    return result


@pytest.mark.parametrize(
    ("fixture", "recorded"), [("dev", "dev"), ("multi", "multiaccount"), ("rescanning", "rescanning")]
)
def test_resources_keep_their_urns(fixture: str, recorded: str, request: pytest.FixtureRequest) -> None:
    """A URN that disappears makes `pulumi up` replace its resource for every existing user: a resource
    moved under another parent keeps its old URN as an alias (tests/infra/record_urns.py records them)."""
    graph: Graph = request.getfixturevalue(fixture)
    reachable = set(graph.urns) | {alias for aliases in graph.urns.values() for alias in aliases}
    before = json.loads((Path(__file__).parent / "urns" / f"{recorded}.json").read_text())
    assert [urn for urn in before if urn not in reachable] == []
    claimed = Counter(alias for aliases in graph.urns.values() for alias in aliases)
    assert [urn for urn, count in claimed.items() if count > 1 or urn in graph.urns] == []


def test_dev_stack_resource_graph(dev: Graph) -> None:
    counts = Counter(r["type"] for r in dev.resources)
    assert counts["pulumi:providers:aws"] == 2  # eu-west-1, and us-east-1 where IAM's events arrive
    assert counts["bucketguard:scanner:ScannerStack"] == 1
    assert counts["bucketguard:storage:StorageStack"] == 1
    assert counts["aws:lambda/function:Function"] == 5  # with the scheduled rule update and the monitor
    assert counts["aws:lambda/eventSourceMapping:EventSourceMapping"] == 4
    # scanner queue + DLQ, listener queue + DLQ, post-scan queue + DLQ, monitor events queue + DLQ
    assert counts["aws:sqs/queue:Queue"] == 8
    # createBucket: the protected bucket, the quarantine bucket and their access-log bucket; the rules bucket
    assert {b["inputs"]["bucket"] for b in dev.of_type("aws:s3/bucket:Bucket")} == {
        "camp-teaching-material-dev",
        "camp-teaching-material-dev-quarantine",
        "camp-teaching-material-dev-logs",
        "bucketguard-dev-rules-123456789012-eu-west-1",
        "bucketguard-dev-rules-123456789012-eu-west-1-logs",
    }
    # scanner alerts, ruleset announcements, result topic, storage alerts, monitor alerts
    assert counts["aws:sns/topic:Topic"] == 5
    assert counts["aws:kms/key:Key"] == 4  # scanner, storage, storage seal (HMAC), monitor
    assert counts["aws:s3/bucketNotification:BucketNotification"] == 1
    notification = dev.of_type("aws:s3/bucketNotification:BucketNotification")[0]["inputs"]
    assert notification["bucket"] == "camp-teaching-material-dev"
    assert notification["queues"][0]["events"] == ["s3:ObjectCreated:*"]
    assert notification["queues"][0]["queueArn"].endswith(":storage-teaching-events-queue-0a1b2c")
    emails = {
        s["inputs"]["endpoint"]
        for s in dev.of_type("aws:sns/topicSubscription:TopicSubscription")
        if s["inputs"]["protocol"] == "email"
    }
    assert emails == {"platform-team@camp.example", "security@camp.example"}


def test_multiaccount_stack_resource_graph(multi: Graph) -> None:
    counts = Counter(r["type"] for r in multi.resources)
    assert counts["bucketguard:storage:StorageStack"] == 3
    # scanner, 3 storages, monitor, the audit's fan-out and unit functions
    assert counts["aws:lambda/function:Function"] == 1 + 2 * 3 + 1 + 2
    # Existing buckets are not created: only the quarantine, promote, access-log and rules buckets, and the
    # audit's report bucket.
    assert {b["inputs"]["bucket"] for b in multi.of_type("aws:s3/bucket:Bucket")} == {
        "camp-teaching-material-quarantine",
        "camp-teaching-material-published",
        "camp-teaching-material-logs",
        "camp-student-uploads-quarantine",
        "camp-student-uploads-logs",
        "camp-media-archive-quarantine",
        "camp-media-logs",
        "bucketguard-multiaccount-rules-111111111111-eu-west-1",
        "bucketguard-multiaccount-rules-111111111111-eu-west-1-logs",
        "bucketguard-multiaccount-audit-111111111111-eu-west-1",
        "bucketguard-multiaccount-audit-111111111111-eu-west-1-logs",
    }
    # The access-blocking policy is put on each existing protected bucket.
    protected = {p["inputs"]["bucket"] for p in multi.of_type("aws:s3/bucketPolicy:BucketPolicy")}
    assert {"camp-teaching-material", "camp-student-uploads", "camp-media-archive"} <= protected


def test_one_provider_per_account_and_region_with_typed_assume_role(multi: Graph) -> None:
    providers = {p["name"]: p["inputs"] for p in multi.of_type("pulumi:providers:aws")}
    seen = set()
    for inputs in providers.values():
        roles = json.loads(inputs["assumeRoles"])
        # camelCase keys: a plain dict would have sent role_arn, which the real provider ignores.
        assert len(roles) == 1 and set(roles[0]) >= {"roleArn"} and "role_arn" not in roles[0]
        account = roles[0]["roleArn"].split(":")[4]
        assert json.loads(inputs["allowedAccountIds"]) == [account]
        assert "bucketguard-stack" in json.loads(inputs["defaultTags"])["tags"]
        seen.add((account, inputs["region"]))
    assert seen == {
        ("111111111111", "eu-west-1"),
        ("111111111111", "eu-central-1"),  # the monitor's forwarder
        ("222222222222", "eu-west-1"),
        ("222222222222", "eu-central-1"),
        ("333333333333", "eu-west-1"),  # the monitor's forwarder and member role
        ("333333333333", "eu-central-1"),
        # IAM's events, forwarded from the one region EventBridge receives them
        ("111111111111", "us-east-1"),
        ("222222222222", "us-east-1"),
        ("333333333333", "us-east-1"),
    }


def test_each_storage_deploys_in_its_buckets_account_and_region(multi: Graph) -> None:
    expected = {
        "teaching": ("222222222222", "eu-west-1"),
        "uploads": ("222222222222", "eu-central-1"),
        "media": ("333333333333", "eu-central-1"),
    }
    for name, (account, region) in expected.items():
        owned = [
            r
            for r in multi.resources
            if r["name"].startswith(f"storage-{name}-") and r["type"].startswith("aws:")
        ]
        assert owned
        assert {(r["account"], r["region"]) for r in owned} == {(account, region)}, name
    scanner = [
        r
        for r in multi.resources
        if r["name"].startswith(("scanner-", "admission-")) and r["type"].startswith("aws:")
    ]
    assert {(r["account"], r["region"]) for r in scanner} == {("111111111111", "eu-west-1")}


def test_no_resource_uses_the_default_provider(graph: Graph) -> None:
    for resource in graph.resources:
        if resource["type"].startswith("aws:"):
            assert resource["provider"], f"{resource['name']} uses the default provider"


def test_every_input_is_what_the_provider_schema_declares(graph: Graph) -> None:
    """The mocks take any property: each object's keys and enum values are checked against pulumi_aws's
    own input types (tests/infra/provider_schema.py), the provider's JSON-encoded config included, and each
    policy document against IAM's grammar."""
    problems = [
        f"{resource['name']}: {problem}"
        for resource in graph.resources
        for check in (input_problems, policy_problems)
        for problem in check(resource["type"], resource["inputs"])
    ]
    assert problems == []


def test_no_allow_statement_grants_a_wildcard_action(graph: Graph) -> None:
    for resource, statement in graph.policies():
        actions = as_list(statement["Action"])
        if statement["Effect"] == "Allow":
            assert all("*" not in action for action in actions), (resource["name"], statement)
        else:  # the only wildcard Denies: plain HTTP; quarantine, promotion for all but post-scan and admins
            assert (
                statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                or statement.get("Sid")
                in (
                    "BucketGuardOnlyPostScanAndAdminsTouchQuarantine",
                    "BucketGuardOnlyPostScanAndAdminsWritePromoted",
                )
                or all("*" not in a for a in actions)
            ), (resource["name"], statement)


def test_no_policy_allows_kms_encrypt(graph: Graph) -> None:
    """The functions never call KMS themselves to encrypt: S3, SQS, SNS and DynamoDB encrypt with data keys
    (GenerateDataKey, then Decrypt); DynamoDB's own use goes through the grant it creates."""
    for resource, statement in graph.policies():
        if statement["Effect"] == "Allow":
            assert "kms:Encrypt" not in as_list(statement["Action"]), (resource["name"], statement.get("Sid"))


def test_role_policies_name_only_their_own_resources(graph: Graph) -> None:
    for policy in graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
            if set(as_list(statement["Action"])) <= UNSCOPED_ACTIONS:  # no resource-level permissions
                assert statement["Resource"] == ["*"], statement
                continue
            for arn in as_list(statement["Resource"]):
                assert arn != "*" and arn.startswith("arn:aws:"), (policy["name"], statement)
                if arn.startswith("arn:aws:logs:"):
                    owner = policy["name"].removesuffix("-policy")
                    assert arn.endswith(f":log-group:{owner}-logs-0a1b2c:*"), (policy["name"], arn)


def test_s3_grants_hold_only_for_buckets_of_the_roles_own_account(graph: Graph) -> None:
    """A bucket ARN names no account: without aws:ResourceAccount a bucket of the same name in another account
    (ours deleted, or never made) would receive post-scan's copies and the listener's presigned reads. The
    rule update's s3:// sources are the exception (the config does not say whose they are)."""
    checked = 0
    for policy in graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
            grants_s3 = any(str(r).startswith("arn:aws:s3:::") for r in as_list(statement["Resource"]))
            rule_source = statement.get("Sid", "").startswith(("ReadRuleSource", "ListRuleSource"))
            if statement["Effect"] != "Allow" or not grants_s3 or rule_source:
                continue
            owner = statement.get("Condition", {}).get("StringEquals", {}).get("aws:ResourceAccount")
            assert owner == policy["account"], (policy["name"], statement.get("Sid"), owner)
            checked += 1
    assert checked >= 8


def test_listener_and_postscan_roles_are_scoped_to_their_bucket(multi: Graph) -> None:
    listener = {s["Sid"]: s for s in multi.policy("storage-media-listener-policy")}
    assert listener["PresignObjectReads"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert listener["PresignObjectReads"]["Resource"] == "arn:aws:s3:::camp-media-archive/*"
    assert listener["SendScanRequests"]["Action"] == ["sqs:SendMessage"]
    assert (
        listener["SendScanRequests"]["Resource"]
        == "arn:aws:sqs:eu-west-1:111111111111:scanner-requests-queue-0a1b2c"
    )
    listener_actions = {a for s in listener.values() for a in as_list(s["Action"])}
    assert {a for a in listener_actions if a.startswith("s3:")} == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",  # without it S3 answers 403, not 404, for a deleted object: retried into the DLQ
        "s3:ListBucketVersions",
        # strips the bucketguard-* tags an upload arrived with (the bucket policy stops it writing any)
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:DeleteObjectTagging",
        "s3:DeleteObjectVersionTagging",
    }
    assert listener["FindEventVersion"]["Resource"] == "arn:aws:s3:::camp-media-archive"

    postscan = multi.policy("storage-teaching-postscan-policy")
    s3_resources = {r for s in postscan for r in as_list(s["Resource"]) if r.startswith("arn:aws:s3:::")}
    assert s3_resources == {
        "arn:aws:s3:::camp-teaching-material",
        "arn:aws:s3:::camp-teaching-material/*",
        "arn:aws:s3:::camp-teaching-material-quarantine",
        "arn:aws:s3:::camp-teaching-material-quarantine/*",
        "arn:aws:s3:::camp-teaching-material-published",
        "arn:aws:s3:::camp-teaching-material-published/*",
    }
    deletes = {
        (s["Sid"], r)
        for s in postscan
        for r in as_list(s["Resource"])
        if {"s3:DeleteObject", "s3:DeleteObjectVersion"} & set(as_list(s["Action"]))
    }
    assert deletes == {
        ("RemoveQuarantinedVersions", "arn:aws:s3:::camp-teaching-material/*"),
        # a copy that fails verification (the source changed under it) is not left in a served bucket
        ("RemoveUnverifiedCopies", "arn:aws:s3:::camp-teaching-material-quarantine/*"),
        ("RemoveUnverifiedCopies", "arn:aws:s3:::camp-teaching-material-published/*"),
    }
    # media has no promote bucket and no notify action: no write elsewhere, no publish.
    media = multi.policy("storage-media-postscan-policy")
    assert not any("sns:Publish" in as_list(s["Action"]) for s in media)
    # post-scan reads the scanned version before it acts, whatever the actions: without these, every
    # result of a tag-only storage would fail into the DLQ
    media_grants = {(a, r) for s in media for a in as_list(s["Action"]) for r in as_list(s["Resource"])}
    assert {
        ("s3:GetObject", "arn:aws:s3:::camp-media-archive/*"),
        ("s3:GetObjectVersion", "arn:aws:s3:::camp-media-archive/*"),
        ("s3:ListBucket", "arn:aws:s3:::camp-media-archive"),
    } <= media_grants


def test_webhook_secret_reaches_the_postscan_function_and_only_its_role(multi: Graph) -> None:
    secret = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:bucketguard/teaching-webhook-AbCdEf"
    function = multi.named("storage-teaching-postscan-function")
    assert function["inputs"]["environment"]["variables"][env.WEBHOOK_SECRET_ARN] == secret
    reads = [
        s for _, s in multi.policies() if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
    ]
    assert reads == [
        {
            "Sid": "ReadWebhookSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": secret,
        }
    ]
    assert reads[0] in multi.policy("storage-teaching-postscan-policy")
    uploads = multi.named("storage-uploads-postscan-function")["inputs"]["environment"]["variables"]
    assert env.WEBHOOK_SECRET_ARN not in uploads


def test_scanner_publishes_only_to_registered_result_topics(multi: Graph) -> None:
    topics = {t["name"]: t for t in multi.of_type("aws:sns/topic:Topic")}
    result_topics = sorted(
        f"arn:aws:sns:{t['region']}:{t['account']}:{name}-0a1b2c"
        for name, t in topics.items()
        if name.endswith("-results")
    )
    publish = {s["Sid"]: s for s in multi.policy("admission-publish-results")}
    assert sorted(publish["PublishToRegisteredResultTopics"]["Resource"]) == result_topics
    assert len(result_topics) == 3
    scanner = multi.policy("scanner-scanner-policy")
    assert {a for s in scanner for a in as_list(s["Action"])} == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "kms:Decrypt",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
    }
    # No access to any storage bucket: S3 only for the published ruleset.
    s3_resources = {r for s in scanner if s["Action"][0].startswith("s3:") for r in as_list(s["Resource"])}
    assert s3_resources == {
        "arn:aws:s3:::bucketguard-multiaccount-rules-111111111111-eu-west-1",
        "arn:aws:s3:::bucketguard-multiaccount-rules-111111111111-eu-west-1/ruleset.zip",
    }


def test_cross_account_trust_names_only_the_programs_roles(graph: Graph) -> None:
    # and the publishers the config names, only where test_rule_publishers_may_only_write... says
    roles = graph.role_arns() | set(PUBLISHERS)
    for resource, statement in graph.policies():
        if statement["Effect"] != "Allow" or "Principal" not in statement:
            continue
        principal = statement["Principal"]
        assert principal != "*", (resource["name"], statement)
        for arn in as_list(principal.get("AWS", [])):
            if arn.endswith(":root") and resource["type"] == "aws:sns/topicPolicy:TopicPolicy":
                # A registered storage's account subscribes one of its queues to the ruleset announcements
                # (whoever deploys it); nothing else, and nothing but SQS.
                assert statement["Action"] == ["sns:Subscribe"], statement
                assert statement["Condition"] == {"StringEquals": {"sns:Protocol": "sqs"}}
            elif arn.endswith(":root"):
                # Only the key's own account administers a key.
                assert resource["type"] == "aws:kms/keyPolicy:KeyPolicy"
                assert arn == f"arn:aws:iam::{resource['account']}:root"
            else:
                assert arn in roles, (resource["name"], arn)
        for service in as_list(principal.get("Service", [])):
            assert service in {
                "s3.amazonaws.com",
                "sns.amazonaws.com",
                "cloudwatch.amazonaws.com",
                "logging.s3.amazonaws.com",
                "events.amazonaws.com",  # the monitor's rule, to its queue (SourceArn: that rule)
            }


def test_scanner_queue_admits_exactly_the_registered_listeners(multi: Graph) -> None:
    listeners = sorted(r for r in multi.role_arns() if "-listener-role" in r)
    assert len(listeners) == 3
    allow = [s for s in multi.policy("admission-queue-policy") if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "RegisteredListenersSendScanRequests",
            "Effect": "Allow",
            "Principal": {"AWS": listeners},
            "Action": ["sqs:SendMessage"],
            "Resource": "arn:aws:sqs:eu-west-1:111111111111:scanner-requests-queue-0a1b2c",
        }
    ]
    result_policy = [s for s in multi.policy("storage-uploads-results-policy") if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in result_policy] == [
        {"AWS": "arn:aws:iam::111111111111:role/scanner-scanner-role-0a1b2c"}
    ]


def test_everything_is_encrypted(graph: Graph) -> None:
    for queue in graph.of_type("aws:sqs/queue:Queue"):
        assert queue["inputs"].get("kmsMasterKeyId", "").startswith("arn:aws:kms:"), queue["name"]
    for topic in graph.of_type("aws:sns/topic:Topic"):
        assert topic["inputs"].get("kmsMasterKeyId", "").startswith("arn:aws:kms:"), topic["name"]
    for key in graph.of_type("aws:kms/key:Key"):
        # HMAC keys have no automatic rotation in KMS; every encryption key rotates.
        if key["inputs"].get("keyUsage") != "GENERATE_VERIFY_MAC":
            assert key["inputs"]["enableKeyRotation"] is True, key["name"]
    buckets = {b["inputs"]["bucket"] for b in graph.of_type("aws:s3/bucket:Bucket")}
    settings: dict[str, dict[str, Any]] = {b: {} for b in buckets}
    for resource in graph.resources:
        bucket = resource["inputs"].get("bucket")
        if bucket in settings:
            settings[bucket][resource["type"].split(":")[-1]] = resource["inputs"]
    for bucket, found in settings.items():
        rule = found["BucketServerSideEncryptionConfiguration"]["rules"][0]
        # S3 delivers server access logs only to SSE-S3 buckets; every other bucket uses the storage key.
        expected = "AES256" if bucket.endswith("-logs") else "aws:kms"
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == expected, bucket
        bpa = found["BucketPublicAccessBlock"]
        assert all(
            bpa[k]
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        assert found["BucketVersioning"]["versioningConfiguration"]["status"] == "Enabled"
        assert found["BucketOwnershipControls"]["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        policy = json.loads(found["BucketPolicy"]["policy"])["Statement"]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy
        ), bucket


def test_storage_key_serves_the_account_only_through_s3(multi: Graph) -> None:
    statements = {s["Sid"]: s for s in multi.policy("storage-uploads-key-policy")}
    via_s3 = statements["AccountUsesKeyThroughS3"]
    assert via_s3["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    assert via_s3["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.eu-central-1.amazonaws.com",
        "kms:CallerAccount": "222222222222",
    }
    assert statements["ScannerPublishesResults"]["Principal"] == {
        "AWS": "arn:aws:iam::111111111111:role/scanner-scanner-role-0a1b2c"
    }


def test_access_blocking_policy_when_block_unscanned(multi: Graph) -> None:
    existing = next(
        p
        for p in multi.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if p["inputs"]["bucket"] == "camp-teaching-material"
    )
    statements = {s["Sid"]: s for s in json.loads(existing["inputs"]["policy"])["Statement"]}
    deny_read = statements["BucketGuardDenyReadUnlessScannedClean"]
    exempt = deny_read["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert "arn:aws:iam::222222222222:role/camp-content-admin" in exempt
    assert any("storage-teaching-listener-role" in arn for arn in exempt)


def test_scanner_function_queue_and_alarms(dev: Graph) -> None:
    scanner = dev.named("scanner-scanner-function")["inputs"]
    assert scanner["memorySize"] == 2048 and scanner["timeout"] == 300
    assert scanner["ephemeralStorage"] == {"size": 4096} and scanner["reservedConcurrentExecutions"] == 10
    assert scanner["architectures"] == ["arm64"] and scanner["runtime"] == "python3.12"
    assert (
        scanner["environment"]["variables"]["BUCKETGUARD_RULESET_PATH"] == "/var/task/bucketguard-ruleset.zip"
    )
    handlers = {f["inputs"]["handler"] for f in dev.of_type("aws:lambda/function:Function")}
    # the audit's: tests/infra/test_audit_stack.py
    assert handlers == set(HANDLERS.values()) - {HANDLERS["audit"], HANDLERS["audit_fanout"]}
    queue = dev.named("scanner-requests-queue")["inputs"]
    assert queue["visibilityTimeoutSeconds"] > scanner["timeout"]
    assert json.loads(queue["redrivePolicy"])["maxReceiveCount"] in (2, 3)
    alarms = {
        (a["inputs"]["metricName"], json.dumps(a["inputs"]["dimensions"], sort_keys=True))
        for a in dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    metrics = Counter(metric for metric, _ in alarms)
    assert metrics["ApproximateNumberOfMessagesVisible"] == 4  # one per DLQ
    assert metrics["Errors"] == 5 and metrics["Throttles"] == 5
    assert metrics["ApproximateAgeOfOldestMessage"] >= 1
    for group in dev.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group["inputs"]["retentionInDays"] == 90


def storages(count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"s{index}", "bucket": f"camp-bucket-{index}", "region": "eu-west-1", "actions": ["tag"]}
        for index in range(count)
    ]


# What AWS refuses past (characters without whitespace): a role's inline policies together, a trust policy,
# a key policy, a bucket policy, a topic policy. The mocks take any size.
POLICY_LIMITS = {
    ("aws:iam/rolePolicy:RolePolicy", "policy"): 10_240,
    ("aws:iam/role:Role", "assumeRolePolicy"): 2_048,
    ("aws:kms/keyPolicy:KeyPolicy", "policy"): 32_768,
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"): 20_480,
    ("aws:sns/topicPolicy:TopicPolicy", "policy"): 30_720,
}


def test_fifty_storages_pass_and_fifty_one_fail_at_preview(lambda_artifacts: Path, tmp_path: Path) -> None:
    base = {"bucketguard:scanner": {"region": "eu-west-1"}}
    # the longest names and a long region: the scanner role names every result topic and key
    longest = [
        {**s, "name": f"camp-storage-number-{i:04d}", "region": "ap-southeast-2"}
        for i, s in enumerate(storages(50))
    ]
    fifty = Graph(run_program({**base, "bucketguard:storages": longest}, lambda_artifacts, tmp_path))
    assert len(fifty.of_type("bucketguard:storage:StorageStack")) == 50
    listeners = next(s for s in fifty.policy("admission-queue-policy") if s["Effect"] == "Allow")
    assert len(listeners["Principal"]["AWS"]) == 50
    sizes: Counter[tuple[str, str, str]] = Counter()
    for resource in fifty.resources:
        for token, key in POLICY_LIMITS:
            if resource["type"] == token:
                document = json.dumps(json.loads(resource["inputs"][key]), separators=(",", ":"))
                # as AWS names them: a key id of 36 characters, an auto-name's suffix of 7 (the mocks': 6)
                document = re.sub(r"key/[a-z0-9-]+", "key/" + "k" * 36, document).replace(
                    "-0a1b2c", "-0a1b2c3"
                )
                # a role's policies, whether they name it by id or by name
                owner = re.sub(r"-(id|0a1b2c)$", "", resource["inputs"].get("role", resource["name"]))
                sizes[(token, key, owner)] += len(document)
    role_policy = "aws:iam/rolePolicy:RolePolicy"
    assert sizes[(role_policy, "policy", "scanner-scanner-role")] > 9_000  # the largest, both its policies
    for (token, key, owner), size in sizes.items():
        assert size <= POLICY_LIMITS[(token, key)], (owner, size)
    failed = run_program({**base, "bucketguard:storages": storages(51)}, lambda_artifacts, tmp_path)
    assert failed["error"] is not None
    assert "bucketguard:storages: 51 storages for one scanner (at most 50)" in failed["error"]
    assert not any(r["type"].startswith("aws:") for r in failed["resources"])


def test_invalid_value_fails_the_program_naming_key_and_entry(lambda_artifacts: Path, tmp_path: Path) -> None:
    config = stack_config("multiaccount")
    config["bucketguard:storages"][1]["region"] = "eu-north-1"
    result = run_program(config, lambda_artifacts, tmp_path)
    assert result["error"] is not None
    assert (
        "bucketguard:storages[1].region (name 'uploads'): 'eu-north-1' is not in bucketguard:allowedRegions"
        in (result["error"])
    )


SCANNER_OUTPUTS = {
    "scannerQueueArn": "arn:aws:sqs:eu-west-1:111111111111:scanner-requests",
    "scannerQueueUrl": "https://sqs.eu-west-1.amazonaws.com/111111111111/scanner-requests",
    "scannerRoleArn": "arn:aws:iam::111111111111:role/scanner-role",
    "scannerKeyArn": "arn:aws:kms:eu-west-1:111111111111:key/scanner",
    "rulesetTopicArn": "arn:aws:sns:eu-west-1:111111111111:scanner-ruleset-published",
    "rescanOnUpdate": "none",
    "rulesetReloadSeconds": 600.0,  # numbers in stack outputs arrive as floats
}


def storage_only(lambda_artifacts: Path, tmp_path: Path, scanner_outputs: dict[str, Any]) -> dict[str, Any]:
    """The multi-account example's media storage in a stack of its own, reading its scanner's stack."""
    config = {
        "bucketguard:scannerStack": "camp/bucketguard/security",
        "bucketguard:storages": stack_config("multiaccount")["bucketguard:storages"][2:],
    }
    outputs = {"camp/bucketguard/security": scanner_outputs}
    return run_program(config, lambda_artifacts, tmp_path, stack="media", stack_outputs=outputs)


def test_storage_only_stack_reads_the_scanner_through_a_stack_reference(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    graph = Graph(storage_only(lambda_artifacts, tmp_path, SCANNER_OUTPUTS))
    references = graph.of_type("pulumi:pulumi:StackReference")
    assert [r["inputs"]["name"] for r in references] == ["camp/bucketguard/security"]
    assert not any(
        r["name"].startswith(("scanner-", "admission-"))
        for r in graph.resources
        if r["type"].startswith("aws:")
    )
    listener = {s["Sid"]: s for s in graph.policy("storage-media-listener-policy")}
    assert listener["SendScanRequests"]["Resource"] == SCANNER_OUTPUTS["scannerQueueArn"]
    assert listener["EncryptScanRequests"]["Resource"] == SCANNER_OUTPUTS["scannerKeyArn"]
    results = [s for s in graph.policy("storage-media-results-policy") if s["Effect"] == "Allow"]
    assert results[0]["Principal"] == {"AWS": SCANNER_OUTPUTS["scannerRoleArn"]}
    env = graph.named("storage-media-listener-function")["inputs"]["environment"]["variables"]
    assert env["BUCKETGUARD_SCANNER_QUEUE_URL"] == SCANNER_OUTPUTS["scannerQueueUrl"]
    # The scanner's rescanOnUpdate is known only at up: subscribed anyway, the listener ignores it under none.
    assert env["BUCKETGUARD_RESCAN_ON_UPDATE"] == "none"
    assert (
        graph.named("storage-media-ruleset-subscription")["inputs"]["topic"]
        == SCANNER_OUTPUTS["rulesetTopicArn"]
    )


def test_storage_only_stack_subscribes_its_listener_to_the_scanner_stacks_announcements(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    """The scanner stack exports its announcement topic and rescanOnUpdate: a storage in another account
    and region subscribes its listener queue there, lets only that topic deliver, and sweeps as told."""
    topic = SCANNER_OUTPUTS["rulesetTopicArn"]
    scanner = {**SCANNER_OUTPUTS, "rescanOnUpdate": "all-since: 30", "rulesetReloadSeconds": 420.0}
    graph = Graph(storage_only(lambda_artifacts, tmp_path, scanner))
    listener = graph.named("storage-media-listener-function")
    queue_arn = "arn:aws:sqs:eu-central-1:333333333333:storage-media-events-queue-0a1b2c"
    subscription = graph.named("storage-media-ruleset-subscription")
    assert (subscription["account"], subscription["inputs"]["region"]) == ("333333333333", "eu-west-1")
    inputs = subscription["inputs"]
    assert (inputs["topic"], inputs["protocol"], inputs["endpoint"], inputs["rawMessageDelivery"]) == (
        topic, "sqs", queue_arn, True,
    )  # fmt: skip
    delivers = {s["Sid"]: s for s in graph.policy("storage-media-events-queue-policy")}[
        "RulesetAnnouncements"
    ]
    assert (delivers["Principal"], delivers["Condition"]["ArnEquals"]) == (
        {"Service": "sns.amazonaws.com"}, {"aws:SourceArn": topic},
    )  # fmt: skip
    key = {s["Sid"]: s for s in graph.policy("storage-media-key-policy")}
    assert key["RulesetAnnouncementsDeliverEncrypted"]["Condition"] == {"ArnEquals": {"aws:SourceArn": topic}}
    role = {s["Sid"]: s for s in graph.policy("storage-media-listener-policy")}
    assert role["QueueRescanBatches"]["Resource"] == queue_arn
    assert role["VerifyVerdictSeals"]["Resource"].endswith("storage-media-seal-key-0a1b2c")
    seals = {s["Sid"]: s for s in graph.policy("storage-media-seal-key-policy")}
    assert seals["ListenerChecksSealsBeforeRescans"]["Action"] == ["kms:VerifyMac"]
    variables = listener["inputs"]["environment"]["variables"]
    assert variables[env.RESCAN_ON_UPDATE] == "all-since: 30"
    assert variables[env.RESCAN_START_DELAY_SECONDS] == "420"
    assert variables[env.PROTECTED_BUCKET] == "camp-media-archive"
    assert variables[env.LISTENER_QUEUE_URL].endswith("storage-media-events-queue-0a1b2c")


def test_scanner_stack_admits_storage_stacks_through_stack_references(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    storage_outputs = {
        "listenerRoleArns": ["arn:aws:iam::333333333333:role/media-listener"],
        "resultTopicArns": ["arn:aws:sns:eu-central-1:333333333333:media-results"],
        "resultKeyArns": ["arn:aws:kms:eu-central-1:333333333333:key/media"],
    }
    config = {
        "bucketguard:scanner": stack_config("multiaccount")["bucketguard:scanner"],
        "bucketguard:storageStacks": ["camp/bucketguard/media"],
    }
    graph = Graph(
        run_program(
            config,
            lambda_artifacts,
            tmp_path,
            stack="security",
            stack_outputs={"camp/bucketguard/media": storage_outputs},
        )
    )
    assert not graph.of_type("bucketguard:storage:StorageStack")
    allow = [s for s in graph.policy("admission-queue-policy") if s["Effect"] == "Allow"]
    assert allow[0]["Principal"] == {"AWS": storage_outputs["listenerRoleArns"]}
    keys = {s["Sid"]: s for s in graph.policy("admission-key-policy")}
    assert keys["RegisteredListenersEncryptRequests"]["Principal"] == {
        "AWS": storage_outputs["listenerRoleArns"]
    }
    publish = {s["Sid"]: s for s in graph.policy("admission-publish-results")}
    assert publish["PublishToRegisteredResultTopics"]["Resource"] == storage_outputs["resultTopicArns"]
    assert publish["EncryptForRegisteredResultTopics"]["Resource"] == storage_outputs["resultKeyArns"]


def test_storage_only_stack_pointed_at_a_fleet_says_what_it_needs_in_one_line(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    """A fleet exports its scanners under `scanners`, none at the top level, and admits no storage stack."""
    fleet = {"scanners": {"west": SCANNER_OUTPUTS, "east": SCANNER_OUTPUTS}}
    error = str(storage_only(lambda_artifacts, tmp_path, fleet)["error"])
    assert "\n" not in error and "`scanner: <name>` picks one" in error
    assert (
        "bucketguard:scannerStack: stack camp/bucketguard/security exports no "
        f"{', '.join(SCANNER_OUTPUTS)}: it deploys a fleet (scanners east, west), which admits no storage "
    ) in error


def test_a_storage_stack_that_is_a_scanner_stack_is_refused_in_one_line(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    config = {
        "bucketguard:scanner": stack_config("multiaccount")["bucketguard:scanner"],
        "bucketguard:storageStacks": ["camp/bucketguard/security"],
    }
    outputs = {"camp/bucketguard/security": SCANNER_OUTPUTS}
    error = str(
        run_program(config, lambda_artifacts, tmp_path, stack="other", stack_outputs=outputs)["error"]
    )
    assert "\n" not in error
    assert (
        "bucketguard:storageStacks[0]: stack camp/bucketguard/security exports no listenerRoleArns, "
        "resultTopicArns, resultKeyArns: it deploys a scanner"
    ) in error


def test_scanner_only_stack_admits_nobody(lambda_artifacts: Path, tmp_path: Path) -> None:
    config = {"bucketguard:scanner": stack_config("dev")["bucketguard:scanner"]}
    graph = Graph(run_program(config, lambda_artifacts, tmp_path, stack="security"))
    assert [s["Effect"] for s in graph.policy("admission-queue-policy")] == ["Deny"]
    assert not [r for r in graph.resources if r["name"] == "admission-publish-results"]


def test_the_program_builds_a_missing_artifact_or_says_why_it_cannot(tmp_path: Path) -> None:
    config = stack_config("dev")
    config["bucketguard:scanner"]["architecture"] = "x86_64"
    offline = run_program(config, tmp_path / "empty", tmp_path, env={"PIP_NO_INDEX": "1"})
    assert offline["error"] is not None
    assert "can't be used" in offline["error"] and "no manifest" in offline["error"]
    assert "pip could not fetch the x86_64 wheels for Python 3.12" in offline["error"]
    assert "python -m bucketguard build --architecture x86_64" in offline["error"]
    built = Graph(run_program(config, tmp_path / "built", tmp_path))
    assert (tmp_path / "built" / "x86_64" / "manifest.json").is_file()
    functions = built.of_type("aws:lambda/function:Function")
    assert {f["inputs"]["architectures"][0] for f in functions} == {"x86_64"}


RUNTIME_PYTHON = packaging.LAMBDA_PYTHON_VERSION
BUILDING = "bucketguard: building the Lambda artifact in "
NO_BYTECODE = f"bucketguard: {packaging.no_bytecode_warning(RUNTIME_PYTHON)}"
running_the_runtime_python = pytest.mark.skipif(
    f"{sys.version_info.major}.{sys.version_info.minor}" == RUNTIME_PYTHON,
    reason=f"this interpreter is Python {RUNTIME_PYTHON}: every build compiles the bytecode",
)


def runtime_python(monkeypatch: pytest.MonkeyPatch) -> str | None:
    """A Python of the Lambda runtime's version that runs, as build finds it: on PATH, or pyenv's (whose shim
    on PATH may not run it)."""
    pyenv = Path.home() / ".pyenv" / "versions"
    directories = [*os.environ["PATH"].split(os.pathsep), *map(str, pyenv.glob(f"{RUNTIME_PYTHON}.*/bin"))]
    for directory in directories:
        monkeypatch.setenv("PATH", directory)
        found = packaging.bytecode_python(RUNTIME_PYTHON, packaging._run)
        if found:
            return found
    return None


@running_the_runtime_python
def test_an_artifact_built_at_preview_without_bytecode_is_a_warning_and_is_not_rebuilt_again(
    tmp_path: Path,
) -> None:
    no_python = {"PATH": str(tmp_path / "bin")}  # no python3.12 (pip runs as this interpreter's module)
    config, artifacts = stack_config("dev"), tmp_path / "artifacts"
    built = run_program(config, artifacts, tmp_path, env=no_python)
    assert built["error"] is None, built["error"]
    manifest = packaging.read_manifest(artifacts / "arm64")
    assert manifest.bytecode == ""
    assert [line for line in built["log"] if line.startswith(BUILDING)]
    assert built["log"].count(NO_BYTECODE) == 1
    again = run_program(config, artifacts, tmp_path, env=no_python)
    assert not [line for line in again["log"] if line.startswith(BUILDING)]
    assert packaging.read_manifest(artifacts / "arm64") == manifest
    assert again["log"].count(NO_BYTECODE) == 1  # it still deploys without


@running_the_runtime_python
def test_an_artifact_without_bytecode_is_rebuilt_with_it_once_python312_is_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = runtime_python(monkeypatch)
    if python is None:
        pytest.skip(f"no Python {RUNTIME_PYTHON} on this machine (on PATH or pyenv's)")
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    artifacts = tmp_path / "artifacts"
    assert packaging.build("arm64", artifacts)[1].bytecode == ""
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / f"python{RUNTIME_PYTHON}").symlink_to(python)
    rebuilt = run_program(stack_config("dev"), artifacts, tmp_path, env={"PATH": str(on_path)})
    assert rebuilt["error"] is None, rebuilt["error"]
    assert [line for line in rebuilt["log"] if line.startswith(BUILDING) and "built without bytecode" in line]
    tag = f"cpython-{RUNTIME_PYTHON.replace('.', '')}"
    assert packaging.read_manifest(artifacts / "arm64").bytecode == tag
    assert NO_BYTECODE not in rebuilt["log"]


def test_buckets_holding_data_and_their_keys_outlive_the_stack(graph: Graph) -> None:
    buckets = {b["name"] for b in graph.of_type("aws:s3/bucket:Bucket")}
    # The seal key encrypts nothing: losing it only means verdicts are applied again.
    storage_keys = {
        k["name"]
        for k in graph.of_type("aws:kms/key:Key")
        if k["name"].startswith("storage-") and not k["name"].endswith("-seal-key")
    }
    assert buckets and storage_keys
    assert buckets | storage_keys <= graph.retained


def test_buckets_the_platform_owns_carry_their_role_tag(multi: Graph, dev: Graph) -> None:
    # The policy pack's scanning-coverage rule exempts bucketguard's own buckets by this tag only.
    roles = {
        b["inputs"]["bucket"]: b["inputs"].get("tags", {}).get(ROLE_TAG)
        for graph in (multi, dev)
        for b in graph.of_type("aws:s3/bucket:Bucket")
    }
    assert roles["camp-teaching-material-quarantine"] == "quarantine"
    assert roles["camp-media-archive-quarantine"] == "quarantine"
    assert roles["camp-teaching-material-published"] == "promote"
    # A protected bucket the stack creates accepts uploads: it is scanned, not exempted.
    assert roles["camp-teaching-material-dev"] is None


def test_service_principals_act_only_for_our_account_or_resource(graph: Graph) -> None:
    # Confused deputy: a service principal without aws:SourceAccount or aws:SourceArn acts for any account.
    for resource, statement in graph.policies():
        principal = statement.get("Principal")
        if statement["Effect"] != "Allow" or not isinstance(principal, dict) or "Service" not in principal:
            continue
        conditions = {key for test in statement.get("Condition", {}).values() for key in test}
        assert conditions & {"aws:SourceAccount", "aws:SourceArn"}, (resource["name"], statement)


SETTINGS_OF_A_BUCKET = {
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
}


def test_retained_buckets_keep_their_guard_rails(graph: Graph) -> None:
    # Deleting these settings with the stack would leave a retained quarantine bucket full of malware
    # public-accessible, unencrypted by default and unversioned.
    owned = {b["inputs"]["bucket"] for b in graph.of_type("aws:s3/bucket:Bucket")}
    settings = [
        r for r in graph.resources if r["type"] in SETTINGS_OF_A_BUCKET and r["inputs"]["bucket"] in owned
    ]
    assert len(settings) == 4 * len(owned)
    assert {r["name"] for r in settings} <= graph.retained


def test_account_public_access_block_once_per_account_when_asked(multi: Graph, dev: Graph) -> None:
    blocks = multi.of_type("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")
    assert sorted(b["account"] for b in blocks) == ["111111111111", "222222222222", "333333333333"]
    for block in blocks:
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        assert all(block["inputs"][flag] is True for flag in flags)
    assert len(dev.of_type("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")) == 1


def test_owned_buckets_log_to_the_storage_access_log_bucket(multi: Graph) -> None:
    logs = next(
        b for b in multi.of_type("aws:s3/bucket:Bucket") if b["inputs"]["bucket"] == "camp-media-logs"
    )
    assert logs["inputs"]["tags"][ROLE_TAG] == "logs"
    logged = {
        r["inputs"]["bucket"]: r["inputs"]
        for r in multi.of_type("aws:s3/bucketLogging:BucketLogging")
        if r["inputs"]["targetBucket"] == "camp-media-logs"
    }
    assert set(logged) == {"camp-media-archive-quarantine"}
    # Only S3's log delivery writes, for this account's buckets that log here, over TLS.
    statements = {
        s["Sid"]: s
        for p in multi.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if p["inputs"]["bucket"] == "camp-media-logs"
        for s in json.loads(p["inputs"]["policy"])["Statement"]
    }
    delivery = statements["S3ServerAccessLogsDelivery"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == ["s3:PutObject"]
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": "333333333333"}
    assert delivery["Condition"]["ArnLike"] == {
        "aws:SourceArn": ["arn:aws:s3:::camp-media-archive-quarantine"]
    }


def test_example_stacks_pass_the_policy_pack(lambda_artifacts: Path, tmp_path: Path) -> None:
    # The platform's own stacks: no finding but the two S3 settings Pulumi can't (MFA delete) or shouldn't
    # (Object Lock on buckets whose versions the pipeline deletes) set.
    accepted = {"s3_bucket_mfa_delete_enabled", "s3_bucket_object_lock_enabled"}
    for stack in ("dev", "multiaccount"):
        config = {**stack_config(stack), "bucketguard:artifactDir": str(lambda_artifacts)}
        config_file = tmp_path / f"Pulumi.{stack}.yaml"
        config_file.write_text(json.dumps({"config": config}))
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "bucketguard",
                "policy",
                "check",
                "--program",
                ".",
                "--config",
                str(config_file),
                "--format",
                "json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode in (0, 1), completed.stderr[-2000:]
        violations = json.loads(completed.stdout)["violations"]
        assert {v["rule_id"] for v in violations} <= accepted, (stack, violations)


def test_roles_use_keys_only_through_the_services_that_need_them(multi: Graph) -> None:
    # A role allowed kms:Decrypt directly could decrypt any ciphertext made with the key (a copied queue
    # message); through kms:ViaService it decrypts only what SQS, S3 or SNS hand it.
    def via(policy: str, sid: str) -> list[str]:
        statement = next(s for s in multi.policy(policy) if s["Sid"] == sid)
        services: list[str] = statement["Condition"]["StringEquals"]["kms:ViaService"]
        return sorted(services)

    region = "eu-central-1"
    assert via("storage-media-key-policy", "ListenerReadsEvents") == [
        f"s3.{region}.amazonaws.com",
        f"sqs.{region}.amazonaws.com",
    ]
    assert via("storage-media-key-policy", "PostScanReadsResultsWritesBuckets") == [
        f"s3.{region}.amazonaws.com",
        f"sns.{region}.amazonaws.com",
        f"sqs.{region}.amazonaws.com",
    ]
    assert via("storage-media-key-policy", "ScannerPublishesResults") == [f"sns.{region}.amazonaws.com"]
    assert via("admission-key-policy", "ScannerReadsRequests") == [
        "s3.eu-west-1.amazonaws.com",
        "sqs.eu-west-1.amazonaws.com",
    ]
    assert via("admission-key-policy", "RegisteredListenersEncryptRequests") == [
        "sqs.eu-west-1.amazonaws.com"
    ]


def test_scanner_reads_only_the_published_ruleset_from_a_private_versioned_rules_bucket(dev: Graph) -> None:
    bucket = "bucketguard-dev-rules-123456789012-eu-west-1"
    arn = f"arn:aws:s3:::{bucket}"
    rules = [r for r in dev.resources if r["name"].startswith("scanner-rules-") and "-logs" not in r["name"]]
    by_type = {r["type"]: r["inputs"] for r in rules}
    assert by_type["aws:s3/bucket:Bucket"]["tags"][ROLE_TAG] == "internal"
    assert (
        by_type["aws:s3/bucketVersioning:BucketVersioning"]["versioningConfiguration"]["status"] == "Enabled"
    )
    encryption = by_type[
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ]["rules"][0]["applyServerSideEncryptionByDefault"]
    assert encryption["sseAlgorithm"] == "aws:kms" and "scanner-key" in encryption["kmsMasterKeyId"]
    public = by_type["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]
    assert all(public[flag] for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"))
    assert by_type["aws:s3/bucketLogging:BucketLogging"]["targetBucket"] == f"{bucket}-logs"
    grants = {s["Sid"]: s for s in dev.policy("scanner-scanner-policy")}
    assert grants["PublishedRuleset"]["Resource"] == f"{arn}/ruleset.zip"
    assert grants["PublishedRuleset"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert grants["SeeWhetherARulesetIsPublished"]["Resource"] == arn
    variables = dev.named("scanner-scanner-function")["inputs"]["environment"]["variables"]
    assert (variables["BUCKETGUARD_RULES_BUCKET"], variables["BUCKETGUARD_RULES_KEY"]) == (
        bucket,
        "ruleset.zip",
    )
    assert variables["BUCKETGUARD_RULES_CHECK_SECONDS"] == "300"
    # The bundled ruleset stays in the artifact as the fallback.
    assert variables["BUCKETGUARD_RULESET_PATH"] == "/var/task/bucketguard-ruleset.zip"
    alarm = dev.named("scanner-ruleset-rejected")["inputs"]
    assert (alarm["namespace"], alarm["metricName"]) == ("BucketGuard", "RulesetRejected")
    assert "scanner-alerts" in alarm["alarmActions"][0]


def test_scheduled_rule_update_may_write_only_the_ruleset_and_alert(dev: Graph) -> None:
    bucket_arn = "arn:aws:s3:::bucketguard-dev-rules-123456789012-eu-west-1"
    schedule = dev.named("scanner-rule-update-schedule")["inputs"]
    assert schedule["scheduleExpression"] == "rate(1 day)"
    invoke = dev.named("scanner-rule-update-invoke")["inputs"]
    assert invoke["principal"] == "events.amazonaws.com"
    assert invoke["sourceArn"].endswith("scanner-rule-update-schedule-0a1b2c")
    assert invoke["sourceAccount"] == "123456789012"
    grants = {s["Sid"]: s for s in dev.policy("scanner-rule-update-policy")}
    assert set(grants) == {
        "PublishedRuleset",
        "SeeWhetherARulesetIsPublished",
        "UseScannerKeyForRulesetAndAlerts",
        "AlertOnFailedUpdates",
        "AnnouncePublishedRulesets",  # on the ruleset topic, which storage-only stacks may subscribe to
        "WriteOwnLogs",
    }
    assert grants["AnnouncePublishedRulesets"]["Resource"].endswith("scanner-ruleset-published-0a1b2c")
    assert grants["PublishedRuleset"]["Resource"] == f"{bucket_arn}/ruleset.zip"
    assert "s3:PutObject" in grants["PublishedRuleset"]["Action"]
    assert grants["AlertOnFailedUpdates"]["Resource"].endswith("scanner-alerts-0a1b2c")
    function = dev.named("scanner-rule-update-function")["inputs"]
    assert function["reservedConcurrentExecutions"] == 1 and function["timeout"] == 900
    sources = json.loads(function["environment"]["variables"]["BUCKETGUARD_RULE_SOURCES"])
    assert sources[0]["name"] == "yara-forge-core" and sources[0]["minSeverity"] == "medium"
    key = {s["Sid"]: s for s in dev.policy("admission-key-policy")}["RuleUpdaterWritesRulesetAndAlerts"]
    assert key["Principal"]["AWS"].endswith("scanner-rule-update-role-0a1b2c")
    assert sorted(key["Condition"]["StringEquals"]["kms:ViaService"]) == [
        "s3.eu-west-1.amazonaws.com",
        "sns.eu-west-1.amazonaws.com",
    ]


def test_feed_credentials_stay_in_secrets_manager_and_team_buckets_in_their_owners_account(
    rescanning: Graph, dev: Graph
) -> None:
    function = rescanning.named("scanner-rule-update-function")["inputs"]
    sources = json.loads(function["environment"]["variables"]["BUCKETGUARD_RULE_SOURCES"])
    assert sources[1] == {"name": "keyed", "urlSecretArn": FEED_URL_SECRET}
    grants = {s["Sid"]: s for s in rescanning.policy("scanner-rule-update-policy")}
    assert grants["ReadRuleSourceUrlSecrets"] == {
        "Sid": "ReadRuleSourceUrlSecrets",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [FEED_URL_SECRET],
    }
    readers = [r["name"] for r, s in rescanning.policies() if "secretsmanager:GetSecretValue" in s["Action"]]
    assert readers == ["scanner-rule-update-policy"]
    # A team bucket whose owner is named is read only while that account owns a bucket of that name.
    owned = {"StringEquals": {"aws:ResourceAccount": "111111111111"}}
    assert grants["ReadRuleSource0"]["Condition"] == owned
    assert grants["ListRuleSource0"]["Condition"] == {"StringLike": {"s3:prefix": ["yara/*"]}, **owned}
    assert "ReadRuleSourceUrlSecrets" not in {s["Sid"] for s in dev.policy("scanner-rule-update-policy")}


def test_a_ruleset_is_written_with_the_scanner_key_or_not_at_all(dev: Graph) -> None:
    # An explicit encryption (SSE-S3, another key) would need none of the scanner key's policy.
    statements = {s["Sid"]: s for s in dev.policy("scanner-rules-policy")}
    assert statements["WritesUseTheScannerKey"] == {
        "Sid": "WritesUseTheScannerKey",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:PutObject"],
        "Resource": "arn:aws:s3:::bucketguard-dev-rules-123456789012-eu-west-1/*",
        "Condition": {"Null": {"s3:x-amz-server-side-encryption": "false"}},
    }


def test_rule_publishers_may_only_write_through_s3_and_announce_on_the_ruleset_topic(
    rescanning: Graph, dev: Graph
) -> None:
    key = {s["Sid"]: s for s in rescanning.policy("admission-key-policy")}[
        "RulePublishersWriteRulesetAndAnnounce"
    ]
    assert key["Principal"] == {"AWS": sorted(PUBLISHERS)}
    assert key["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"] and key["Resource"] == "*"
    assert key["Condition"] == {
        "StringEquals": {"kms:ViaService": ["s3.eu-west-1.amazonaws.com", "sns.eu-west-1.amazonaws.com"]}
    }
    topic = {s["Sid"]: s for s in rescanning.policy("admission-ruleset-topic-policy")}[
        "RulePublishersAnnounce"
    ]
    assert topic["Principal"] == {"AWS": sorted(PUBLISHERS)} and topic["Action"] == ["sns:Publish"]
    assert topic["Resource"].endswith("scanner-ruleset-published-0a1b2c")
    # Named nowhere else: the rules bucket admits its own account's roles as their IAM policies allow.
    named = [
        (resource["name"], statement["Sid"])
        for resource, statement in rescanning.policies()
        if any(arn in json.dumps(statement) for arn in PUBLISHERS)
    ]
    assert sorted(named) == [
        ("admission-key-policy", "RulePublishersWriteRulesetAndAnnounce"),
        ("admission-ruleset-topic-policy", "RulePublishersAnnounce"),
    ]
    # Without the key, no statement lets anyone but the rule update write or announce.
    assert not [s for _, s in dev.policies() if s.get("Sid", "").startswith("RulePublishers")]
    topic_sids = {s["Sid"] for s in dev.policy("admission-ruleset-topic-policy")}
    assert topic_sids == {
        "DenyInsecureTransport",
        "RuleUpdateAnnounces",
        "RegisteredStoragesSubscribeTheirQueues",
    }


def test_a_rule_publisher_outside_the_scanner_account_fails_the_deployment(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    config = stack_config("dev")
    foreign = "arn:aws:iam::999999999999:role/secops"
    config["bucketguard:scanner"] = {**config["bucketguard:scanner"], "rulePublisherArns": [foreign]}
    result = run_program(config, lambda_artifacts, tmp_path)
    assert (
        f"bucketguard:scanner.rulePublisherArns[0]: {foreign!r} is not in the scanner's account 123456789012"
        in str(result["error"])
    )


EXISTING = {"name": "uploads", "bucket": "camp-uploads", "region": "eu-west-1", "actions": ["tag"]}
THEIRS = {
    "Sid": "CampWebsiteRead",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::222222222222:role/camp-website"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::camp-uploads/public/*",
}


def _storage_program(lambda_artifacts: Path, tmp_path: Path, storage: dict[str, Any], buckets: Any) -> Any:
    config = {"bucketguard:scanner": {"region": "eu-west-1"}, "bucketguard:storages": [storage]}
    return run_program(config, lambda_artifacts, tmp_path, buckets=buckets)


def test_preview_refuses_to_replace_a_policy_statement_the_config_does_not_declare(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    buckets = {"camp-uploads": {"Version": "2012-10-17", "Statement": [THEIRS]}}
    refused = _storage_program(lambda_artifacts, tmp_path, EXISTING, buckets)
    assert refused["error"] is not None
    assert (
        "bucketguard:storages[0].extraPolicyStatements (name 'uploads'): the policy of bucket 'camp-uploads' "
        "has statement 'CampWebsiteRead' that the stack would replace" in refused["error"]
    )
    assert not any(r["type"] == "aws:s3/bucketPolicy:BucketPolicy" for r in refused["resources"])
    # Declared (as S3 returns it, or with the Action as a list): merged after the stack's own statements.
    declared = {**EXISTING, "extraPolicyStatements": [{**THEIRS, "Action": ["s3:GetObject"]}]}
    graph = Graph(_storage_program(lambda_artifacts, tmp_path, declared, buckets))
    statements = graph.policy("storage-uploads-protected-policy")
    assert statements[-1] == {**THEIRS, "Action": ["s3:GetObject"]}
    assert statements[0]["Sid"] == "DenyInsecureTransport"
    # A bucket without a policy, or whose policy the stack wrote itself, has nothing to lose.
    for state in (None, {"Statement": statements[:-1]}):
        assert (
            _storage_program(lambda_artifacts, tmp_path, EXISTING, {"camp-uploads": state})["error"] is None
        )


def test_preview_refuses_create_bucket_for_a_bucket_that_already_exists(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    create = {**EXISTING, "createBucket": True}
    refused = _storage_program(lambda_artifacts, tmp_path, create, {"camp-uploads": None})
    assert (
        "bucketguard:storages[0].createBucket (name 'uploads'): bucket 'camp-uploads' already exists and was "
        "not created by bucketguard" in refused["error"]
    )
    # Not there yet, or created by an earlier run of the stack (its TLS-only statement is in the policy).
    assert _storage_program(lambda_artifacts, tmp_path, create, {})["error"] is None
    ours = {"Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*"}]}
    assert _storage_program(lambda_artifacts, tmp_path, create, {"camp-uploads": ours})["error"] is None


def test_extra_notifications_join_the_bucketguard_notification(
    lambda_artifacts: Path, tmp_path: Path
) -> None:
    storage = {
        **EXISTING,
        "extraNotifications": {
            "topics": [
                {"arn": "arn:aws:sns:eu-west-1:111111111111:camp-deletions", "events": ["s3:ObjectRemoved:*"]}
            ],
            "queues": [
                {
                    "arn": "arn:aws:sqs:eu-west-1:111111111111:camp-restores",
                    "events": ["s3:ObjectRestore:Completed"],
                    "filterPrefix": "archive/",
                }
            ],
            "eventbridge": True,
        },
    }
    graph = Graph(_storage_program(lambda_artifacts, tmp_path, storage, {}))
    notification = graph.named("storage-uploads-notification")["inputs"]
    assert [q["events"] for q in notification["queues"]] == [
        ["s3:ObjectCreated:*"],
        ["s3:ObjectRestore:Completed"],
    ]
    assert notification["queues"][1]["filterPrefix"] == "archive/"
    assert notification["topics"] == [
        {"topicArn": "arn:aws:sns:eu-west-1:111111111111:camp-deletions", "events": ["s3:ObjectRemoved:*"]}
    ]
    assert notification["eventbridge"] is True


def _role(graph: Graph, name: str) -> str:
    return next(arn for arn in graph.role_arns() if f"/{name}-role-" in arn)


def test_only_post_scan_and_admins_reach_quarantined_objects(multi: Graph) -> None:
    postscan = _role(multi, "storage-teaching-postscan")
    admin = "arn:aws:iam::222222222222:role/camp-content-admin"
    (deny,) = [
        s
        for s in multi.policy("storage-teaching-quarantine-policy")
        if s["Sid"].startswith("BucketGuardOnly")
    ]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Resource"] == "arn:aws:s3:::camp-teaching-material-quarantine/*"
    assert {"s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*"} <= set(deny["Action"])
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": sorted([postscan, admin])}}
    # The key decrypts quarantined objects for the same principals only, whatever the account's IAM says.
    key = {s["Sid"]: s for s in multi.policy("storage-teaching-key-policy")}
    key_deny = key["OnlyPostScanAndAdminsDecryptQuarantine"]
    assert key_deny["Effect"] == "Deny" and "kms:Decrypt" in key_deny["Action"]
    assert key_deny["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [
        "arn:aws:s3:::camp-teaching-material-quarantine",
        "arn:aws:s3:::camp-teaching-material-quarantine/*",
    ]
    assert key_deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == [postscan, admin]


def test_only_post_scan_and_admins_write_into_the_promote_bucket(multi: Graph) -> None:
    postscan = _role(multi, "storage-teaching-postscan")
    admin = "arn:aws:iam::222222222222:role/camp-content-admin"
    statements = {s["Sid"]: s for s in multi.policy("storage-teaching-promote-policy")}
    assert statements["BucketGuardOnlyPostScanAndAdminsWritePromoted"] == {
        "Sid": "BucketGuardOnlyPostScanAndAdminsWritePromoted",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:PutObject*", "s3:DeleteObject*", "s3:Replicate*"],
        "Resource": "arn:aws:s3:::camp-teaching-material-published/*",
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": sorted([postscan, admin])}},
    }


def test_post_scan_acts_on_results_for_its_own_bucket_only(multi: Graph) -> None:
    function = multi.named("storage-teaching-postscan-function")["inputs"]
    assert function["environment"]["variables"]["BUCKETGUARD_PROTECTED_BUCKET"] == "camp-teaching-material"


def test_the_seal_key_is_an_hmac_key_only_post_scan_uses(graph: Graph) -> None:
    for storage in {r["name"].removesuffix("-seal-key") for r in graph.of_type("aws:kms/key:Key")} - {
        k["name"] for k in graph.of_type("aws:kms/key:Key") if not k["name"].endswith("-seal-key")
    }:
        key = graph.named(f"{storage}-seal-key")
        assert (key["inputs"]["keyUsage"], key["inputs"]["customerMasterKeySpec"]) == (
            "GENERATE_VERIFY_MAC",
            "HMAC_256",
        )
        key_arn = f"arn:aws:kms:{key['region']}:{key['account']}:key/{storage}-seal-key-0a1b2c"
        postscan = _role(graph, f"{storage}-postscan")
        uses = [s for s in graph.policy(f"{storage}-seal-key-policy") if "kms:GenerateMac" in s["Action"]]
        assert [s["Principal"] for s in uses] == [{"AWS": postscan}]
        checks = [s for s in graph.policy(f"{storage}-seal-key-policy") if "kms:VerifyMac" in s["Action"]]
        assert all(s["Action"] == ["kms:VerifyMac"] for s in checks)  # rescans check seals, never make one
        environment = graph.named(f"{storage}-postscan-function")["inputs"]["environment"]["variables"]
        assert environment["BUCKETGUARD_SEAL_KEY_ID"] == key_arn
        holders = {
            (p["name"], action)
            for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
            for st in json.loads(p["inputs"]["policy"])["Statement"]
            if key_arn in as_list(st["Resource"])
            for action in as_list(st["Action"])
        }
        assert holders - {(f"{storage}-listener-policy", "kms:VerifyMac")} == {
            (f"{storage}-postscan-policy", "kms:GenerateMac")
        }


def test_existing_protected_buckets_are_versioned_and_refuse_copies_from_other_buckets(multi: Graph) -> None:
    versioned = {
        v["inputs"]["bucket"]
        for v in multi.of_type("aws:s3/bucketVersioning:BucketVersioning")
        if v["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    }
    assert {"camp-teaching-material", "camp-student-uploads", "camp-media-archive"} <= versioned
    assert "storage-teaching-protected-versioning" in multi.retained
    policy = next(
        p
        for p in multi.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if p["inputs"]["bucket"] == "camp-teaching-material"
    )
    statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
    copies = statements["BucketGuardDenyCopiesFromOtherBuckets"]["Condition"]
    assert copies["StringNotLike"]["s3:x-amz-copy-source"] == [
        "camp-teaching-material/*",
        "/camp-teaching-material/*",
    ]
    retag = statements["BucketGuardDenyRetaggingScannedObjects"]["Condition"]["ArnNotLike"][
        "aws:PrincipalArn"
    ]
    assert retag == sorted(
        [_role(multi, "storage-teaching-listener"), _role(multi, "storage-teaching-postscan")]
    )


def test_rescan_on_update_subscribes_each_listener_to_the_ruleset_announcements(
    rescanning: Graph, dev: Graph
) -> None:
    assert dev.of_type("aws:sns/topicSubscription:TopicSubscription") == [
        s for s in dev.of_type("aws:sns/topicSubscription:TopicSubscription") if "ruleset" not in s["name"]
    ]
    # Made whatever rescanOnUpdate says: storage-only stacks subscribe to it.
    assert dev.named("scanner-ruleset-published")["inputs"]["kmsMasterKeyId"].endswith("scanner-key-0a1b2c")
    topic = rescanning.named("scanner-ruleset-published")
    topic_arn = "arn:aws:sns:eu-west-1:123456789012:scanner-ruleset-published-0a1b2c"
    assert topic["inputs"]["kmsMasterKeyId"].endswith("scanner-key-0a1b2c")
    update = {s["Sid"]: s for s in rescanning.policy("scanner-rule-update-policy")}
    assert update["AnnouncePublishedRulesets"]["Action"] == ["sns:Publish"]
    assert update["AnnouncePublishedRulesets"]["Resource"] == topic_arn
    variables = rescanning.named("scanner-rule-update-function")["inputs"]["environment"]["variables"]
    assert variables[env.RULESET_TOPIC_ARN] == topic_arn
    topic_policy = {s["Sid"]: s for s in rescanning.policy("admission-ruleset-topic-policy")}
    assert topic_policy["RuleUpdateAnnounces"]["Principal"]["AWS"].endswith("scanner-rule-update-role-0a1b2c")
    assert topic_policy["RegisteredStoragesSubscribeTheirQueues"]["Principal"] == {
        "AWS": ["arn:aws:iam::123456789012:root"]
    }
    assert topic_policy["RegisteredStoragesSubscribeTheirQueues"]["Condition"] == {
        "StringEquals": {"sns:Protocol": "sqs"}
    }
    storages = [
        r["name"].removesuffix("-listener-function")
        for r in rescanning.resources
        if r["name"].endswith("-listener-function")
    ]
    assert storages
    for storage in storages:
        queue_arn = f"arn:aws:sqs:eu-west-1:123456789012:{storage}-events-queue-0a1b2c"
        # Created once the topic policy lets the storage's account subscribe (SNS refuses it before).
        assert (
            rescanning.urn("admission-ruleset-topic-policy")
            in rescanning.dependencies[rescanning.urn(f"{storage}-ruleset-subscription")]
        )
        subscription = rescanning.named(f"{storage}-ruleset-subscription")["inputs"]
        assert (subscription["topic"], subscription["endpoint"], subscription["rawMessageDelivery"]) == (
            topic_arn, queue_arn, True,
        )  # fmt: skip
        delivers = {s["Sid"]: s for s in rescanning.policy(f"{storage}-events-queue-policy")}[
            "RulesetAnnouncements"
        ]
        assert delivers["Principal"] == {"Service": "sns.amazonaws.com"}
        assert delivers["Condition"]["ArnEquals"] == {"aws:SourceArn": topic_arn}
        key = {s["Sid"]: s for s in rescanning.policy(f"{storage}-key-policy")}
        assert key["RulesetAnnouncementsDeliverEncrypted"]["Condition"] == {
            "ArnEquals": {"aws:SourceArn": topic_arn}
        }
        listener = {s["Sid"]: s for s in rescanning.policy(f"{storage}-listener-policy")}
        assert listener["QueueRescanBatches"]["Resource"] == queue_arn
        assert listener["VerifyVerdictSeals"]["Action"] == ["kms:VerifyMac"]
        assert listener["VerifyVerdictSeals"]["Resource"].endswith(f"{storage}-seal-key-0a1b2c")
        variables = rescanning.named(f"{storage}-listener-function")["inputs"]["environment"]["variables"]
        assert variables[env.RESCAN_ON_UPDATE] == "not-clean"
        assert variables[env.RESCAN_START_DELAY_SECONDS] == str(300 + 300)  # ruleCheckSeconds + timeout
        assert variables[env.LISTENER_QUEUE_URL].endswith(f"{storage}-events-queue-0a1b2c")
        assert variables[env.SEAL_KEY_ID].endswith(f"{storage}-seal-key-0a1b2c")


# ---------------------------------------------------------------------------------------------- monitor
def test_monitor_rule_sends_exactly_the_watched_events_to_its_encrypted_queue(multi: Graph) -> None:
    from bucketguard.monitor.table import event_pattern

    rules = [
        r
        for r in multi.of_type("aws:cloudwatch/eventRule:EventRule")
        if r["name"].startswith("monitor") and r["region"] != "us-east-1"  # IAM's alone there
    ]
    assert rules and all(json.loads(r["inputs"]["eventPattern"]) == event_pattern() for r in rules)
    home = multi.named("monitor-rule")
    assert (home["account"], home["region"]) == ("111111111111", "eu-west-1")
    target = multi.named("monitor-rule-target")["inputs"]
    assert target["arn"].endswith(":monitor-events-queue-0a1b2c")
    [send] = [s for s in multi.policy("monitor-events-queue-policy") if s["Effect"] == "Allow"]
    assert send["Principal"] == {"Service": "events.amazonaws.com"} and send["Action"] == ["sqs:SendMessage"]
    assert send["Condition"] == {
        "ArnEquals": {"aws:SourceArn": "arn:aws:events:eu-west-1:111111111111:rule/monitor-rule"}
    }
    queue = multi.named("monitor-events-queue")["inputs"]
    assert queue["kmsMasterKeyId"].endswith(":key/monitor-key-0a1b2c") and "redrivePolicy" in queue
    trigger = multi.named("monitor-monitor-trigger")["inputs"]
    assert trigger["functionResponseTypes"] == ["ReportBatchItemFailures"]


def test_monitor_history_table_is_encrypted_recoverable_and_expires_event_ids(multi: Graph) -> None:
    table = multi.named("monitor-history")["inputs"]
    assert table["serverSideEncryption"] == {
        "enabled": True,
        "kmsKeyArn": "arn:aws:kms:eu-west-1:111111111111:key/monitor-key-0a1b2c",
    }
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["ttl"] == {"attributeName": "expires_at", "enabled": True}
    assert table["hashKey"] == "pk" and table["rangeKey"] == "sk"


def test_monitor_bus_admits_only_the_monitored_accounts_and_they_forward(multi: Graph) -> None:
    [policy] = multi.of_type("aws:cloudwatch/eventBusPolicy:EventBusPolicy")
    [statement] = json.loads(policy["inputs"]["policy"])["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Principal"] == {
        "AWS": ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]
    }
    assert statement["Resource"] == "arn:aws:events:eu-west-1:111111111111:event-bus/default"
    forwarded = {
        (t["account"], t["region"]): t["inputs"]
        for t in multi.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t["name"].startswith("monitor-forward")
    }
    assert set(forwarded) == {
        ("111111111111", "eu-central-1"),
        ("222222222222", "eu-west-1"),
        ("222222222222", "eu-central-1"),
        ("333333333333", "eu-west-1"),
        *((account, "us-east-1") for account in ("111111111111", "222222222222", "333333333333")),
    }
    for target in forwarded.values():
        assert target["arn"] == statement["Resource"] and target["roleArn"]
    for account in ("222222222222", "333333333333"):
        [put] = multi.policy(f"monitor-forward-{account}-policy")
        assert (put["Action"], put["Resource"]) == (["events:PutEvents"], statement["Resource"])


def test_monitor_reads_and_only_reads_what_events_touch(multi: Graph) -> None:
    monitor_role = next(a for a in multi.role_arns() if ":role/monitor-monitor-role" in a)
    for account in ("222222222222", "333333333333"):
        member = multi.named(f"monitor-member-{account}-role")
        assert member["account"] == account
        [trust] = json.loads(member["inputs"]["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"AWS": monitor_role}
        # the audit's reads on that account's resources ("*" only for actions that support none)
        assert multi.policy(f"monitor-member-{account}-policy") == read_statements(account)
    policy = multi.policy("monitor-monitor-policy")
    assert [s for s in policy if "Sid" not in s] == read_statements("111111111111")  # no fixer enabled
    statements = {s["Sid"]: s for s in policy if "Sid" in s}
    assert statements["ReadMonitoredAccounts"]["Resource"] == [
        "arn:aws:iam::222222222222:role/bucketguard-monitor-member",
        "arn:aws:iam::333333333333:role/bucketguard-monitor-member",
    ]
    assert statements["ImportFindings"]["Resource"] == [
        f"arn:aws:securityhub:{r}:111111111111:product/111111111111/default"
        for r in ("eu-west-1", "eu-central-1")
    ]
    writes = [a for s in statements.values() for a in s["Action"] if not a.split(":")[1].startswith(READS)]
    assert sorted(writes) == sorted(
        [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:BatchWriteItem",
            "sns:Publish",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            "sts:AssumeRole",
            "securityhub:BatchImportFindings",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ]
    )  # no fixer is enabled: no write on a monitored resource
    variables = multi.named("monitor-monitor-function")["inputs"]["environment"]["variables"]
    assert (
        variables[env.MONITOR_IGNORED_PRINCIPALS].split(",")
        == statements["ReadMonitoredAccounts"]["Resource"]
    )
    assert json.loads(variables[env.MONITOR_POLICY_CONFIG]) == {
        "aws_resource_region_allowed": {"allowedRegions": ["eu-west-1", "eu-central-1"]}
    }


def test_monitor_trail_is_multi_region_validated_and_writes_to_a_private_encrypted_bucket(
    program: Any, dev: Graph
) -> None:
    assert not dev.of_type("aws:cloudtrail/trail:Trail")  # only when asked
    assert "CloudTrailEncryptsLogs" not in {s.get("Sid") for s in dev.policy("monitor-key-policy")}
    config = stack_config("dev")
    config["bucketguard:monitor"] = {**config["bucketguard:monitor"], "createTrail": True}
    graph = Graph(program(config))
    trail = graph.named("monitor-cloudtrail-trail")
    account = trail["account"]
    key_arn = f"arn:aws:kms:eu-west-1:{account}:key/monitor-key-0a1b2c"
    bucket = f"monitor-trail-logs-{account}"
    this_trail = {"aws:SourceArn": f"arn:aws:cloudtrail:eu-west-1:{account}:trail/monitor-trail"}
    assert trail["inputs"] == {
        "name": "monitor-trail",
        "s3BucketName": bucket,
        "isMultiRegionTrail": True,
        "includeGlobalServiceEvents": True,
        "enableLogFileValidation": True,
        "kmsKeyId": key_arn,
        "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": True}],
        "tags": trail["inputs"]["tags"],
    }
    # the bucket: private, versioned, encrypted with the monitor's key, TLS only, CloudTrail for this trail
    assert all(
        graph.named("monitor-cloudtrail-logs-public-access-block")["inputs"][k]
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    versioning = graph.named("monitor-cloudtrail-logs-versioning")["inputs"]["versioningConfiguration"]
    assert versioning["status"] == "Enabled"
    [rule] = graph.named("monitor-cloudtrail-logs-encryption")["inputs"]["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key_arn,
    }
    statements = {s["Sid"]: s for s in graph.policy("monitor-cloudtrail-logs-policy")}
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    assert statements["CloudTrailChecksAcl"] == {
        "Sid": "CloudTrailChecksAcl",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:GetBucketAcl",
        "Resource": f"arn:aws:s3:::{bucket}",
        "Condition": {"StringEquals": this_trail},
    }
    write = statements["CloudTrailWritesLogs"]
    assert write["Resource"] == f"arn:aws:s3:::{bucket}/AWSLogs/{account}/*"
    assert write["Condition"] == {"StringEquals": {**this_trail, "s3:x-amz-acl": "bucket-owner-full-control"}}
    # the key: CloudTrail encrypts for this trail only; the account's principals decrypt trail logs only
    key = {s["Sid"]: s for s in graph.policy("monitor-key-policy")}
    assert key["CloudTrailEncryptsLogs"]["Condition"]["StringEquals"] == this_trail
    assert key["CloudTrailEncryptsLogs"]["Action"] == "kms:GenerateDataKey*"
    assert key["AccountReadsTrailLogs"]["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"
    }


def test_monitor_fixers_get_only_their_actions_on_their_resources(program: Any) -> None:
    from bucketguard.remediation import remediation_statements

    config = stack_config("multiaccount")
    rules = ["s3_bucket_public_read_prohibited", "ec2_security_group_rdp_restricted"]
    config["bucketguard:monitor"] = {**config["bucketguard:monitor"], "remediate": rules}
    graph = Graph(program(config, stack="multiaccount"))
    own = graph.policy("monitor-monitor-policy")
    # its own role reads and fixes its own account's resources only
    assert [s for s in own if "Sid" not in s] == [
        *read_statements("111111111111"),
        *remediation_statements(rules, "111111111111"),
    ]
    for account in ("222222222222", "333333333333"):
        member = graph.policy(f"monitor-member-{account}-policy")
        assert member == [*read_statements(account), *remediation_statements(rules, account)]
        assert any("s3:PutBucketAcl" in s["Action"] for s in member[1:])
    variables = graph.named("monitor-monitor-function")["inputs"]["environment"]["variables"]
    assert variables[env.MONITOR_REMEDIATE] == ",".join(rules)


def test_monitor_hears_iam_calls_from_us_east_1_where_eventbridge_receives_them(
    program: Any, multi: Graph
) -> None:
    """CloudTrail sends IAM's calls (AttachRolePolicy "for a minute") to EventBridge in us-east-1 only: every
    monitored account forwards them from there, IAM's alone when it does not watch that region, allowedRegions
    or not (the example stacks exclude us-east-1: their monitors went blind to IAM, with a warning)."""
    from bucketguard.monitor.table import event_pattern

    config = stack_config("dev")
    config["bucketguard:allowedRegions"] = ["eu-west-1", "us-east-1"]
    member = {"roleArn": "arn:aws:iam::222222222222:role/bucketguard-deployer", "regions": ["eu-west-1"]}
    config["bucketguard:monitor"] = {**config["bucketguard:monitor"], "accounts": [member]}
    graph = Graph(program(config))
    rules = {
        (r["account"], r["region"]): r
        for r in graph.of_type("aws:cloudwatch/eventRule:EventRule")
        if r["name"].startswith("monitor-")
    }
    assert set(rules) == {
        ("123456789012", "eu-west-1"),
        ("123456789012", "us-east-1"),
        ("222222222222", "eu-west-1"),
        ("222222222222", "us-east-1"),
    }
    watched = event_pattern()
    iam_only = {
        **watched,
        "source": ["aws.iam"],
        "detail": {**watched["detail"], "eventSource": ["iam.amazonaws.com"]},
    }
    for (account, region), rule in rules.items():
        pattern = json.loads(rule["inputs"]["eventPattern"])
        assert pattern == (iam_only if region == "us-east-1" else watched), (account, region)
        if rule["name"] != "monitor-rule":
            [target] = [
                t
                for t in graph.of_type("aws:cloudwatch/eventTarget:EventTarget")
                if t["name"] == f"{rule['name']}-target"
            ]
            assert target["inputs"]["arn"] == "arn:aws:events:eu-west-1:123456789012:event-bus/default"
            assert (target["account"], target["region"]) == (account, region)
    assert not any("us-east-1" in line for line in graph.log)

    in_virginia = [
        r
        for r in multi.resources
        if r["type"].startswith("aws:")
        and not r["type"].startswith("aws:iam/")
        and r["region"] == "us-east-1"
    ]
    forwarders = {r["account"] for r in in_virginia if r["type"] == "aws:cloudwatch/eventRule:EventRule"}
    assert forwarders == {"111111111111", "222222222222", "333333333333"}
    for r in in_virginia:
        assert r["type"] in (
            "aws:cloudwatch/eventRule:EventRule",
            "aws:cloudwatch/eventTarget:EventTarget",
        ), r
        if r["type"] == "aws:cloudwatch/eventRule:EventRule":
            assert json.loads(r["inputs"]["eventPattern"]) == iam_only
    assert not [line for line in multi.log if "us-east-1" in line]
