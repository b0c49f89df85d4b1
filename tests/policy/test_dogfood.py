"""Dogfood: every stack of the platform itself passes every mandatory rule of its own pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from bucketguard.policy.check import run_check
from tests.policy.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE_STACKS = REPO / "examples" / "stacks"
PLATFORM_STACKS = sorted(p.name.split(".")[1] for p in EXAMPLE_STACKS.glob("Pulumi.*.yaml"))
EXAMPLES = sorted(
    p.parent for p in (REPO / "examples").glob("*/Pulumi.yaml") if p.parent.name != "insecure-camp"
)


def test_the_platform_has_stacks_to_check() -> None:
    assert {"dev", "multiaccount"} <= set(PLATFORM_STACKS)


def test_no_stack_config_next_to_the_program() -> None:
    # `pulumi stack init dev` would adopt a Pulumi.dev.yaml shipped at the root, examples and all.
    assert sorted(p.name for p in REPO.glob("Pulumi.*.yaml")) == []


@pytest.mark.parametrize("stack", PLATFORM_STACKS)
def test_platform_stack_passes_every_mandatory_rule(stack: str) -> None:
    result = run_check(REPO, config_file=EXAMPLE_STACKS / f"Pulumi.{stack}.yaml")
    assert result.resources > 0
    assert [(v.rule_id, v.resource_name, v.message) for v in result.mandatory] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_stack_passes_every_mandatory_rule(example: Path) -> None:
    config = example / "policy-config.json"
    result = run_check(example, policy_config_file=config if config.is_file() else None)
    assert [(v.rule_id, v.resource_name, v.message) for v in result.mandatory] == []
