"""Lambda rules: public permissions, unscoped service permissions, unauthenticated URLs, admin roles."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules import policy_analysis as pa
from bucketguard.rules.facts import LambdaFunctionFacts, LambdaFunctionUrlFacts, LambdaPermissionFacts
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, rule

SCOPED_PERMISSION_SNIPPET = """\
import pulumi_aws as aws

bucket = aws.s3.Bucket("teaching")
function = aws.lambda_.Function.get("listener", "bucketguard-listener")
aws.lambda_.Permission(
    "allow-bucket",
    action="lambda:InvokeFunction",
    function=function.name,
    principal="s3.amazonaws.com",
    source_arn=bucket.arn,
    source_account="111122223333",
)
"""


def _fixed(key: str, value: str | None) -> bool:
    # A permission's SourceArn/SourceAccount/PrincipalOrgID become the same conditions in the function's
    # policy as in any other resource policy: judged by the same meaning of "fixed".
    return value is not None and pa.is_fixed_value(key, value)


@rule(
    "lambda_permission_public_access_prohibited",
    LambdaPermissionFacts,
    Severity.CRITICAL,
    title="Lambda permissions do not let anyone invoke a function",
    risk=(
        "A permission with Principal * lets any AWS account (or anyone, for a URL) run the function with "
        "its role's rights. A public listener or post-scan function could be fed forged events."
    ),
    remediation=Remediation(
        summary="Name the calling service or account, and scope it with source_arn and source_account.",
        pulumi=SCOPED_PERMISSION_SNIPPET,
        console="Lambda > function > Configuration > Permissions > Resource-based policy: delete the "
        "statement with Principal *.",
        cli="aws lambda remove-permission --function-name FUNCTION --statement-id SID",
    ),
    references=References(
        fsbp=("Lambda.1",),
        checkov=("CKV_AWS_301",),
        prowler=("awslambda_function_not_publicly_accessible",),
    ),
    notes="Principal * without a fixed (wildcard-free) source_account, source_arn or principal_org_id "
    "fails; an InvokeFunctionUrl permission for a URL with auth type AWS_IAM passes.",
)
def lambda_permission_public_access_prohibited(
    permission: LambdaPermissionFacts, config: RulesConfig
) -> Iterator[str]:
    if permission.principal != "*":
        return
    if (
        _fixed("aws:sourceaccount", permission.source_account)
        or _fixed("aws:principalorgid", permission.principal_org_id)
        or _fixed("aws:sourcearn", permission.source_arn)
    ):
        return
    if permission.action == "lambda:InvokeFunctionUrl" and permission.function_url_auth_type == "AWS_IAM":
        return  # the URL still demands SigV4 from an IAM principal
    yield f"anyone may call {permission.action} on {permission.function_name or 'the function'}"


@rule(
    "lambda_permission_source_restricted",
    LambdaPermissionFacts,
    Severity.MEDIUM,
    title="Lambda permissions for AWS services name the source resource or account",
    risk=(
        "A service principal without SourceArn or SourceAccount lets that service invoke the function for "
        "any customer's resource (the confused deputy). Another account's bucket could then drive the "
        "function."
    ),
    remediation=Remediation(
        summary="Set source_arn (and source_account) on the permission.",
        pulumi=SCOPED_PERMISSION_SNIPPET,
        console="Lambda > function > Configuration > Permissions > Resource-based policy: edit the statement "
        "and add a Source ARN / Source account.",
        cli="aws lambda add-permission --function-name FUNCTION --statement-id s3 --action "
        "lambda:InvokeFunction --principal s3.amazonaws.com --source-arn BUCKET_ARN --source-account ACCOUNT",
    ),
    references=References(checkov=("CKV_AWS_364",)),
    notes="Principals ending in .amazonaws.com without a fixed (wildcard-free) source_arn or source_account "
    "fail.",
)
def lambda_permission_source_restricted(
    permission: LambdaPermissionFacts, config: RulesConfig
) -> Iterator[str]:
    if not permission.principal.endswith(".amazonaws.com"):
        return
    if _fixed("aws:sourcearn", permission.source_arn) or _fixed(
        "aws:sourceaccount", permission.source_account
    ):
        return
    yield (
        f"service {permission.principal} may invoke {permission.function_name or 'the function'} on behalf "
        "of any account (no source_arn or source_account)"
    )


@rule(
    "lambda_function_url_auth_required",
    LambdaFunctionUrlFacts,
    Severity.HIGH,
    title="Lambda function URLs require IAM authentication",
    risk=(
        "A function URL with auth type NONE is an open HTTPS endpoint anyone on the internet can call. "
        "Every call runs with the function's role and costs money."
    ),
    remediation=Remediation(
        summary="Set authorization_type to AWS_IAM, or put API Gateway with an authorizer in front.",
        pulumi="""\
import pulumi_aws as aws

aws.lambda_.FunctionUrl("report-url", function_name="bucketguard-report", authorization_type="AWS_IAM")
""",
        console="Lambda > function > Configuration > Function URL > Edit: Auth type AWS_IAM.",
        cli="aws lambda update-function-url-config --function-name FUNCTION --auth-type AWS_IAM",
    ),
    references=References(checkov=("CKV_AWS_258",), prowler=("awslambda_function_url_public",)),
)
def lambda_function_url_auth_required(url: LambdaFunctionUrlFacts, config: RulesConfig) -> Iterator[str]:
    if url.authorization_type == "NONE":
        yield f"the function URL of {url.function_name or url.name} accepts unauthenticated requests"


@rule(
    "lambda_function_role_admin_prohibited",
    LambdaFunctionFacts,
    Severity.HIGH,
    title="Lambda execution roles do not have administrator rights",
    risk=(
        "Code running with an administrator role can do anything in the account, so one bug or poisoned "
        "input (a malicious upload handed to a scanner) becomes a full compromise. Functions need only the "
        "actions their job uses."
    ),
    remediation=Remediation(
        summary="Give the function a role with scoped inline or managed policies; no AdministratorAccess.",
        pulumi="""\
import json

import pulumi_aws as aws

role = aws.iam.Role(
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
aws.iam.RolePolicyAttachment(
    "scanner-logs",
    role=role.name,
    policy_arn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
)
""",
        console="Lambda > function > Configuration > Permissions: open the role, detach AdministratorAccess "
        "and remove * statements.",
        cli="aws iam detach-role-policy --role-name ROLE "
        "--policy-arn arn:aws:iam::aws:policy/AdministratorAccess",
    ),
    references=References(cis=("1.16",)),
    notes="The adapter joins the function's role: AdministratorAccess or IAMFullAccess among its managed "
    "policy ARNs, or an inline/attached statement that iam_policy_admin_access_prohibited fails, fails.",
)
def lambda_function_role_admin_prohibited(
    function: LambdaFunctionFacts, config: RulesConfig
) -> Iterator[str]:
    role = function.role or "its execution role"
    for arn in function.role_managed_policy_arns:
        admin = pa.ADMIN_POLICY_ARN.match(arn)
        if admin:
            yield f"{role} has {admin.group(1)} attached"
    for statement in function.role_statements:
        grant = pa.admin_grant(statement)
        if grant:
            yield f"{role} has {pa.describe(statement)}, which {grant}"
