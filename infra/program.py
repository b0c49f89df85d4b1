"""Composes the components from the validated config: providers, the scanners (or a StackReference),
storages, and the admission of each storage by its scanner (infra.fleet assigns them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.admission import ScannerAdmission, ScannerAdmissionArgs
from infra.artifacts import LambdaArtifact, ensure_artifact
from infra.audit_stack import AuditStack, AuditStackArgs
from infra.config import (
    MAX_STORAGES_PER_SCANNER,
    BucketguardConfig,
    ConfigError,
    ScannerConfig,
    StorageConfig,
    parse_config,
)
from infra.existing_bucket import BucketState, check_storages, read_bucket
from infra.fleet import Placement
from infra.monitor_stack import (
    MonitorForwarder,
    MonitorForwarderArgs,
    MonitorMemberRole,
    MonitorStack,
    MonitorStackArgs,
    bus_arn,
)
from infra.providers import Providers
from infra.scanner_stack import ScannerStack, ScannerStackArgs
from infra.storage_stack import ScannerEndpoint, StorageStack, StorageStackArgs

# What a scanner stack exports and a storage-only stack reads through its StackReference (a contract
# between stacks of different versions: add names, never rename).
SCANNER_OUTPUTS = ("scannerQueueArn", "scannerQueueUrl", "scannerRoleArn", "scannerKeyArn")
# What a storage stack exports and the scanner stack reads to admit it.
STORAGE_OUTPUTS = ("listenerRoleArns", "resultTopicArns", "resultKeyArns")


def _namespace_keys(namespace: str) -> list[str]:
    """Every key of `namespace` in the stack config, known or not: a typo must reach the schema."""
    keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    return sorted(k.split(":", 1)[1] for k in keys if k.startswith(f"{namespace}:"))


def read_config() -> BucketguardConfig:
    """The `bucketguard:` keys of the stack, validated; a ConfigError names the key and the entry."""
    settings = pulumi.Config("bucketguard")
    raw: dict[str, Any] = {}
    for key in _namespace_keys("bucketguard"):
        text = settings.get(key)
        if text is None:
            continue
        try:
            # Top-level values arrive as strings: YAML structures JSON-encoded, plain strings as they are.
            raw[key] = json.loads(text)
        except json.JSONDecodeError:
            raw[key] = text
    return parse_config(raw)


def storage_deployer_role(storage: StorageConfig, scanners: Sequence[ScannerConfig]) -> str | None:
    # A storage in a scanner's own account (accountId given, no roleArn) deploys through that scanner's role.
    if storage.role_arn is None and storage.account is not None:
        return next((s.role_arn for s in scanners if s.account == storage.account), None)
    return storage.role_arn


def _flatten(groups: Sequence[Sequence[str]]) -> list[str]:
    return [item for group in groups for item in group]


def _resource_name(scanner: ScannerConfig, role: str) -> str:
    # The single `scanner` keeps its names (nothing replaced on upgrade); a fleet member adds its own.
    return role if scanner.name is None else f"{role}-{scanner.name}"


def _report_assignment(config: BucketguardConfig, placements: Sequence[Placement]) -> dict[str, str]:
    """Printed at preview (one line per scanner) and exported: which scanner admits each storage, and why."""
    for index, scanner in enumerate(config.fleet):
        admitted = [
            f"{storage.name} ({placement.why})"
            for storage, placement in zip(config.storages, placements, strict=True)
            if placement.scanner == index
        ]
        pulumi.log.info(
            f"bucketguard: scanner {scanner.label!r} ({scanner.region}) admits {len(admitted)} of "
            f"{MAX_STORAGES_PER_SCANNER} storages: {', '.join(admitted) or 'none'}"
        )
    return {s.name: config.fleet[p.scanner].label for s, p in zip(config.storages, placements, strict=True)}


def deploy(config: BucketguardConfig) -> None:
    project, stack = pulumi.get_project(), pulumi.get_stack()
    tags = {"bucketguard-stack": f"{project}/{stack}", **config.tags}
    providers = Providers(tags)
    architecture = config.lambda_architecture
    artifact: LambdaArtifact = ensure_artifact(architecture, config.artifact_dir)

    def bucket_state(storage: StorageConfig) -> BucketState:
        # Read through the storage's own provider: the bucket lives in its account and region.
        role = storage_deployer_role(storage, config.fleet)
        opts = pulumi.InvokeOptions(provider=providers.get(storage.region, role, storage.account))
        return read_bucket(
            storage.bucket,
            lambda name: aws.s3.get_bucket(bucket=name, opts=opts),
            lambda name: aws.s3.get_bucket_policy(bucket=name, opts=opts).policy,
        )

    # Before anything is registered: what the storages would overwrite.
    check_storages(config.storages, bucket_state)
    accounts: dict[int, pulumi.Output[str]] = {}

    def account_of(provider: aws.Provider) -> pulumi.Output[str]:
        if id(provider) not in accounts:
            identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))
            accounts[id(provider)] = identity.account_id
        return accounts[id(provider)]

    # The first provider of each account (None: the deployer's own), for account-wide settings.
    account_providers: dict[str | None, aws.Provider] = {}
    scanners: list[tuple[ScannerStack, aws.Provider]] = []
    endpoints: list[ScannerEndpoint] = []
    fleet_outputs: dict[str, dict[str, Any]] = {}
    for scanner_config in config.fleet:
        scanner_provider = providers.get(
            scanner_config.region, scanner_config.role_arn, scanner_config.account
        )
        account_providers.setdefault(scanner_config.account, scanner_provider)
        scanner = ScannerStack(
            _resource_name(scanner_config, "scanner"),
            ScannerStackArgs(
                config=scanner_config,
                account_id=account_of(scanner_provider),
                code=artifact.code,
                ruleset_path=artifact.ruleset_path,
                scanner_id="/".join(filter(None, (project, stack, scanner_config.name))),
                tags={**tags, "bucketguard-scanner": scanner_config.label},
            ),
            opts=pulumi.ResourceOptions(provider=scanner_provider),
        )
        scanners.append((scanner, scanner_provider))
        endpoints.append(
            ScannerEndpoint(
                queue_arn=scanner.queue.queue.arn,
                queue_url=scanner.queue.queue.url,
                role_arn=scanner.scanner.role.arn,
                key_arn=scanner.key.arn,
                ruleset_topic_arn=scanner.ruleset_topic.arn if scanner.ruleset_topic else None,
                rescan_on_update=scanner_config.rescan_on_update,
                ruleset_reload_seconds=scanner_config.rule_check_seconds + scanner_config.timeout_seconds,
            )
        )
        fleet_outputs[scanner_config.label] = {
            "scannerQueueArn": scanner.queue.queue.arn,
            "scannerQueueUrl": scanner.queue.queue.url,
            "scannerRoleArn": scanner.scanner.role.arn,
            "scannerKeyArn": scanner.key.arn,
            "rulesBucket": scanner.rules.bucket.id,
            # `rules publish --announce` names it
            **({"rulesetTopicArn": scanner.ruleset_topic.arn} if scanner.ruleset_topic is not None else {}),
            "scannerAccountId": account_of(scanner_provider),
            "scannerRegion": scanner_config.region,
            "scannerAlertTopicArn": scanner.alert_topic.arn,
        }
    if len(fleet_outputs) == 1:
        # One scanner: its outputs at the top level, what storage-only stacks read (SCANNER_OUTPUTS).
        for key, value in next(iter(fleet_outputs.values())).items():
            pulumi.export(key, value)
    elif fleet_outputs:
        pulumi.export("scanners", fleet_outputs)
    if not config.fleet:
        assert config.scanner_stack is not None  # parse_config guarantees one of the two
        reference = pulumi.StackReference("scanner-stack", stack_name=config.scanner_stack)
        endpoints.append(ScannerEndpoint(*(reference.require_output(name) for name in SCANNER_OUTPUTS)))
    placements = config.placements() or [Placement(0, "scannerStack")] * len(config.storages)
    if config.fleet:
        pulumi.export("scannerAssignment", _report_assignment(config, placements))

    storages: list[StorageStack] = []
    for storage, placement in zip(config.storages, placements, strict=True):
        provider = providers.get(
            storage.region, storage_deployer_role(storage, config.fleet), storage.account
        )
        account_providers.setdefault(storage.account, provider)
        storages.append(
            StorageStack(
                f"storage-{storage.name}",
                StorageStackArgs(
                    config=storage,
                    account_id=account_of(provider),
                    scanner=endpoints[placement.scanner],
                    code=artifact.code,
                    architecture=architecture,
                    tags=tags,
                ),
                opts=pulumi.ResourceOptions(provider=provider),
            )
        )
    if config.account_public_access_block:
        for account, provider in account_providers.items():
            aws.s3.AccountPublicAccessBlock(
                f"account-public-access-block-{account or 'deployer'}",
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=pulumi.ResourceOptions(provider=provider),
            )
    if config.audit is not None:
        audit_provider = providers.get(config.audit.region, config.audit.role_arn, config.audit.account)
        audit = AuditStack(
            "audit",
            AuditStackArgs(
                config=config.audit,
                account_id=account_of(audit_provider),
                code=artifact.code,
                architecture=architecture,
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(provider=audit_provider),
        )
        pulumi.export("auditHistoryTable", audit.table.name)
        pulumi.export("auditReportBucket", audit.reports.bucket.bucket)
        pulumi.export("auditSummaryTopicArn", audit.summary_topic.arn)
        pulumi.export("auditRoleArn", audit.function.role.arn)  # what other accounts' audit roles trust
    storage_outputs = (
        [s.listener.role.arn for s in storages],
        [s.result_topic.arn for s in storages],
        [s.key.arn for s in storages],
    )
    for output, values in zip(STORAGE_OUTPUTS, storage_outputs, strict=True):
        pulumi.export(output, values)
    pulumi.export(
        "storages",
        {
            s.config.name: {
                "bucket": s.config.bucket,
                "region": s.config.region,
                "resultTopicArn": s.result_topic.arn,
                "alertTopicArn": s.alert_topic.arn,
                "quarantineBucket": s.config.quarantine_bucket,
                "promoteBucket": s.config.promote_bucket,
            }
            for s in storages
        },
    )
    pulumi.export(
        "lambdaArtifact",
        {
            "architecture": artifact.manifest.architecture,
            "pythonVersion": artifact.manifest.python_version,
            "contentSha256": artifact.manifest.content_sha256,
            "rulesetVersion": artifact.manifest.ruleset_version,
        },
    )
    for index, ((scanner, scanner_provider), scanner_config) in enumerate(
        zip(scanners, config.fleet, strict=True)
    ):
        admitted = [s for s, p in zip(storages, placements, strict=True) if p.scanner == index]
        _admit(config, scanner_config, scanner, scanner_provider, account_of(scanner_provider), admitted)

    if config.monitor is not None:
        deploy_monitor(config, providers, artifact, architecture, tags, account_of)


def _admit(
    config: BucketguardConfig,
    scanner_config: ScannerConfig,
    scanner: ScannerStack,
    provider: aws.Provider,
    account_id: pulumi.Output[str],
    storages: Sequence[StorageStack],
) -> None:
    """The scanner admits its own storages, and (a lone scanner) the storage stacks deployed elsewhere."""
    listener_roles: list[Any] = [[s.listener.role.arn for s in storages]]
    result_topics: list[Any] = [[s.result_topic.arn for s in storages]]
    result_keys: list[Any] = [[s.key.arn for s in storages]]
    # Step 3 of a split rollout: storage stacks deployed elsewhere are admitted through their outputs.
    for index, name in enumerate(config.storage_stacks):
        reference = pulumi.StackReference(f"storage-stack-{index}", stack_name=name)
        for output, values in zip(STORAGE_OUTPUTS, (listener_roles, result_topics, result_keys), strict=True):
            values.append(reference.require_output(output))
    ScannerAdmission(
        _resource_name(scanner_config, "admission"),
        ScannerAdmissionArgs(
            scanner_account_id=account_id,
            scanner_region=scanner_config.region,
            queue_arn=scanner.queue.queue.arn,
            queue_url=scanner.queue.queue.url,
            key_id=scanner.key.key_id,
            scanner_role_arn=scanner.scanner.role.arn,
            scanner_role_name=scanner.scanner.role.name,
            listener_role_arns=pulumi.Output.all(*listener_roles).apply(_flatten),
            result_topic_arns=pulumi.Output.all(*result_topics).apply(_flatten),
            result_key_arns=pulumi.Output.all(*result_keys).apply(_flatten),
            has_storages=bool(storages or config.storage_stacks),
            rule_updater_role_arn=scanner.rule_update.role.arn if scanner.rule_update else None,
            ruleset_topic_arn=scanner.ruleset_topic.arn if scanner.ruleset_topic else None,
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )


def deploy_monitor(
    config: BucketguardConfig,
    providers: Providers,
    artifact: LambdaArtifact,
    architecture: str,
    tags: dict[str, str],
    account_of: Any,
) -> None:
    """The monitor in the security account, a forwarder in its other regions and in each monitored
    account (with the role the monitor reads through there)."""
    monitor = config.monitor
    assert monitor is not None
    home = providers.get(monitor.region, monitor.role_arn, monitor.account)
    security_account = account_of(home)
    members = [a.account for a in monitor.accounts if a.account]
    # the stack's allowedRegions judge the region rule unless the policy config says otherwise
    region_rule = {"aws_resource_region_allowed": {"allowedRegions": list(config.allowed_regions)}}
    policy_config = {**(region_rule if config.allowed_regions else {}), **monitor.policy_config}
    stack = MonitorStack(
        "monitor",
        MonitorStackArgs(
            config=monitor,
            account_id=security_account,
            code=artifact.code,
            architecture=architecture,
            member_accounts=members,
            policy_config=policy_config,
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(provider=home),
    )
    target = bus_arn(monitor.region, security_account)
    others = [r for r in monitor.monitored_regions if r != monitor.region]
    if others:
        MonitorForwarder(
            "monitor-forward",
            MonitorForwarderArgs(regions=others, target_bus_arn=target, tags=tags),
            {r: providers.get(r, monitor.role_arn, monitor.account) for r in others},
        )
    for entry in monitor.accounts:
        assert entry.account is not None  # MonitoredAccount requires it
        regions = monitor.regions_of(entry)
        regional = {r: providers.get(r, entry.role_arn, entry.account) for r in regions}
        MonitorForwarder(
            f"monitor-forward-{entry.account}",
            MonitorForwarderArgs(regions=regions, target_bus_arn=target, tags=tags),
            regional,
        )
        MonitorMemberRole(
            f"monitor-member-{entry.account}",
            monitor.member_role_name,
            stack.monitor.role.arn,
            tags,
            account=entry.account,
            remediate=monitor.remediate,
            opts=pulumi.ResourceOptions(provider=regional[regions[0]]),
        )
    pulumi.export("monitorAlertTopicArn", stack.alert_topic.arn)
    pulumi.export("monitorTable", stack.table.name)
    if stack.trail is not None:
        pulumi.export("monitorTrailArn", stack.trail.trail.arn)


def main() -> None:
    try:
        deploy(read_config())
    except ConfigError as exc:
        # One line at preview, no traceback: the message names the key and the entry.
        raise pulumi.RunError(str(exc)) from None
