"""Lambda entry point of the listener: a thin shell over bucketguard.pipeline (ListenerFunction)."""

from __future__ import annotations

from typing import Any

from bucketguard.pipeline.lambda_functions import ListenerFunction, lambda_logger

logger = lambda_logger()
_function: ListenerFunction | None = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _function
    if _function is None:  # once per container: clients, settings
        _function = ListenerFunction.from_environment()
    return _function.handle(event, context)
