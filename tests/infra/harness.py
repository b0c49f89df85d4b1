"""Runs the Pulumi program under the SDK's mock runtime in this process and prints the resource graph.

    python -m tests.infra.harness <request.json>

request: {"config": {"bucketguard:scanner": {...}, ...}, "stack": "dev", "stack_outputs": {ref: {...}}}.
Prints one JSON document: {"resources": [...], "urns": {...}, "dependencies": {...}, "log": [...],
"error": null | "message"}. Each resource: type, name, inputs (camelCase, as the provider receives them),
provider (the provider resource's name, "" = default), and the region/account of that provider; "urns"
maps each resource's URN, as the engine computes it, to the URNs its aliases resolve to; "dependencies"
maps it to the URNs it waits for; "log" holds what the program printed. One program per process: the mock
root stack registers once.
"""

from __future__ import annotations

import json
import logging
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

import pulumi

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ACCOUNT = "123456789012"


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, stack_outputs: dict[str, dict[str, Any]], buckets: dict[str, Any]) -> None:
        self.resources: list[dict[str, Any]] = []
        self.providers: dict[str, dict[str, str]] = {}  # provider id -> {"name", "region", "account"}
        self.stack_outputs = stack_outputs
        self.buckets = buckets

    def _provider(self, reference: str) -> dict[str, str]:
        provider_id = reference.rsplit("::", 1)[-1] if reference else ""
        return self.providers.get(
            provider_id, {"name": "", "region": "us-east-1", "account": DEFAULT_ACCOUNT}
        )

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = inputs.get("name", args.name)
            self.resources.append({"type": args.typ, "name": args.name, "inputs": inputs, "provider": ""})
            outputs = self.stack_outputs.get(name)
            if outputs is None:
                raise RuntimeError(f"no mocked outputs for stack {name!r}")
            return name, {"name": name, "outputs": outputs, "secretOutputNames": []}
        # A bucket's id is its name (the bucket settings resources take it as `bucket`).
        resource_id = (
            inputs.get("bucket", f"{args.name}-id")
            if args.typ == "aws:s3/bucket:Bucket"
            else f"{args.name}-id"
        )
        if args.typ == "pulumi:providers:aws":
            roles = json.loads(inputs.get("assumeRoles", "[]") or "[]")
            role_arn = roles[0].get("roleArn", "") if roles else ""
            account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else DEFAULT_ACCOUNT
            self.providers[resource_id] = {
                "name": args.name,
                "region": inputs.get("region", ""),
                "account": account,
            }
            self.resources.append({"type": args.typ, "name": args.name, "inputs": inputs, "provider": ""})
            return resource_id, inputs
        provider = self._provider(args.provider)
        self.resources.append(
            {
                "type": args.typ,
                "name": args.name,
                "inputs": inputs,
                "provider": provider["name"],
                "region": provider["region"],
                "account": provider["account"],
            }
        )
        return resource_id, {**inputs, **_computed(args.typ, args.name, inputs, provider)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            account = self._provider(args.provider)["account"]
            return {
                "accountId": account,
                "arn": f"arn:aws:sts::{account}:assumed-role/deployer/bucketguard",
                "userId": "AROAEXAMPLE:bucketguard",
                "id": account,
            }, []
        if args.token in ("aws:s3/getBucket:getBucket", "aws:s3/getBucketPolicy:getBucketPolicy"):
            # request["buckets"]: {name: policy document or None}; a bucket not listed does not exist. A
            # data source's "not found" is a failure of the invoke (catchable), as the provider returns it.
            name = args.args["bucket"]
            if name not in self.buckets:
                return {}, [("bucket", f"reading S3 Bucket ({name}): couldn't find resource")]
            policy = self.buckets[name]
            if args.token.endswith("getBucket"):
                return {"bucket": name, "id": name, "arn": f"arn:aws:s3:::{name}"}, []
            if policy is None:
                return {}, [("bucket", f"reading S3 Bucket ({name}) Policy: couldn't find resource")]
            return {"bucket": name, "id": name, "policy": json.dumps(policy)}, []
        raise RuntimeError(f"unexpected invoke {args.token}")


class EngineUrns:
    """URNs as the engine computes them (the mock monitor keeps only the parent's last type), with each
    resource's aliases resolved as the engine resolves alias specs and inherits its parent's aliases
    (pulumi/pulumi pkg/resource/deploy: NewURN, collapseAliasToUrn, inheritedChildAlias)."""

    def __init__(self) -> None:
        self.project, self.stack = "", ""
        self.of_mock: dict[str, str] = {}  # the mock monitor's URN -> the engine's
        self.aliases: dict[str, list[str]] = {}
        self.dependencies: dict[str, list[str]] = {}  # what each resource waits for (its URNs)

    def new_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = parent.split("::")[2] if parent else ""
        if qualified and qualified != "pulumi:pulumi:Stack":
            type_ = f"{qualified}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    def register(self, request: Any, mock_urn: str) -> None:
        parent = self.of_mock.get(request.parent, "")
        urn = self.new_urn(parent, request.type, request.name)
        self.of_mock[mock_urn] = urn
        self.dependencies[urn] = sorted(self.of_mock.get(d, d) for d in getattr(request, "dependencies", []))
        aliases: list[str] = []
        for alias in getattr(request, "aliases", []):
            if not alias.HasField("spec"):
                aliases.append(alias.urn)
                continue
            spec = alias.spec
            alias_parent = "" if spec.noParent else self.of_mock.get(spec.parentUrn, parent)
            aliases.append(self.new_urn(alias_parent, spec.type or request.type, spec.name or request.name))
        parent_name = parent.rsplit("::", 1)[-1]
        for parent_alias in self.aliases.get(parent, []):
            name = request.name
            if name.startswith(parent_name):
                name = parent_alias.rsplit("::", 1)[-1] + name[len(parent_name) :]
            aliases.append(self.new_urn(parent_alias, request.type, name))
        self.aliases[urn] = sorted(set(aliases) - {urn})


def record_engine_urns(urns: EngineUrns) -> None:
    """Wraps the mock monitor's registrations to record what EngineUrns computes from each request."""
    monitor = pulumi.runtime.mocks.MockMonitor
    register, read = monitor.RegisterResource, monitor.ReadResource

    def recording_register(self: Any, request: Any) -> Any:
        response = register(self, request)
        urns.register(request, response.urn)
        return response

    def recording_read(self: Any, request: Any) -> Any:
        response = read(self, request)
        urns.register(request, response.urn)
        return response

    monitor.RegisterResource = recording_register  # type: ignore[method-assign]
    monitor.ReadResource = recording_read  # type: ignore[method-assign]


def _computed(typ: str, name: str, inputs: dict[str, Any], provider: dict[str, str]) -> dict[str, Any]:
    region, account = provider["region"], provider["account"]
    physical = f"{name}-0a1b2c"
    if typ == "aws:sqs/queue:Queue":
        return {
            "arn": f"arn:aws:sqs:{region}:{account}:{physical}",
            "url": f"https://sqs.{region}.amazonaws.com/{account}/{physical}",
            "name": physical,
        }
    if typ == "aws:sns/topic:Topic":
        return {"arn": f"arn:aws:sns:{region}:{account}:{physical}", "name": physical}
    if typ == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::{account}:role/{physical}", "name": physical}
    if typ == "aws:kms/key:Key":
        return {"arn": f"arn:aws:kms:{region}:{account}:key/{physical}", "keyId": physical}
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket", physical)
        return {"arn": f"arn:aws:s3:::{bucket}", "bucket": bucket}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        return {"arn": f"arn:aws:logs:{region}:{account}:log-group:{physical}", "name": physical}
    if typ == "aws:lambda/function:Function":
        return {"arn": f"arn:aws:lambda:{region}:{account}:function:{physical}", "name": physical}
    if typ == "aws:dynamodb/table:Table":
        return {"arn": f"arn:aws:dynamodb:{region}:{account}:table/{physical}", "name": physical}
    if typ == "aws:cloudwatch/eventRule:EventRule":
        return {"arn": f"arn:aws:events:{region}:{account}:rule/{physical}", "name": physical}
    if typ == "aws:dynamodb/table:Table":
        return {"arn": f"arn:aws:dynamodb:{region}:{account}:table/{physical}", "name": physical}
    return {}


def run(request: dict[str, Any]) -> dict[str, Any]:
    config = {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in request["config"].items()
    }
    pulumi.runtime.set_all_config(config)
    mocks = RecordingMocks(request.get("stack_outputs", {}), request.get("buckets", {}))
    urns = EngineUrns()
    urns.project, urns.stack = "bucketguard", request.get("stack", "dev")
    record_engine_urns(urns)
    pulumi.runtime.set_mocks(mocks, project=urns.project, stack=urns.stack, preview=False)

    retained: list[str] = []
    logged: list[str] = []  # what pulumi.log.info/warn print at preview (the mock engine logs to the root)

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    logging.getLogger().addHandler(Capture(logging.INFO))
    logging.getLogger().setLevel(logging.INFO)

    def record_options(args: pulumi.ResourceTransformationArgs) -> None:
        if args.opts is not None and args.opts.retain_on_delete:
            retained.append(args.name)

    @pulumi.runtime.test
    def program() -> None:
        pulumi.runtime.register_stack_transformation(record_options)  # type: ignore[arg-type]
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")

    error = None
    try:
        program()
    except Exception as exc:  # the program's error is what some tests assert on
        error = f"{type(exc).__name__}: {exc}"
        print(traceback.format_exc(), file=sys.stderr)
    return {
        "resources": mocks.resources,
        "urns": urns.aliases,
        "dependencies": urns.dependencies,
        "retained": retained,
        "log": logged,
        "error": error,
    }


if __name__ == "__main__":
    result = run(json.loads(Path(sys.argv[1]).read_text()))
    json.dump(result, sys.stdout, default=str)
