"""One CrossGuard policy per catalogue rule, plus the safe remediations.

Every rule becomes a StackValidationPolicy named after its `rule_id`: S3 settings live in separate resources
(ACL, policy, public access block...), so a bucket can only be judged with all of them joined, which needs
the whole stack. Each policy builds only the facts its rule reads.

Config, per policy (the Pulumi policy config file format, `--policy-pack-config`):
    enforcementLevel   advisory | mandatory | remediate | disabled
                       default: mandatory for critical and high severity rules, advisory for the rest
    exemptions         [{"resource": "<name or URN>" | "tag": {"key": k, "value": v}, "reason": "<why>"}]
                       an exempted resource is not reported; the reason is reported as the policy's
                       not-applicable reason, naming the resource (shown by `bucketguard policy check`)
    allowedRegions     (rules that read it) the regions resources may live in
    allowedAccountIds  (rules that read it) accounts that may be granted access
    requireKms         (rules that read it) default encryption must use KMS
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from bucketguard.policy import EXEMPTION_PREFIX
from bucketguard.policy.pack_config import Exemption, properties_schema, validate_properties
from bucketguard.rules.facts import StackFacts
from bucketguard.rules.model import REFERENCE_CATALOGUES, Finding, Rule, RulesConfig, Undecided, all_rules
from bucketguard_pack import adapters

PACK_NAME = "bucketguard"

_SEVERITY = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
_STACK_GROUPS = frozenset(adapters.BUILDERS)


def default_enforcement(rule: Rule[Any]) -> EnforcementLevel:
    return (
        EnforcementLevel.MANDATORY
        if rule.severity.value in ("critical", "high")
        else EnforcementLevel.ADVISORY
    )


def config_properties(rule: Rule[Any]) -> frozenset[str]:
    """The policy config properties a rule's policy declares: its rule's config keys, and exemptions."""
    fields = RulesConfig.model_fields
    return frozenset({"exemptions", *(fields[key].alias or key for key in rule.config_keys)})


def facts_groups(rule: Rule[Any]) -> frozenset[str]:
    """Which StackFacts groups a rule needs: its facts kind, or for a stack rule the fields it reads."""
    if not rule.stack_level:
        return frozenset({adapters.KIND_TO_GROUP[rule.facts_kind]})
    read = _STACK_GROUPS & set(rule.check.__code__.co_names)
    return frozenset(read) if read else _STACK_GROUPS


def reference_tags(rule: Rule[Any]) -> list[str]:
    """References travel to the engine (and our harness) as policy tags: `fsbp:S3.2`, `conformity:S3-001`."""
    refs = rule.references.to_dict()
    return [f"{catalogue}:{ref}" for catalogue in REFERENCE_CATALOGUES for ref in refs[catalogue]]


# ------------------------------------------------------------------------------------------ exemptions
def _exemption_for(
    finding: Finding | Undecided, tags: Mapping[str, str], exemptions: Iterable[Exemption]
) -> Exemption | None:
    return next(
        (e for e in exemptions if e.covers((finding.resource_name, finding.resource_ref), tags)), None
    )


def _tags_by_ref(facts: StackFacts) -> dict[str, Mapping[str, str]]:
    return {f.ref: f.tags for f in (*facts.typed_resources(), *facts.resources) if f.ref}


def evaluate(
    rule: Rule[Any], facts: StackFacts, config: RulesConfig
) -> tuple[list[Finding], list[Undecided]]:
    """The rule's findings, and the resources it cannot judge until values unknown at preview are known."""
    if rule.stack_level:
        return rule.evaluate_known(facts, config)
    findings: list[Finding] = []
    undecided: list[Undecided] = []
    for item in getattr(facts, adapters.KIND_TO_GROUP[rule.facts_kind]):
        decided, pending = rule.evaluate_known(item, config)
        findings.extend(decided)
        undecided.extend(pending)
    return findings, undecided


class UndecidedAtPreview(UnknownValueError):
    """Raised after the decided violations are reported: the SDK turns it into its advisory "can't run
    policy ... during preview: <message>" diagnostic; the message names each undecided resource and the
    unknown value it needs."""

    def __init__(self, undecided: list[Undecided], exempted: list[str]) -> None:
        super().__init__(UNKNOWN_STRING_VALUE, [])
        self.message = "undecided for " + "; ".join(
            f"{u.resource_name}: needs {u.missing}" for u in undecided
        )
        if any(adapters.TEMPLATE_INPUT_MARK not in u.missing for u in undecided):
            self.message += (
                ". Decided at `pulumi up`; to decide at preview, build the value from inputs known before "
                "creation (a bucket's name rather than its arn or id)"
            )
        if exempted:
            self.message += f" ({EXEMPTION_PREFIX}{'; '.join(exempted)})"


