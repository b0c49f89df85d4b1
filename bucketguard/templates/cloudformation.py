"""CloudFormation templates (JSON or YAML with the short-form intrinsics) -> a recorded stack for the pack.

Resolution is static: Parameters take `--parameter K=V` or their Default, Mappings and Conditions are
evaluated, the pseudo-parameters AWS::AccountId and AWS::Region take the configured values. Anything else
(a parameter without a value, SSM parameter types, Fn::ImportValue, an attribute of a resource the template
creates) is `Unknown`: it reaches the pack as Pulumi's unknown value, with the parameter, import or
resource it comes from as a dependency, so a rule that reads it reports undecided, never a pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from bucketguard.policy.records import NotEvaluated, RecordedResource, RecordedStack
from bucketguard.templates import TEMPLATE_INPUT_TYPE, TemplateError, sam

# Pulumi's wire form of a value not known yet (pulumi.runtime.rpc.UNKNOWN).
UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SUPPRESSION_KEY = "bucketguard"


# ------------------------------------------------------------------------------------------ YAML loading
class _Lines(dict[str, Any]):
    """A mapping that remembers the 1-based line of each key."""

    lines: dict[str, int]


class _TemplateLoader(yaml.SafeLoader):
    """YAML (and JSON, which it reads too) with CloudFormation's short-form intrinsics and key lines."""


def _mapping(loader: _TemplateLoader, node: yaml.MappingNode) -> _Lines:
    loader.flatten_mapping(node)
    result = _Lines()
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[str(key)] = loader.construct_object(value_node, deep=True)
        result.lines[str(key)] = key_node.start_mark.line + 1
    return result


