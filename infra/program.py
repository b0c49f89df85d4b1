"""Composes the components from the validated config: providers, the scanners (or a StackReference),
storages, and the admission of each storage by its scanner (infra.fleet assigns them)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from bucketguard.rules.catalogue.region import GLOBAL_EVENTS_REGION
from bucketguard.validation import check_namespaces
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
from infra.storage_listener import ScannerEndpoint
from infra.storage_stack import StorageStack, StorageStackArgs

# What a scanner stack exports and a storage-only stack reads through its StackReference (a contract
# between stacks of different versions: add names, never rename).
SCANNER_OUTPUTS = (
    "scannerQueueArn",
    "scannerQueueUrl",
    "scannerRoleArn",
    "scannerKeyArn",
    "rulesetTopicArn",
    "rescanOnUpdate",
    "rulesetReloadSeconds",
)
# What a storage stack exports and the scanner stack reads to admit it.
STORAGE_OUTPUTS = ("listenerRoleArns", "resultTopicArns", "resultKeyArns")


def _namespace_keys(namespace: str) -> list[str]:
    """Every key of `namespace` in the stack config, known or not: a typo must reach the schema."""
    keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    check_namespaces(keys)
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


class _Deployment:
    """What every step shares: the config, one provider per account and region, the Lambda artifact, the
    stack's tags, and each provider's account id (looked up once)."""

    def __init__(self, config: BucketguardConfig) -> None:
        self.config = config
        self.project, self.stack = pulumi.get_project(), pulumi.get_stack()
        self.tags = {"bucketguard-stack": f"{self.project}/{self.stack}", **config.tags}
        self.providers = Providers(self.tags)
        self.architecture = config.lambda_architecture
        self.artifact: LambdaArtifact = ensure_artifact(self.architecture, config.artifact_dir)
        self._accounts: dict[int, pulumi.Output[str]] = {}
        # The first provider of each account (None: the deployer's own), for account-wide settings.
        self.account_providers: dict[str | None, aws.Provider] = {}

    def account_of(self, provider: aws.Provider) -> pulumi.Output[str]:
        if id(provider) not in self._accounts:
            identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))
            self._accounts[id(provider)] = identity.account_id
        return self._accounts[id(provider)]

    def storage_provider(self, storage: StorageConfig) -> aws.Provider:
        # The bucket lives in its account and region: its storage is deployed and read there.
        role = storage_deployer_role(storage, self.config.fleet)
        return self.providers.get(storage.region, role, storage.account)

    def bucket_state(self, storage: StorageConfig) -> BucketState:
        opts = pulumi.InvokeOptions(provider=self.storage_provider(storage))
        return read_bucket(
            storage.bucket,
            lambda name: aws.s3.get_bucket(bucket=name, opts=opts),
            lambda name: aws.s3.get_bucket_policy(bucket=name, opts=opts).policy,
        )


@dataclass(frozen=True)
class _Scanner:
    """A scanner this stack deploys, with the provider and account it is deployed with."""

    config: ScannerConfig
    stack: ScannerStack
    provider: aws.Provider
    account_id: pulumi.Output[str]
    # Its admission's ruleset topic policy, once written (the storages' subscriptions wait for it).
    admitted: pulumi.Output[pulumi.Resource]
    resolve_admitted: Callable[[pulumi.Output[pulumi.Resource]], None]

    @property
    def endpoint(self) -> ScannerEndpoint:
        return ScannerEndpoint(
            queue_arn=self.stack.queue.queue.arn,
            queue_url=self.stack.queue.queue.url,
            role_arn=self.stack.scanner.role.arn,
            key_arn=self.stack.key.arn,
            ruleset_topic_arn=self.stack.ruleset_topic.arn,
            rescan_on_update=self.config.rescan_on_update,
            ruleset_reload_seconds=self.ruleset_reload_seconds,
            subscribe_after=self.admitted,
        )

    @property
    def ruleset_reload_seconds(self) -> int:
        # the longest the scanner may go on with the previous ruleset: its check interval plus one scan
        return self.config.rule_check_seconds + self.config.timeout_seconds

    @property
    def outputs(self) -> dict[str, Any]:
        return {
            "scannerQueueArn": self.stack.queue.queue.arn,
            "scannerQueueUrl": self.stack.queue.queue.url,
            "scannerRoleArn": self.stack.scanner.role.arn,
            "scannerKeyArn": self.stack.key.arn,
            "rulesBucket": self.stack.rules.bucket.id,
            # `rules publish --announce` names it; storage-only stacks subscribe to it and rescan as it says
            "rulesetTopicArn": self.stack.ruleset_topic.arn,
            "rescanOnUpdate": self.config.rescan_on_update,
            "rulesetReloadSeconds": self.ruleset_reload_seconds,
            "scannerAccountId": self.account_id,
            "scannerRegion": self.config.region,
            "scannerAlertTopicArn": self.stack.alert_topic.arn,
        }


def deploy(config: BucketguardConfig) -> None:
    deployment = _Deployment(config)
    # Before anything is registered: what the storages would overwrite.
    check_storages(config.storages, deployment.bucket_state)
    scanners = [_deploy_scanner(deployment, scanner) for scanner in config.fleet]
    _export_scanners(scanners)
    endpoints = [s.endpoint for s in scanners] or [_referenced_scanner(config)]
    placements = config.placements() or [Placement(0, "scannerStack")] * len(config.storages)
    if config.fleet:
        pulumi.export("scannerAssignment", _report_assignment(config, placements))
    storages = [
        _deploy_storage(deployment, storage, endpoints[placement.scanner])
        for storage, placement in zip(config.storages, placements, strict=True)
    ]
    if config.account_public_access_block:
        _block_public_access(deployment.account_providers)
    # The one record of which queues are listeners: the audit and the monitor trust no tag for it.
    listener_queues = [s.listener.queue.queue.arn for s in storages]
    if config.audit is not None:
        _deploy_audit(deployment, listener_queues)
    _export_storages(storages)
    _export_artifact(deployment.artifact)
    for index, scanner in enumerate(scanners):
        admitted = [s for s, p in zip(storages, placements, strict=True) if p.scanner == index]
        _admit(config, scanner, admitted)
    if config.monitor is not None:
        deploy_monitor(
            config,
            deployment.providers,
            deployment.artifact,
            deployment.architecture,
            deployment.tags,
            deployment.account_of,
            listener_queues,
        )


def _deploy_scanner(deployment: _Deployment, config: ScannerConfig) -> _Scanner:
    provider = deployment.providers.get(config.region, config.role_arn, config.account)
    deployment.account_providers.setdefault(config.account, provider)
    account_id = deployment.account_of(provider)
    stack = ScannerStack(
        _resource_name(config, "scanner"),
        ScannerStackArgs(
            config=config,
            account_id=account_id,
            code=deployment.artifact.code,
            ruleset_path=deployment.artifact.ruleset_path,
            scanner_id="/".join(filter(None, (deployment.project, deployment.stack, config.name))),
            tags={**deployment.tags, "bucketguard-scanner": config.label},
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    admitted: pulumi.Output[pulumi.Resource]
    resolve_admitted: Callable[[pulumi.Output[pulumi.Resource]], None]
    admitted, resolve_admitted = pulumi.deferred_output()
    return _Scanner(config, stack, provider, account_id, admitted, resolve_admitted)


def _export_scanners(scanners: Sequence[_Scanner]) -> None:
    if len(scanners) == 1:
        # One scanner: its outputs at the top level, what storage-only stacks read (SCANNER_OUTPUTS).
        for key, value in scanners[0].outputs.items():
            pulumi.export(key, value)
    elif scanners:
        pulumi.export("scanners", {s.config.label: s.outputs for s in scanners})


def _stack_outputs(
    name: str, stack: str, key: str, outputs: Sequence[str], instead: Callable[[dict[str, Any]], str]
) -> list[pulumi.Output[Any]]:
    """The `outputs` of the stack the config's `key` names, read through a StackReference. A stack lacking
    one fails the deployment in one line naming the key, the stack, the outputs expected and what `instead`
    says that stack is (the SDK's require_output raises a bare KeyError)."""
    reference = pulumi.StackReference(name, stack_name=stack)

    def exported(exports: dict[str, Any]) -> None:
        missing = [output for output in outputs if output not in exports]
        if missing:
            raise pulumi.RunError(
                f"bucketguard:{key}: stack {stack} exports no {', '.join(missing)}{instead(exports)}"
            )

    checked = pulumi.Output.unsecret(reference.outputs.apply(exported))
    return [
        pulumi.Output.all(checked, reference.get_output(output)).apply(lambda both: both[1])
        for output in outputs
    ]


def _instead_of_a_scanner_stack(exports: dict[str, Any]) -> str:
    scanners = exports.get("scanners")
    if isinstance(scanners, dict):
        return (
            f": it deploys a fleet (scanners {', '.join(sorted(scanners))}), which admits no storage stack; "
            "point scannerStack at a stack with one bucketguard:scanner, or move these storages into that "
            "stack's bucketguard:storages (`scanner: <name>` picks one)"
        )
    return ": scannerStack names a deployed stack with one bucketguard:scanner"


def _instead_of_a_storage_stack(exports: dict[str, Any]) -> str:
    if "scannerQueueArn" in exports:
        return ": it deploys a scanner; storageStacks names deployed storage-only stacks (scannerStack set)"
    return ": storageStacks names deployed storage-only stacks (scannerStack set)"


def _referenced_scanner(config: BucketguardConfig) -> ScannerEndpoint:
    """A storage-only stack's scanner, read from the scanner stack's outputs."""
    assert config.scanner_stack is not None  # parse_config guarantees a scanner or a scannerStack
    queue_arn, queue_url, role_arn, key_arn, topic_arn, rescan, reload = _stack_outputs(
        "scanner-stack", config.scanner_stack, "scannerStack", SCANNER_OUTPUTS, _instead_of_a_scanner_stack
    )
    return ScannerEndpoint(
        queue_arn,
        queue_url,
        role_arn,
        key_arn,
        ruleset_topic_arn=topic_arn,
        rescan_on_update=rescan,
        ruleset_reload_seconds=reload,
    )


def _deploy_storage(
    deployment: _Deployment, storage: StorageConfig, scanner: ScannerEndpoint
) -> StorageStack:
    provider = deployment.storage_provider(storage)
    deployment.account_providers.setdefault(storage.account, provider)
    return StorageStack(
        f"storage-{storage.name}",
        StorageStackArgs(
            config=storage,
            account_id=deployment.account_of(provider),
            scanner=scanner,
            code=deployment.artifact.code,
            architecture=deployment.architecture,
            tags=deployment.tags,
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )


def _block_public_access(account_providers: dict[str | None, aws.Provider]) -> None:
    for account, provider in account_providers.items():
        aws.s3.AccountPublicAccessBlock(
            f"account-public-access-block-{account or 'deployer'}",
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=pulumi.ResourceOptions(provider=provider),
        )


def _deploy_audit(deployment: _Deployment, listener_queues: Sequence[pulumi.Output[str]]) -> None:
    config = deployment.config.audit
    assert config is not None
    provider = deployment.providers.get(config.region, config.role_arn, config.account)
    audit = AuditStack(
        "audit",
        AuditStackArgs(
            config=config,
            account_id=deployment.account_of(provider),
            code=deployment.artifact.code,
            architecture=deployment.architecture,
            listener_queue_arns=listener_queues,
            tags=deployment.tags,
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    pulumi.export("auditHistoryTable", audit.table.name)
    pulumi.export("auditReportBucket", audit.reports.bucket.bucket)
    pulumi.export("auditSummaryTopicArn", audit.summary_topic.arn)
    pulumi.export("auditRoleArn", audit.function.role.arn)  # what other accounts' audit roles trust


def _export_storages(storages: Sequence[StorageStack]) -> None:
    """What the scanner stack reads to admit them (STORAGE_OUTPUTS), and each storage's own outputs."""
    storage_outputs = (
        [s.listener.function.role.arn for s in storages],
        [s.post_scan.result_topic.arn for s in storages],
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
                "resultTopicArn": s.post_scan.result_topic.arn,
                "alertTopicArn": s.alert_topic.arn,
                # what `audit --listener-queue` is given: the audit trusts no queue's tag
                "listenerQueueArn": s.listener.queue.queue.arn,
                "quarantineBucket": s.config.quarantine_bucket,
                "promoteBucket": s.config.promote_bucket,
            }
            for s in storages
        },
    )


def _export_artifact(artifact: LambdaArtifact) -> None:
    pulumi.export(
        "lambdaArtifact",
        {
            "architecture": artifact.manifest.architecture,
            "pythonVersion": artifact.manifest.python_version,
            "contentSha256": artifact.manifest.content_sha256,
            "rulesetVersion": artifact.manifest.ruleset_version,
        },
    )


def _admit(config: BucketguardConfig, scanner: _Scanner, storages: Sequence[StorageStack]) -> None:
    """The scanner admits its own storages, and (a lone scanner) the storage stacks deployed elsewhere."""
    listener_roles: list[Any] = [[s.listener.function.role.arn for s in storages]]
    result_topics: list[Any] = [[s.post_scan.result_topic.arn for s in storages]]
    result_keys: list[Any] = [[s.key.arn for s in storages]]
    # Step 3 of a split rollout: storage stacks deployed elsewhere are admitted through their outputs.
    for index, name in enumerate(config.storage_stacks):
        exported = _stack_outputs(
            f"storage-stack-{index}",
            name,
            f"storageStacks[{index}]",
            STORAGE_OUTPUTS,
            _instead_of_a_storage_stack,
        )
        for output, values in zip(exported, (listener_roles, result_topics, result_keys), strict=True):
            values.append(output)
    stack = scanner.stack
    admission = ScannerAdmission(
        _resource_name(scanner.config, "admission"),
        ScannerAdmissionArgs(
            scanner_account_id=scanner.account_id,
            scanner_region=scanner.config.region,
            queue_arn=stack.queue.queue.arn,
            queue_url=stack.queue.queue.url,
            key_id=stack.key.key_id,
            scanner_role_arn=stack.scanner.role.arn,
            scanner_role_name=stack.scanner.role.name,
            listener_role_arns=pulumi.Output.all(*listener_roles).apply(_flatten),
            result_topic_arns=pulumi.Output.all(*result_topics).apply(_flatten),
            result_key_arns=pulumi.Output.all(*result_keys).apply(_flatten),
            has_storages=bool(storages or config.storage_stacks),
            rule_updater_role_arn=stack.rule_update.role.arn if stack.rule_update else None,
            rule_publisher_arns=scanner.config.rule_publisher_arns,
            ruleset_topic_arn=stack.ruleset_topic.arn,
        ),
        opts=pulumi.ResourceOptions(provider=scanner.provider),
    )
    scanner.resolve_admitted(pulumi.Output.from_input(admission.ruleset_topic_policy))


def deploy_monitor(
    config: BucketguardConfig,
    providers: Providers,
    artifact: LambdaArtifact,
    architecture: str,
    tags: dict[str, str],
    account_of: Any,
    listener_queues: Sequence[pulumi.Output[str]] = (),
) -> None:
    """The monitor in the security account, a forwarder in its other regions and in each monitored
    account (with the role the monitor reads through there)."""
    monitor = config.monitor
    assert monitor is not None
    home = providers.get(monitor.region, monitor.role_arn, monitor.account)
    security_account = account_of(home)
    members = [a.account for a in monitor.accounts if a.account]
    stack = MonitorStack(
        "monitor",
        MonitorStackArgs(
            config=monitor,
            account_id=security_account,
            code=artifact.code,
            architecture=architecture,
            member_accounts=members,
            policy_config=config.monitor_policy_config(monitor),
            listener_queue_arns=listener_queues,
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(provider=home),
    )
    target = bus_arn(monitor.region, security_account)
    # IAM's calls reach EventBridge in us-east-1 alone: forwarded from there whatever allowedRegions says
    # (the forwarder stores nothing; the region rule counts it as IAM's, which has no region).
    global_region = [GLOBAL_EVENTS_REGION]
    global_only = [r for r in global_region if r not in monitor.monitored_regions]
    others = [r for r in monitor.monitored_regions if r != monitor.region] + global_only
    if others:
        MonitorForwarder(
            "monitor-forward",
            MonitorForwarderArgs(regions=others, target_bus_arn=target, tags=tags, global_only=global_only),
            {r: providers.get(r, monitor.role_arn, monitor.account) for r in others},
        )
    for entry in monitor.accounts:
        assert entry.account is not None  # MonitoredAccount requires it
        global_only = [r for r in global_region if r not in monitor.regions_of(entry)]
        regions = [*monitor.regions_of(entry), *global_only]
        regional = {r: providers.get(r, entry.role_arn, entry.account) for r in regions}
        MonitorForwarder(
            f"monitor-forward-{entry.account}",
            MonitorForwarderArgs(regions=regions, target_bus_arn=target, tags=tags, global_only=global_only),
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
