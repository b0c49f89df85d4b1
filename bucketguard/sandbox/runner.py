"""The local Lambda runner: reads what was deployed from the embedded AWS and runs it as Lambda would.

From moto, in every account and region the deployment used: the functions (handler, environment,
memory, timeout, role, code), their SQS event source mappings (queue, batch size, partial batch
responses) and the scheduled EventBridge rules that target them (`run_schedules` plays one's time). The
deployer creates the mappings disabled (an enabled one makes moto invoke through Docker); the runner polls
the mappings the program declared enabled itself.

Each function runs in a process of its own (bucketguard/sandbox/worker.py) with the function's deployed
environment and its role's credentials from moto's STS. The code is the deployed zip's own
`bucketguard/`, `functions/` and compiled ruleset, extracted into a task root that stands in for /var/task;
its third-party wheels are built for the Lambda platform (arm64 Linux), so the host's installed copies of
the same pinned versions are used. Two sandbox-only additions to the environment: the embedded AWS's
endpoint (`AWS_ENDPOINT_URL`, and as a download origin of the scanner, which otherwise reads only from
https://*.amazonaws.com).

Deterministic: a failed message is made visible again at once (its visibility timeout is over at the next
poll) instead of after the queue's wall-clock timeout, so SQS moves it to the DLQ after exactly
maxReceiveCount receives, whatever the machine's load.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bucketguard import packaging
from bucketguard.pipeline import env
from bucketguard.sandbox.aws import AccountSession, EmbeddedAws
from bucketguard.sandbox.resources import code_object

log = logging.getLogger("bucketguard.sandbox.runner")

Handler = Callable[[dict[str, Any], Any], Any]
WORKER = Path(__file__).with_name("worker.py")
LAMBDA_TASK_ROOT = "/var/task/"
# Enough polls for any real drain; a queue still busy after this many has a message nobody can finish.
MAX_DRAIN_ROUNDS = 10_000


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read (in-process tests)."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: float = 900.0
    aws_request_id: str = ""
    invoked_function_arn: str = ""
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = (
            self.invoked_function_arn
            or f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvocationError(RuntimeError):
    """The function raised (or its process died): the whole batch failed."""


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    arn: str
    handler: str
    role_arn: str
    region: str
    environment: dict[str, str]
    memory_mb: int
    timeout_seconds: int
    code_sha256: str  # base64, as Lambda reports it
    tags: dict[str, str]
    log_group: str = ""

    @property
    def kind(self) -> str:
        """`functions.listener.app.handler` -> `listener`."""
        parts = self.handler.split(".")
        return parts[1] if len(parts) == 4 and parts[0] == "functions" else self.handler


class FunctionProcess:
    """A function's execution environment: started at the first invocation, kept warm afterwards."""

    def __init__(self, function: DeployedFunction, task_root: Path, environ: dict[str, str], log_path: Path):
        self.function = function
        self.task_root = task_root
        self.environ = environ
        self.log_path = log_path
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[str]:
        self._log = self.log_path.open("a")
        return subprocess.Popen(
            [sys.executable, "-I", str(WORKER), str(self.task_root), self.function.handler],
            cwd=self.task_root,
            env=self.environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    def __call__(self, event: dict[str, Any], context: Any = None) -> Any:
        request = {
            "event": event,
            "context": {
                "function_name": self.function.name,
                "invoked_function_arn": self.function.arn,
                "memory_limit_in_mb": self.function.memory_mb,
                "timeout_seconds": self.function.timeout_seconds,
                "aws_request_id": str(uuid.uuid4()),
                "log_group_name": self.function.log_group,
            },
        }
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            assert self._process.stdin is not None and self._process.stdout is not None
            try:
                self._process.stdin.write(json.dumps(request) + "\n")
                self._process.stdin.flush()
                line = self._process.stdout.readline()
            except (BrokenPipeError, OSError):
                line = ""
        if not line:
            raise InvocationError(
                f"{self.function.name}: the function's process exited (see {self.log_path})"
            )
        response = json.loads(line)
        if "error" in response:
            raise InvocationError(f"{self.function.name}: {response['error']}: {response['message']}")
        return response["result"]

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                assert self._process.stdin is not None
                self._process.stdin.close()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                self._process = None
            if self._log is not None:
                self._log.close()
                self._log = None


@dataclass
class BatchReport:
    received: int = 0
    succeeded: int = 0
    failed: int = 0


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType", "String"),
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


@dataclass
class SqsEventSource:
    """One SQS event source mapping: receive a batch, invoke, delete what succeeded, release the rest."""

    sqs: Any
    queue_url: str
    queue_arn: str
    handler: Handler
    function_name: str
    batch_size: int = 10
    report_batch_item_failures: bool = True
    region: str = "us-east-1"
    records: int = 0  # messages delivered, counting each redelivery
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def poll_once(self) -> BatchReport:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        report = BatchReport(received=len(messages))
        if not messages:
            return report
        self.records += len(messages)
        failed_ids: set[str]
        try:
            response = self.handler(lambda_sqs_event(messages, self.queue_arn, self.region), None)
            failures = response.get("batchItemFailures", []) if isinstance(response, dict) else []
            # Without ReportBatchItemFailures on the mapping, Lambda ignores the list: the batch succeeded.
            failed_ids = {f["itemIdentifier"] for f in failures} if self.report_batch_item_failures else set()
        except Exception as exc:  # the whole batch failed, as when a Lambda function raises
            log.info("%s: batch failed (%s)", self.function_name, exc)
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        for m in messages:
            if m["MessageId"] in failed_ids:  # its visibility timeout is over at the next poll
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
        report.succeeded = len(done)
        report.failed = len(messages) - len(done)
        return report

    def pending(self) -> int:
        """Messages visible or in flight on the queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    # --- background mode (the demo, --keep, sandbox up) ---------------------------------------------

    def start(self, idle_sleep: float = 0.2) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    received = self.poll_once().received
                except Exception:  # the embedded AWS shutting down, or a transient error
                    log.debug("poll failed", exc_info=True)
                    received = 0
                if not received:
                    self._stop.wait(idle_sleep)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name=f"sqs-{self.function_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


def drain(sources: list[SqsEventSource]) -> None:
    """Runs every source until all their queues are empty. No clock involved: a failed message is
    received again at the next poll until SQS moves it to the DLQ."""
    for _ in range(MAX_DRAIN_ROUNDS):
        if sum(source.poll_once().received for source in sources):
            continue
        busy = {s.function_name: n for s in sources if (n := s.pending())}
        if not busy:
            return
        raise RuntimeError(f"messages the runner cannot receive (delayed?): {busy}")
    raise RuntimeError(f"queues still busy after {MAX_DRAIN_ROUNDS} polls")


class LambdaRunner:
    """Every deployed function with an SQS trigger, read back from the embedded AWS."""

    def __init__(
        self,
        aws: EmbeddedAws,
        places: list[tuple[str, str]],
        declared_enabled: dict[str, bool],
        workdir: Path,
    ) -> None:
        self.aws = aws
        self.workdir = workdir
        self.functions: list[DeployedFunction] = []
        self.sources: list[SqsEventSource] = []
        self.processes: dict[str, FunctionProcess] = {}
        self._task_roots: dict[str, Path] = {}
        self._admins: dict[str, AccountSession] = {}  # function ARN -> the deployer in its place
        seen: set[str] = set()
        for role_arn, region in places:
            admin = aws.assume(role_arn, region) if role_arn else aws.deployer(region)
            lambda_ = admin.client("lambda", region_name=region)
            for function in _list_functions(lambda_, region):
                if function.arn in seen:
                    continue
                seen.add(function.arn)
                self.functions.append(function)
                self._admins[function.arn] = admin
                mappings = lambda_.list_event_source_mappings(FunctionName=function.arn)[
                    "EventSourceMappings"
                ]
                for mapping in mappings:
                    if declared_enabled.get(mapping["UUID"], False):
                        self.sources.append(self._source(admin, function, mapping))

    def _source(
        self, admin: AccountSession, function: DeployedFunction, mapping: dict[str, Any]
    ) -> SqsEventSource:
        queue_arn = mapping["EventSourceArn"]
        _, _, _, region, account, queue_name = queue_arn.split(":")
        role = self.aws.assume(function.role_arn, function.region)  # Lambda polls as the function's role
        sqs = role.client("sqs", region_name=region)
        queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return SqsEventSource(
            sqs,
            queue_url,
            queue_arn,
            self.process(function, admin),
            function_name=function.name,
            batch_size=int(mapping.get("BatchSize") or 10),
            report_batch_item_failures="ReportBatchItemFailures"
            in (mapping.get("FunctionResponseTypes") or []),
            region=region,
        )

    def process(self, function: DeployedFunction, admin: AccountSession) -> FunctionProcess:
        if function.arn not in self.processes:
            task_root = self._task_root(function, admin)
            credentials = self.aws.assume(function.role_arn, function.region).session.get_credentials()
            variables = {
                k: v.replace(LAMBDA_TASK_ROOT, f"{task_root}/") if v.startswith(LAMBDA_TASK_ROOT) else v
                for k, v in function.environment.items()
            }
            origins = ",".join(filter(None, [variables.get(env.DOWNLOAD_ORIGINS, ""), self.aws.endpoint_url]))
            environ = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 (the process's home, as on Lambda)
                "TMPDIR": os.environ.get("TMPDIR", "/tmp"),  # noqa: S108
                "PYTHONDONTWRITEBYTECODE": "1",
                **variables,
                env.DOWNLOAD_ORIGINS: origins,
                "AWS_ENDPOINT_URL": self.aws.endpoint_url,
                "AWS_REGION": function.region,
                "AWS_DEFAULT_REGION": function.region,
                "AWS_ACCESS_KEY_ID": credentials.access_key,
                "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
                "AWS_SESSION_TOKEN": credentials.token,
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group,
                "LAMBDA_TASK_ROOT": str(task_root),
                "_HANDLER": function.handler,
            }
            log_path = self.workdir / f"{function.name}.log"
            self.processes[function.arn] = FunctionProcess(function, task_root, environ, log_path)
        return self.processes[function.arn]

    def _task_root(self, function: DeployedFunction, admin: AccountSession) -> Path:
        """The deployed zip's own code (not its Lambda-platform wheels), extracted once per code hash."""
        if function.code_sha256 not in self._task_roots:
            sha_hex = base64.b64decode(function.code_sha256).hex()
            bucket, key = code_object(admin.account_id, function.region, sha_hex)
            data = (
                admin.client("s3", region_name=function.region)
                .get_object(Bucket=bucket, Key=key)["Body"]
                .read()
            )
            root = self.workdir / f"task-{sha_hex[:12]}"
            wanted = (*(f"{d}/" for d in packaging.FIRST_PARTY_DIRS), packaging.RULESET_FILE)
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                archive.extractall(root, [n for n in archive.namelist() if n.startswith(wanted)])
            self._task_roots[function.code_sha256] = root
        return self._task_roots[function.code_sha256]

    def source(self, kind: str, storage: str | None = None) -> SqsEventSource:
        """The event source of the `listener`, `scanner` or `postscan` function (of one storage)."""
        for source in self.sources:
            function = next(f for f in self.functions if f.name == source.function_name)
            if function.kind == kind and (
                storage is None or function.tags.get("bucketguard-storage") == storage
            ):
                return source
        raise KeyError(f"no deployed {kind} function" + (f" for storage {storage}" if storage else ""))

    def drain(self) -> None:
        drain(self.sources)

    def run_schedules(self, kind: str) -> list[Any]:
        """Invokes every `kind` function an enabled scheduled EventBridge rule targets, with the event the
        rule sends (its target's constant input, else a Scheduled Event), as if its time had come; each
        invocation's result. The rules and targets are read from the embedded AWS."""
        results = []
        for function in (f for f in self.functions if f.kind == kind):
            admin = self._admins[function.arn]
            events = admin.client("events", region_name=function.region)
            for rule_name in events.list_rule_names_by_target(TargetArn=function.arn)["RuleNames"]:
                rule = events.describe_rule(Name=rule_name)
                if not rule.get("ScheduleExpression") or rule.get("State") != "ENABLED":
                    continue
                for target in events.list_targets_by_rule(Rule=rule_name)["Targets"]:
                    if target["Arn"] == function.arn:
                        event = _scheduled_event(rule, admin.account_id, function.region, target)
                        results.append(self.process(function, admin)(event))
        return results

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def stop(self) -> None:
        for source in self.sources:
            source.stop()
        for process in self.processes.values():
            process.stop()


def _scheduled_event(rule: dict[str, Any], account: str, region: str, target: dict[str, Any]) -> Any:
    if target.get("Input"):
        return json.loads(target["Input"])
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [rule["Arn"]],
        "detail": {},
    }


def _list_functions(lambda_: Any, region: str) -> list[DeployedFunction]:
    functions = []
    for page in lambda_.get_paginator("list_functions").paginate():
        for f in page["Functions"]:
            functions.append(
                DeployedFunction(
                    name=f["FunctionName"],
                    arn=f["FunctionArn"],
                    handler=f["Handler"],
                    role_arn=f["Role"],
                    region=region,
                    environment=dict(f.get("Environment", {}).get("Variables", {})),
                    memory_mb=int(f.get("MemorySize", 128)),
                    timeout_seconds=int(f.get("Timeout", 3)),
                    code_sha256=f["CodeSha256"],
                    tags=lambda_.list_tags(Resource=f["FunctionArn"]).get("Tags", {}),
                    log_group=f.get("LoggingConfig", {}).get("LogGroup", ""),
                )
            )
    return functions
