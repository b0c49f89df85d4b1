"""Audit accounts: collect every (account, region) concurrently with a bounded pool, join each account's
collections into one ``StackFacts``, evaluate the catalogue, and turn what it finds into audit findings.

S3 and IAM are global: they are collected once per account. A call IAM denied blocks the rules it feeds:
those rules are not judged on that resource (or, for a denied list call, on the whole account), and one
``audit_access_denied`` finding says so instead: never a silent pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import boto3

from bucketguard.audit import cloudtrail, ec2, iam, kms, lambda_, messaging, s3
from bucketguard.audit.clients import DEFAULT_REGION, ClientFactory
from bucketguard.audit.reader import GLOBAL, Call, Collection, Denial, Reader
from bucketguard.rules.facts import StackFacts
from bucketguard.rules.model import (
    References,
    RulesConfig,
    Severity,
    all_rules,
    evaluate_stack,
    get_rule,
)

ACCESS_DENIED_RULE = "audit_access_denied"
GLOBAL_COLLECTORS: Mapping[str, Callable[[Reader], None]] = {"s3": s3.collect_s3, "iam": iam.collect_iam}
REGIONAL_COLLECTORS: Mapping[str, Callable[[Reader], None]] = {
    "ec2": ec2.collect_ec2,
    "lambda": lambda_.collect_lambda,
    "sqs": messaging.collect_sqs,
    "sns": messaging.collect_sns,
    "kms": kms.collect_kms,
    "cloudtrail": cloudtrail.collect_cloudtrail,
}
SERVICES = (*GLOBAL_COLLECTORS, *REGIONAL_COLLECTORS)
# What each collector calls (API name -> operations), for the audit role's policy.
SERVICE_CALLS: Mapping[str, tuple[Call, ...]] = {
    "s3": s3.CALLS,
    "iam": iam.CALLS,
    "ec2": (*ec2.CALLS, Call("describe_regions", ())),  # the account's enabled regions
    "lambda": lambda_.CALLS,
    "sqs": messaging.SQS_CALLS,
    "sns": messaging.SNS_CALLS,
    "kms": kms.CALLS,
    "cloudtrail": cloudtrail.CALLS,
}
SEVERITY_ORDER = ("low", "medium", "high", "critical")


@dataclass
class Account:
    """One audited account: its client factory and the regions to audit."""

    account_id: str
    clients: ClientFactory
    regions: tuple[str, ...]


@dataclass(frozen=True)
class AuditFinding:
    rule_id: str
    severity: str
    title: str
    resource_type: str
    resource_name: str
    message: str
    references: Mapping[str, list[str]]
    account: str
    region: str
    arn: str
    finding_id: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return "audit" if self.rule_id == ACCESS_DENIED_RULE else self.rule_id.split("_", 1)[0]


@dataclass
class AccountResult:
    account_id: str
    facts: StackFacts
    findings: list[AuditFinding]
    denials: list[Denial]
    notes: list[str]
    judged: tuple[str, ...] = ()  # the rules evaluated (those of the collected services)


def finding_id(rule_id: str, account: str, region: str, arn: str) -> str:
    """Stable across runs: the same rule failing on the same resource has the same id."""
    return hashlib.sha256("\x1f".join((rule_id, account, region, arn)).encode()).hexdigest()


def account_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


# ------------------------------------------------------------------------------------------ collection
def collect_unit(
    account: Account, region: str, services: Iterable[str], *, page_size: int | None = None
) -> Collection:
    """One unit of work: the global services of an account (``region`` = GLOBAL) or one region's."""
    home = account.regions[0] if account.regions else DEFAULT_REGION
    collection = Collection(account.account_id, region)
    reader = Reader(
        account.clients,
        collection,
        region=home if region == GLOBAL else region,
        audited_regions=account.regions,
        page_size=page_size,
    )
    collectors = GLOBAL_COLLECTORS if region == GLOBAL else REGIONAL_COLLECTORS
    for service in services:
        if service in collectors:
            collectors[service](reader)
    return collection


def listener_digest(queue_arn: str) -> str:
    """How a deployment names the listener queues it made to its audit and monitor functions: 16 hex digits
    of the ARN's SHA-256, so fifty storages' fit in the 4 KB of a Lambda's environment (forging one means
    finding a queue ARN among 2^64)."""
    return hashlib.sha256(queue_arn.encode()).hexdigest()[:16]


