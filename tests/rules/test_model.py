"""The registry's metadata contract, the rules config, evaluate_stack, and policy normalisation."""

from __future__ import annotations

import ast
import re
import types
from dataclasses import replace

import pytest

from bucketguard.rules import RulesConfig, all_rules, evaluate_stack, get_rule, rules_for
from bucketguard.rules.catalogue import MODULES
from bucketguard.rules.facts import (
    BucketFacts,
    Condition,
    PolicyDocumentError,
    Principal,
    ResourceFacts,
    SqsQueueFacts,
    StackFacts,
    parse_policy_document,
)
from bucketguard.rules.model import RULE_ID, Rule, Severity, index_rules, rule

REFERENCE_FORMATS = {
    "fsbp": re.compile(r"^[A-Za-z0-9]+\.\d+$"),
    "cis": re.compile(r"^\d+(\.\d+)+$"),
    "conformity": re.compile(r"^S3-\d{3}$"),
    "checkov": re.compile(r"^CKV2?_AWS_\d+$"),
    "prowler": re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$"),
}


def test_rule_metadata_is_complete() -> None:
    rules = all_rules()
    assert len(rules) >= 36
    for each in rules:
        assert RULE_ID.match(each.rule_id)
        assert each.rule_id.split("_", 1)[0] in {
            "s3",
            "lambda",
            "sqs",
            "sns",
            "kms",
            "iam",
            "ec2",
            "cloudtrail",
            "aws",
        }
        assert each.severity in Severity
        assert each.title and not each.title.endswith(".")
        # The risk is two sentences.
        assert len(re.findall(r"[.!?](?:\s|$)", each.risk)) == 2, each.rule_id
        for catalogue, pattern in REFERENCE_FORMATS.items():
            for ref in getattr(each.references, catalogue):
                assert pattern.match(ref), (each.rule_id, catalogue, ref)
        remediation = each.remediation
        assert remediation.summary and remediation.console and remediation.cli, each.rule_id


@pytest.mark.parametrize("rule_id", [r.rule_id for r in all_rules()])
def test_remediation_snippet_is_python_using_pulumi_aws(rule_id: str) -> None:
    tree = ast.parse(get_rule(rule_id).remediation.pulumi)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "pulumi_aws" in imported


def test_declarations_refuse_bad_ids_misnamed_checks_and_unknown_config_keys() -> None:
    meta = {"title": "t", "risk": "a. b.", "remediation": get_rule("s3_bucket_acls_disabled").remediation}

    def BadName(facts: object, config: RulesConfig) -> list[str]:
        return []

    with pytest.raises(ValueError, match="not <service>_<resource>_<expected_state>"):
        rule("BadName", BucketFacts, Severity.LOW, **meta)(BadName)

    def other(facts: object, config: RulesConfig) -> list[str]:
        return []

    with pytest.raises(ValueError, match="must be named after its rule"):
        rule("s3_bucket_something_new", BucketFacts, Severity.LOW, **meta)(other)

    def s3_bucket_something_new(facts: object, config: RulesConfig) -> list[str]:
        return []

    with pytest.raises(ValueError, match="reads unknown config keys allowed_colours"):
        rule("s3_bucket_something_new", BucketFacts, Severity.LOW, config_keys=("allowed_colours",), **meta)(
            s3_bucket_something_new
        )
    declared = rule("s3_bucket_something_new", BucketFacts, Severity.LOW, **meta)(s3_bucket_something_new)
    assert declared.rule_id == "s3_bucket_something_new" and declared.check is s3_bucket_something_new


def test_registry_has_every_declared_rule_once() -> None:
    meta = {"title": "t", "risk": "a. b.", "remediation": get_rule("s3_bucket_acls_disabled").remediation}

    def s3_bucket_acls_disabled(facts: object, config: RulesConfig) -> list[str]:
        return []

    twin = types.ModuleType(__name__)  # a module declaring an id the catalogue already has
    twin.s3_bucket_acls_disabled = rule("s3_bucket_acls_disabled", BucketFacts, Severity.LOW, **meta)(
        s3_bucket_acls_disabled
    )
    with pytest.raises(ValueError, match="registered twice"):
        index_rules([*MODULES, twin])
    declared = [v for m in MODULES for v in vars(m).values() if isinstance(v, Rule)]
    assert {r.rule_id for r in declared} == {r.rule_id for r in all_rules()}
    assert len(all_rules()) == len({r.rule_id for r in all_rules()})
    imported_only = types.ModuleType("elsewhere")  # a rule a module merely imports is not its declaration
    imported_only.s3_bucket_acls_disabled = get_rule("s3_bucket_acls_disabled")
    assert index_rules([imported_only]) == {}


