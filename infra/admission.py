"""ScannerAdmission: admits the registered storages to the scanner ("admit them" in a split rollout).

Writes the policies that name the storages, so nothing else can use the scanner:
- the scanner queue policy: only the registered listener roles may send scan requests;
- the scanner key policy: the account administers the key, the scanner decrypts, listeners encrypt;
- the scanner role's publish policy: only the registered result topics (and their keys);
- the ruleset announcement topic's policy: the rule update (and scanner.rulePublisherArns) publishes, the
  storages' accounts subscribe.
The lists may be Outputs (read from storage stacks through StackReferences).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import MAX_STORAGES_PER_SCANNER
from infra.policies import (
    KMS_ENCRYPT_ACTIONS,
    Statement,
    allow,
    deny_insecure_transport,
    document,
    key_admin_statement,
    key_service_statement,
    key_use_statement,
    roles_of_account,
)


@dataclass
class ScannerAdmissionArgs:
    scanner_account_id: pulumi.Input[str]
    scanner_region: str
    queue_arn: pulumi.Input[str]
    queue_url: pulumi.Input[str]
    key_id: pulumi.Input[str]
    scanner_role_arn: pulumi.Input[str]
    scanner_role_name: pulumi.Input[str]
    listener_role_arns: pulumi.Input[Sequence[str]]
    result_topic_arns: pulumi.Input[Sequence[str]]
    result_key_arns: pulumi.Input[Sequence[str]]
    # Known while writing the program: whether any storage is registered (an empty IAM policy is invalid).
    has_storages: bool
    # The topic announcing published rulesets (scanner.rescanOnUpdate): the storages' accounts may subscribe.
    ruleset_topic_arn: pulumi.Input[str]
    # The scheduled rule update's role, when there is one: it writes the rules bucket and alerts.
    rule_updater_role_arn: pulumi.Input[str] | None = None
    # scanner.rulePublisherArns: people's roles that publish rulesets by hand (rules publish --announce).
    rule_publisher_arns: Sequence[str] = ()


def _check_count(arns: Sequence[str]) -> Sequence[str]:
    # Storage stacks read through StackReferences are only counted once their outputs are known.
    if len(arns) > MAX_STORAGES_PER_SCANNER:
        raise pulumi.RunError(
            f"bucketguard:storageStacks: {len(arns)} storages registered with this scanner "
            f"(at most {MAX_STORAGES_PER_SCANNER}): deploy another scanner stack for the rest"
        )
    return arns


class ScannerAdmission(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ScannerAdmissionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bucketguard:scanner:ScannerAdmission", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        listeners = pulumi.Output.from_input(args.listener_role_arns).apply(_check_count)
        publishers = args.rule_publisher_arns
        # The publishers' statements name them through this check, so a foreign one fails the deployment.
        publisher_principals = roles_of_account(
            "scanner", "rulePublisherArns", publishers, args.scanner_account_id
        )

        def queue_statements(arns: Sequence[str]) -> list[Statement]:
            statements = [deny_insecure_transport("DenyInsecureTransport", ["sqs:*"], args.queue_arn)]
            if arns:
                statements.append(
                    {
                        "Sid": "RegisteredListenersSendScanRequests",
                        "Effect": "Allow",
                        "Principal": {"AWS": sorted(arns)},
                        "Action": ["sqs:SendMessage"],
                        "Resource": args.queue_arn,
                    }
                )
            return statements

        self.queue_policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=args.queue_url,
            policy=document(listeners.apply(queue_statements)),
            opts=child,
        )

        def key_statements(arns: Sequence[str]) -> list[Any]:
            statements = [
                key_admin_statement(args.scanner_account_id),
                key_use_statement(
                    "ScannerReadsRequests",
                    args.scanner_role_arn,
                    services=["sqs", "s3"],  # scan requests, and the published ruleset
                    region=args.scanner_region,
                    actions=["kms:Decrypt"],
                ),
                # Alarms publish to the scanner's encrypted alert topic.
                key_service_statement(
                    "CloudWatchAlarmsEncrypt", "cloudwatch.amazonaws.com", args.scanner_account_id
                ),
            ]
            if args.rule_updater_role_arn is not None:
                statements.append(
                    key_use_statement(
                        "RuleUpdaterWritesRulesetAndAlerts",
                        args.rule_updater_role_arn,
                        services=["s3", "sns"],
                        region=args.scanner_region,
                    )
                )
            if publishers:
                statements.append(
                    key_use_statement(
                        "RulePublishersWriteRulesetAndAnnounce",
                        publisher_principals,
                        services=["s3", "sns"],
                        region=args.scanner_region,
                    )
                )
            if arns:
                statements.append(
                    key_use_statement(
                        "RegisteredListenersEncryptRequests",
                        sorted(arns),
                        services=["sqs"],
                        region=args.scanner_region,
                    )
                )
            return statements

        self.key_policy = aws.kms.KeyPolicy(
            f"{name}-key-policy",
            key_id=args.key_id,
            policy=document(listeners.apply(key_statements)),
            opts=child,
        )
        topic = args.ruleset_topic_arn

        def announces(sid: str, principals: Any) -> Statement:
            return allow(sid, ["sns:Publish"], topic, Principal={"AWS": principals})

        def topic_statements(arns: Sequence[str]) -> list[Statement]:
            statements = [deny_insecure_transport("DenyInsecureTransport", ["sns:*"], topic)]
            if args.rule_updater_role_arn is not None:
                statements.append(announces("RuleUpdateAnnounces", args.rule_updater_role_arn))
            if publishers:
                statements.append(announces("RulePublishersAnnounce", publisher_principals))
            accounts = sorted({arn.split(":")[4] for arn in arns})
            if accounts:
                statements.append(
                    {
                        "Sid": "RegisteredStoragesSubscribeTheirQueues",
                        "Effect": "Allow",
                        "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
                        "Action": ["sns:Subscribe"],
                        "Resource": topic,
                        "Condition": {"StringEquals": {"sns:Protocol": "sqs"}},
                    }
                )
            return statements

        # The storages' ruleset subscriptions wait for it: SNS refuses another account's until then.
        self.ruleset_topic_policy = aws.sns.TopicPolicy(
            f"{name}-ruleset-topic-policy",
            arn=topic,
            policy=document(listeners.apply(topic_statements)),
            opts=child,
        )
        if args.has_storages:
            self.publish_policy: aws.iam.RolePolicy | None = aws.iam.RolePolicy(
                f"{name}-publish-results",
                role=args.scanner_role_name,
                policy=document(
                    [
                        allow("PublishToRegisteredResultTopics", ["sns:Publish"], args.result_topic_arns),
                        allow("EncryptForRegisteredResultTopics", KMS_ENCRYPT_ACTIONS, args.result_key_arns),
                    ]
                ),
                opts=child,
            )
        else:
            self.publish_policy = None
        self.register_outputs({"listenerRoleArns": listeners})
