"""Lambda entry point of the postscan: a thin shell over bucketguard.pipeline (PostScanFunction)."""

from __future__ import annotations

from bucketguard.pipeline.lambda_functions import PostScanFunction
from bucketguard.pipeline.lambda_runtime import sqs_handler

handler = sqs_handler(PostScanFunction.from_environment)
