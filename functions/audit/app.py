"""Lambda entry point of the scheduled audit's unit function (one account and region per SQS message): a
thin shell over bucketguard.scheduled_audit."""

from __future__ import annotations

from typing import Any

from bucketguard.pipeline.lambda_runtime import lambda_logger
from bucketguard.scheduled_audit import AuditUnitFunction

logger = lambda_logger()
_function: AuditUnitFunction | None = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _function
    if _function is None:  # once per container: clients, settings
        _function = AuditUnitFunction.from_environment()
    return _function.handle(event, context)
