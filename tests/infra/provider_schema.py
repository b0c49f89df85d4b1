"""Checks a resource's inputs, as the provider receives them, against the installed pulumi_aws's own types.

The mock runtime accepts any property; the real provider does not. The SDK translates the snake_case keys of
a dict input into the schema's names only for keys it knows: a misspelt key, a key of another object type or
a nested dict inside a provider's JSON-encoded config (issue 5271: `assume_roles=[{"role_arn": ...}]`) reaches
the provider as written, where it is refused or silently ignored. Every object's keys must be properties of
its `...Args` input type, and a value of a property typed as an enum one of the enum's values.
"""

from __future__ import annotations

import collections.abc
import enum
import importlib
import json
import re
import typing
from functools import cache
from typing import Any

from pulumi import _types

PROVIDER = "pulumi:providers:aws"
_MAPPINGS = (collections.abc.Mapping, dict)
_SEQUENCES = (collections.abc.Sequence, list)


@cache
def args_type(token: str) -> type | None:
    """The input type of the resource `token` (`aws:s3/bucketNotification:BucketNotification`), or None for
    a type pulumi_aws does not define (components, stack references)."""
    if token == PROVIDER:
        return importlib.import_module("pulumi_aws.provider").ProviderArgs  # type: ignore[no-any-return]
    package, module_path, _ = token.split(":")
    if package != "aws":
        return None
    module, resource = module_path.split("/")
    python_module = "lambda_" if module == "lambda" else module
    prefix = "pulumi_aws" if module == "index" else f"pulumi_aws.{python_module}"
    defined = importlib.import_module(f"{prefix}.{re.sub(r'(?<!^)(?=[A-Z])', '_', resource).lower()}")
    # The resource's own args class is the one input type its module defines (named `<Name>InitArgs` when
    # a nested type already took `<Name>Args`); `_<Name>State` is the other.
    (found,) = [
        cls
        for cls in vars(defined).values()
        if isinstance(cls, type)
        and cls.__module__ == defined.__name__
        and _types.is_input_type(cls)
        and not cls.__name__.startswith("_")
    ]
    return found


def _members(annotation: Any) -> list[Any]:
    """The types a property accepts (Input/Optional/Union unwrapped)."""
    unwrapped = _types.unwrap_type(annotation)
    if typing.get_origin(unwrapped) is typing.Union:
        return [member for arg in typing.get_args(unwrapped) for member in _members(arg)]
    return [unwrapped]


def _check(value: Any, annotation: Any, path: str, problems: list[str]) -> None:
    members = _members(annotation)
    for member in members:
        origin = typing.get_origin(member)
        if isinstance(member, type) and _types.is_input_type(member) and isinstance(value, dict):
            known = _types.input_type_types(member)
            for key, item in value.items():
                if key in known:
                    _check(item, known[key], f"{path}.{key}", problems)
                else:
                    problems.append(f"{path}.{key}: not a property of {member.__name__} ({', '.join(known)})")
            return
        if origin in _MAPPINGS and isinstance(value, dict):
            for key, item in value.items():
                _check(item, typing.get_args(member)[1], f"{path}[{key!r}]", problems)
            return
        if origin in _SEQUENCES and isinstance(value, list):
            for index, item in enumerate(value):
                _check(item, typing.get_args(member)[0], f"{path}[{index}]", problems)
            return
    allowed = {e.value for m in members if isinstance(m, type) and issubclass(m, enum.Enum) for e in m}
    if allowed and isinstance(value, str) and value not in allowed:
        problems.append(f"{path}: {value!r} is none of {sorted(allowed)}")


def input_problems(token: str, inputs: dict[str, Any]) -> list[str]:
    """What the provider would refuse or ignore in `inputs` (camelCase, as the mocks record them)."""
    args = args_type(token)
    if args is None:
        return []
    known = _types.input_type_types(args)
    problems: list[str] = []
    for key, value in inputs.items():
        if key not in known:
            problems.append(f"{key}: not an input of {token}")
            continue
        # The provider's object-typed config travels as JSON text, untranslated.
        if token == PROVIDER and isinstance(value, str) and value[:1] in "[{":
            value = json.loads(value)
        _check(value, known[key], key, problems)
    return problems