def _intrinsic(name: str) -> Callable[[_TemplateLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: _TemplateLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = _mapping(loader, node)  # type: ignore[arg-type]
        return {name: value}

    return construct


_TemplateLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
for _short in (
    "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub",
    "Transform", "If", "Not", "Equals", "And", "Or", "ToJsonString", "Length",
):  # fmt: skip
    _TemplateLoader.add_constructor(f"!{_short}", _intrinsic(f"Fn::{_short}"))
_TemplateLoader.add_constructor("!Ref", _intrinsic("Ref"))
_TemplateLoader.add_constructor("!Condition", _intrinsic("Condition"))


def load_template(path: Path) -> _Lines:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TemplateError(f"{where}: not a CloudFormation template: {problem}") from None
    if not isinstance(document, _Lines) or not isinstance(document.get("Resources"), _Lines):
        raise TemplateError(f"{path}: not a CloudFormation template: no Resources mapping")
    for name, resource in document["Resources"].items():
        if not isinstance(resource, Mapping) or not isinstance(resource.get("Type"), str):
            line = document["Resources"].lines[name]
            raise TemplateError(f"{path}:{line}: not a CloudFormation template: resource {name} has no Type")
    return document


# -------------------------------------------------------------------------------------------- resolution
@dataclass(frozen=True)
class Unknown:
    """A value known only at deployment; `origins` are what it comes from (logical ids or input names)."""

    origins: frozenset[str]

    def __or__(self, other: Unknown) -> Unknown:
        return Unknown(self.origins | other.origins)


def _unknown_in(values: Any) -> Unknown | None:
    found = [v for v in values if isinstance(v, Unknown)]
    if not found:
        return None
    result = found[0]
    for other in found[1:]:
        result = result | other
    return result


_NO_VALUE = object()  # AWS::NoValue: the key is removed
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_PHYSICAL_NAME = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Lambda::Function": "FunctionName",
}


@dataclass
class Resolver:
    """Evaluates intrinsic functions over one template."""

    template: Mapping[str, Any]
    parameters: Mapping[str, Any]  # strings, or Unknown for a nested stack's parameter its parent can't fix
    account_id: str | None
    region: str | None
    _conditions: dict[str, Any] = field(default_factory=dict)
    nested: dict[str, Resolver] = field(default_factory=dict)  # nested stack logical id -> its resolver

    @property
    def resources(self) -> Mapping[str, Any]:
        return self.template.get("Resources") or {}

    def partition(self) -> str:
        """`aws` unless the configured region is in China or GovCloud."""
        if self.region is None:
            return "aws"
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    def parameter(self, name: str) -> Any:
        pseudo: dict[str, Any] = {
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition(),
            "AWS::URLSuffix": "amazonaws.com.cn" if str(self.region).startswith("cn-") else "amazonaws.com",
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name.startswith("AWS::"):
            value = pseudo.get(name)
            return value if value is not None else Unknown(frozenset({f"pseudo-parameter {name}"}))
        declared = (self.template.get("Parameters") or {}).get(name)
        if declared is None:
            raise KeyError(name)
        kind = str(declared.get("Type", "String"))
        value = self.parameters.get(name)
        if value is None and not kind.startswith("AWS::SSM::"):  # an SSM default names the parameter
            value = declared.get("Default")
        if value is None:
            return Unknown(frozenset({f"parameter {name}"}))
        if isinstance(value, Unknown):
            return value
        if kind.startswith("List<") or kind == "CommaDelimitedList":
            return [v.strip() for v in str(value).split(",")] if isinstance(value, str) else list(value)
        return value if not isinstance(value, bool | int | float) else str(value).lower()

    def ref(self, name: str) -> Any:
        if name in self.resources:
            resource = self.resources[name]
            physical = _PHYSICAL_NAME.get(str(resource.get("Type")))
            if physical and physical in (resource.get("Properties") or {}):
                return self.value(resource["Properties"][physical])
            return Unknown(frozenset({name}))
        return self.parameter(name)

    def get_att(self, name: str, attribute: str) -> Any:
        if name not in self.resources:
            raise KeyError(name)
        if attribute == "Arn" and self.resources[name].get("Type") == "AWS::S3::Bucket":
            bucket = self.ref(name)
            return bucket if isinstance(bucket, Unknown) else f"arn:{self.partition()}:s3:::{bucket}"
        if name in self.nested and attribute.startswith("Outputs."):
            return self.nested[name].output(name, attribute.removeprefix("Outputs."))
        return Unknown(frozenset({name}))

    def output(self, stack: str, name: str) -> Any:
        """A nested stack's output as its parent reads it; unknown, it depends on the output itself."""
        declared = get(get(self.template.get("Outputs"), name), "Value")
        if declared is None:
            raise KeyError(f"output {name} of nested stack {stack}")
        value = self.value(declared)
        return Unknown(frozenset({f"output {stack}.{name}"})) if _origins(value) else value

    def condition(self, name: str) -> Any:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise KeyError(f"condition {name}")
            self._conditions[name] = Unknown(frozenset({f"condition {name}"}))  # a cycle stays unknown
            self._conditions[name] = self.value(conditions[name])
        return self._conditions[name]

    def sub(self, text: str, variables: Mapping[str, Any]) -> Any:
        parts: list[Any] = []
        position = 0
        for match in _SUB_VARIABLE.finditer(text):
            parts.append(text[position : match.start()])
            position = match.end()
            variable = match.group(1)
            if variable.startswith("!"):
                parts.append("${" + variable[1:] + "}")
            elif variable in variables:
                parts.append(variables[variable])
            elif "." in variable and variable.split(".", 1)[0] in self.resources:
                parts.append(self.get_att(*variable.split(".", 1)))
            else:
                parts.append(self.ref(variable))
        parts.append(text[position:])
        return _unknown_in(parts) or "".join(str(p) for p in parts)

    def function(self, name: str, args: Any) -> Any:
        if name == "Ref":
            return self.ref(str(args))
        if name == "Condition":
            return self.condition(str(args))
        if name == "Fn::GetAtt":
            target, attribute = args.split(".", 1) if isinstance(args, str) else args
            return self.get_att(str(target), str(self.value(attribute)))
        if name == "Fn::If":
            condition, when_true, when_false = args
            decided = self.condition(str(condition))
            if isinstance(decided, Unknown):
                branches = (self.value(when_true), self.value(when_false))
                return branches[0] if branches[0] == branches[1] else decided
            return self.value(when_true if decided else when_false)
        values = self.value(args)
        if name == "Fn::ImportValue":
            return Unknown(frozenset({f"imported value {values}"}))
        if name in ("Fn::GetAZs", "Fn::Cidr", "Fn::Transform"):
            return Unknown(frozenset({name}))
        if name == "Fn::Sub":
            text, variables = (values, {}) if isinstance(values, str | Unknown) else values
            return text if isinstance(text, Unknown) else self.sub(text, variables)
        # One known False decides an And, one known True an Or, whatever the unknown operands are.
        if name == "Fn::And" and False in values:
            return False
        if name == "Fn::Or" and True in values:
            return True
        unknown = _unknown_in(values if isinstance(values, list) else [values])
        if unknown is not None:
            return unknown
        if name == "Fn::Join":
            separator, items = values
            return _unknown_in(items) or separator.join(str(i) for i in items)
        if name == "Fn::Select":
            index, items = values
            return items[int(index)]
        if name == "Fn::Split":
            separator, text = values
            return text.split(separator)
        if name == "Fn::FindInMap":
            mapping, top, second = values[:3]
            return self.template["Mappings"][mapping][top][second]
        if name == "Fn::Equals":
            return str(values[0]) == str(values[1])
        if name == "Fn::Not":
            return not values[0]
        if name == "Fn::And":
            return all(values)
        if name == "Fn::Or":
            return any(values)
        if name == "Fn::Base64":
            return values
        if name == "Fn::ToJsonString":
            return json.dumps(values)
        if name == "Fn::Length":
            return len(values)
        raise KeyError(name)

    def value(self, node: Any) -> Any:
        """The node with every intrinsic evaluated; Unknown where the template cannot tell."""
        if isinstance(node, Mapping):
            if len(node) == 1:
                (key,) = node
                if (
                    key == "Ref"
                    or key.startswith("Fn::")
                    or (key == "Condition" and isinstance(node[key], str))
                ):
                    return self.function(key, node[key])
            result = {}
            for key, item in node.items():
                value = self.value(item)
                if value is not _NO_VALUE:
                    result[key] = value
            return result
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not _NO_VALUE]
        return node


# ------------------------------------------------------------------------------------------- translation
def get(value: Any, key: str, default: Any = None) -> Any:
    """`value[key]` of a resolved mapping; an unknown container makes its members unknown too."""
    if isinstance(value, Unknown):
        return value
    if isinstance(value, Mapping):
        return value.get(key, default)
    return default


def items(value: Any) -> list[Any]:
    if isinstance(value, Unknown):
        return [value]
    return list(value) if isinstance(value, list) else ([] if value is None else [value])


def camel(value: Any) -> Any:
    """CloudFormation's PascalCase keys -> pulumi-aws's camelCase, recursively (not for policy documents)."""
    if isinstance(value, Mapping):
        return {k[:1].lower() + k[1:]: camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def tags(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(get(t, "Key")): get(t, "Value") for t in items(properties.get("Tags")) if isinstance(t, Mapping)
    }


@dataclass
class Emitted:
    """One pulumi-aws resource a template resource amounts to; `name` defaults to the logical id."""

    type: str
    props: dict[str, Any]
    name: str = ""
    # Pulumi property -> the template resources its value was read from (joins and unknown origins).
    depends: dict[str, set[str]] = field(default_factory=dict)


def _canned_acl(access_control: Any) -> Any:
    """PublicRead -> public-read (CloudFormation spells canned ACLs in PascalCase)."""
    if isinstance(access_control, Unknown):
        return access_control
    return re.sub(r"(?<!^)(?=[A-Z])", "-", str(access_control)).lower()


def _bucket(logical: str, props: Mapping[str, Any]) -> Iterator[Emitted]:
    yield Emitted(
        "aws:s3/bucket:Bucket",
        {
            "bucket": props.get("BucketName"),
            "objectLockEnabled": props.get("ObjectLockEnabled"),
            "tags": tags(props),
        },
    )
    bucket = {"bucket": props.get("BucketName", Unknown(frozenset({logical})))}
    joined = {"bucket": {logical}}
    settings: dict[str, tuple[str, Callable[[Any], dict[str, Any]]]] = {
        "AccessControl": ("aws:s3/bucketAclV2:BucketAclV2", lambda v: {"acl": _canned_acl(v)}),
        "PublicAccessBlockConfiguration": (
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            camel,
        ),
        "OwnershipControls": (
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            lambda v: {
                "rule": {"objectOwnership": get((items(get(v, "Rules")) or [{}])[0], "ObjectOwnership")}
            },
        ),
        "BucketEncryption": (
            "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
            lambda v: {
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": get(get(r, "ServerSideEncryptionByDefault"), "SSEAlgorithm"),
                            "kmsMasterKeyId": get(get(r, "ServerSideEncryptionByDefault"), "KMSMasterKeyID"),
                        },
                        "bucketKeyEnabled": get(r, "BucketKeyEnabled"),
                    }
                    for r in items(get(v, "ServerSideEncryptionConfiguration"))
                ]
            },
        ),
        "VersioningConfiguration": (
            "aws:s3/bucketVersioningV2:BucketVersioningV2",
            lambda v: {"versioningConfiguration": {"status": get(v, "Status")}},
        ),
        "LoggingConfiguration": (
            "aws:s3/bucketLoggingV2:BucketLoggingV2",
            lambda v: {
                "targetBucket": get(v, "DestinationBucketName", logical),  # absent: the bucket itself
                "targetPrefix": get(v, "LogFilePrefix", ""),
            },
        ),
        "WebsiteConfiguration": (
            "aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2",
            lambda v: {},
        ),
        "NotificationConfiguration": ("aws:s3/bucketNotification:BucketNotification", _notifications),
    }
    for key, (pulumi_type, translate) in settings.items():
        if key in props:
            yield Emitted(pulumi_type, {**bucket, **translate(props[key])}, f"{logical}.{key}", dict(joined))