def make_rule_policy(rule: Rule[Any]) -> StackValidationPolicy:
    groups = facts_groups(rule)
    properties = config_properties(rule)

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        # What the engine hands over, against what this policy declares: a typo stops the preview.
        settings = validate_properties(rule.rule_id, properties, args.get_config(), "policy config")
        resources = adapters.from_policy_resources(args.resources)
        facts = adapters.stack_facts(resources, groups)
        findings, undecided = evaluate(
            rule, facts, RulesConfig.model_validate(settings.model_dump(exclude={"exemptions"}))
        )
        exemptions = settings.exemptions
        tags = _tags_by_ref(facts) if exemptions else {}
        exempted: list[str] = []
        for finding in findings:
            exemption = _exemption_for(finding, tags.get(finding.resource_ref or "", {}), exemptions)
            if exemption is not None:
                exempted.append(f"{finding.resource_name} ({exemption.reason})")
                continue
            report_violation(finding.message, finding.resource_ref)
        undecided = [
            u for u in undecided if _exemption_for(u, tags.get(u.resource_ref or "", {}), exemptions) is None
        ]
        if undecided:
            raise UndecidedAtPreview(undecided, exempted)
        if exempted:
            # Reported after the violations, which the SDK has already recorded: the exemption and its
            # reason reach the engine as this policy's not-applicable reason.
            args.not_applicable(EXEMPTION_PREFIX + "; ".join(exempted))

    framework = PolicyComplianceFramework(name=rule.frameworks[0]) if rule.frameworks else None
    return StackValidationPolicy(
        name=rule.rule_id,
        description=rule.title,
        validate=validate,
        enforcement_level=default_enforcement(rule),
        config_schema=PolicyConfigSchema(properties=properties_schema(properties)),
        severity=_SEVERITY[rule.severity.value],
        framework=framework,
        tags=[*rule.frameworks, *reference_tags(rule)],
        remediation_steps=f"{rule.remediation.summary}\n\n{rule.remediation.pulumi}",
    )


# ---------------------------------------------------------------------------------------- remediations
PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
OWNERSHIP_TYPES = adapters.BUCKET_OWNERSHIP_TYPES
PAB_TYPES = adapters.BUCKET_PAB_TYPES | adapters.ACCOUNT_PAB_TYPES
PAB_FLAGS = adapters.PAB_FLAGS


def _remediate_private_acl(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    if args.resource_type not in adapters.BUCKET_ACL_TYPES | adapters.BUCKET_TYPES:
        return None
    if args.props.get("acl") not in PUBLIC_CANNED_ACLS:
        return None
    # Edit the SDK's proxy in place and return it: values unknown at preview (the bucket name) flow
    # through untouched instead of being read.
    props: Any = args.props
    props["acl"] = "private"
    return props  # type: ignore[no-any-return]


def _remediate_public_access_block(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    if args.resource_type not in PAB_TYPES:
        return None
    if all(args.props.get(flag) is True for flag in PAB_FLAGS):
        return None
    props: Any = args.props
    for flag in PAB_FLAGS:
        props[flag] = True
    return props  # type: ignore[no-any-return]


def _remediate_ownership_enforced(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    if args.resource_type not in OWNERSHIP_TYPES:
        return None
    props: Any = args.props
    rule = props.get("rule")
    if rule is not None and rule.get("objectOwnership") == "BucketOwnerEnforced":
        return None
    if rule is None:
        props["rule"] = {"objectOwnership": "BucketOwnerEnforced"}
    else:
        rule["objectOwnership"] = "BucketOwnerEnforced"
    return props  # type: ignore[no-any-return]


REMEDIATIONS = (
    (
        "s3_remediate_canned_acl_private",
        "Rewrite public canned ACLs (public-read, public-read-write, authenticated-read) to private",
        _remediate_private_acl,
    ),
    (
        "s3_remediate_public_access_block_all_on",
        "Turn on all four Block Public Access flags of bucket and account public-access-block resources",
        _remediate_public_access_block,
    ),
    (
        "s3_remediate_ownership_bucket_owner_enforced",
        "Set bucket ownership controls to BucketOwnerEnforced (ACLs disabled)",
        _remediate_ownership_enforced,
    ),
)


def remediation_policies() -> list[ResourceValidationPolicy]:
    """Remediate-only policies: they act only at the `remediate` enforcement level and are disabled by
    default, so a preview never rewrites a program's resources unless the policy config asks for it."""
    return [
        ResourceValidationPolicy(
            name=name, description=description, remediate=fix, enforcement_level=EnforcementLevel.DISABLED
        )
        for name, description, fix in REMEDIATIONS
    ]


def build_policies() -> list[Any]:
    return [*(make_rule_policy(rule) for rule in all_rules()), *remediation_policies()]
