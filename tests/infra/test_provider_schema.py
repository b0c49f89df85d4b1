"""The provider-schema check (tests/infra/provider_schema.py) on resources the SDK really serialises: each
mistake the mock runtime lets through is reported, what the provider accepts is not."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from tests.infra.conftest import ROOT
from tests.infra.provider_schema import input_problems, policy_problems

# Each resource registered under the SDK's mocks, with its inputs as the provider would receive them.
RECORD = """
import json
import pulumi
import pulumi_aws as aws

recorded = []

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        recorded.append({"type": args.typ, "name": args.name, "inputs": dict(args.inputs)})
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args):
        return {}, []

pulumi.runtime.set_mocks(Mocks(), preview=False)

@pulumi.runtime.test
def program():
%s

program()
print(json.dumps(recorded))
"""


def registered(program: str) -> dict[str, dict[str, Any]]:
    source = RECORD % textwrap.indent(textwrap.dedent(program), "    ")
    completed = subprocess.run(
        [sys.executable, "-c", source], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {r["name"]: r for r in json.loads(completed.stdout)}


def problems_of(resource: dict[str, Any]) -> list[str]:
    return input_problems(resource["type"], resource["inputs"])


def test_mistakes_the_mock_runtime_accepts_are_reported_and_correct_inputs_are_not() -> None:
    resources = registered(
        """
        role = "arn:aws:iam::123456789012:role/deployer"
        # pulumi-aws issue 5271: the provider's config is JSON, a plain dict keeps its snake_case keys
        aws.Provider("plain-dict", region="eu-west-1", assume_roles=[{"role_arn": role}])
        aws.Provider("typed", region="eu-west-1", assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=role)])
        aws.s3.BucketNotification(
            "misspelt", bucket="b", queues=[{"queue_arn": "arn:aws:sqs:eu-west-1:1:q", "event": ["s3:*"]}]
        )
        aws.s3.BucketNotification(
            "snake-case", bucket="b", queues=[{"queue_arn": "arn:aws:sqs:eu-west-1:1:q", "events": ["s3:*"]}]
        )
        aws.lambda_.Function("unknown-runtime", role="r", handler="h", runtime="python3.99")
        aws.lambda_.Function(
            "nested-dicts", role="r", handler="h", runtime="python3.12",
            logging_config={"log_format": "JSON"}, environment={"variables": {"ANY_NAME": "x"}},
        )
        aws.lambda_.EventSourceMapping(
            "other-type", function_name="f", event_source_arn="q", scaling_config={"batch_size": 2}
        )
        """
    )
    assert problems_of(resources["plain-dict"]) == [
        "assumeRoles[0].role_arn: not a property of ProviderAssumeRoleArgs (duration, externalId, policy, "
        "policyArns, roleArn, sessionName, sourceIdentity, tags, transitiveTagKeys)"
    ]
    assert [p.split(":")[0] for p in problems_of(resources["misspelt"])] == ["queues[0].event"]
    assert problems_of(resources["unknown-runtime"])[0].startswith("runtime: 'python3.99' is none of")
    assert [p.split(":")[0] for p in problems_of(resources["other-type"])] == ["scalingConfig.batch_size"]
    for accepted in ("typed", "snake-case", "nested-dicts"):
        assert problems_of(resources[accepted]) == [], accepted


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_policy_documents_iam_would_refuse_are_reported() -> None:
    role_policy = "aws:iam/rolePolicy:RolePolicy"
    key_policy = "aws:kms/keyPolicy:KeyPolicy"
    good = {"Sid": "ReadIt", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}
    assert policy_problems(role_policy, {"role": "r", "policy": policy(good)}) == []
    mistakes = {
        "Principal": {**good, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}},
        "Sid": {**good, "Sid": "Read-It"},
        "operator": {**good, "Condition": {"StringEqual": {"aws:ResourceAccount": "123456789012"}}},
        "action": {**good, "Action": ["GetObject"]},
        "Effect": {**good, "Effect": "allow"},
        "element": {**good, "Resources": "*"},
    }
    for mistake, statement in mistakes.items():
        problems = policy_problems(role_policy, {"role": "r", "policy": policy(statement)})
        assert len(problems) == 1 and mistake in problems[0], (mistake, problems)
    no_resource = {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "kms:Decrypt"}
    assert policy_problems(key_policy, {"keyId": "k", "policy": policy(no_resource)}) == [
        "policy.Statement[0]: a resource policy needs Resource"
    ]
    assert policy_problems(role_policy, {"role": "r", "policy": policy(good, good)}) == [
        "policy: Sids repeat"
    ]