def _notifications(value: Any) -> dict[str, Any]:
    def targets(key: str, target_key: str, arn_key: str) -> list[dict[str, Any]]:
        return [
            {
                arn_key: get(c, target_key),
                "events": [get(c, "Event")],
                **{
                    f"filter{rule_name.title()}": get(r, "Value")
                    for r in items(get(get(get(c, "Filter"), "S3Key"), "Rules"))
                    if isinstance(rule_name := get(r, "Name"), str)
                },
            }
            for c in items(get(value, key))
        ]

    return {
        "queues": targets("QueueConfigurations", "Queue", "queueArn"),
        "topics": targets("TopicConfigurations", "Topic", "topicArn"),
        "lambdaFunctions": targets("LambdaConfigurations", "Function", "lambdaFunctionArn"),
        "eventbridge": get(get(value, "EventBridgeConfiguration"), "EventBridgeEnabled"),
    }


def _principal_policies(logical: str, props: Mapping[str, Any], kind: str) -> Iterator[Emitted]:
    """A user's or group's inline policies and managed policy attachments."""
    name = props.get(f"{kind.title()}Name", Unknown(frozenset({logical})))
    principal = {kind: name}
    for policy in items(props.get("Policies")):
        yield Emitted(
            f"aws:iam/{kind}Policy:{kind.title()}Policy",
            {**principal, "policy": get(policy, "PolicyDocument")},
            f"{logical}.{get(policy, 'PolicyName')}",
            {kind: {logical}},
        )
    for arn in items(props.get("ManagedPolicyArns")):
        yield Emitted(
            f"aws:iam/{kind}PolicyAttachment:{kind.title()}PolicyAttachment",
            {**principal, "policyArn": arn},
            f"{logical}.{arn}" if isinstance(arn, str) else logical,
            {kind: {logical}},
        )


