"""Compliance frameworks as data: one JSON file per framework beside this module, keyed by rule id.

Each file names its framework (``framework`` key, ``name``), how Security Hub spells one of its requirements
(``requirement``: "NIST.800-53.r5 {control}"), where its ids and titles come from (``source``), which part of
the framework it lists (``scope``), the ``controls`` it lists (id -> title) and the ``rules`` mapped to them
(rule id -> control ids). A control no rule maps to is "not covered": reports list it, never as passed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Framework:
    key: str
    name: str
    requirement: str  # format of one requirement in Security Hub's RelatedRequirements
    source: str
    scope: str
    controls: Mapping[str, str]  # control id -> title, in the framework's order
    rules: Mapping[str, tuple[str, ...]]  # rule id -> the controls it tests

    def rules_of(self, control: str) -> tuple[str, ...]:
        return tuple(rule_id for rule_id, controls in self.rules.items() if control in controls)

    def related_requirements(self, rule_id: str) -> list[str]:
        return [self.requirement.format(control=c) for c in self.rules.get(rule_id, ())]


def _load(data: Mapping[str, Any]) -> Framework:
    return Framework(
        key=str(data["framework"]),
        name=str(data["name"]),
        requirement=str(data["requirement"]),
        source=str(data["source"]),
        scope=str(data["scope"]),
        controls={str(k): str(v) for k, v in data["controls"].items()},
        rules={str(k): tuple(str(c) for c in v) for k, v in data["rules"].items()},
    )


@cache
def frameworks() -> dict[str, Framework]:
    """Every framework file, by key (``cis-3.0``, ``fsbp``, ``nist-800-53-r5``, ``pci-dss-4.0``)."""
    found = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            framework = _load(json.loads(entry.read_text(encoding="utf-8")))
            found[framework.key] = framework
    return found


def get_framework(key: str) -> Framework:
    try:
        return frameworks()[key]
    except KeyError:
        raise KeyError(f"no framework {key!r} (known: {', '.join(frameworks())})") from None


def related_requirements(rule_id: str) -> list[str]:
    """Every framework's requirements a rule tests, as Security Hub's ``Compliance.RelatedRequirements``."""
    return [r for framework in frameworks().values() for r in framework.related_requirements(rule_id)]


def frameworks_of(rule_ids: Iterable[str]) -> dict[str, int]:
    """Framework key -> how many of ``rule_ids`` (with repeats) it maps."""
    counts = dict.fromkeys(frameworks(), 0)
    for rule_id in rule_ids:
        for key, framework in frameworks().items():
            counts[key] += rule_id in framework.rules
    return {key: n for key, n in counts.items() if n}


PASSED, FAILED, NOT_EVALUATED, NOT_COVERED = "passed", "failed", "not_evaluated", "not_covered"


@dataclass(frozen=True)
class ControlResult:
    control: str
    title: str
    status: str  # passed | failed | not_evaluated | not_covered
    rules: tuple[str, ...]


def control_results(
    framework: Framework, *, judged: Iterable[str], failed: Iterable[str], blocked: Iterable[str] = ()
) -> list[ControlResult]:
    """Each control's status from the rules mapped to it: failed when one of them failed; passed only when
    every one was judged, none failed and none was blocked (a denied read); not covered when no rule maps
    to it; otherwise not evaluated."""
    judged, failed, blocked = set(judged), set(failed), set(blocked)
    results = []
    for control, title in framework.controls.items():
        rules = framework.rules_of(control)
        if not rules:
            status = NOT_COVERED
        elif failed & set(rules):
            status = FAILED
        elif set(rules) <= judged and not blocked & set(rules):
            status = PASSED
        else:
            status = NOT_EVALUATED
        results.append(ControlResult(control, title, status, rules))
    return results


def framework_section(
    framework: Framework, controls: Iterable[ControlResult], failing: Mapping[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """`--framework` in a report (audit and policy check): each control's status and the resources failing
    it (`failing`: rule id -> those resources), with the counts per status."""
    controls = list(controls)
    return {
        "key": framework.key,
        "name": framework.name,
        "scope": framework.scope,
        "source": framework.source,
        "score": dict(Counter(c.status for c in controls)),
        "controls": [
            {
                "id": c.control,
                "title": c.title,
                "status": c.status,
                "rules": list(c.rules),
                "failing": [f for rule_id in c.rules for f in failing.get(rule_id, ())],
            }
            for c in controls
        ],
    }