# The JSON policy documents, by resource type and input: "identity" policies name no Principal, resource
# policies must, a trust policy names no Resource.
POLICY_INPUTS = {
    ("aws:iam/rolePolicy:RolePolicy", "policy"): "identity",
    ("aws:iam/role:Role", "assumeRolePolicy"): "trust",
    ("aws:sqs/queuePolicy:QueuePolicy", "policy"): "resource",
    ("aws:sns/topicPolicy:TopicPolicy", "policy"): "resource",
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"): "resource",
    ("aws:kms/keyPolicy:KeyPolicy", "policy"): "resource",
    ("aws:cloudwatch/eventBusPolicy:EventBusPolicy", "policy"): "resource",
}
_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
}
_OPERATORS = re.compile(
    r"^(ForAllValues:|ForAnyValue:)?(StringEquals|StringNotEquals|StringEqualsIgnoreCase|StringNotEqualsIgnoreCase"
    r"|StringLike|StringNotLike|NumericEquals|NumericNotEquals|NumericLessThan|NumericLessThanEquals"
    r"|NumericGreaterThan|NumericGreaterThanEquals|DateEquals|DateNotEquals|DateLessThan|DateLessThanEquals"
    r"|DateGreaterThan|DateGreaterThanEquals|Bool|BinaryEquals|IpAddress|NotIpAddress|ArnEquals|ArnLike"
    r"|ArnNotEquals|ArnNotLike)(IfExists)?$|^Null$"
)
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")


def policy_problems(token: str, inputs: dict[str, Any]) -> list[str]:
    """What IAM's policy grammar refuses in the resource's policy document (MalformedPolicyDocument)."""
    problems: list[str] = []
    for (policy_token, key), kind in POLICY_INPUTS.items():
        if token != policy_token or key not in inputs:
            continue
        document = json.loads(inputs[key])
        if set(document) - {"Version", "Id", "Statement"} or document.get("Version") != "2012-10-17":
            problems.append(f"{key}: a document has Version 2012-10-17, Id and Statement only")
        sids = [s["Sid"] for s in document["Statement"] if "Sid" in s]
        if len(sids) != len(set(sids)):
            problems.append(f"{key}: Sids repeat")
        for index, statement in enumerate(document["Statement"]):
            where = f"{key}.Statement[{index}]"
            problems += [
                f"{where}.{k}: not a statement element"
                for k in set(statement) - _STATEMENT_KEYS - {"Condition"}
            ]
            if statement.get("Effect") not in ("Allow", "Deny"):
                problems.append(f"{where}.Effect: Allow or Deny")
            if ("Action" in statement) == ("NotAction" in statement):
                problems.append(f"{where}: one of Action and NotAction")
            actions = statement.get("Action", statement.get("NotAction", []))
            problems += [
                f"{where}: action {a!r}"
                for a in (actions if isinstance(actions, list) else [actions])
                if not (isinstance(a, str) and (_ACTION.match(a) or a == "*"))
            ]
            principal = "Principal" in statement or "NotPrincipal" in statement
            if principal != (kind != "identity"):
                problems.append(
                    f"{where}: a {kind} policy {'needs' if kind != 'identity' else 'has no'} Principal"
                )
            resource = "Resource" in statement or "NotResource" in statement
            if resource != (kind != "trust"):
                problems.append(
                    f"{where}: a {kind} policy {'has no' if kind == 'trust' else 'needs'} Resource"
                )
            if kind == "identity" and not re.fullmatch(r"[A-Za-z0-9]*", statement.get("Sid", "")):
                problems.append(f"{where}.Sid: IAM takes letters and digits only")
            for operator, pairs in statement.get("Condition", {}).items():
                if not _OPERATORS.match(operator):
                    problems.append(f"{where}.Condition: no operator {operator!r}")
                if not isinstance(pairs, dict) or not pairs:
                    problems.append(f"{where}.Condition.{operator}: keys and values")
    return problems
