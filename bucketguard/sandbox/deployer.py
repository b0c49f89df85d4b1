"""Deploys the real Pulumi program (`infra/`, unchanged) with a stack config into the embedded AWS.

The program runs under the Pulumi SDK's mock runtime; `Mocks.new_resource` creates each resource in moto
through boto3 (bucketguard.sandbox.resources) and hands the real outputs back, so dependent resources get
real ARNs, URLs and names. Each `pulumi:providers:aws` is an account and region: with `assumeRoles` the
role is assumed through moto's STS, without it the deployer's own credentials are used (account
123456789012), and `allowedAccountIds` is checked as the provider would.

Each deployment runs in a fresh Python process (`python -m bucketguard.sandbox.deployer REQUEST`): the SDK
registers its root stack once per process. Buckets a storage protects without creating them
(`createBucket: false`) must exist before `pulumi up`; the sandbox creates them first, versioned, standing
in for the bucket the user already has.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bucketguard import validation
from bucketguard.errors import program_error
from bucketguard.sandbox.aws import (
    DEPLOYER_ACCOUNT,
    PACKAGE_ROOT,
    REGION,
    AccountSession,
    EmbeddedAws,
    assume_role,
    bootstrap_session,
)
from bucketguard.sandbox.resources import DeployError, Place, create

PROGRAM = PACKAGE_ROOT / "infra" / "__main__.py"
EXAMPLE_STACKS = PACKAGE_ROOT / "examples" / "stacks"
PROJECT = "bucketguard"


@dataclass(frozen=True)
class DeployedResource:
    type: str
    name: str
    id: str
    account: str
    region: str
    outputs: dict[str, Any]


@dataclass(frozen=True)
class Deployment:
    """What the program deployed: every resource with its account, region and outputs; the stack outputs."""

    stack: str
    resources: tuple[DeployedResource, ...]
    outputs: dict[str, Any]
    seconds: float

    def of_type(self, type_: str) -> list[DeployedResource]:
        return [r for r in self.resources if r.type == type_]

    @property
    def places(self) -> list[tuple[str, str]]:
        """(role ARN or "" for the deployer's own credentials, region) of every provider."""
        return sorted({(r.outputs["roleArn"], r.region) for r in self.of_type("pulumi:providers:aws")})


def read_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi.<stack>.yaml file: one to deploy, never empty."""
    config = validation.read_stack_config(path)
    if not config:
        raise DeployError(f"{path}: no `config:` mapping (expected a Pulumi.<stack>.yaml file)")
    return config


def stack_name(path: Path) -> str:
    """`Pulumi.dev.yaml` -> `dev`."""
    parts = path.name.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "Pulumi" else path.stem


def deploy(
    aws: EmbeddedAws,
    config: Mapping[str, Any],
    *,
    stack: str,
    artifact_dir: Path | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Deployment:
    """Runs the program with this stack config (the `config:` mapping) in a fresh process; raises DeployError
    naming the resource that failed. `stack_outputs` holds the outputs of the stacks deployed before it
    into the same embedded AWS ({"org/project/stack": outputs}) that its StackReferences read."""
    if not PROGRAM.is_file():
        raise DeployError(
            f"{PROGRAM}: the sandbox deploys the repository's infra/ program; run it from a checkout"
        )
    settings = dict(config)
    if artifact_dir is not None:
        settings["bucketguard:artifactDir"] = str(artifact_dir)
    request = {
        "endpoint_url": aws.endpoint_url,
        "stack": stack,
        "config": settings,
        "stack_outputs": dict(stack_outputs or {}),
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bucketguard-deploy-") as tmp:
        request_file = Path(tmp) / "request.json"
        request_file.write_text(json.dumps(request))
        completed = subprocess.run(
            [sys.executable, "-m", "bucketguard.sandbox.deployer", str(request_file)],
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0 or not completed.stdout.strip():
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise DeployError(f"the deployer process failed: {last}")
    result = json.loads(completed.stdout)
    if result["error"]:
        raise DeployError(result["error"])
    return Deployment(
        stack=stack,
        resources=tuple(DeployedResource(**r) for r in result["resources"]),
        outputs=result["outputs"],
        seconds=time.monotonic() - started,
    )


# --- in the deployer process ------------------------------------------------------------------------


class DeployingMocks:
    """The SDK's Mocks interface: every resource is created in the embedded AWS."""

    def __init__(
        self, endpoint_url: str, default_region: str, stack_outputs: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.endpoint_url = endpoint_url
        self.stack_outputs = stack_outputs
        self.default_region = default_region
        self.deployed: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._places: dict[str, Place] = {}  # provider id -> place
        self._sessions: dict[tuple[str, str], AccountSession] = {}
        self._lock = threading.Lock()  # the SDK registers resources from several threads

    def session(self, role_arn: str, region: str) -> AccountSession:
        key = (role_arn, region)
        if key not in self._sessions:
            self._sessions[key] = (
                assume_role(self.endpoint_url, role_arn, region)
                if role_arn
                else AccountSession(DEPLOYER_ACCOUNT, "", bootstrap_session(region), self.endpoint_url)
            )
        return self._sessions[key]

    def place(
        self, role_arn: str | None, region: str, default_tags: Mapping[str, str] | None = None
    ) -> Place:
        return Place(self.session(role_arn or "", region), region, dict(default_tags or {}))

    def _provider_place(self, reference: str) -> Place:
        provider_id = reference.rsplit("::", 1)[-1] if reference else ""
        if provider_id not in self._places:
            # The program names a provider for every resource; the default provider is the deployer's own.
            self._places[provider_id] = self.place(None, self.default_region)
        return self._places[provider_id]

    def new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
        with self._lock:
            try:
                return self._new_resource(args)
            except DeployError as exc:
                self.errors.append(str(exc))
                raise

    def _new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":  # read, not registered: custom is not set
            stack = inputs.get("name", args.name)
            if stack not in self.stack_outputs:
                raise DeployError(
                    f"{args.typ} {args.name}: stack {stack!r} is not deployed in this sandbox (a stack "
                    "reading another's outputs, scannerStack or storageStacks, is deployed after it)"
                )
            return stack, {"name": stack, "outputs": dict(self.stack_outputs[stack]), "secretOutputNames": []}
        if not args.custom:  # a component: nothing to create
            return None, {}
        if args.typ == "pulumi:providers:aws":
            place = self._provider(args.name, inputs)
            self._places[args.name] = place
            self._record(args.typ, args.name, args.name, place, {"roleArn": place.session.role_arn})
            return args.name, inputs
        place = self._provider_place(args.provider)
        created = create(args.typ, place, args.name, inputs)
        self._record(args.typ, args.name, created.id, place, created.outputs)
        return created.id, {**inputs, **created.outputs}

    def _provider(self, name: str, inputs: Mapping[str, Any]) -> Place:
        roles = json.loads(inputs.get("assumeRoles") or "[]")
        role_arn = roles[0].get("roleArn") if roles else None
        region = inputs.get("region") or self.default_region
        tags = json.loads(inputs.get("defaultTags") or "{}").get("tags") or {}
        place = self.place(role_arn, region, tags)
        allowed = json.loads(inputs.get("allowedAccountIds") or "[]")
        if allowed and place.account not in allowed:
            raise DeployError(
                f"pulumi:providers:aws {name}: the credentials are for account {place.account}, "
                f"allowedAccountIds is {', '.join(allowed)}"
            )
        return place

    def _record(self, type_: str, name: str, id_: str, place: Place, outputs: dict[str, Any]) -> None:
        self.deployed.append(
            {
                "type": type_,
                "name": name,
                "id": id_,
                "account": place.account,
                "region": place.region,
                "outputs": outputs,
            }
        )

    def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":  # noqa: S105 (a function token)
            identity = self._provider_place(args.provider).client("sts").get_caller_identity()
            return {
                "accountId": identity["Account"],
                "arn": identity["Arn"],
                "userId": identity["UserId"],
                "id": identity["Account"],
            }, []
        if args.token in ("aws:s3/getBucket:getBucket", "aws:s3/getBucketPolicy:getBucketPolicy"):
            return _read_bucket(
                self._provider_place(args.provider).client("s3"), args.token, args.args["bucket"]
            )
        if args.token in ("aws:s3/getBucket:getBucket", "aws:s3/getBucketPolicy:getBucketPolicy"):
            return self._read_bucket(args.token, args.args["bucket"], self._provider_place(args.provider))
        raise DeployError(f"invoke {args.token}: the sandbox does not answer this data source")

    @staticmethod
    def _read_bucket(token: str, bucket: str, place: Place) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The two S3 data sources; "not found" is a failure of the invoke, as the provider returns it."""
        from botocore.exceptions import ClientError

        s3 = place.client("s3")
        try:
            if token.endswith("getBucketPolicy"):
                policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
                return {"bucket": bucket, "id": bucket, "policy": policy}, []
            s3.head_bucket(Bucket=bucket)
            return {"bucket": bucket, "id": bucket, "arn": f"arn:aws:s3:::{bucket}"}, []
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NoSuchBucketPolicy"):
                return {}, [("bucket", f"reading S3 Bucket ({bucket}): couldn't find resource")]
            raise


def _read_bucket(s3: Any, token: str, bucket: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The two data sources the program reads before writing a bucket policy, answered from moto; a missing
    bucket or policy fails as the provider's does ("couldn't find resource")."""
    from botocore.exceptions import ClientError

    try:
        if token.endswith("getBucket"):
            s3.head_bucket(Bucket=bucket)
            return {"bucket": bucket, "id": bucket, "arn": f"arn:aws:s3:::{bucket}"}, []
        return {"bucket": bucket, "id": bucket, "policy": s3.get_bucket_policy(Bucket=bucket)["Policy"]}, []
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket", "NoSuchBucketPolicy", "NotFound"):
            # The provider's "not found": a failure of the invoke, which the program reads and handles.
            return {}, [("bucket", f"reading S3 Bucket ({bucket}): {code}: couldn't find resource")]
        raise


def _create_existing_buckets(mocks: DeployingMocks) -> None:
    """The buckets storages protect without creating them: in a real account they exist already."""
    from infra.program import read_config, storage_deployer_role

    config = read_config()
    for storage in config.storages:
        if storage.create_bucket:
            continue
        place = mocks.place(storage_deployer_role(storage, config.fleet), storage.region)
        s3 = place.client("s3")
        location = {} if storage.region == "us-east-1" else {"LocationConstraint": storage.region}
        s3.create_bucket(
            Bucket=storage.bucket, **({"CreateBucketConfiguration": location} if location else {})
        )
        s3.put_bucket_versioning(Bucket=storage.bucket, VersioningConfiguration={"Status": "Enabled"})


def run_program(request: Mapping[str, Any]) -> dict[str, Any]:
    import pulumi

    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in request["config"].items()}
    pulumi.runtime.set_all_config(config)
    mocks = DeployingMocks(
        request["endpoint_url"], config.get("aws:region", REGION), request.get("stack_outputs", {})
    )
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=request["stack"], preview=False)  # type: ignore[arg-type]
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> Any:
        _create_existing_buckets(mocks)
        runpy.run_path(str(PROGRAM), run_name="__main__")
        root = pulumi.runtime.settings.get_root_resource()
        return pulumi.Output.from_input(getattr(root, "outputs", {})).apply(outputs.update)

    error = None
    try:
        program()
    except Exception as exc:
        error = mocks.errors[0] if mocks.errors else program_error(exc)
    return {"resources": mocks.deployed, "outputs": outputs, "error": error}


def main() -> None:
    request = json.loads(Path(sys.argv[1]).read_text())
    json.dump(run_program(request), sys.stdout, default=str)


if __name__ == "__main__":
    main()
