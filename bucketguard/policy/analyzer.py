"""Start a policy pack the way the Pulumi engine does and drive its Analyzer over gRPC in the engine's order:
Handshake, ConfigureStack, GetAnalyzerInfo, Configure, then per resource Remediate and Analyze, then
AnalyzeStack over every resource's outputs, then Cancel."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from bucketguard.errors import UserError
from bucketguard.policy.pack_config import PolicyConfig, PolicySchema, parse_policy_config, reconcile
from bucketguard.policy.records import RecordedResource, RecordedStack

# Never contacted by a Python pack, but part of the command line the engine uses.
ENGINE_ADDRESS = "127.0.0.1:0"
# `-m pulumi.policy`, exiting when its standard input closes: stopped, or its parent gone however it ended
# (the kernel closes a killed process's pipes). The standard library alone: the pack's interpreter may be a
# virtualenv without bucketguard.
_RUN_PACK = """import os, runpy, threading
def watch():
    while os.read(0, 4096):  # not sys.stdin, whose lock held at exit would abort the exit
        pass
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
runpy.run_module("pulumi.policy", run_name="__main__", alter_sys=True)
"""
PACK_START_TIMEOUT = 60.0
_MAX_MESSAGE = 400 * 1024 * 1024  # the SDK's own limit
_LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_LEVEL_VALUES = {v: k for k, v in _LEVEL_NAMES.items()}
_SEVERITY_NAMES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


class PackError(UserError, RuntimeError):
    """The policy pack did not start or failed while answering."""


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    enforcement_level: str
    severity: str
    config_properties: Mapping[str, Any]
    config_required: tuple[str, ...]
    remediation_steps: str
    stack_policy: bool
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackInfo:
    name: str
    version: str
    policies: Mapping[str, PolicyInfo]


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    pack: str
    pack_version: str
    description: str
    message: str
    enforcement: str
    urn: str
    severity: str
    stack_level: bool  # reported by AnalyzeStack


@dataclass(frozen=True)
class NotApplicable:
    policy: str
    urn: str
    reason: str


@dataclass(frozen=True)
class Remediation:
    policy: str
    urn: str
    description: str
    properties: Mapping[str, Any]
    diagnostic: str


@dataclass
class AnalysisResult:
    pack: PackInfo
    config: Mapping[str, PolicyConfig]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    not_applicable: list[NotApplicable] = field(default_factory=list)
    remediations: list[Remediation] = field(default_factory=list)
    resources_analyzed: int = 0


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


def _read_port(stream: Any, out: queue.Queue[str | None]) -> None:
    line = stream.readline()
    out.put(line.decode().strip() if line else None)
    stream.read()  # keep draining so the pack never blocks on a full pipe


class PolicyPackProcess:
    """A Python pack started as the engine starts one, `python -u -m pulumi.policy <engine-address>
    <pack-dir>`, and ended with this process."""

    def __init__(
        self, pack_dir: Path, *, python: str = sys.executable, env: Mapping[str, str] | None = None
    ) -> None:
        self.pack_dir = pack_dir.resolve()
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None
        self.stub: Any = None
        self._stderr: list[bytes] = []

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PackError(f"{self.pack_dir}: not a policy pack (no PulumiPolicy.yaml)")
        self.process = subprocess.Popen(
            [self.python, "-u", "-c", _RUN_PACK, ENGINE_ADDRESS, str(self.pack_dir)],
            cwd=self.pack_dir,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        port_queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_read_port, args=(self.process.stdout, port_queue), daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        try:
            port = port_queue.get(timeout=PACK_START_TIMEOUT)
        except queue.Empty:
            port = None
        if not port or not port.isdigit():
            self.stop()
            raise PackError(
                f"policy pack {self.pack_dir} did not start: {self.stderr_tail() or 'no port written'}"
            )
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
            ],
        )
        grpc.channel_ready_future(self.channel).result(timeout=PACK_START_TIMEOUT)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def stderr_tail(self, lines: int = 20) -> str:
        text = b"".join(self._stderr).decode(errors="replace").strip()
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def declared_version(pack_dir: Path) -> str | None:
    """The `version:` of the pack's PulumiPolicy.yaml, which the CLI reports for a Python pack."""
    try:
        manifest = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    version = manifest.get("version") if isinstance(manifest, dict) else None
    return str(version) if version else None


