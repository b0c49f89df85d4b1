"""IAM rules: administrator policies, AdministratorAccess attachments, trust policies open to everyone."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules import policy_analysis as pa
from bucketguard.rules.facts import IamAttachmentFacts, IamPolicyFacts, IamRoleFacts
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, rule

LEAST_PRIVILEGE_SNIPPET = """\
import json

import pulumi_aws as aws

aws.iam.Policy(
    "teaching-reader",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": "arn:aws:s3:::camp-teaching/*",
                }
            ],
        }
    ),
)
"""


@rule(
    "iam_policy_admin_access_prohibited",
    IamPolicyFacts,
    Severity.HIGH,
    title="IAM policies do not allow every action on every resource",
    risk=(
        "A statement allowing Action * on Resource * makes whoever holds the policy an administrator, able "
        "to turn off every other control. Grant only the actions and resources a job needs."
    ),
    remediation=Remediation(
        summary="Replace Action * / Resource * with the specific actions and resources needed.",
        pulumi=LEAST_PRIVILEGE_SNIPPET,
        console="IAM > Policies > policy > Edit: replace the * statement with specific actions and ARNs.",
        cli="aws iam create-policy-version --policy-arn ARN --policy-document file://least.json "
        "--set-as-default",
    ),
    references=References(
        fsbp=("IAM.1",),
        cis=("1.16",),
        checkov=("CKV_AWS_1", "CKV_AWS_62"),
        prowler=(
            "iam_customer_attached_policy_no_administrative_privileges",
            "iam_inline_policy_no_administrative_privileges",
        ),
    ),
    notes="Managed and inline policies. An Allow statement with Action * (or *:*) on Resource * (or a "
    "NotResource) fails, conditions or not; so does one on every resource whose Action (iam:*, iam:Put*, "
    "iam:AttachRolePolicy...) or NotAction allows IAM to attach or put policies or create a policy version "
    "(its holder can grant itself the rest).",
)
def iam_policy_admin_access_prohibited(policy: IamPolicyFacts, config: RulesConfig) -> Iterator[str]:
    for statement in policy.statements:
        grant = pa.admin_grant(statement)
        if grant:
            yield f"{pa.describe(statement)} {grant}"


@rule(
    "iam_principal_administrator_access_prohibited",
    IamAttachmentFacts,
    Severity.HIGH,
    title="No role, user or group has the AdministratorAccess or IAMFullAccess managed policy",
    risk=(
        "AdministratorAccess gives full control of the account, so one leaked key or compromised function "
        "can undo every protection. Attach least-privilege policies instead."
    ),
    remediation=Remediation(
        summary="Detach AdministratorAccess and attach a policy scoped to the job.",
        pulumi="""\
import pulumi_aws as aws

role = aws.iam.Role("deployer", assume_role_policy="{}")  # your trust policy
policy = aws.iam.Policy("deployer-scoped", policy="{}")  # least-privilege statements
aws.iam.RolePolicyAttachment("deployer-scoped", role=role.name, policy_arn=policy.arn)
""",
        console="IAM > Roles/Users/Groups > Permissions: remove AdministratorAccess, add a scoped policy.",
        cli="aws iam detach-role-policy --role-name ROLE "
        "--policy-arn arn:aws:iam::aws:policy/AdministratorAccess",
    ),
    references=References(
        cis=("1.16",),
        checkov=("CKV_AWS_274",),
        prowler=(
            "iam_role_administratoraccess_policy",
            "iam_user_administrator_access_policy",
            "iam_group_administrator_access_policy",
        ),
    ),
    notes="Any attachment of arn:aws:iam::aws:policy/AdministratorAccess or IAMFullAccess (any partition; "
    "IAMFullAccess can attach the other) fails, through every attachment resource: RolePolicyAttachment, "
    "UserPolicyAttachment, GroupPolicyAttachment, PolicyAttachment, the ...PolicyAttachmentsExclusive "
    "resources and a role's managed_policy_arns.",
)
def iam_principal_administrator_access_prohibited(
    attachment: IamAttachmentFacts, config: RulesConfig
) -> Iterator[str]:
    admin = pa.ADMIN_POLICY_ARN.match(attachment.policy_arn)
    if admin:
        who = f"{attachment.principal_type} {attachment.principal_name}".strip()
        yield f"{admin.group(1)} is attached to {who or 'a principal'}"


@rule(
    "iam_role_public_trust_prohibited",
    IamRoleFacts,
    Severity.CRITICAL,
    title="IAM role trust policies do not let anyone assume the role",
    risk=(
        "A trust policy with Principal * lets any AWS account assume the role and act with its "
        "permissions. Trust only named accounts, roles or services."
    ),
    remediation=Remediation(
        summary="Name the trusted service or account in the trust policy, or add aws:PrincipalOrgID.",
        pulumi="""\
import json

import pulumi_aws as aws

aws.iam.Role(
    "scanner",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    ),
)
""",
        console="IAM > Roles > role > Trust relationships > Edit trust policy: replace Principal *.",
        cli="aws iam update-assume-role-policy --role-name ROLE --policy-document file://trust.json",
    ),
    references=References(checkov=("CKV_AWS_60",)),
    notes="Allow statements with Principal * (or NotPrincipal) without a restricting condition fail. "
    "aws:PrincipalOrgID, aws:PrincipalAccount and aws:PrincipalArn with fixed values restrict.",
)
def iam_role_public_trust_prohibited(role: IamRoleFacts, config: RulesConfig) -> Iterator[str]:
    for statement in pa.public_allow_statements(role.trust_policy):
        yield f"trust policy: {pa.describe(statement)} lets any AWS principal assume the role"
