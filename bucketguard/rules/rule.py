"""A rule = metadata + one pure check function over facts, declared with ``@rule`` beside its check.

The smallest rule states only what differs::

    @rule(
        "s3_bucket_versioning_enabled", BucketFacts, Severity.MEDIUM,
        title="...", risk="One sentence. Two sentences.", remediation=Remediation(...),
        references=References(fsbp=("S3.14",), ...),
    )
    def s3_bucket_versioning_enabled(bucket: BucketFacts, config: RulesConfig) -> Iterator[Violation | str]:
        if bucket.versioning != "Enabled":
            yield "versioning is not enabled"

A check yields nothing when the facts pass, and one message (or ``Violation``, to name another resource:
stack-level rules) per problem. ``Rule.evaluate`` turns those into ``Finding`` values. The decorator
replaces the function by its ``Rule``; bucketguard.rules.registry collects the rules of the catalogue modules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Generic, TypeVar

from pydantic import Field

from bucketguard.rules.facts import ResourceFacts, StackFacts
from bucketguard.rules.frameworks import frameworks
from bucketguard.severity import Severity
from bucketguard.validation import AccountId, RegionName, StrictModel, validate

__all__ = [
    "Finding",
    "References",
    "Remediation",
    "Rule",
    "RulesConfig",
    "Severity",
    "Undecided",
    "Violation",
    "rule",
]

RULE_ID = re.compile(r"^(s3|lambda|sqs|sns|kms|iam|ec2|cloudtrail|aws)_[a-z0-9]+(_[a-z0-9]+)+$")
REFERENCE_CATALOGUES = ("fsbp", "cis", "conformity", "checkov", "prowler")
CIS_VERSION = "CIS AWS Foundations Benchmark v3.0.0"

F = TypeVar("F", ResourceFacts, StackFacts)


class RulesConfig(StrictModel):
    """What the rules need from the user, keyed as the policy config spells it (allowedRegions...).

    Empty allow-lists switch their rule off (nothing to compare to). A rule sees only the keys it declares
    (`config_keys`): the others read as their defaults.
    """

    allowed_regions: frozenset[RegionName] = Field(
        default=frozenset(), description="Regions resources may be deployed to (empty: no restriction)."
    )
    allowed_account_ids: frozenset[AccountId] = Field(
        default=frozenset(), description="AWS accounts that may be granted access (empty: no restriction)."
    )
    require_kms: bool = Field(
        default=False, description="Default encryption must use a KMS key (SSE-KMS or DSSE-KMS)."
    )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RulesConfig:
        """From a JSON-like mapping (allowedRegions or allowed_regions...); unknown keys refused."""
        return validate(cls, data, "rules config: ")

    def only(self, keys: Iterable[str]) -> RulesConfig:
        """The same config with every key but `keys` at its default."""
        return RulesConfig.model_validate({key: getattr(self, key) for key in keys})


@dataclass(frozen=True)
class References:
    """Ids of the same control in the public catalogues (empty where there is no counterpart)."""

    fsbp: tuple[str, ...] = ()  # AWS Security Hub Foundational Security Best Practices: "S3.2"
    cis: tuple[str, ...] = ()  # CIS AWS Foundations Benchmark v3.0.0 item: "2.1.1"
    conformity: tuple[str, ...] = ()  # Trend Micro Cloud One Conformity: "S3-001"
    checkov: tuple[str, ...] = ()  # "CKV_AWS_20"
    prowler: tuple[str, ...] = ()  # "s3_bucket_public_access"

    def to_dict(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in REFERENCE_CATALOGUES}


@dataclass(frozen=True)
class Remediation:
    """How to fix: ``pulumi`` is a Python snippet for pulumi-aws v7; ``console`` and ``cli`` other ways."""

    summary: str
    pulumi: str
    console: str
    cli: str


@dataclass(frozen=True)
class Violation:
    """A check's report about a resource other than the facts it was given (stack-level rules)."""

    message: str
    resource_type: str
    resource_name: str
    resource_ref: str | None = None


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    title: str
    resource_type: str  # facts kind: "s3_bucket", "stack"...
    resource_name: str
    resource_ref: str | None
    message: str
    references: References

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "title": self.title,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "resource_ref": self.resource_ref,
            "message": self.message,
            "references": self.references.to_dict(),
        }


