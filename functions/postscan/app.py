"""Lambda entry point of the postscan: a thin shell over bucketguard.pipeline (PostScanFunction)."""

from __future__ import annotations

from typing import Any

from bucketguard.pipeline.lambda_functions import PostScanFunction, lambda_logger

logger = lambda_logger()
_function: PostScanFunction | None = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _function
    if _function is None:  # once per container: clients, settings
        _function = PostScanFunction.from_environment()
    return _function.handle(event, context)
