"""Lambda entry point of the scheduled rule update: a thin shell over bucketguard.pipeline.rule_updates."""

from __future__ import annotations

from typing import Any

from bucketguard.pipeline.lambda_runtime import lambda_logger
from bucketguard.pipeline.rule_updates import RuleUpdateSettings, run_rule_update

logger = lambda_logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import boto3

    outcome = run_rule_update(
        RuleUpdateSettings.resolve(),
        boto3.client("s3"),
        boto3.client("sns"),
        secrets=boto3.client("secretsmanager"),  # sources whose URL, with its key, is a secret
    )
    return {"status": outcome.status, "ruleset_version": outcome.ruleset_version, "detail": outcome.detail}
