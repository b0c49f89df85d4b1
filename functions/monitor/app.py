"""Lambda entry point of the monitor: a thin shell over bucketguard.monitor (MonitorFunction)."""

from __future__ import annotations

from typing import Any

from bucketguard.monitor.function import MonitorFunction
from bucketguard.pipeline.lambda_functions import lambda_logger

logger = lambda_logger()
_function: MonitorFunction | None = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _function
    if _function is None:  # once per container: clients, settings
        _function = MonitorFunction.from_environment()
    return _function.handle(event, context)
