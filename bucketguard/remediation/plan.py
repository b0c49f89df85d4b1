"""Which findings get fixed: the enabled rules that have fixers, minus what the owner held back (the
``bucketguard:remediate=false`` tag, or an exemption in the policy config)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bucketguard.audit.reader import GLOBAL
from bucketguard.audit.run import AuditFinding
from bucketguard.audit.settings import AuditSettings
from bucketguard.remediation.fixers import FIXERS, OPT_IN_RULES, Fixer, Target
from bucketguard.rules.model import RulesConfig

REMEDIATE_TAG = "bucketguard:remediate"


def default_rules() -> frozenset[str]:
    """What ``audit --fix`` fixes when no rule is named: every fixable rule but the opt-in ones."""
    return frozenset(FIXERS) - OPT_IN_RULES


@dataclass(frozen=True)
class Fix:
    """One failing rule on one resource and the fixers that make it pass."""

    finding: AuditFinding
    fixers: tuple[Fixer, ...]
    config: RulesConfig = field(default_factory=RulesConfig)  # the rule's settings, for the re-check

    @property
    def target(self) -> Target:
        region = None if self.finding.region == GLOBAL else self.finding.region
        return Target(self.finding.account, region, self.finding.arn)

    @property
    def change(self) -> str:
        return "; ".join(f.change for f in self.fixers)


def hold_reason(finding: AuditFinding, settings: AuditSettings) -> str | None:
    """Why the owner does not want ``finding`` fixed, or None."""
    if finding.tags.get(REMEDIATE_TAG, "").strip().lower() == "false":
        return f"tagged {REMEDIATE_TAG}=false"
    rule = settings.rules.get(finding.rule_id)
    for exemption in rule.exemptions if rule else ():
        if exemption.covers((finding.resource_name, finding.arn), finding.tags):
            return f"exempted: {exemption.reason}"
    return None


def plan_fixes(
    findings: Iterable[AuditFinding], rules: Iterable[str], settings: AuditSettings | None = None
) -> list[Fix]:
    """A fix for each finding of an enabled rule (``rules``) that has fixers and is not held back."""
    settings = settings or AuditSettings()
    enabled = frozenset(rules)
    fixes = []
    for finding in findings:
        if finding.rule_id not in enabled or finding.rule_id not in FIXERS:
            continue
        if hold_reason(finding, settings) is None:
            rule = settings.rules.get(finding.rule_id)
            fixes.append(Fix(finding, FIXERS[finding.rule_id], rule.config if rule else RulesConfig()))
    return fixes


def held_back(
    findings: Iterable[AuditFinding], rules: Iterable[str], settings: AuditSettings
) -> Sequence[tuple[AuditFinding, str]]:
    """The findings ``plan_fixes`` leaves out because the owner held them back, with the reason."""
    enabled = frozenset(rules) & frozenset(FIXERS)
    held = ((f, hold_reason(f, settings)) for f in findings if f.rule_id in enabled)
    return [(f, reason) for f, reason in held if reason is not None]
