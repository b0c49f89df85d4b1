"""The compliance framework files: every mapped rule exists, every mapped control is listed with a title,
control ids have their framework's shape, and FSBP/CIS agree with the rules' own references."""

from __future__ import annotations

import re

import pytest

from bucketguard.rules.frameworks import (
    FAILED,
    NOT_COVERED,
    NOT_EVALUATED,
    PASSED,
    Framework,
    control_results,
    frameworks,
    get_framework,
    related_requirements,
)
from bucketguard.rules.model import all_rules

CONTROL_ID = {
    "cis-3.0": r"\d+\.\d+(\.\d+)?",
    "fsbp": r"[A-Z][A-Za-z0-9]*\.\d+",
    "nist-800-53-r5": r"(AC|AT|AU|CA|CM|CP|IA|IR|MA|MP|PE|PL|PM|PS|PT|RA|SA|SC|SI|SR)-\d+(\(\d+\))?",
    "pci-dss-4.0": r"([1-9]|1[0-2])(\.\d+){2,3}",
}


def test_the_four_frameworks_are_there() -> None:
    assert set(frameworks()) == set(CONTROL_ID)


@pytest.mark.parametrize("key", sorted(CONTROL_ID))
def test_mapped_rules_exist_and_controls_look_right(key: str) -> None:
    framework = get_framework(key)
    rule_ids = {r.rule_id for r in all_rules()}
    assert set(framework.rules) <= rule_ids, set(framework.rules) - rule_ids
    for control, title in framework.controls.items():
        assert re.fullmatch(CONTROL_ID[key], control), control
        assert title.strip() and len(title) < 200, control
    for rule_id, controls in framework.rules.items():
        assert controls, rule_id
        assert set(controls) <= set(framework.controls), (rule_id, set(controls) - set(framework.controls))
    assert framework.source and framework.scope and "{control}" in framework.requirement


@pytest.mark.parametrize(("key", "reference"), [("fsbp", "fsbp"), ("cis-3.0", "cis")])
def test_the_files_agree_with_the_rules_references(key: str, reference: str) -> None:
    framework = get_framework(key)
    for rule in all_rules():
        assert framework.rules.get(rule.rule_id, ()) == getattr(rule.references, reference), rule.rule_id


def test_a_rules_frameworks_are_the_files_that_map_it() -> None:
    # The files are the one source: a rule mapped in pci-dss-4.0.json lists PCI DSS, and only then.
    rules = {r.rule_id: r for r in all_rules()}
    for key, framework in frameworks().items():
        for rule_id, rule in rules.items():
            assert (framework.name in rule.frameworks) == (rule_id in framework.rules), (key, rule_id)
    assert rules["s3_bucket_malware_scanning_enabled"].frameworks == (
        "NIST SP 800-53 Revision 5",
        "PCI DSS v4.0",
    )
    assert rules["s3_bucket_malware_scanning_enabled"].to_dict()["frameworks"] == [
        "NIST SP 800-53 Revision 5",
        "PCI DSS v4.0",
    ]


def test_every_rule_maps_to_some_framework() -> None:
    unmapped = [r.rule_id for r in all_rules() if not related_requirements(r.rule_id)]
    assert unmapped == []


def test_security_hub_spelling_of_requirements() -> None:
    assert related_requirements("s3_bucket_secure_transport_required") == [
        "CIS AWS Foundations Benchmark v3.0.0/2.1.1",
        "AWS Foundational Security Best Practices v1.0.0/S3.5",
        "NIST.800-53.r5 SC-8",
        "NIST.800-53.r5 SC-8(1)",
        "NIST.800-53.r5 SC-13",
        "PCI DSS v4.0/4.2.1",
    ]


def test_a_control_passes_only_when_every_rule_it_needs_was_judged() -> None:
    framework = Framework(
        key="test",
        name="test",
        requirement="{control}",
        source="here",
        scope="all",
        controls={"1": "two rules", "2": "one rule", "3": "no rule", "4": "blocked"},
        rules={"a": ("1",), "b": ("1", "2"), "c": ("4",)},
    )

    def statuses(**kwargs: set[str]) -> list[str]:
        return [c.status for c in control_results(framework, **kwargs)]

    assert statuses(judged={"a", "b", "c"}, failed=set()) == [PASSED, PASSED, NOT_COVERED, PASSED]
    assert statuses(judged={"a", "b", "c"}, failed={"a"}) == [FAILED, PASSED, NOT_COVERED, PASSED]
    assert statuses(judged={"b"}, failed=set()) == [NOT_EVALUATED, PASSED, NOT_COVERED, NOT_EVALUATED]
    assert statuses(judged={"a", "b", "c"}, failed=set(), blocked={"c"})[3] == NOT_EVALUATED