def _policy_for_principals(
    logical: str, props: Mapping[str, Any], policy: Mapping[str, Any]
) -> Iterator[Emitted]:
    """An AWS::IAM::Policy is an inline policy of each role, user and group it names."""
    for key, kind in (("Roles", "role"), ("Users", "user"), ("Groups", "group")):
        for principal in items(props.get(key)):
            yield Emitted(f"aws:iam/{kind}Policy:{kind.title()}Policy", {kind: principal, **policy}, logical)


def _managed_policy(logical: str, props: Mapping[str, Any]) -> Iterator[Emitted]:
    yield Emitted(
        "aws:iam/policy:Policy",
        {"name": props.get("ManagedPolicyName"), "policy": props.get("PolicyDocument")},
    )
    for key, kind in (("Roles", "role"), ("Users", "user"), ("Groups", "group")):
        for principal in items(props.get(key)):
            yield Emitted(
                f"aws:iam/{kind}PolicyAttachment:{kind.title()}PolicyAttachment",
                {kind: principal, "policyArn": Unknown(frozenset({logical}))},
                f"{logical}.{principal}" if isinstance(principal, str) else logical,
                {"policyArn": {logical}},
            )


def _ingress(rule: Any, keys: tuple[str, str, str, str, str]) -> dict[str, Any]:
    protocol, from_port, to_port, ipv4, ipv6 = keys
    return {
        protocol: get(rule, "IpProtocol"),
        from_port: get(rule, "FromPort"),
        to_port: get(rule, "ToPort"),
        ipv4: items(get(rule, "CidrIp")) if ipv4 == "cidrBlocks" else get(rule, "CidrIp"),
        ipv6: items(get(rule, "CidrIpv6")) if ipv6 == "ipv6CidrBlocks" else get(rule, "CidrIpv6"),
    }


def _instance(props: Mapping[str, Any]) -> dict[str, Any]:
    interface = (items(props.get("NetworkInterfaces")) or [{}])[0]
    return {
        "associatePublicIpAddress": get(interface, "AssociatePublicIpAddress"),
        "subnetId": props.get("SubnetId", get(interface, "SubnetId")),
    }


