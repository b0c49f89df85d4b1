"""Lambda entry point of the scheduled audit's fan-out (started by the EventBridge schedule): a thin shell
over bucketguard.scheduled_audit."""

from __future__ import annotations

from typing import Any

from bucketguard.pipeline.lambda_runtime import lambda_logger
from bucketguard.scheduled_audit import handle_schedule

logger = lambda_logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_schedule(event)
