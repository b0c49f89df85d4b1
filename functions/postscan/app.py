"""Lambda entry point of the postscan: a thin shell over bucketguard.pipeline (PostScanFunction)."""

from __future__ import annotations

from bucketguard.pipeline.lambda_functions import PostScanFunction, sqs_handler

handler = sqs_handler(PostScanFunction.from_environment)
