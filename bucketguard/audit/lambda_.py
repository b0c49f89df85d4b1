"""Lambda collector: functions (with their execution role, joined per account), each statement of their
resource policies as one permission, and their function URLs."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from bucketguard.audit.reader import Call, Reader
from bucketguard.rules.facts import (
    LambdaFunctionFacts,
    LambdaFunctionUrlFacts,
    LambdaPermissionFacts,
    PolicyStatement,
    parse_policy_document,
)

PERMISSION_RULES = ("lambda_permission_public_access_prohibited", "lambda_permission_source_restricted")
FUNCTIONS = Call(
    "list_functions",
    (*PERMISSION_RULES, "lambda_function_url_auth_required", "lambda_function_role_admin_prohibited"),
)
POLICY = Call("get_policy", PERMISSION_RULES, absent=frozenset({"ResourceNotFoundException"}))
FUNCTION_URL = Call(
    "get_function_url_config",
    ("lambda_function_url_auth_required",),
    absent=frozenset({"ResourceNotFoundException"}),
)
TAGS = Call("list_tags", ("s3_bucket_malware_scanning_enabled",))  # a listener is known by its tag
CALLS = (FUNCTIONS, POLICY, FUNCTION_URL, TAGS)
ACCOUNT_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):root$")


def _condition(statement: PolicyStatement, key: str) -> str | None:
    for condition in statement.conditions:
        if condition.key == key.lower() and condition.values:
            return condition.values[0]
    return None


def _principal(statement: PolicyStatement) -> str:
    """As `aws lambda add-permission` takes it: ``*``, an account id, an ARN or a service."""
    if statement.principal_is_everyone:
        return "*"
    if not statement.principals:
        return ""
    value = statement.principals[0].value
    root = ACCOUNT_ROOT.match(value)
    return root.group(1) if root else value


def permissions(function: str, function_arn: str, region: str, policy: str) -> list[LambdaPermissionFacts]:
    """One ``LambdaPermissionFacts`` per statement of a function's resource policy."""
    result = []
    for index, statement in enumerate(parse_policy_document(policy)):
        if not statement.is_allow:
            continue
        actions = statement.actions or ("lambda:invokefunction",)
        result.append(
            LambdaPermissionFacts(
                name=f"{function}/{statement.sid or index}",
                type="AWS::Lambda::Permission",
                region=region,
                ref=f"{function_arn}#{statement.sid or index}",
                function_name=function,
                action=_action_name(actions[0]),
                principal=_principal(statement),
                source_arn=_condition(statement, "aws:sourcearn"),
                source_account=_condition(statement, "aws:sourceaccount"),
                principal_org_id=_condition(statement, "aws:principalorgid"),
                function_url_auth_type=_condition(statement, "lambda:functionurlauthtype"),
            )
        )
    return result


def _action_name(action: str) -> str:
    """Policies lower-case actions; the rules compare the API's spelling (``lambda:InvokeFunctionUrl``)."""
    known = {a.lower(): a for a in ("lambda:InvokeFunction", "lambda:InvokeFunctionUrl", "lambda:*", "*")}
    return known.get(action, action)


def collect_lambda(reader: Reader) -> None:
    client = reader.client("lambda")
    functions = reader.paginate(client, FUNCTIONS, "Functions")

    def collect(function: dict[str, Any]) -> None:
        name, arn = str(function["FunctionName"]), str(function["FunctionArn"])
        tags = (reader.call(client, TAGS, resource_name=name, arn=arn, Resource=arn) or {}).get("Tags", {})
        reader.collection.add(
            "lambda_functions",
            LambdaFunctionFacts(
                name=name,
                type="AWS::Lambda::Function",
                region=reader.region,
                ref=arn,
                tags=dict(tags),
                role=function.get("Role"),
            ),
        )
        policy = reader.call(client, POLICY, resource_name=name, arn=arn, FunctionName=name)
        for permission in permissions(name, arn, reader.region, policy["Policy"] if policy else ""):
            # The function's tags: exemptions and the remediate opt-out name the function, not a statement.
            reader.collection.add("lambda_permissions", replace(permission, tags=dict(tags)))
        url = reader.call(client, FUNCTION_URL, resource_name=name, arn=arn, FunctionName=name)
        if url is not None:
            reader.collection.add(
                "lambda_function_urls",
                LambdaFunctionUrlFacts(
                    name=f"{name}/url",
                    type="AWS::Lambda::Url",
                    region=reader.region,
                    ref=arn,
                    tags=dict(tags),
                    function_name=name,
                    authorization_type=str(url.get("AuthType", "AWS_IAM")),
                ),
            )

    reader.each(functions, lambda f: f"function {f.get('FunctionName')}", collect)