def _one(
    pulumi_type: str, build: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> Callable[[str, Mapping[str, Any]], Iterator[Emitted]]:
    def emit(logical: str, props: Mapping[str, Any]) -> Iterator[Emitted]:
        yield Emitted(pulumi_type, build(props))

    return emit


def _each_target(
    pulumi_type: str, targets_key: str, target_prop: str, document_key: str
) -> Callable[[str, Mapping[str, Any]], Iterator[Emitted]]:
    """A policy resource that names several targets (QueuePolicy's Queues): one resource per target."""

    def emit(logical: str, props: Mapping[str, Any]) -> Iterator[Emitted]:
        for target in items(props.get(targets_key)):
            yield Emitted(pulumi_type, {target_prop: target, "policy": props.get(document_key)}, logical)

    return emit


Translate = Callable[[str, Mapping[str, Any]], Iterator[Emitted]]
TRANSLATIONS: Mapping[str, Translate] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _one(
        "aws:s3/bucketPolicy:BucketPolicy",
        lambda p: {"bucket": p.get("Bucket"), "policy": p.get("PolicyDocument")},
    ),
    "AWS::IAM::Role": _one(
        "aws:iam/role:Role",
        lambda p: {
            "name": p.get("RoleName"),
            "assumeRolePolicy": p.get("AssumeRolePolicyDocument"),
            "managedPolicyArns": p.get("ManagedPolicyArns"),
            "inlinePolicies": [
                {"name": get(i, "PolicyName"), "policy": get(i, "PolicyDocument")}
                for i in items(p.get("Policies"))
            ],
        },
    ),
    "AWS::IAM::Policy": lambda logical, p: _policy_for_principals(
        logical, p, {"name": p.get("PolicyName"), "policy": p.get("PolicyDocument")}
    ),
    "AWS::IAM::ManagedPolicy": _managed_policy,
    "AWS::IAM::User": lambda logical, p: _principal_policies(logical, p, "user"),
    "AWS::IAM::Group": lambda logical, p: _principal_policies(logical, p, "group"),
    "AWS::Lambda::Permission": _one(
        "aws:lambda/permission:Permission",
        lambda p: {
            "action": p.get("Action"),
            "function": p.get("FunctionName"),
            "principal": p.get("Principal"),
            "sourceArn": p.get("SourceArn"),
            "sourceAccount": p.get("SourceAccount"),
            "principalOrgId": p.get("PrincipalOrgID"),
            "functionUrlAuthType": p.get("FunctionUrlAuthType"),
        },
    ),
    "AWS::Lambda::Url": _one(
        "aws:lambda/functionUrl:FunctionUrl",
        lambda p: {"functionName": p.get("TargetFunctionArn"), "authorizationType": p.get("AuthType")},
    ),
    "AWS::Lambda::Function": _one(
        "aws:lambda/function:Function",
        lambda p: {"name": p.get("FunctionName"), "role": p.get("Role"), "tags": tags(p)},
    ),
    "AWS::SQS::Queue": _one(
        "aws:sqs/queue:Queue",
        lambda p: {
            "name": p.get("QueueName"),
            "kmsMasterKeyId": p.get("KmsMasterKeyId"),
            "sqsManagedSseEnabled": p.get("SqsManagedSseEnabled"),
            "tags": tags(p),
        },
    ),
    "AWS::SQS::QueuePolicy": _each_target(
        "aws:sqs/queuePolicy:QueuePolicy", "Queues", "queueUrl", "PolicyDocument"
    ),
    "AWS::SNS::Topic": _one(
        "aws:sns/topic:Topic",
        lambda p: {"name": p.get("TopicName"), "kmsMasterKeyId": p.get("KmsMasterKeyId"), "tags": tags(p)},
    ),
    "AWS::SNS::TopicPolicy": _each_target(
        "aws:sns/topicPolicy:TopicPolicy", "Topics", "arn", "PolicyDocument"
    ),
    "AWS::KMS::Key": _one(
        "aws:kms/key:Key",
        lambda p: {
            "enableKeyRotation": p.get("EnableKeyRotation"),
            "customerMasterKeySpec": p.get("KeySpec"),
            "keyUsage": p.get("KeyUsage"),
            "policy": p.get("KeyPolicy"),
            "tags": tags(p),
        },
    ),
    "AWS::EC2::SecurityGroup": _one(
        "aws:ec2/securityGroup:SecurityGroup",
        lambda p: {
            "ingress": [
                _ingress(r, ("protocol", "fromPort", "toPort", "cidrBlocks", "ipv6CidrBlocks"))
                for r in items(p.get("SecurityGroupIngress"))
            ],
            "tags": tags(p),
        },
    ),
    "AWS::EC2::SecurityGroupIngress": _one(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        lambda p: _ingress(p, ("ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6")),
    ),
    "AWS::EC2::Instance": _one("aws:ec2/instance:Instance", _instance),
    "AWS::CloudTrail::Trail": _one(
        "aws:cloudtrail/trail:Trail",
        lambda p: {
            "isMultiRegionTrail": p.get("IsMultiRegionTrail"),
            "enableLogFileValidation": p.get("EnableLogFileValidation"),
            "eventSelectors": camel(p.get("EventSelectors")),
            "advancedEventSelectors": camel(p.get("AdvancedEventSelectors")),
            "tags": tags(p),
        },
    ),
}


