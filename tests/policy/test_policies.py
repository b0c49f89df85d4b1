"""What the pack declares to the engine: one policy per rule with its default enforcement level."""

from __future__ import annotations

import pytest
from bucketguard_pack.policies import build_policies
from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy

from bucketguard.rules import all_rules
from bucketguard.validation import ConfigError


def test_defaults_are_mandatory_for_critical_and_high_advisory_for_the_rest() -> None:
    policies = {p.name: p for p in build_policies()}
    for rule in all_rules():
        expected = (
            EnforcementLevel.MANDATORY
            if rule.severity.value in ("critical", "high")
            else EnforcementLevel.ADVISORY
        )
        assert isinstance(policies[rule.rule_id], StackValidationPolicy)
        assert policies[rule.rule_id].enforcement_level == expected, rule.rule_id


def test_remediations_are_off_unless_the_config_asks_for_them() -> None:
    rule_ids = {r.rule_id for r in all_rules()}
    remediations = [p for p in build_policies() if p.name not in rule_ids]
    assert remediations
    assert all(p.enforcement_level == EnforcementLevel.DISABLED for p in remediations)


def test_each_policy_declares_exactly_the_config_its_rule_reads() -> None:
    policies = {p.name: p for p in build_policies()}
    region = policies["aws_resource_region_allowed"].config_schema
    assert region is not None and set(region.properties) == {"allowedRegions", "exemptions"}
    assert region.properties["allowedRegions"]["uniqueItems"] is True
    versioning = policies["s3_bucket_versioning_enabled"].config_schema
    assert versioning is not None and set(versioning.properties) == {"exemptions"}
    assert "$ref" not in str(versioning.properties)  # self-contained, as the engine needs it


def test_the_pack_refuses_an_undeclared_property_the_engine_passes_on() -> None:
    # The engine validates the file against each policy's JSON schema, which allows extra keys: the pack
    # itself must refuse them, or `pulumi preview` silently runs the region rule with no regions.
    policy = next(p for p in build_policies() if p.name == "aws_resource_region_allowed")
    args = StackValidationArgs(resources=[], config={"allowedRegionz": ["eu-west-1"]})
    with pytest.raises(
        ConfigError, match=r"aws_resource_region_allowed\.allowedRegionz: unknown key; did you mean"
    ):
        policy.validate(args, lambda message, urn=None: None)
