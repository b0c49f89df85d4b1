"""Lambda entry point of the scanner: a thin shell over bucketguard.pipeline (ScannerFunction)."""

from __future__ import annotations

from bucketguard.pipeline.lambda_functions import ScannerFunction
from bucketguard.pipeline.lambda_runtime import sqs_handler

handler = sqs_handler(ScannerFunction.from_environment)