# -------------------------------------------------------------------------------------------- recording
@dataclass(frozen=True)
class Suppression:
    """A `Metadata: bucketguard: skip:` entry: the rule not to apply to the resource, and why."""

    rule_id: str
    reason: str
    resource_urns: tuple[str, ...]  # every resource the template resource became (a bucket and its ACL...)
    where: str  # file:line, for errors


@dataclass
class TemplateStack:
    recorded: RecordedStack
    suppressions: list[Suppression]
    # URN -> the template resource type, for reports ("AWS::S3::Bucket" rather than the pulumi-aws token).
    template_types: dict[str, str]
    not_evaluated: list[NotEvaluated]  # resources no rule reads, nested stacks not followed


def _wire(value: Any) -> Any:
    """Resolved values -> the JSON the engine sends: Unknown becomes Pulumi's unknown; None keys dropped."""
    if isinstance(value, Unknown):
        return UNKNOWN_WIRE
    if isinstance(value, Mapping):
        return {str(k): _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _origins(value: Any) -> set[str]:
    if isinstance(value, Unknown):
        return set(value.origins)
    if isinstance(value, Mapping):
        return set().union(*(_origins(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_origins(v) for v in value)) if value else set()
    return set()


def _suppressions(
    path: Path, logical: str, resource: Mapping[str, Any], line: int, urns: tuple[str, ...]
) -> list[Suppression]:
    metadata = get(resource.get("Metadata"), SUPPRESSION_KEY)
    if metadata is None:
        return []
    where = f"{path}:{line}"
    skips = get(metadata, "skip")
    if not isinstance(skips, list):
        raise TemplateError(
            f"{where}: {logical}.Metadata.{SUPPRESSION_KEY}.skip must be a list of {{rule, reason}}"
        )
    result = []
    for position, skip in enumerate(skips):
        rule_id, reason = get(skip, "rule"), get(skip, "reason")
        if not isinstance(rule_id, str) or not rule_id:
            raise TemplateError(
                f"{where}: {logical}.Metadata.{SUPPRESSION_KEY}.skip[{position}]: rule is required"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise TemplateError(
                f"{where}: {logical}.Metadata.{SUPPRESSION_KEY}.skip[{position}]: reason is required "
                f"(why {rule_id} does not apply)"
            )
        result.append(Suppression(rule_id, reason.strip(), urns, where))
    return result


def display_path(path: Path) -> str:
    """As code scanning resolves it: relative to the working directory (the repository root in CI)."""
    path = path.resolve()
    return path.relative_to(Path.cwd()).as_posix() if path.is_relative_to(Path.cwd()) else path.as_posix()


NESTED_STACK_TYPES = {"AWS::CloudFormation::Stack": "TemplateURL", "AWS::Serverless::Application": "Location"}
MAX_NESTING = 5  # levels of nested stacks followed below a template given on the command line
NOT_MAPPED = "no rule reads this resource type"


def _local_template(location: Any, parent: Path) -> Path | None:
    """A TemplateURL naming a file (a relative or absolute path, or file://), resolved from the parent's
    directory as `aws cloudformation package` does; None for anything else (https://, s3://, unknown)."""
    if not isinstance(location, str):
        return None
    parsed = urlsplit(location)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme or parsed.netloc:
        return None
    else:
        path = Path(location)
    return path if path.is_absolute() else parent.parent / path


def _with_sam(template: _Lines) -> tuple[_Lines, list[sam.SamNote]]:
    """The template's Resources as SAM deploys them (each created resource on its SAM resource's line)."""
    if not sam.uses_sam(template):
        return template, []
    expanded, notes = sam.expand(template)
    resources = _Lines({name: made.resource for name, made in expanded.items()})
    resources.lines = {name: template["Resources"].lines[made.source] for name, made in expanded.items()}
    result = _Lines({**template, "Resources": resources})
    result.lines = template.lines
    return result, notes


def _properties(resolver: Resolver, where: str, logical: str, resource: Mapping[str, Any]) -> Any:
    try:
        return resolver.value(resource.get("Properties") or {})
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise TemplateError(
            f"{where}: {logical}: cannot evaluate {exc.args[0] if exc.args else exc}"
        ) from None


@dataclass
class _Recording:
    """The resources of every template read so far, as one stack."""

    prefix: str
    provider: str
    account_id: str | None
    region: str | None
    resources: list[RecordedResource] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    suppressions: list[Suppression] = field(default_factory=list)
    template_types: dict[str, str] = field(default_factory=dict)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)
    copies: dict[str, int] = field(default_factory=dict)  # URN -> how many resources claimed it

    def template(
        self,
        path: Path,
        parameters: Mapping[str, Any],
        *,
        file_prefix: str,
        name_prefix: str = "",
        parents: tuple[Path, ...] = (),
        strict_parameters: bool = False,
        passed_at: str = "",
    ) -> Resolver:
        template, notes = _with_sam(load_template(path))
        source = display_path(path)
        declared = template.get("Parameters") or {}
        unknown_given = sorted(set(parameters) - set(declared))
        if unknown_given and passed_at:
            raise TemplateError(f"{passed_at}: {path} declares no parameter {unknown_given[0]}")
        if unknown_given and strict_parameters:
            raise TemplateError(f"--parameter {unknown_given[0]}: {path} declares no such parameter")
        resolver = Resolver(template, parameters, self.account_id, self.region)
        lines: Mapping[str, int] = template["Resources"].lines
        for note in notes:
            self.not_evaluated.append(
                NotEvaluated(
                    "AWS::Serverless::Function",
                    name_prefix + note.what,
                    note.reason,
                    source,
                    lines[note.source],
                )
            )
        created = {
            logical: resource
            for logical, resource in template["Resources"].items()
            if self._created(resolver, path, logical, resource, lines[logical])
        }
        # Nested stacks first: the parent may read their outputs.
        for logical, resource in created.items():
            if resource["Type"] in NESTED_STACK_TYPES:
                nested = self._nested(
                    resolver, path, logical, resource, lines[logical], name_prefix, parents, file_prefix
                )
                if nested is not None:
                    resolver.nested[logical] = nested
        recorded: list[RecordedResource] = []
        logical_urns: dict[str, str] = {}
        for logical, resource in created.items():
            kind = str(resource["Type"])
            if kind in NESTED_STACK_TYPES:
                continue
            translate = TRANSLATIONS.get(kind)
            if translate is None:
                self.not_evaluated.append(
                    NotEvaluated(kind, name_prefix + logical, NOT_MAPPED, source, lines[logical])
                )
                continue
            properties = _properties(resolver, f"{path}:{lines[logical]}", logical, resource)
            urns = []
            for emitted in translate(logical, properties):
                name = name_prefix + (emitted.name or logical)
                urn = f"{file_prefix}{emitted.type}::{name}"
                # One template resource can become several of one type (a QueuePolicy of two queues).
                self.copies[urn] = self.copies.get(urn, 0) + 1
                urn = f"{urn}#{self.copies[urn]}" if self.copies[urn] > 1 else urn
                logical_urns.setdefault(logical, urn)
                urns.append(urn)
                self.template_types[urn] = kind
                dependencies: dict[str, list[str]] = {}
                for prop, value in emitted.props.items():
                    origins = _origins(value) | emitted.depends.get(prop, set())
                    if origins:
                        dependencies[prop] = sorted(origins)
                recorded.append(
                    RecordedResource(
                        urn=urn,
                        type=emitted.type,
                        name=name,
                        custom=True,
                        inputs=_wire(emitted.props),
                        outputs=_wire(emitted.props),
                        provider=self.provider,
                        property_dependencies=dependencies,
                        source_file=source,
                        source_line=lines[logical],
                    )
                )
            self.suppressions.extend(
                _suppressions(
                    path,
                    logical,
                    resource,
                    lines[logical],
                    tuple(urns) or (f"{file_prefix}::{name_prefix}{logical}",),
                )
            )
        # Origins name logical ids or inputs; the pack reads URNs.
        for resource in recorded:
            for prop, names in resource.property_dependencies.items():
                urns = []
                for origin in names:
                    if origin in logical_urns:
                        urns.append(logical_urns[origin])
                    elif origin not in template["Resources"]:
                        urns.append(
                            self.inputs.setdefault(origin, f"{self.prefix}{TEMPLATE_INPUT_TYPE}::{origin}")
                        )
                # Only property dependencies: the pack would take a lone resource dependency for the
                # target of an unknown join property.
                resource.property_dependencies[prop] = urns
        self.resources.extend(recorded)
        return resolver

    def _created(self, resolver: Resolver, path: Path, logical: str, resource: Any, line: int) -> bool:
        """False only for a resource whose condition is known false (an unknown one may be created)."""
        if "Condition" not in resource:
            return True
        try:
            return resolver.condition(str(resource["Condition"])) is not False
        except KeyError as exc:
            raise TemplateError(f"{path}:{line}: {logical}: no {exc.args[0]}") from None

    def _nested(
        self,
        resolver: Resolver,
        path: Path,
        logical: str,
        resource: Mapping[str, Any],
        line: int,
        name_prefix: str,
        parents: tuple[Path, ...],
        file_prefix: str,
    ) -> Resolver | None:
        """Follows a nested stack whose template is a local file; anything else is reported, not read."""
        kind = str(resource["Type"])
        where = f"{path}:{line}"
        properties = _properties(resolver, where, logical, resource)
        location = properties.get(NESTED_STACK_TYPES[kind])
        child = _local_template(location, path)
        shown = display_path(path)
        if child is None:
            described = "an unresolved location" if isinstance(location, Unknown) else repr(location)
            self.not_evaluated.append(
                NotEvaluated(
                    kind,
                    name_prefix + logical,
                    f"nested template at {described} is not a local file: not read",
                    shown,
                    line,
                )
            )
            return None
        if child.resolve() in {p.resolve() for p in (*parents, path)}:
            raise TemplateError(f"{where}: {logical}: nested stack {child} includes itself (a cycle)")
        if len(parents) >= MAX_NESTING:
            self.not_evaluated.append(
                NotEvaluated(
                    kind,
                    name_prefix + logical,
                    f"nested deeper than {MAX_NESTING} levels: not read",
                    shown,
                    line,
                )
            )
            return None
        if not child.is_file():
            raise TemplateError(f"{where}: {logical}: nested template {child} does not exist")
        given = properties.get("Parameters") or {}
        if not isinstance(given, Mapping):
            raise TemplateError(f"{where}: {logical}: Parameters must be a mapping")
        passed = {
            str(k): v
            if isinstance(v, Unknown | str)
            else (
                ",".join(map(str, v))
                if isinstance(v, list)
                else str(v).lower()
                if isinstance(v, bool)
                else str(v)
            )
            for k, v in given.items()
        }
        return self.template(
            child,
            passed,
            file_prefix=file_prefix,
            name_prefix=f"{name_prefix}{logical}.",
            parents=(*parents, path),
            passed_at=f"{where}: {logical}.Parameters",
        )


def record_templates(
    paths: list[Path],
    *,
    parameters: Mapping[str, str] | None = None,
    account_id: str | None = None,
    region: str | None = None,
    project: str = "cloudformation",
    stack: str = "template",
) -> TemplateStack:
    """Every template's resources, as the resources of one stack (what `pulumi preview` would record);
    nested stacks in local files are read as part of their parent."""
    prefix = f"urn:pulumi:{stack}::{project}::"
    provider_resources: list[RecordedResource] = []
    provider = ""
    if region is not None:
        provider_urn = f"{prefix}pulumi:providers:aws::default"
        provider_resources.append(
            RecordedResource(provider_urn, "pulumi:providers:aws", "default", True, {"region": region}, {})
        )
        provider = f"{provider_urn}::default"
    recording = _Recording(prefix, provider, account_id, region)
    for path in paths:
        recording.template(
            path,
            parameters or {},
            file_prefix=f"{prefix}{path.stem}$" if len(paths) > 1 else prefix,
            strict_parameters=len(paths) == 1,
        )
    inputs = [
        RecordedResource(urn, TEMPLATE_INPUT_TYPE, name, False, {}, {})
        for name, urn in recording.inputs.items()
    ]
    return TemplateStack(
        RecordedStack(project, stack, True, {}, [], [*provider_resources, *recording.resources, *inputs]),
        recording.suppressions,
        recording.template_types,
        recording.not_evaluated,
    )
