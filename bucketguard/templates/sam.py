"""AWS SAM (`Transform: AWS::Serverless-2016-10-31`): the serverless resources expanded into the plain
CloudFormation resources the transform deploys, so the CloudFormation adapter judges what SAM creates.

Works on the template before resolution (intrinsics stay data) and names what it creates as SAM does
(`<Function>Role`, `<Function>Url`, `<Function><Event>Permission`), so `!Ref`/`!GetAtt` to them resolve.
What SAM creates that no rule reads (API Gateway APIs, event rules, event source mappings, tables) is kept
under its CloudFormation type, reported as not evaluated; SAM policy templates are not expanded (notes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
BASIC_EXECUTION_POLICY = "service-role/AWSLambdaBasicExecutionRole"

# Event source -> the service principal of the permission SAM adds, and the source property it scopes
# the permission with (None: SourceAccount of the stack's account).
_INVOKING_EVENTS: Mapping[str, tuple[Any, str | None]] = {
    "S3": ("s3.amazonaws.com", None),
    "SNS": ("sns.amazonaws.com", "Topic"),
    "Cognito": ("cognito-idp.amazonaws.com", "UserPool"),
    "IoTRule": ("iot.amazonaws.com", "__rule__"),
    "Schedule": ("events.amazonaws.com", "__rule__"),
    "CloudWatchEvent": ("events.amazonaws.com", "__rule__"),
    "EventBridgeRule": ("events.amazonaws.com", "__rule__"),
    "CloudWatchLogs": ({"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}, "LogGroupName"),
    "Api": ("apigateway.amazonaws.com", "__api__"),
    "HttpApi": ("apigateway.amazonaws.com", "__api__"),
}
# Resources an event creates besides the permission (types no rule reads: listed as not evaluated).
_EVENT_RESOURCES = {
    "Schedule": "AWS::Events::Rule",
    "CloudWatchEvent": "AWS::Events::Rule",
    "EventBridgeRule": "AWS::Events::Rule",
    "IoTRule": "AWS::IoT::TopicRule",
    "CloudWatchLogs": "AWS::Logs::SubscriptionFilter",
    "ScheduleV2": "AWS::Scheduler::Schedule",
    "SQS": "AWS::Lambda::EventSourceMapping",
    "Kinesis": "AWS::Lambda::EventSourceMapping",
    "DynamoDB": "AWS::Lambda::EventSourceMapping",
    "MSK": "AWS::Lambda::EventSourceMapping",
    "MQ": "AWS::Lambda::EventSourceMapping",
    "SelfManagedKafka": "AWS::Lambda::EventSourceMapping",
    "DocumentDB": "AWS::Lambda::EventSourceMapping",
}
_IMPLICIT_APIS = {"Api": ("ServerlessRestApi", "AWS::ApiGateway::RestApi", "RestApiId")}
_IMPLICIT_APIS["HttpApi"] = ("ServerlessHttpApi", "AWS::ApiGatewayV2::Api", "ApiId")
# The other serverless types become the resource SAM deploys for them (none of them is read by a rule).
_PLAIN_TYPES = {
    "AWS::Serverless::Api": "AWS::ApiGateway::RestApi",
    "AWS::Serverless::HttpApi": "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::SimpleTable": "AWS::DynamoDB::Table",
    "AWS::Serverless::LayerVersion": "AWS::Lambda::LayerVersion",
    "AWS::Serverless::StateMachine": "AWS::StepFunctions::StateMachine",
}


@dataclass(frozen=True)
class Expanded:
    """A CloudFormation resource SAM creates, with the template resource it comes from (for its line)."""

    resource: dict[str, Any]
    source: str


@dataclass(frozen=True)
class SamNote:
    """Something of a serverless resource that is not judged (a policy template, an unknown event)."""

    source: str
    what: str
    reason: str


def uses_sam(template: Mapping[str, Any]) -> bool:
    transform = template.get("Transform")
    return SAM_TRANSFORM in (transform if isinstance(transform, list) else [transform])


def merge_globals(defaults: Any, properties: Any) -> Any:
    """SAM's Globals rule: maps merge (the resource wins), lists add up, a resource's scalar wins."""
    if isinstance(defaults, Mapping) and isinstance(properties, Mapping):
        merged = dict(defaults)
        for key, value in properties.items():
            merged[key] = merge_globals(defaults[key], value) if key in defaults else value
        return merged
    if isinstance(defaults, list) and isinstance(properties, list):
        return [*defaults, *properties]
    return properties


def expand(template: Mapping[str, Any]) -> tuple[dict[str, Expanded], list[SamNote]]:
    """Every resource of a SAM template as CloudFormation resources (logical id -> resource)."""
    globals_ = template.get("Globals") or {}
    result: dict[str, Expanded] = {}
    notes: list[SamNote] = []
    for logical, resource in (template.get("Resources") or {}).items():
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function":
            properties = merge_globals(globals_.get("Function") or {}, properties)
            created = _function(logical, resource, properties, notes)
        elif kind == "AWS::Serverless::StateMachine":
            role = _role(logical, resource, properties, "states.amazonaws.com", notes, basic_execution=False)
            created = dict(role)
            created[logical] = {**resource, "Type": _PLAIN_TYPES[kind]}
        elif kind in _PLAIN_TYPES:
            created = {logical: {**resource, "Type": _PLAIN_TYPES[kind]}}
        else:  # plain CloudFormation, AWS::Serverless::Application (a nested stack) and unknown types
            created = {logical: dict(resource)}
        for name, made in created.items():
            result.setdefault(name, Expanded(made, logical))
    return result, notes


def _derived(resource: Mapping[str, Any], kind: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A resource SAM creates for `resource`: it keeps its Condition and Metadata (suppressions)."""
    made: dict[str, Any] = {"Type": kind, "Properties": properties}
    for key in ("Condition", "Metadata"):
        if key in resource:
            made[key] = resource[key]
    return made


