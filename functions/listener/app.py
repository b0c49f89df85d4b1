"""Lambda entry point of the listener: a thin shell over bucketguard.pipeline (ListenerFunction)."""

from __future__ import annotations

from bucketguard.pipeline.lambda_functions import ListenerFunction
from bucketguard.pipeline.lambda_runtime import sqs_handler

handler = sqs_handler(ListenerFunction.from_environment)
