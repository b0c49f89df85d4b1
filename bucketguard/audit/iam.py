"""IAM collector: roles, users and groups with their inline and attached policies, customer-managed
policies' default versions and trust policies, in one paginated GetAccountAuthorizationDetails listing.

IAM is global: the facts carry no region. Each role's effective grants (inline statements, attached
customer-managed statements, attached policy ARNs) are kept for the Lambda execution-role join.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from bucketguard.audit.reader import Call, Reader, tag_list
from bucketguard.rules.facts import (
    IamAttachmentFacts,
    IamPolicyFacts,
    IamRoleFacts,
    PolicyStatement,
    parse_policy_document,
)

AUTHORIZATION_DETAILS = Call(
    "get_account_authorization_details",
    (
        "iam_policy_admin_access_prohibited",
        "iam_principal_administrator_access_prohibited",
        "iam_role_public_trust_prohibited",
        "lambda_function_role_admin_prohibited",
    ),
)
CALLS = (AUTHORIZATION_DETAILS,)
PRINCIPALS = (
    ("role", "RoleDetailList", "RoleName", "RolePolicyList", "AWS::IAM::Role"),
    ("user", "UserDetailList", "UserName", "UserPolicyList", "AWS::IAM::User"),
    ("group", "GroupDetailList", "GroupName", "GroupPolicyList", "AWS::IAM::Group"),
)


def statements(document: Any) -> tuple[PolicyStatement, ...]:
    """IAM returns documents URL-encoded; botocore usually decodes them already."""
    if isinstance(document, str) and document.lstrip().startswith("%"):
        document = unquote(document)
    return parse_policy_document(document)


def _default_version(policy: dict[str, Any]) -> Any:
    for version in policy.get("PolicyVersionList", ()):
        if version.get("IsDefaultVersion") or version.get("VersionId") == policy.get("DefaultVersionId"):
            return version.get("Document")
    return None


def collect_iam(reader: Reader) -> None:
    iam = reader.client("iam")
    kinds = ("RoleDetailList", "UserDetailList", "GroupDetailList", "Policies")
    details: dict[str, list[Any]] = {k: [] for k in kinds}
    for page in reader.pages(
        iam, AUTHORIZATION_DETAILS, Filter=["Role", "User", "Group", "LocalManagedPolicy"]
    ):
        for kind in kinds:
            details[kind].extend(page.get(kind, ()))
    managed = {str(p["Arn"]): p for p in details["Policies"]}
    collection = reader.collection
    for policy in managed.values():
        collection.add(
            "iam_policies",
            IamPolicyFacts(
                name=str(policy.get("PolicyName") or str(policy["Arn"]).rsplit("/", 1)[-1]),
                type="AWS::IAM::ManagedPolicy",
                ref=str(policy["Arn"]),
                statements=statements(_default_version(policy)),
            ),
        )
    for principal_type, list_key, name_key, inline_key, type_name in PRINCIPALS:
        for principal in details[list_key]:
            name, arn = str(principal[name_key]), str(principal["Arn"])
            tags = tag_list(principal.get("Tags"))
            inline: list[PolicyStatement] = []
            for entry in principal.get(inline_key, ()):
                policy_statements = statements(entry.get("PolicyDocument"))
                inline.extend(policy_statements)
                collection.add(
                    "iam_policies",
                    IamPolicyFacts(
                        name=f"{name}/{entry['PolicyName']}",
                        type=type_name,
                        ref=arn,
                        tags=tags,
                        statements=policy_statements,
                        attached_to=name,
                    ),
                )
            attached = [str(a["PolicyArn"]) for a in principal.get("AttachedManagedPolicies", ())]
            for policy_arn in attached:
                collection.add(
                    "iam_attachments",
                    IamAttachmentFacts(
                        name=f"{name}/{policy_arn.rsplit('/', 1)[-1]}",
                        type=type_name,
                        ref=arn,
                        tags=tags,
                        principal_type=principal_type,
                        principal_name=name,
                        policy_arn=policy_arn,
                    ),
                )
            if principal_type != "role":
                continue
            collection.add(
                "iam_roles",
                IamRoleFacts(
                    name=name,
                    type=type_name,
                    ref=arn,
                    tags=tags,
                    trust_policy=statements(principal.get("AssumeRolePolicyDocument")),
                ),
            )
            for policy_arn in attached:
                if policy_arn in managed:
                    inline.extend(statements(_default_version(managed[policy_arn])))
            collection.role_grants[arn] = (tuple(inline), tuple(attached))
