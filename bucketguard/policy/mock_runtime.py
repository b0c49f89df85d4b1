"""Run a Pulumi Python program under the SDK's mock runtime and record every registration.

Meant to run in its own process (`python -m bucketguard.policy.mock_runtime`): `set_mocks` registers the root
stack once per process, and a program's module-level state must not leak between runs. The monitor below
records what the engine would see (inputs, parent, dependencies, property dependencies, provider reference),
and the mocks compute the outputs a deployment would produce, or leave them unknown under `--preview`.
It exits when its stdin closes: the parent (`policy check`) ended, however it did, and a program that never
finishes is not left running without the parent's timeout.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import runpy
import sys
import threading
import traceback
import types
from pathlib import Path
from typing import Any

import pulumi
import pulumi.resource
import pulumi.runtime
from google.protobuf import json_format
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.rpc import UNKNOWN
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from bucketguard.errors import program_error
from bucketguard.policy.records import ROOT_STACK_TYPE, RecordedResource, RecordedStack

MOCK_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
# Inputs pulumi-aws's Check fills in by auto-naming (`<name>-<7 hex>`) when the program leaves them out: they
# are in the checked inputs, so KNOWN at preview. Everything else the provider computes (id, arn, url) is not.
_AUTONAMED_PROPERTY = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:lambda/function:Function": "name",
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:iam/user:User": "name",
    "aws:iam/group:Group": "name",
    "aws:sqs/queue:Queue": "name",
    "aws:sns/topic:Topic": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:cloudtrail/trail:Trail": "name",
}
_BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
EXIT_PROGRAM_FAILED = 3


def _autoname(urn: str, name: str) -> str:
    return f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:7]}"


def _service(type_token: str) -> str:
    return type_token.split(":")[1].split("/")[0] if type_token.count(":") >= 2 else "index"


class RecordingMocks(Mocks):
    """Outputs = inputs plus what the provider computes (id, arn, url, auto-name). Under preview the
    computed ones are UNKNOWN, as the engine reports them for a resource not yet created; inputs and
    auto-names (filled in by the provider's Check) stay known."""

    def __init__(self, *, preview: bool, region: str) -> None:
        self.preview = preview
        self.region = region
        self.pending: dict[tuple[str, str], str] = {}  # (type, name) -> urn, filled by the monitor

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        urn = self.pending.get((args.typ, args.name), args.name)
        outputs = dict(args.inputs)
        autonamed = _AUTONAMED_PROPERTY.get(args.typ)
        if autonamed and not outputs.get(autonamed):
            outputs[autonamed] = _autoname(urn, args.name)
        known = set(outputs)
        physical = str(outputs.get("bucket", "")) if args.typ in _BUCKET_TYPES else ""
        name = str(outputs.get("name") or _autoname(urn, args.name))
        resource_id = physical or args.resource_id or name
        if "name" in known or args.typ not in _AUTONAMED_PROPERTY or autonamed == "name":
            outputs.setdefault("name", name)
        outputs.setdefault("arn", self._arn(args.typ, resource_id, name))
        if args.typ == "aws:sqs/queue:Queue":
            resource_id = f"https://sqs.{self.region}.amazonaws.com/{MOCK_ACCOUNT_ID}/{name}"
            outputs.setdefault("url", resource_id)
        elif args.typ == "aws:sns/topic:Topic":
            resource_id = outputs["arn"]
        outputs.setdefault("id", resource_id)
        if self.preview:
            return "", {k: v if k in known else UNKNOWN for k, v in outputs.items()}
        return resource_id, outputs

    def _arn(self, type_token: str, physical: str, name: str) -> str:
        service = _service(type_token)
        kind = type_token.rsplit(":", 1)[-1]
        if type_token in _BUCKET_TYPES:
            return f"arn:aws:s3:::{physical}"
        if service == "iam":
            return f"arn:aws:iam::{MOCK_ACCOUNT_ID}:{kind.lower()}/{name}"
        if service == "lambda":
            return f"arn:aws:lambda:{self.region}:{MOCK_ACCOUNT_ID}:function:{name}"
        if service in ("sqs", "sns"):
            return f"arn:aws:{service}:{self.region}:{MOCK_ACCOUNT_ID}:{name}"
        return f"arn:aws:{service}:{self.region}:{MOCK_ACCOUNT_ID}:{kind.lower()}/{name}"

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        invoked = args.token
        if invoked == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": MOCK_ACCOUNT_ID,
                "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/bucketguard-policy-check",
                "userId": "AIDAMOCKPOLICYCHECK",
                "id": MOCK_ACCOUNT_ID,
            }, []
        if invoked == "aws:index/getRegion:getRegion":
            region = str(args.args.get("region") or args.args.get("name") or self.region)
            return {
                "name": region,
                "region": region,
                "id": region,
                "endpoint": f"ec2.{region}.amazonaws.com",
            }, []
        if invoked == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if invoked == "aws:iam/getPolicyDocument:getPolicyDocument":
            document = render_policy_document(args.args)
            return {"json": document, "minifiedJson": document, "id": "mock"}, []
        if invoked in ("aws:s3/getBucket:getBucket", "aws:s3/getBucketPolicy:getBucketPolicy"):
            # Offline: no bucket can be read, so none is taken to exist (the provider's "not found").
            return {}, [("bucket", f"reading S3 Bucket ({args.args.get('bucket')}): couldn't find resource")]
        return dict(args.args), []


