"""Lambda entry point of the monitor: a thin shell over bucketguard.monitor (MonitorFunction)."""

from __future__ import annotations

from bucketguard.monitor.function import MonitorFunction
from bucketguard.pipeline.lambda_runtime import sqs_handler

handler = sqs_handler(MonitorFunction.from_environment)