Check = Callable[[Any, RulesConfig], Iterable["Violation | str"]]


@dataclass(frozen=True)
class Rule(Generic[F]):
    rule_id: str
    facts_type: type[F]  # BucketFacts, SqsQueueFacts... or StackFacts for stack-level rules
    severity: Severity
    title: str
    risk: str  # two sentences: what can happen, and why it matters
    remediation: Remediation
    references: References
    check: Check = field(repr=False, compare=False)
    notes: str = ""  # how absent settings are judged, scope, exemptions
    config_keys: tuple[str, ...] = ()  # the RulesConfig fields the check reads; it sees no others

    @property
    def frameworks(self) -> tuple[str, ...]:
        """The compliance frameworks whose files map this rule (bucketguard/rules/frameworks/*.json, the
        one place a rule's frameworks are written), in the files' order."""
        return tuple(f.name for f in frameworks().values() if self.rule_id in f.rules)

    @property
    def stack_level(self) -> bool:
        return self.facts_type is StackFacts

    @property
    def facts_kind(self) -> str:
        return "stack" if self.facts_type is StackFacts else str(getattr(self.facts_type, "kind", ""))

    def evaluate(self, facts: F, config: RulesConfig | None = None) -> list[Finding]:
        if not isinstance(facts, self.facts_type) or (
            not self.stack_level and getattr(facts, "kind", None) != self.facts_kind
        ):
            raise TypeError(f"rule {self.rule_id} judges {self.facts_kind}, got {type(facts).__name__}")
        findings: list[Violation | str] = []
        try:
            findings.extend(self.check(facts, (config or RulesConfig()).only(self.config_keys)))
        except _UnknownFact as unknown:
            unknown.findings = findings
            raise
        return [_finding(self, facts, item) for item in findings]

    def evaluate_known(
        self, facts: F, config: RulesConfig | None = None
    ) -> tuple[list[Finding], list[Undecided]]:
        """Like `evaluate`, over facts where some values are not known yet. A resource is decided when its
        check finishes without reading an unknown field, or reports a problem before it reads one (the
        problem holds whatever the unknown value turns out to be); otherwise it is undecided."""
        if isinstance(facts, ResourceFacts):
            if not facts.unknown:
                return self.evaluate(facts, config), []
            guarded: Any = _guarded(facts)
            try:
                return self.evaluate(guarded, config), []
            except _UnknownFact as unknown:
                if unknown.findings:
                    return [_finding(self, facts, item) for item in unknown.findings], []
                return [], [Undecided(facts.name, facts.ref, unknown.description)]
        undecided: list[Undecided] = []
        stack: Any = _guarded_stack(facts) if isinstance(facts, StackFacts) else facts
        while True:
            try:
                return self.evaluate(stack, config), undecided
            except _UnknownFact as unknown:
                # Judge the rest of the stack without the resource this rule cannot decide yet.
                undecided.append(Undecided(unknown.facts.name, unknown.facts.ref, unknown.description))
                stack = _without(stack, unknown.facts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.value,
            "resource_type": self.facts_kind,
            "risk": self.risk,
            "remediation": {
                "summary": self.remediation.summary,
                "pulumi": self.remediation.pulumi,
                "console": self.remediation.console,
                "cli": self.remediation.cli,
            },
            "references": self.references.to_dict(),
            "frameworks": list(self.frameworks),
            "notes": self.notes,
        }


def _finding(rule: Rule[Any], facts: Any, item: Violation | str) -> Finding:
    if isinstance(item, Violation):
        rtype, rname, rref, message = item.resource_type, item.resource_name, item.resource_ref, item.message
    elif isinstance(facts, ResourceFacts):
        rtype, rname, rref, message = facts.kind, facts.name, facts.ref, item
    else:
        rtype, rname, rref, message = "stack", "", None, item
    return Finding(rule.rule_id, rule.severity, rule.title, rtype, rname, rref, message, rule.references)