def join(collections: Sequence[Collection], listeners: frozenset[str] = frozenset()) -> StackFacts:
    """One account's collections -> its StackFacts, with the joins that cross services and regions:
    which buckets receive logs, which notification targets are bucketguard listeners (``listeners``: the
    `listener_digest` of each listener queue the deployment made; a tag in the account says nothing, anyone
    who may tag a queue writes it), and each function's execution-role grants."""
    groups: dict[str, list[Any]] = {}
    log_targets: set[str] = set()
    role_grants: dict[str, Any] = {}
    account_pab = None
    for collection in collections:
        for group, facts in collection.facts.items():
            # Items are collected concurrently: sort for a stable order.
            groups.setdefault(group, []).extend(sorted(facts, key=lambda f: (f.ref or "", f.name)))
        log_targets |= collection.log_targets
        role_grants.update(collection.role_grants)
        account_pab = account_pab or collection.account_public_access_block
    groups["buckets"] = [
        replace(
            b,
            receives_access_logs=b.bucket_name in log_targets,
            notifications=tuple(
                replace(n, is_bucketguard_listener=listener_digest(n.target) in listeners)
                for n in b.notifications
            ),
        )
        for b in groups.get("buckets", ())
    ]
    no_grants: tuple[tuple[Any, ...], tuple[str, ...]] = ((), ())
    groups["lambda_functions"] = [
        replace(f, role_statements=statements, role_managed_policy_arns=arns)
        for f in groups.get("lambda_functions", ())
        for statements, arns in [role_grants.get(f.role or "", no_grants)]
    ]
    return StackFacts(
        **{group: tuple(facts) for group, facts in groups.items()}, account_public_access_block=account_pab
    )


# ------------------------------------------------------------------------------------------ evaluation
def _denial_finding(denial: Denial) -> AuditFinding:
    rules = ", ".join(denial.rule_ids)
    severities = [get_rule(r).severity.value for r in denial.rule_ids]
    arn = denial.arn or account_arn(denial.account)
    return AuditFinding(
        rule_id=ACCESS_DENIED_RULE,
        severity=max(severities, key=SEVERITY_ORDER.index) if severities else Severity.MEDIUM.value,
        title="The audit could not read a resource's configuration",
        resource_type="audit",
        resource_name=denial.resource_name,
        message=f"could not evaluate {rules} on {denial.resource_name}: AccessDenied on {denial.action}",
        references=References().to_dict(),
        account=denial.account,
        region=denial.region,
        arn=arn,
        finding_id=finding_id(ACCESS_DENIED_RULE, denial.account, denial.region, f"{arn}|{denial.action}"),
    )


def evaluate_account(
    account_id: str,
    stack: StackFacts,
    denials: Sequence[Denial],
    rule_configs: Mapping[str, RulesConfig] | None = None,
) -> list[AuditFinding]:
    """Judge one account's facts with ``rule_configs`` (rule id -> its settings; None: every rule with the
    defaults). Rules sharing settings are evaluated together."""
    if rule_configs is None:
        rule_configs = {r.rule_id: RulesConfig() for r in all_rules()}
    by_config: dict[RulesConfig, list[str]] = {}
    for rule_id, config in rule_configs.items():
        by_config.setdefault(config, []).append(rule_id)
    raw = [f for config, ids in by_config.items() for f in evaluate_stack(stack, config, rule_ids=ids)]
    by_ref = {f.ref: f for f in (*stack.typed_resources(), *stack.resources) if f.ref}
    merged: dict[str, AuditFinding] = {}
    for finding in raw:
        facts = by_ref.get(finding.resource_ref or "")
        region = (facts.region if facts else None) or GLOBAL
        if any(d.blocks(finding.rule_id, finding.resource_ref, region) for d in denials):
            continue
        arn = finding.resource_ref or account_arn(account_id)
        fid = finding_id(finding.rule_id, account_id, region, arn)
        if fid in merged:  # one finding per rule and resource: several problems join its message
            merged[fid] = replace(merged[fid], message=f"{merged[fid].message}; {finding.message}")
            continue
        merged[fid] = AuditFinding(
            rule_id=finding.rule_id,
            severity=finding.severity.value,
            title=finding.title,
            resource_type=finding.resource_type,
            resource_name=finding.resource_name or f"account {account_id}",
            message=finding.message,
            references=finding.references.to_dict(),
            account=account_id,
            region=region,
            arn=arn,
            finding_id=fid,
            tags=dict(facts.tags) if facts else {},
        )
    for denial in denials:
        if set(rule_configs) & set(denial.rule_ids):
            denied = _denial_finding(denial)
            merged.setdefault(denied.finding_id, denied)
    return sorted(merged.values(), key=lambda f: (f.account, f.region, f.rule_id, f.arn))


