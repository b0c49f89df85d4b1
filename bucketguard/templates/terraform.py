"""Terraform plans (`terraform show -json PLAN`) -> a recorded stack for the pack.

pulumi-aws is bridged from the Terraform aws provider, so a plan's resource is the pulumi-aws resource of the
same name with camelCase attributes; the differences are spelled out below (nested blocks that Pulumi
flattens, plural names). Values known only after apply (`after_unknown`) travel as Pulumi's unknown, with the
resources the configuration references as their property dependencies, so the pack joins the separate
`aws_s3_bucket_*` resources onto their bucket as it does for a program at preview.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bucketguard.policy.records import NotEvaluated, RecordedResource, RecordedStack
from bucketguard.templates import TemplateError
from bucketguard.templates.cloudformation import (
    NOT_MAPPED,
    UNKNOWN_WIRE,
    Suppression,
    TemplateStack,
    display_path,
)

# Terraform type -> pulumi-aws type token (the types the pack's adapters read).
PULUMI_TYPES = {
    "aws_s3_bucket": "aws:s3/bucket:Bucket",
    "aws_s3_bucket_acl": "aws:s3/bucketAclV2:BucketAclV2",
    "aws_s3_bucket_policy": "aws:s3/bucketPolicy:BucketPolicy",
    "aws_s3_bucket_public_access_block": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws_s3_account_public_access_block": "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
    "aws_s3_bucket_ownership_controls": "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws_s3_bucket_server_side_encryption_configuration": (
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
    ),
    "aws_s3_bucket_versioning": "aws:s3/bucketVersioningV2:BucketVersioningV2",
    "aws_s3_bucket_logging": "aws:s3/bucketLoggingV2:BucketLoggingV2",
    "aws_s3_bucket_website_configuration": "aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2",
    "aws_s3_bucket_notification": "aws:s3/bucketNotification:BucketNotification",
    "aws_s3_bucket_object_lock_configuration": (
        "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2"
    ),
    "aws_iam_role": "aws:iam/role:Role",
    # Users and groups hold no policy themselves: their policy resources below are judged.
    "aws_iam_user": "aws:iam/user:User",
    "aws_iam_group": "aws:iam/group:Group",
    "aws_iam_user_group_membership": "aws:iam/userGroupMembership:UserGroupMembership",
    "aws_iam_group_membership": "aws:iam/groupMembership:GroupMembership",
    "aws_iam_policy": "aws:iam/policy:Policy",
    "aws_iam_role_policy": "aws:iam/rolePolicy:RolePolicy",
    "aws_iam_user_policy": "aws:iam/userPolicy:UserPolicy",
    "aws_iam_group_policy": "aws:iam/groupPolicy:GroupPolicy",
    "aws_iam_role_policy_attachment": "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws_iam_user_policy_attachment": "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws_iam_group_policy_attachment": "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws_iam_policy_attachment": "aws:iam/policyAttachment:PolicyAttachment",
    "aws_lambda_permission": "aws:lambda/permission:Permission",
    "aws_lambda_function_url": "aws:lambda/functionUrl:FunctionUrl",
    "aws_lambda_function": "aws:lambda/function:Function",
    "aws_sqs_queue": "aws:sqs/queue:Queue",
    "aws_sqs_queue_policy": "aws:sqs/queuePolicy:QueuePolicy",
    "aws_sns_topic": "aws:sns/topic:Topic",
    "aws_sns_topic_policy": "aws:sns/topicPolicy:TopicPolicy",
    "aws_kms_key": "aws:kms/key:Key",
    "aws_security_group": "aws:ec2/securityGroup:SecurityGroup",
    "aws_security_group_rule": "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws_vpc_security_group_ingress_rule": "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws_instance": "aws:ec2/instance:Instance",
    "aws_subnet": "aws:ec2/subnet:Subnet",
    "aws_cloudtrail": "aws:cloudtrail/trail:Trail",
}
# Attribute names that differ beyond snake_case -> camelCase, per Terraform type ("*": every type).
RENAMES: Mapping[str, Mapping[str, str]] = {
    "*": {
        "event_selector": "eventSelectors",
        "data_resource": "dataResources",
        "advanced_event_selector": "advancedEventSelectors",
        "field_selector": "fieldSelectors",
        "inline_policy": "inlinePolicies",
    },
    "aws_s3_bucket_server_side_encryption_configuration": {"rule": "rules"},
    "aws_s3_bucket_acl": {"grant": "grants"},
    "aws_s3_bucket_notification": {
        "queue": "queues",
        "topic": "topics",
        "lambda_function": "lambdaFunctions",
    },
    "aws_lambda_permission": {"function_name": "function"},
    "aws_lambda_function": {"function_name": "name"},
}
# Nested blocks of at most one element that Terraform writes as a list and Pulumi as an object.
SINGLE_BLOCKS = frozenset(
    {
        "rule",
        "versioning_configuration",
        "apply_server_side_encryption_by_default",
        "access_control_policy",
        "grantee",
        "owner",
    }
)
# A resource's own tag `bucketguard-skip:<rule id>` = reason exempts it from that rule (what a CloudFormation
# resource's Metadata does; a plan has no comments). Read from plans only: never from a live resource's tags.
SUPPRESSION_TAG_PREFIX = "bucketguard-skip:"
_NOT_CAMELCASED = frozenset({"tags", "tags_all", "policy", "assume_role_policy"})  # keys are data


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _translate(tf_type: str, value: Any, unknown: Any, key: str = "") -> Any:
    """Terraform values with after_unknown overlaid -> pulumi-aws props (Pulumi's unknown where unknown)."""
    if unknown is True:
        return UNKNOWN_WIRE
    if isinstance(value, Mapping):
        result = {}
        for name, item in value.items():
            if name in ("tags", "tags_all"):
                continue
            renamed = RENAMES.get(tf_type, {}).get(name) or RENAMES["*"].get(name) or _camel(name)
            inner = unknown.get(name) if isinstance(unknown, Mapping) else None
            result[renamed] = (
                item
                if name in _NOT_CAMELCASED and inner is not True
                else _translate(tf_type, item, inner, name)
            )
        # What after_unknown names but after leaves out (null until apply).
        for name, flag in unknown.items() if isinstance(unknown, Mapping) else ():
            if flag is True and name not in value:
                result[RENAMES.get(tf_type, {}).get(name) or _camel(name)] = UNKNOWN_WIRE
        return result
    if isinstance(value, list):
        unknowns = unknown if isinstance(unknown, list) else [None] * len(value)
        items = [_translate(tf_type, v, u, key) for v, u in zip(value, unknowns, strict=False)]
        if key in SINGLE_BLOCKS and key not in RENAMES.get(tf_type, {}):  # renamed ones are plural lists
            return items[0] if items else None
        return items
    return value


def _set_unknowns(after_unknown: Any, configured: Mapping[str, Any] | None) -> Any:
    """The unknowns the configuration sets. An attribute it leaves out is computed by the provider (an ARN,
    `region`, a role's `managed_policy_arns`): the setting is AWS's default, as when a program omits it.
    Without a configuration section every unknown stays (fail closed)."""
    if not isinstance(after_unknown, Mapping) or configured is None:
        return after_unknown
    return {k: v for k, v in after_unknown.items() if v is not True or k in configured}


def _resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from module.get("resources") or ()
    for child in module.get("child_modules") or ():
        yield from _resources(child)


def _references(configuration: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Resource address -> attribute -> the addresses of the resources its expression references."""
    result: dict[str, dict[str, list[str]]] = {}

    def walk(module: Mapping[str, Any], prefix: str) -> None:
        for resource in module.get("resources") or ():
            address = prefix + str(resource.get("address"))
            for attribute, expression in (resource.get("expressions") or {}).items():
                refs = expression.get("references") if isinstance(expression, Mapping) else None
                targets = {_resource_address(prefix, r) for r in refs or () if isinstance(r, str)}
                result.setdefault(address, {})[attribute] = sorted(t for t in targets if t)
        for name, call in (module.get("module_calls") or {}).items():
            walk(call.get("module") or {}, f"{prefix}module.{name}.")

    walk(configuration.get("root_module") or {}, "")
    return result


_ADDRESS = re.compile(r"^(?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+")


def _resource_address(prefix: str, reference: str) -> str:
    """`aws_s3_bucket.site.id` -> `aws_s3_bucket.site` (with the module prefix); variables -> ''."""
    if reference.startswith(("var.", "local.", "module.", "each.", "count.", "path.", "data.")):
        return ""
    match = _ADDRESS.match(reference)
    return prefix + match.group(0) if match else ""


def _line_of(text: str, address: str) -> int:
    position = text.find(f'"address":"{address}"')
    if position < 0:
        position = text.find(f'"address": "{address}"')
    return text.count("\n", 0, position) + 1 if position >= 0 else 1


def _suppressions(values: Mapping[str, Any], urn: str, where: str, address: str) -> Iterator[Suppression]:
    tags = values.get("tags")
    for key, reason in tags.items() if isinstance(tags, Mapping) else ():
        if not str(key).startswith(SUPPRESSION_TAG_PREFIX):
            continue
        rule_id = str(key).removeprefix(SUPPRESSION_TAG_PREFIX)
        if not rule_id or not isinstance(reason, str) or not reason.strip():
            raise TemplateError(
                f"{where}: {address}: tag {key}: the rule id follows {SUPPRESSION_TAG_PREFIX} and the value "
                "says why it does not apply"
            )
        yield Suppression(rule_id, reason.strip(), (urn,), where)


def load_plan(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
        plan = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}:{exc.lineno}: not a Terraform plan: invalid JSON: {exc.msg}") from None
    if not isinstance(plan, dict) or "planned_values" not in plan or "format_version" not in plan:
        raise TemplateError(
            f"{path}: not a Terraform plan: no format_version and planned_values "
            "(write it with terraform show -json PLAN)"
        )
    return plan, text


def record_plans(paths: list[Path], *, project: str = "terraform", stack: str = "plan") -> TemplateStack:
    prefix = f"urn:pulumi:{stack}::{project}::"
    resources: list[RecordedResource] = []
    template_types: dict[str, str] = {}
    not_evaluated: list[NotEvaluated] = []
    suppressions: list[Suppression] = []
    for path in paths:
        plan, text = load_plan(path)
        source = display_path(path)
        file_prefix = f"{prefix}{path.stem}$" if len(paths) > 1 else prefix
        region = (
            ((plan.get("configuration") or {}).get("provider_config") or {})
            .get("aws", {})
            .get("expressions", {})
        ).get("region", {})
        provider = ""
        if isinstance(region, Mapping) and isinstance(region.get("constant_value"), str):
            provider_urn = f"{file_prefix}pulumi:providers:aws::default"
            resources.append(
                RecordedResource(
                    provider_urn,
                    "pulumi:providers:aws",
                    "default",
                    True,
                    {"region": region["constant_value"]},
                    {},
                )
            )
            provider = f"{provider_urn}::default"
        changes = {
            c.get("address"): c.get("change") or {}
            for c in plan.get("resource_changes") or ()
            if isinstance(c, Mapping)
        }
        references = _references(plan.get("configuration") or {})
        planned = [
            r
            for r in _resources((plan.get("planned_values") or {}).get("root_module") or {})
            if r.get("mode", "managed") == "managed"
        ]
        urns = {
            str(r["address"]): f"{file_prefix}{PULUMI_TYPES[r['type']]}::{r['address']}"
            for r in planned
            if r.get("type") in PULUMI_TYPES
        }
        for resource in planned:
            tf_type, address = str(resource.get("type")), str(resource.get("address"))
            if tf_type not in PULUMI_TYPES:
                not_evaluated.append(
                    NotEvaluated(tf_type, address, NOT_MAPPED, source, _line_of(text, address))
                )
                continue
            change = changes.get(address, {})
            values = (
                change.get("after") if isinstance(change.get("after"), Mapping) else resource.get("values")
            )
            props = _translate(
                tf_type, values or {}, _set_unknowns(change.get("after_unknown"), references.get(address))
            )
            line = _line_of(text, address)
            suppressions.extend(_suppressions(values or {}, urns[address], f"{source}:{line}", address))
            tags = (values or {}).get("tags_all") or (values or {}).get("tags")
            if isinstance(tags, Mapping):
                props["tags"] = dict(tags)
            dependencies = {
                RENAMES.get(tf_type, {}).get(attribute) or _camel(attribute): [
                    urns[t] for t in targets if t in urns
                ]
                for attribute, targets in references.get(address, {}).items()
            }
            resources.append(
                RecordedResource(
                    urn=urns[address],
                    type=PULUMI_TYPES[tf_type],
                    name=address,
                    custom=True,
                    inputs=props,
                    outputs=props,
                    provider=provider,
                    property_dependencies={k: v for k, v in dependencies.items() if v},
                    source_file=source,
                    source_line=line,
                )
            )
            template_types[urns[address]] = tf_type
    return TemplateStack(
        RecordedStack(project, stack, True, {}, [], resources), suppressions, template_types, not_evaluated
    )