# ------------------------------------------------------------------------------ values not known yet
@dataclass(frozen=True)
class Undecided:
    """A resource a rule cannot judge yet: `missing` says which value is unknown and where it comes from."""

    resource_name: str
    resource_ref: str | None
    missing: str


class _UnknownFact(Exception):
    """A check read a field of `facts` whose value is not known yet."""

    def __init__(self, facts: ResourceFacts, field_name: str) -> None:
        super().__init__(field_name)
        self.facts = facts
        self.description = facts.unknown.get(field_name) or facts.unknown.get("*", field_name)
        self.findings: list[Violation | str] = []


# What names a resource stays readable; its region may be unknown (the region rule then cannot decide).
_IDENTITY = frozenset(f.name for f in fields(ResourceFacts)) - {"region"}
_GUARDED_TYPES: dict[tuple[type[Any], frozenset[str]], type[Any]] = {}


def _unknown_field(name: str) -> property:
    def read(self: ResourceFacts) -> Any:
        raise _UnknownFact(self, name)

    return property(read)


def _guarded(facts: ResourceFacts) -> ResourceFacts:
    """The same facts, but reading an unknown field raises `_UnknownFact` (identity fields stay readable)."""
    names = frozenset(
        {f.name for f in fields(facts) if f.name not in _IDENTITY}
        if "*" in facts.unknown
        else set(facts.unknown) - _IDENTITY
    )
    cls = type(facts)
    key = (cls, names)
    if key not in _GUARDED_TYPES:
        _GUARDED_TYPES[key] = type(cls.__name__, (cls,), {n: _unknown_field(n) for n in names})
    guarded: ResourceFacts = object.__new__(_GUARDED_TYPES[key])
    guarded.__dict__.update(facts.__dict__)
    return guarded


def _stack_groups(stack: StackFacts) -> Iterator[tuple[str, tuple[Any, ...]]]:
    for f in fields(stack):
        value = getattr(stack, f.name)
        if isinstance(value, tuple):
            yield f.name, value


def _guarded_stack(stack: StackFacts) -> StackFacts:
    groups: dict[str, Any] = {
        name: tuple(_guarded(item) if item.unknown else item for item in group)
        for name, group in _stack_groups(stack)
    }
    return replace(stack, **groups)


def _without(stack: StackFacts, facts: ResourceFacts) -> StackFacts:
    groups: dict[str, Any] = {
        name: tuple(item for item in group if item is not facts) for name, group in _stack_groups(stack)
    }
    return replace(stack, **groups)


def rule(
    rule_id: str,
    facts_type: type[Any],
    severity: Severity,
    *,
    title: str,
    risk: str,
    remediation: Remediation,
    references: References = References(),
    notes: str = "",
    config_keys: tuple[str, ...] = (),
) -> Callable[[Check], Rule[Any]]:
    """Declare the decorated check function as a rule: the module name then holds the ``Rule``."""
    if not RULE_ID.match(rule_id):
        raise ValueError(f"rule id {rule_id!r} is not <service>_<resource>_<expected_state>")
    undeclared = set(config_keys) - set(RulesConfig.model_fields)
    if undeclared:
        raise ValueError(f"rule {rule_id!r} reads unknown config keys {', '.join(sorted(undeclared))}")

    def declare(check: Check) -> Rule[Any]:
        # One id everywhere: the check function is named after its rule.
        if getattr(check, "__name__", rule_id) != rule_id:
            raise ValueError(f"check {check.__name__!r} must be named after its rule {rule_id!r}")
        return Rule(
            rule_id=rule_id,
            facts_type=facts_type,
            severity=severity,
            title=title,
            risk=risk,
            remediation=remediation,
            references=references,
            check=check,
            notes=notes,
            config_keys=config_keys,
        )

    return declare