def _call_optional(method: Any, request: Any) -> Any:
    """Handshake, ConfigureStack and Cancel may be UNIMPLEMENTED by a pack; the engine carries on."""
    try:
        return method(request)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return None
        raise


def _analysis(method: Any, request: Any, what: str) -> Any:
    """A policy that raises (a policy document AWS would refuse) fails the engine's preview: here it is
    one line, exit 2, never a pass and never a traceback."""
    try:
        return method(request)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.UNKNOWN:
            raise
        detail = str(exc.details()).removeprefix("Exception calling application: ")
        raise UserError(f"the policy pack failed on {what}: {detail}") from None


def read_pack_info(stub: Any) -> tuple[PackInfo, dict[str, PolicyConfig]]:
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    policies: dict[str, PolicyInfo] = {}
    for p in info.policies:
        policies[p.name] = PolicyInfo(
            name=p.name,
            description=p.description,
            enforcement_level=_LEVEL_NAMES.get(p.enforcementLevel, "advisory"),
            severity=_SEVERITY_NAMES.get(p.severity, ""),
            config_properties=json_format.MessageToDict(p.configSchema.properties),
            config_required=tuple(p.configSchema.required),
            remediation_steps=p.remediation_steps,
            stack_policy=p.policy_type == analyzer_pb2.POLICY_TYPE_STACK,
            tags=tuple(p.tags),
        )
    initial: dict[str, Any] = {}
    for key, value in info.initialConfig.items():
        entry: dict[str, Any] = json_format.MessageToDict(value.properties)
        if value.enforcementLevel in _LEVEL_NAMES and value.enforcementLevel != analyzer_pb2.ADVISORY:
            entry["enforcementLevel"] = _LEVEL_NAMES[value.enforcementLevel]
        initial[key] = entry
    return PackInfo(info.name, info.version, policies), parse_policy_config(initial, "pack initial config")


def _options(resource: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=resource.protect,
        ignoreChanges=resource.ignore_changes,
        additionalSecretOutputs=resource.additional_secret_outputs,
        aliases=resource.aliases,
        parent=resource.parent,
    )


def _provider(resource: RecordedResource, by_urn: Mapping[str, RecordedResource]) -> Any:
    if not resource.provider:
        return None
    provider_urn = resource.provider.rsplit("::", 1)[0]
    provider = by_urn.get(provider_urn)
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, properties=_struct(provider.inputs), urn=provider.urn, name=provider.name
    )


def _diagnostics(response: Any, *, urn: str, stack_level: bool) -> list[Diagnostic]:
    return [
        Diagnostic(
            policy=d.policyName,
            pack=d.policyPackName,
            pack_version=d.policyPackVersion,
            description=d.description,
            message=d.message,
            enforcement=_LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
            # Per-resource diagnostics without a URN belong to the resource analyzed, as in the engine.
            urn=d.urn or urn,
            severity=_SEVERITY_NAMES.get(d.severity, ""),
            stack_level=stack_level,
        )
        for d in response.diagnostics
    ]


