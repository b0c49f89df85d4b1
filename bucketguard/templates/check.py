"""`policy check --cloudformation` / `--terraform-plan`: templates and plans recorded as a stack, analyzed by
the policy pack like a Pulumi program, reported in the same document with each resource's file and line."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from bucketguard.policy.check import DEFAULT_PACK_DIR, CheckResult, check_recorded
from bucketguard.policy.pack_config import PolicyConfig, load_policy_config
from bucketguard.templates.cloudformation import Suppression, display_path, record_templates
from bucketguard.templates.terraform import record_plans


def with_suppressions(
    given: Mapping[str, PolicyConfig], suppressions: list[Suppression]
) -> dict[str, PolicyConfig]:
    """The policy config, plus each template suppression as an exemption of its rule (reason kept)."""
    result = {name: replace(config, properties=dict(config.properties)) for name, config in given.items()}
    for skip in suppressions:
        config = result.setdefault(skip.rule_id, PolicyConfig(source=skip.where))
        exemptions = list(config.properties.get("exemptions", ()))
        exemptions.extend({"resource": urn, "reason": skip.reason} for urn in skip.resource_urns)
        config.properties["exemptions"] = exemptions
    return result


def run_template_check(
    paths: list[Path],
    *,
    parameters: Mapping[str, str] | None = None,
    account_id: str | None = None,
    region: str | None = None,
    policy_config_file: Path | None = None,
    pack_dir: Path = DEFAULT_PACK_DIR,
    terraform: bool = False,
) -> CheckResult:
    """CloudFormation templates, or Terraform plans (`terraform show -json`) when `terraform`."""
    started = time.perf_counter()
    stack = (
        record_plans(paths)
        if terraform
        else record_templates(paths, parameters=parameters, account_id=account_id, region=region)
    )
    policy_config = load_policy_config(policy_config_file) if policy_config_file else {}
    return check_recorded(
        stack.recorded,
        program=Path.cwd(),
        pack_dir=pack_dir,
        policy_config=with_suppressions(policy_config, stack.suppressions),
        recording_seconds=time.perf_counter() - started,
        resource_types=stack.template_types,
        default_source=display_path(paths[0]),
        not_evaluated=stack.not_evaluated,
    )