def _principal_block(entries: list[dict[str, Any]]) -> Any:
    block: dict[str, Any] = {}
    for entry in entries:
        identifiers = list(entry.get("identifiers") or [])
        if entry.get("type") == "*" and identifiers == ["*"]:
            return "*"
        block.setdefault(entry.get("type", "AWS"), []).extend(identifiers)
    return {k: v[0] if len(v) == 1 else v for k, v in block.items()}


def render_policy_document(args: dict[str, Any]) -> str:
    """What `aws.iam.get_policy_document` returns, for the statement shapes programs commonly use."""
    statements: list[dict[str, Any]] = []
    for source in list(args.get("sourcePolicyDocuments") or []):
        statements.extend(json.loads(source).get("Statement", []))
    for raw in args.get("statements") or []:
        statement: dict[str, Any] = {}
        if raw.get("sid"):
            statement["Sid"] = raw["sid"]
        statement["Effect"] = raw.get("effect") or "Allow"
        for key, wire in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            if raw.get(key):
                values = list(raw[key])
                statement[wire] = values[0] if len(values) == 1 else values
        if raw.get("principals"):
            statement["Principal"] = _principal_block(raw["principals"])
        if raw.get("notPrincipals"):
            statement["NotPrincipal"] = _principal_block(raw["notPrincipals"])
        for condition in raw.get("conditions") or []:
            values = list(condition.get("values") or [])
            statement.setdefault("Condition", {}).setdefault(condition["test"], {})[condition["variable"]] = (
                values[0] if len(values) == 1 else values
            )
        statements.append(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, plus a record of each registration as the engine receives it."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording_mocks = mocks
        self.records: list[RecordedResource] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine does not qualify children of the root stack with the stack's type; the mock does.
        if parent and parent.split("::")[2].split("$")[-1] == ROOT_STACK_TYPE:
            parent = ""
        return str(super().make_urn(parent, type_, name))

    def _record(self, request: Any, urn: str, resource_id: str, outputs: Any, *, custom: bool) -> None:
        self.records.append(
            RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=custom,
                inputs=json_format.MessageToDict(
                    request.object if hasattr(request, "object") else request.properties
                ),
                outputs=json_format.MessageToDict(outputs),
                id=resource_id,
                parent=request.parent,
                provider=request.provider,
                dependencies=list(getattr(request, "dependencies", [])),
                property_dependencies={
                    key: list(value.urns)
                    for key, value in getattr(request, "propertyDependencies", {}).items()
                },
                protect=bool(getattr(request, "protect", False)),
                ignore_changes=list(getattr(request, "ignoreChanges", [])),
                additional_secret_outputs=list(getattr(request, "additionalSecretOutputs", [])),
                aliases=list(getattr(request, "aliasURNs", [])),
            )
        )

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == ROOT_STACK_TYPE:
            self.records.append(
                RecordedResource(
                    urn=urn, type=request.type, name=request.name, custom=False, inputs={}, outputs={}
                )
            )
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self.recording_mocks.pending[(request.type, request.name)] = urn
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self._record(request, urn, response.id, response.object, custom=bool(request.custom))
        autonamed = _AUTONAMED_PROPERTY.get(request.type)
        record = self.records[-1]
        if autonamed and autonamed not in record.inputs and autonamed in record.outputs:
            # The provider's Check adds the auto-name to the inputs the engine hands to analyzers.
            record.inputs[autonamed] = record.outputs[autonamed]
        return response

    def ReadResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        self.recording_mocks.pending[(request.type, request.name)] = urn
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        self._record(request, urn, request.id, response.properties, custom=True)
        return response


