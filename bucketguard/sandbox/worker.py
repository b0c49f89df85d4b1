"""One Lambda function's execution environment, started by the runner as
`python -I .../worker.py TASK_ROOT HANDLER` with the function's environment.

Imports the handler from TASK_ROOT (the deployed code, as Lambda imports it from /var/task) and answers
invocations: one JSON line per event on stdin, one JSON line per result on the original stdout. The
handler's own output (logs, metrics) goes to stderr, which the runner writes to the function's log file.

Run with `-I`: the worker's own directory is not on sys.path and nothing of the parent's environment leaks in.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class Context:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.function_name = fields["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = fields["invoked_function_arn"]
        self.memory_limit_in_mb = fields["memory_limit_in_mb"]
        self.aws_request_id = fields["aws_request_id"]
        self.log_group_name = fields.get("log_group_name", "")
        self.log_stream_name = "sandbox"
        self._deadline = time.monotonic() + fields["timeout_seconds"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _route_sqs_by_queue_url() -> None:
    """moto picks the SQS account from the caller's credentials, real SQS from the queue URL."""
    import boto3

    from bucketguard.aws import route_sqs_by_queue_url

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.sqs.*", route_sqs_by_queue_url)


def main() -> None:
    task_root, handler_path = sys.argv[1], sys.argv[2]
    results = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # print() and the handler's loggers write to the log, not to the results
    sys.path.insert(0, task_root)
    _route_sqs_by_queue_url()
    module_name, function_name = handler_path.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            response = {"result": handler(request["event"], Context(request["context"]))}
        except Exception as exc:  # the invocation failed, as a Lambda function that raises
            traceback.print_exc()
            response = {"error": type(exc).__name__, "message": str(exc)}
        results.write(json.dumps(response, default=str) + "\n")
        results.flush()


if __name__ == "__main__":
    main()