# -------------------------------------------------------------------------------------------- accounts
def account_of(session: boto3.Session, endpoint_url: str | None = None, **client_options: Any) -> Account:
    """The account a session's credentials belong to (STS GetCallerIdentity), with no regions yet."""
    clients = ClientFactory(session, endpoint_url=endpoint_url, **client_options)
    identity = clients.client("sts").get_caller_identity()
    return Account(str(identity["Account"]), clients, ())


def assume_role(session: boto3.Session, role_arn: str, endpoint_url: str | None = None) -> boto3.Session:
    """A session with the credentials of ``role_arn`` (as the Pulumi program assumes its deployer roles)."""
    sts = ClientFactory(session, endpoint_url=endpoint_url).client("sts")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="bucketguard-audit")["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
    )


def required_actions() -> list[str]:
    """Every IAM action the audit calls: the whole policy of a least-privilege audit role (no ``*``)."""
    return iam_actions(SERVICE_CALLS)


def iam_actions(calls_by_service: Mapping[str, Iterable[Call]]) -> list[str]:
    """The IAM actions of boto3 calls (service -> calls): the action a call names, else the API's."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    actions: set[str] = set()
    for service, calls in calls_by_service.items():
        model = session.get_service_model(service)
        operations = {xform_name(name): name for name in model.operation_names}
        actions.update(call.action or f"{model.signing_name}:{operations[call.operation]}" for call in calls)
    return sorted(actions)


def enabled_regions(account: Account) -> tuple[str, ...]:
    ec2 = account.clients.client("ec2")
    return tuple(sorted(str(r["RegionName"]) for r in ec2.describe_regions()["Regions"]))


def audit_accounts(
    accounts: Sequence[Account],
    *,
    services: Iterable[str] = SERVICES,
    rule_configs: Mapping[str, RulesConfig] | None = None,
    workers: int = 8,
    page_size: int | None = None,
    progress: Callable[[str, str], None] | None = None,
    listeners: frozenset[str] = frozenset(),
) -> list[AccountResult]:
    """Collect every (account, region) unit on a pool of ``workers`` threads, then evaluate per account
    with ``rule_configs`` (rule id -> settings; None: every rule, defaults). ``progress(account, region)``
    is called as each unit finishes; ``listeners``: the deployment's listener queues (`join`)."""
    wanted = tuple(services)
    unknown = set(wanted) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(sorted(unknown))} (known: {', '.join(SERVICES)})")
    configs = rule_configs if rule_configs is not None else {r.rule_id: RulesConfig() for r in all_rules()}
    # Only the rules of collected services: an uncollected service must not read as "nothing there".
    judged = {r: c for r, c in configs.items() if r.split("_", 1)[0] in (*wanted, "aws")}
    if "lambda" in wanted and "iam" not in wanted:
        wanted = (*wanted, "iam")  # execution roles' grants come from IAM
    units = [(a, GLOBAL) for a in accounts] + [(a, r) for a in accounts for r in a.regions]

    def run(unit: tuple[Account, str]) -> Collection:
        collection = collect_unit(unit[0], unit[1], wanted, page_size=page_size)
        if progress is not None:
            progress(unit[0].account_id, unit[1])
        return collection

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        collections = list(pool.map(run, units))
    results = []
    for account in accounts:
        own = [c for c in collections if c.account == account.account_id]
        stack = join(own, listeners)
        denials = [d for c in own for d in c.denials]
        results.append(
            AccountResult(
                account.account_id,
                stack,
                evaluate_account(account.account_id, stack, denials, judged),
                denials,
                [n for c in own for n in c.notes],
                tuple(judged),
            )
        )
    return results
