"""Lambda entry point of the scanner: a thin shell over bucketguard.pipeline (ScannerFunction)."""

from __future__ import annotations

from typing import Any

from bucketguard.pipeline.lambda_functions import ScannerFunction, lambda_logger

logger = lambda_logger()
_function: ScannerFunction | None = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _function
    if _function is None:  # once per container: clients, settings, compiled rules
        _function = ScannerFunction.from_environment()
    return _function.handle(event, context)