def _role(
    logical: str,
    resource: Mapping[str, Any],
    properties: Mapping[str, Any],
    service: str,
    notes: list[SamNote],
    *,
    basic_execution: bool = True,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The execution role SAM creates when the resource names none, with its `Policies`."""
    if "Role" in properties:
        return
    managed: list[Any] = (
        [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{BASIC_EXECUTION_POLICY}"}]
        if basic_execution
        else []
    )
    inline: list[dict[str, Any]] = []
    policies = properties.get("Policies")
    for position, policy in enumerate(policies if isinstance(policies, list) else [policies]):
        if policy is None:
            continue
        if isinstance(policy, str) and not policy.startswith("arn:"):
            # SAM takes a bare name for an AWS managed policy.
            managed.append({"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{policy}"})
        elif isinstance(policy, str) or (
            isinstance(policy, Mapping)
            and len(policy) == 1
            and next(iter(policy)).startswith(("Fn::", "Ref"))
        ):
            managed.append(policy)  # an ARN, or an intrinsic giving one
        elif isinstance(policy, Mapping) and "Statement" in policy:
            inline.append({"PolicyName": f"{logical}RolePolicy{position}", "PolicyDocument": policy})
        elif isinstance(policy, Mapping):
            for template_name in policy:
                notes.append(
                    SamNote(
                        logical, f"{logical}.Policies.{template_name}", "SAM policy template not expanded"
                    )
                )
    yield (
        f"{logical}Role",
        _derived(
            resource,
            "AWS::IAM::Role",
            {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}
                    ],
                },
                "ManagedPolicyArns": managed,
                "Policies": inline,
                **(
                    {"PermissionsBoundary": properties["PermissionsBoundary"]}
                    if "PermissionsBoundary" in properties
                    else {}
                ),
                "Tags": [{"Key": "lambda:createdBy", "Value": "SAM"}],
            },
        ),
    )


def _function(
    logical: str, resource: Mapping[str, Any], properties: Mapping[str, Any], notes: list[SamNote]
) -> dict[str, dict[str, Any]]:
    created = dict(_role(logical, resource, properties, "lambda.amazonaws.com", notes))
    tags = properties.get("Tags")
    tags = tags if isinstance(tags, Mapping) else {}
    function: dict[str, Any] = {
        "Role": properties.get("Role", {"Fn::GetAtt": [f"{logical}Role", "Arn"]}),
        "Tags": [
            *({"Key": k, "Value": v} for k, v in tags.items()),
            {"Key": "lambda:createdBy", "Value": "SAM"},
        ],
    }
    if "FunctionName" in properties:
        function["FunctionName"] = properties["FunctionName"]
    created[logical] = _derived(resource, "AWS::Lambda::Function", function)
    url = properties.get("FunctionUrlConfig")
    if isinstance(url, Mapping):
        auth = url.get("AuthType")
        created[f"{logical}Url"] = _derived(
            resource, "AWS::Lambda::Url", {"TargetFunctionArn": {"Ref": logical}, "AuthType": auth}
        )
        if auth != "AWS_IAM":  # SAM opens a URL without IAM auth to everyone
            created[f"{logical}UrlPublicPermissions"] = _derived(
                resource,
                "AWS::Lambda::Permission",
                {
                    "Action": "lambda:InvokeFunctionUrl",
                    "FunctionName": {"Ref": logical},
                    "Principal": "*",
                    "FunctionUrlAuthType": auth,
                },
            )
    events = properties.get("Events") or {}
    for event_name, event in events.items() if isinstance(events, Mapping) else ():
        created.update(_event(logical, resource, str(event_name), event, notes))
    return created


def _event(
    logical: str, resource: Mapping[str, Any], name: str, event: Any, notes: list[SamNote]
) -> dict[str, dict[str, Any]]:
    kind = event.get("Type") if isinstance(event, Mapping) else None
    source = (event.get("Properties") if isinstance(event, Mapping) else None) or {}
    created: dict[str, dict[str, Any]] = {}
    if kind in _EVENT_RESOURCES:
        created[f"{logical}{name}"] = _derived(resource, _EVENT_RESOURCES[kind], {})
    if kind not in _INVOKING_EVENTS:
        if kind not in _EVENT_RESOURCES:
            notes.append(SamNote(logical, f"{logical}.Events.{name}", f"event type {kind} not known"))
        return created
    principal, scope = _INVOKING_EVENTS[str(kind)]
    permission: dict[str, Any] = {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": logical},
        "Principal": principal,
    }
    if scope is None:
        permission["SourceAccount"] = {"Ref": "AWS::AccountId"}
    elif scope == "__rule__":
        permission["SourceArn"] = {"Fn::GetAtt": [f"{logical}{name}", "Arn"]}
    elif scope == "__api__":
        api_name, api_type, api_key = _IMPLICIT_APIS[str(kind)]
        api = source.get(api_key)
        if api is None:
            created[api_name] = _derived(resource, api_type, {})
            api = {"Ref": api_name}
        permission["SourceArn"] = {
            "Fn::Sub": [
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*",
                {"Api": api},
            ]
        }
    elif scope == "LogGroupName":
        permission["SourceArn"] = {
            "Fn::Sub": [
                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${Group}:*",
                {"Group": source.get("LogGroupName")},
            ]
        }
    else:
        scoped_by = source.get(scope)
        if scope == "UserPool" and isinstance(scoped_by, Mapping) and set(scoped_by) == {"Ref"}:
            scoped_by = {"Fn::GetAtt": [scoped_by["Ref"], "Arn"]}  # a user pool's Ref is its id
        permission["SourceArn"] = scoped_by
    created[f"{logical}{name}Permission"] = _derived(resource, "AWS::Lambda::Permission", permission)
    return created