def test_rules_for_groups_by_facts_type() -> None:
    assert {r.rule_id for r in rules_for(SqsQueueFacts)} == {
        "sqs_queue_public_access_prohibited",
        "sqs_queue_encrypted_at_rest",
    }
    assert all(r.stack_level for r in rules_for(StackFacts))


def test_evaluate_stack_runs_resource_and_stack_rules_once_each() -> None:
    stack = StackFacts(
        buckets=(
            BucketFacts(name="teaching", canned_acl="public-read", region="us-east-1"),
            BucketFacts(name="ok", versioning="Enabled", tags={"bucketguard:protected": "true"}),
        ),
        resources=(
            ResourceFacts(name="teaching", type="aws:s3/bucket:Bucket", region="us-east-1"),
            ResourceFacts(name="ok", type="aws:s3/bucket:Bucket", region="eu-west-1"),
        ),
    )
    config = RulesConfig(allowed_regions=frozenset({"eu-west-1"}))
    findings = evaluate_stack(stack, config)
    by_rule: dict[str, list[str]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule_id, []).append(finding.resource_name)
    assert by_rule["s3_bucket_public_read_prohibited"] == ["teaching"]
    assert by_rule["aws_resource_region_allowed"] == ["teaching"]  # judged once, from the generic list
    assert sorted(by_rule["s3_bucket_versioning_enabled"]) == ["teaching"]
    assert by_rule["s3_account_public_access_block_enabled"] == [""]  # stack level
    assert "s3_bucket_malware_scanning_enabled" in by_rule and by_rule[
        "s3_bucket_malware_scanning_enabled"
    ] == ["teaching"]
    only = evaluate_stack(stack, config, rule_ids=["s3_bucket_public_read_prohibited"])
    assert [f.rule_id for f in only] == ["s3_bucket_public_read_prohibited"]
    assert only[0].to_dict()["references"]["fsbp"] == ["S3.2"]


def test_rules_config_from_mapping() -> None:
    config = RulesConfig.from_mapping({"allowed_regions": ["eu-west-1"], "require_kms": True})
    assert config == RulesConfig(allowed_regions=frozenset({"eu-west-1"}), require_kms=True)
    assert RulesConfig.from_mapping({"allowedRegions": ["eu-west-1"]}).allowed_regions == {"eu-west-1"}
    with pytest.raises(ValueError, match=r"^rules config: allowed_region: unknown key; did you mean allowed"):
        RulesConfig.from_mapping({"allowed_region": ["eu-west-1"]})


def test_a_rule_sees_only_the_config_keys_it_declares() -> None:
    # The region rule declares allowed_regions; the KMS rule declares require_kms and nothing else.
    bucket = BucketFacts(name="teaching", region="us-east-1")
    config = RulesConfig(allowed_regions=frozenset({"eu-west-1"}), require_kms=True)
    assert get_rule("aws_resource_region_allowed").config_keys == ("allowed_regions",)
    seen: list[RulesConfig] = []
    probe = replace(get_rule("s3_bucket_kms_encryption_enabled"), check=lambda f, c: seen.append(c) or [])
    probe.evaluate(bucket, config)
    assert seen == [RulesConfig(require_kms=True)]


def test_policy_document_is_normalised() -> None:
    statements = parse_policy_document(
        '{"Statement": {"Sid": "S", "Effect": "Allow", "Principal": "*", "Action": "S3:GetObject",'
        ' "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"AWS:SecureTransport": true}}}}'
    )
    (statement,) = statements
    assert statement.principals == (Principal("*", "*"),)
    assert statement.actions == ("s3:getobject",)
    assert statement.resources == ("arn:aws:s3:::b/*",)
    assert statement.conditions == (Condition("Bool", "aws:securetransport", ("true",)),)
    assert statement.sid == "S"
    assert parse_policy_document(None) == ()
    assert parse_policy_document({"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": ["a", "b"]}}]})[
        0
    ].principals == (Principal("AWS", "a"), Principal("AWS", "b"))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({"Statement": [{"Effect": "Maybe"}]}, "Effect must be Allow or Deny"),
        ({"Statement": [{"Effect": "Allow", "Principal": 3}]}, "Principal must be"),
        ({"Statement": "x"}, "Statement must be"),
    ],
)
def test_bad_policy_documents_say_what_is_wrong(document: object, message: str) -> None:
    with pytest.raises(PolicyDocumentError, match=message):
        parse_policy_document(document)  # type: ignore[arg-type]