def analyze_stack(
    stub: Any,
    recorded: RecordedStack,
    *,
    pack_dir: Path,
    policy_config: Mapping[str, PolicyConfig] | None = None,
    stack_tags: Mapping[str, str] | None = None,
    organization: str = "organization",
) -> AnalysisResult:
    _call_optional(
        stub.Handshake,
        analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=ENGINE_ADDRESS, root_directory=str(pack_dir), program_directory=str(pack_dir)
        ),
    )
    _call_optional(
        stub.ConfigureStack,
        analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=recorded.stack,
            project=recorded.project,
            organization=organization,
            dry_run=recorded.dry_run,
            config=recorded.config,
            config_secret_keys=recorded.config_secret_keys,
            tags=dict(stack_tags or {}),
        ),
    )
    pack, initial = read_pack_info(stub)
    # Python packs always answer 0.0.1; the engine takes the version from PulumiPolicy.yaml.
    pack = replace(pack, version=declared_version(pack_dir) or pack.version)
    schemas = [
        PolicySchema(p.name, p.enforcement_level, p.config_properties, p.config_required)
        for p in pack.policies.values()
    ]
    config = reconcile(schemas, initial, policy_config or {})
    stub.Configure(
        analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                name: analyzer_pb2.PolicyConfig(
                    enforcementLevel=_LEVEL_VALUES[c.enforcement_level or "advisory"],
                    properties=_struct(c.properties),
                )
                for name, c in config.items()
            }
        )
    )
    result = AnalysisResult(pack=pack, config=config)
    by_urn = recorded.by_urn()
    outputs: dict[str, dict[str, Any]] = {}
    for resource in recorded.resources:
        inputs = dict(resource.inputs)
        request = analyzer_pb2.AnalyzeRequest(
            type=resource.type,
            properties=_struct(inputs),
            urn=resource.urn,
            name=resource.name,
            options=_options(resource),
            provider=_provider(resource, by_urn),
        )
        remediated = _analysis(stub.Remediate, request, resource.name)
        for remediation in remediated.remediations:
            new_props = (
                json_format.MessageToDict(remediation.properties)
                if remediation.HasField("properties")
                else {}
            )
            result.remediations.append(
                Remediation(
                    remediation.policyName,
                    resource.urn,
                    remediation.description,
                    new_props,
                    remediation.diagnostic,
                )
            )
            if new_props:
                inputs = new_props
        result.not_applicable.extend(
            NotApplicable(n.policy_name, resource.urn, n.reason) for n in remediated.not_applicable
        )
        if inputs is not resource.inputs and inputs != resource.inputs:
            request.properties.Clear()
            request.properties.update(inputs)
        analyzed = _analysis(stub.Analyze, request, resource.name)
        result.diagnostics.extend(_diagnostics(analyzed, urn=resource.urn, stack_level=False))
        result.not_applicable.extend(
            NotApplicable(n.policy_name, resource.urn, n.reason) for n in analyzed.not_applicable
        )
        # What the provider would store: remediated inputs flow through to the outputs.
        outputs[resource.urn] = {**resource.outputs, **(inputs if inputs != resource.inputs else {})}
        result.resources_analyzed += 1
    stack_request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=_struct(outputs[r.urn]),
                urn=r.urn,
                name=r.name,
                options=_options(r),
                provider=_provider(r, by_urn),
                parent=r.parent,
                dependencies=r.dependencies,
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.property_dependencies.items()
                },
            )
            for r in recorded.resources
        ]
    )
    stacked = _analysis(stub.AnalyzeStack, stack_request, "the stack")
    result.diagnostics.extend(_diagnostics(stacked, urn="", stack_level=True))
    result.not_applicable.extend(NotApplicable(n.policy_name, "", n.reason) for n in stacked.not_applicable)
    _call_optional(stub.Cancel, empty_pb2.Empty())
    return result


def pack_environment(recorded: RecordedStack, extra_pythonpath: Sequence[Path] = ()) -> dict[str, str]:
    """The environment the engine gives a policy pack plugin."""
    env = dict(os.environ)
    env.update(
        {
            "PULUMI_CONFIG": json.dumps(recorded.config),
            "PULUMI_PROJECT": recorded.project,
            "PULUMI_STACK": recorded.stack,
            "PULUMI_DRY_RUN": "true" if recorded.dry_run else "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if extra_pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            [*(str(p) for p in extra_pythonpath), env.get("PYTHONPATH", "")]
        ).strip(os.pathsep)
    return env
