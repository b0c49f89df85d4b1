"""The registry: every rule the catalogue modules (bucketguard.rules.catalogue.MODULES) declare, by id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from bucketguard.rules.catalogue import MODULES
from bucketguard.rules.facts import StackFacts
from bucketguard.rules.rule import Finding, Rule, RulesConfig

__all__ = ["all_rules", "evaluate_stack", "get_rule", "index_rules", "iter_rules_by_service", "rules_for"]


def index_rules(modules: Iterable[ModuleType]) -> dict[str, Rule[Any]]:
    """The rules declared in `modules` (not those they import), by id; an id declared twice is an error."""
    found: dict[str, Rule[Any]] = {}
    for module in modules:
        for value in vars(module).values():
            if not isinstance(value, Rule) or value.check.__module__ != module.__name__:
                continue
            if value.rule_id in found and found[value.rule_id] is not value:
                raise ValueError(f"rule id {value.rule_id!r} is registered twice")
            found[value.rule_id] = value
    return dict(sorted(found.items()))


_REGISTRY = index_rules(MODULES)
_ALL = tuple(_REGISTRY.values())


def all_rules() -> tuple[Rule[Any], ...]:
    """Every rule, sorted by rule_id."""
    return _ALL


def get_rule(rule_id: str) -> Rule[Any]:
    try:
        return _REGISTRY[rule_id]
    except KeyError:
        raise KeyError(f"no rule {rule_id!r}") from None


def rules_for(facts_type: type[Any]) -> tuple[Rule[Any], ...]:
    """The rules that judge one facts type (``StackFacts`` for the stack-level rules)."""
    return tuple(r for r in _ALL if r.facts_type is facts_type)


def evaluate_stack(
    stack: StackFacts, config: RulesConfig | None = None, *, rule_ids: Iterable[str] | None = None
) -> list[Finding]:
    """Run every rule (or only ``rule_ids``): resource rules on each resource, stack rules once."""
    wanted = None if rule_ids is None else set(rule_ids)
    by_kind: dict[str, list[Rule[Any]]] = {}
    stack_rules = []
    for candidate in _ALL:
        if wanted is not None and candidate.rule_id not in wanted:
            continue
        if candidate.stack_level:
            stack_rules.append(candidate)
        else:
            by_kind.setdefault(candidate.facts_kind, []).append(candidate)
    findings: list[Finding] = []
    for resource in (*stack.typed_resources(), *stack.resources):
        for resource_rule in by_kind.get(resource.kind, ()):
            findings.extend(resource_rule.evaluate(resource, config))
    for stack_rule in stack_rules:
        findings.extend(stack_rule.evaluate(stack, config))
    return findings


def iter_rules_by_service() -> Iterator[tuple[str, list[Rule[Any]]]]:
    groups: dict[str, list[Rule[Any]]] = {}
    for each in _ALL:
        groups.setdefault(each.rule_id.split("_", 1)[0], []).append(each)
    yield from groups.items()