def _default_providers(
    records: list[RecordedResource], config: dict[str, str], stack: str, project: str
) -> None:
    """The engine creates one default provider per package for resources without an explicit one,
    configured from the stack's `<package>:*` keys; the mocks show their reference as ""."""
    packages = sorted(
        {
            r.package
            for r in records
            if r.custom
            and not r.provider
            and not r.is_provider
            and r.type != ROOT_STACK_TYPE
            and r.type.count(":") == 2
        }
    )
    for package in packages:
        inputs: dict[str, Any] = {}
        for key, value in config.items():
            namespace, _, name = key.partition(":")
            if namespace == package:
                try:
                    inputs[name] = json.loads(value) if value[:1] in "[{" else value
                except json.JSONDecodeError:
                    inputs[name] = value
        name = "default"
        urn = f"urn:pulumi:{stack}::{project}::pulumi:providers:{package}::{name}"
        # Registered before the first resource that uses it, right after the root stack.
        records.insert(
            1 if records and records[0].type == ROOT_STACK_TYPE else 0,
            RecordedResource(
                urn=urn,
                type=f"pulumi:providers:{package}",
                name=name,
                custom=True,
                inputs=inputs,
                outputs=dict(inputs),
                id="default",
            ),
        )
        for record in records:
            if record.custom and not record.provider and record.package == package and not record.is_provider:
                record.provider = f"{urn}::default"


class SourceLocations:
    """Where the program constructs each resource: the innermost frame in the program's own files when
    the SDK registers it (components' children point into the component's file)."""

    def __init__(self, program_dir: Path) -> None:
        self.program_dir = program_dir.resolve()
        self.by_resource: dict[tuple[str, str], tuple[str, int]] = {}
        self._ignored = {
            Path(__file__).resolve(),
            *(Path(p).resolve() for p in {sys.prefix, sys.base_prefix}),
        }

    @functools.cache  # noqa: B019 (one instance per process)
    def _program_file(self, filename: str) -> str | None:
        path = Path(filename).resolve()
        if path in self._ignored or any(parent in self._ignored for parent in path.parents):
            return None
        return (
            path.relative_to(self.program_dir).as_posix() if path.is_relative_to(self.program_dir) else None
        )

    def note(self, type_: str, name: str) -> None:
        # Walking frames reads no source text (traceback.extract_stack does, for every frame).
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None:
            path = self._program_file(frame.f_code.co_filename)
            if path is not None:
                self.by_resource.setdefault((type_, name), (path, frame.f_lineno))
                return
            frame = frame.f_back

    def install(self) -> None:
        """Wrap the SDK's synchronous registration calls, made from the resource's constructor."""
        for attribute in ("register_resource", "read_resource"):
            original = getattr(pulumi.resource, attribute)

            def wrapper(
                res: Any, ty: str, name: str, *args: Any, _original: Any = original, **kwargs: Any
            ) -> Any:
                self.note(ty, name)
                return _original(res, ty, name, *args, **kwargs)

            setattr(pulumi.resource, attribute, wrapper)


def record_program(
    program_dir: Path, main: Path, *, project: str, stack: str, preview: bool
) -> RecordedStack:
    """Run the program in this process under mocks; raises whatever the program raises."""
    config = pulumi.runtime.get_config_env()
    region = str(config.get("aws:region") or DEFAULT_REGION)
    mocks = RecordingMocks(preview=preview, region=region)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    os.chdir(program_dir)
    sys.path.insert(0, str(main if main.is_dir() else main.parent))
    sources = SourceLocations(program_dir)
    sources.install()

    def run_program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    _sync_await(run_pulumi_func(run_program))
    records = monitor.records
    for record in records:
        record.source_file, record.source_line = sources.by_resource.get((record.type, record.name), ("", 0))
    _default_providers(records, {k: str(v) for k, v in config.items()}, stack, project)
    secret_keys = json.loads(os.environ.get("PULUMI_CONFIG_SECRET_KEYS", "[]"))
    return RecordedStack(
        project=project,
        stack=stack,
        dry_run=preview,
        config={k: str(v) for k, v in config.items()},
        config_secret_keys=secret_keys,
        resources=records,
    )


def _exit_when_stdin_closes() -> None:
    while os.read(0, 4096):  # the descriptor, not sys.stdin: its lock held at exit would abort the exit
        pass
    os._exit(EXIT_PROGRAM_FAILED)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bucketguard.policy.mock_runtime")
    parser.add_argument("program_dir", type=Path)
    parser.add_argument("main", type=Path)
    parser.add_argument("--project", required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--preview", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    try:
        recorded = record_program(
            args.program_dir, args.main, project=args.project, stack=args.stack, preview=args.preview
        )
    except Exception as exc:  # the program's own error, reported by the parent with its traceback
        sys.stderr.write("".join(traceback.format_exception(exc)))
        sys.stderr.write(f"\n{program_error(exc)}\n")
        return EXIT_PROGRAM_FAILED
    args.out.write_text(recorded.to_json(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
