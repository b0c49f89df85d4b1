"""Passing and failing facts for every rule (Checkov-style: named cases, compared as sets).

CASES[rule_id] = (passing, failing): each a dict name -> facts, or name -> (facts, RulesConfig).
"""

from __future__ import annotations

from typing import Any

from bucketguard.rules.facts import (
    ALL_USERS_URI,
    AUTHENTICATED_USERS_URI,
    AclGrant,
    BucketFacts,
    Ec2InstanceFacts,
    Encryption,
    IamAttachmentFacts,
    IamPolicyFacts,
    IamRoleFacts,
    IngressRule,
    KmsKeyFacts,
    LambdaFunctionFacts,
    LambdaFunctionUrlFacts,
    LambdaPermissionFacts,
    Logging,
    NotificationTarget,
    PublicAccessBlock,
    ResourceFacts,
    SecurityGroupFacts,
    SnsTopicFacts,
    SqsQueueFacts,
    StackFacts,
    TrailFacts,
    parse_policy_document,
)
from bucketguard.rules.model import RulesConfig

Cases = dict[str, Any]


def policy(*statements: dict[str, Any]) -> Any:
    return parse_policy_document({"Version": "2012-10-17", "Statement": list(statements)})


def allow(
    principal: Any, action: Any, condition: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}
    if condition:
        statement["Condition"] = condition
    return statement


def bucket(name: str, **kwargs: Any) -> BucketFacts:
    return BucketFacts(name=name, **kwargs)


TLS_DENY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
ALL_ON = PublicAccessBlock(True, True, True, True)
LISTENER = NotificationTarget(
    "queue", "arn:aws:sqs:eu-west-1:1:listener", ("s3:ObjectCreated:*",), is_bucketguard_listener=True
)
KMS = RulesConfig(require_kms=True)
ACCOUNTS = RulesConfig(allowed_account_ids=frozenset({"111122223333"}))
REGIONS = RulesConfig(allowed_regions=frozenset({"eu-west-1", "eu-central-1"}))
ONE_BUCKET = StackFacts(buckets=(bucket("b"),))


def trail(name: str, **kwargs: Any) -> TrailFacts:
    return TrailFacts(name=name, **kwargs)


GOOD_TRAIL = trail(
    "t", is_multi_region=True, log_file_validation=True, s3_data_events=frozenset({"read", "write"})
)

CASES: dict[str, tuple[Cases, Cases]] = {
    "s3_bucket_public_read_prohibited": (
        {
            "pass_default": bucket("pass_default"),
            "pass_private_acl": bucket("pass_private_acl", canned_acl="private"),
            "pass_log_delivery_acl": bucket("x", canned_acl="log-delivery-write"),
            "pass_policy_org_condition": bucket(
                "x",
                policy=policy(allow("*", "s3:GetObject", {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})),
            ),
            "pass_policy_vpce": bucket(
                "x", policy=policy(allow("*", "s3:*", {"StringEquals": {"aws:SourceVpce": "vpce-1"}}))
            ),
            "pass_policy_named_account": bucket(
                "x", policy=policy(allow({"AWS": "arn:aws:iam::111122223333:root"}, "s3:GetObject"))
            ),
            "pass_policy_public_write_only": bucket("x", policy=policy(allow("*", "s3:PutObject"))),
            "pass_deny_public": bucket("x", policy=policy({**TLS_DENY})),
        },
        {
            "fail_canned_public_read": bucket("x", canned_acl="public-read"),
            "fail_canned_authenticated_read": bucket("x", canned_acl="authenticated-read"),
            "fail_canned_public_read_write": bucket("x", canned_acl="public-read-write"),
            "fail_grant_read_acp": bucket("x", acl_grants=(AclGrant("Group", ALL_USERS_URI, "READ_ACP"),)),
            "fail_grant_full_control_auth": bucket(
                "x", acl_grants=(AclGrant("Group", AUTHENTICATED_USERS_URI, "FULL_CONTROL"),)
            ),
            "fail_policy_star": bucket("x", policy=policy(allow("*", "s3:GetObject"))),
            "fail_policy_aws_star_list": bucket("x", policy=policy(allow({"AWS": "*"}, ["s3:ListBucket"]))),
            "fail_policy_get_wildcard": bucket("x", policy=policy(allow("*", "s3:Get*"))),
            "fail_policy_all_actions": bucket("x", policy=policy(allow("*", "*"))),
            "fail_policy_not_principal": bucket(
                "x",
                policy=policy(
                    {
                        "Effect": "Allow",
                        "NotPrincipal": {"AWS": "arn:aws:iam::1:root"},
                        "Action": "s3:*",
                        "Resource": "*",
                    }
                ),
            ),
            "fail_policy_ifexists_condition": bucket(
                "x",
                policy=policy(
                    allow("*", "s3:GetObject", {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}})
                ),
            ),
            "fail_policy_negated_condition": bucket(
                "x",
                policy=policy(allow("*", "s3:GetObject", {"StringNotEquals": {"aws:SourceAccount": "1"}})),
            ),
            "fail_policy_ip_anywhere": bucket(
                "x", policy=policy(allow("*", "s3:GetObject", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}))
            ),
            "fail_policy_unrelated_condition": bucket(
                "x", policy=policy(allow("*", "s3:GetObject", {"Bool": {"aws:SecureTransport": "true"}}))
            ),
        },
    ),
    "s3_bucket_public_write_prohibited": (
        {
            "pass_default": bucket("x"),
            "pass_public_read_only": bucket("x", canned_acl="public-read"),
            "pass_log_delivery_write": bucket(
                "x",
                acl_grants=(AclGrant("Group", "http://acs.amazonaws.com/groups/s3/LogDelivery", "WRITE"),),
            ),
            "pass_service_with_source": bucket(
                "x",
                policy=policy(
                    allow(
                        {"Service": "logging.s3.amazonaws.com"},
                        "s3:PutObject",
                        {"StringEquals": {"aws:SourceAccount": "111122223333"}},
                    )
                ),
            ),
            "pass_star_with_source_arn": bucket(
                "x",
                policy=policy(allow("*", "s3:PutObject", {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::src"}})),
            ),
            "pass_org_path_under_fixed_org": bucket(
                "x",
                policy=policy(
                    allow(
                        "*",
                        "s3:PutObject",
                        {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1/r-ab/*"}},
                    )
                ),
            ),
            "pass_userid_of_one_role": bucket(
                "x",
                policy=policy(allow("*", "s3:PutObject", {"StringLike": {"aws:userid": "AROAEXAMPLE:*"}})),
            ),
        },
        {
            "fail_canned_public_read_write": bucket("x", canned_acl="public-read-write"),
            "fail_grant_write": bucket("x", acl_grants=(AclGrant("Group", ALL_USERS_URI, "WRITE"),)),
            "fail_grant_write_acp_auth": bucket(
                "x", acl_grants=(AclGrant("Group", AUTHENTICATED_USERS_URI, "WRITE_ACP"),)
            ),
            "fail_grant_full_control": bucket(
                "x", acl_grants=(AclGrant("Group", ALL_USERS_URI, "FULL_CONTROL"),)
            ),
            "fail_seed_incident_put_object": bucket("x", policy=policy(allow("*", "s3:PutObject"))),
            "fail_put_wildcard": bucket("x", policy=policy(allow("*", "s3:Put*"))),
            "fail_s3_star": bucket("x", policy=policy(allow({"AWS": "*"}, "s3:*"))),
            "fail_delete": bucket("x", policy=policy(allow("*", ["s3:DeleteObject"]))),
            "fail_not_action": bucket(
                "x",
                policy=policy(
                    {"Effect": "Allow", "Principal": "*", "NotAction": "s3:GetObject", "Resource": "*"}
                ),
            ),
            "fail_source_arn_star": bucket(
                "x", policy=policy(allow("*", "s3:PutObject", {"ArnLike": {"aws:SourceArn": "*"}}))
            ),
            # Wildcards make a value not fixed (S3's own meaning of "public"): none of these restrict.
            "fail_source_account_only_wildcards": bucket(
                "x", policy=policy(allow("*", "s3:PutObject", {"StringLike": {"aws:SourceAccount": "**"}}))
            ),
            "fail_source_account_any_twelve_digits": bucket(
                "x",
                policy=policy(
                    allow("*", "s3:PutObject", {"StringLike": {"aws:SourceAccount": "????????????"}})
                ),
            ),
            "fail_source_arn_any_bucket": bucket(
                "x",
                policy=policy(allow("*", "s3:PutObject", {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}})),
            ),
            "fail_source_vpce_wildcard": bucket(
                "x", policy=policy(allow("*", "s3:PutObject", {"StringLike": {"aws:SourceVpce": "vpce-*"}}))
            ),
            # ForAllValues is true when the request has no such key at all.
            "fail_for_all_values_condition": bucket(
                "x",
                policy=policy(
                    allow(
                        "*",
                        "s3:PutObject",
                        {"ForAllValues:StringEquals": {"aws:SourceAccount": "111122223333"}},
                    )
                ),
            ),
        },
    ),
    "s3_bucket_public_access_block_enabled": (
        {
            "pass_no_resource_aws_default": bucket("x"),
            "pass_all_on": bucket("x", public_access_block=ALL_ON),
        },
        {
            "fail_all_off": bucket("x", public_access_block=PublicAccessBlock()),
            "fail_one_missing": bucket("x", public_access_block=PublicAccessBlock(True, True, True, False)),
            "fail_acls_only": bucket("x", public_access_block=PublicAccessBlock(block_public_acls=True)),
        },
    ),
    "s3_account_public_access_block_enabled": (
        {
            "pass_all_on": StackFacts(buckets=(bucket("b"),), account_public_access_block=ALL_ON),
            "pass_no_buckets": StackFacts(),
            "pass_no_buckets_other_resources": StackFacts(sqs_queues=(SqsQueueFacts(name="q"),)),
        },
        {
            "fail_not_declared": ONE_BUCKET,
            "fail_partial": StackFacts(
                buckets=(bucket("b"),), account_public_access_block=PublicAccessBlock(True, False, True, True)
            ),
        },
    ),
    "s3_bucket_acls_disabled": (
        {
            "pass_default": bucket("x"),
            "pass_enforced": bucket("x", object_ownership="BucketOwnerEnforced"),
        },
        {
            "fail_preferred": bucket("x", object_ownership="BucketOwnerPreferred"),
            "fail_object_writer": bucket("x", object_ownership="ObjectWriter"),
        },
    ),
    "s3_bucket_secure_transport_required": (
        {
            "pass_deny_http": bucket("x", policy=policy(TLS_DENY)),
            "pass_deny_http_all_actions_aws_star": bucket(
                "x",
                policy=policy(
                    {
                        **TLS_DENY,
                        "Principal": {"AWS": "*"},
                        "Action": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": False}},
                    }
                ),
            ),
        },
        {
            "fail_no_policy": bucket("x"),
            "fail_deny_only_get": bucket("x", policy=policy({**TLS_DENY, "Action": "s3:GetObject"})),
            "fail_allow_not_deny": bucket("x", policy=policy({**TLS_DENY, "Effect": "Allow"})),
            "fail_deny_one_principal": bucket(
                "x", policy=policy({**TLS_DENY, "Principal": {"AWS": "arn:aws:iam::1:root"}})
            ),
            "fail_wrong_value": bucket(
                "x", policy=policy({**TLS_DENY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})
            ),
        },
    ),
    "s3_bucket_default_encryption_enabled": (
        {
            "pass_default_sse_s3": bucket("x"),
            "pass_aes256": bucket("x", encryption=Encryption("AES256")),
            "pass_kms": bucket("x", encryption=Encryption("aws:kms", "key")),
            "pass_dsse": bucket("x", encryption=Encryption("aws:kms:dsse")),
        },
        {
            "fail_empty_configuration": bucket("x", encryption=Encryption(None)),
            "fail_unknown_algorithm": bucket("x", encryption=Encryption("ROT13")),
        },
    ),
    "s3_bucket_kms_encryption_enabled": (
        {
            "pass_not_required": bucket("x"),
            "pass_kms_required_kms": (bucket("x", encryption=Encryption("aws:kms", "arn:key")), KMS),
            "pass_kms_required_dsse": (bucket("x", encryption=Encryption("aws:kms:dsse")), KMS),
        },
        {
            "fail_required_default": (bucket("x"), KMS),
            "fail_required_aes256": (bucket("x", encryption=Encryption("AES256")), KMS),
        },
    ),
    "s3_bucket_versioning_enabled": (
        # A bucket the stack configures but does not create: judged on what the stack declares.
        {
            "pass_enabled": bucket("x", versioning="Enabled"),
            "pass_existing_undeclared": bucket("x", created=False),
        },
        {
            "fail_default": bucket("x"),
            "fail_suspended": bucket("x", versioning="Suspended"),
            "fail_existing_suspended": bucket("x", created=False, versioning="Suspended"),
        },
    ),
    "s3_bucket_access_logging_enabled": (
        {
            "pass_logging": bucket("x", logging=Logging("logs", "x/")),
            "pass_log_target": bucket("x", receives_access_logs=True),
            "pass_log_role_tag": bucket("x", tags={"bucketguard:role": "logs"}),
            "pass_existing_undeclared": bucket("x", created=False),
        },
        {
            "fail_default": bucket("x"),
            "fail_quarantine_still_logs": bucket("x", tags={"bucketguard:role": "quarantine"}),
        },
    ),
    "s3_bucket_mfa_delete_enabled": (
        {"pass_on": bucket("x", mfa_delete=True)},
        {"fail_default": bucket("x"), "fail_off": bucket("x", mfa_delete=False)},
    ),
    "s3_bucket_object_lock_enabled": (
        {"pass_on": bucket("x", object_lock_enabled=True)},
        {"fail_default": bucket("x"), "fail_off": bucket("x", object_lock_enabled=False)},
    ),
    "s3_bucket_website_disabled": (
        {"pass_default": bucket("x")},
        {"fail_website": bucket("x", website=True)},
    ),
    "s3_bucket_cross_account_access_restricted": (
        {
            "pass_unconfigured": bucket("x", policy=policy(allow({"AWS": "999999999999"}, "s3:GetObject"))),
            "pass_listed_account": (
                bucket(
                    "x", policy=policy(allow({"AWS": "arn:aws:iam::111122223333:role/r"}, "s3:GetObject"))
                ),
                ACCOUNTS,
            ),
            "pass_own_account": (
                bucket("x", account_id="444455556666", policy=policy(allow({"AWS": "444455556666"}, "s3:*"))),
                ACCOUNTS,
            ),
            "pass_service_principal": (
                bucket("x", policy=policy(allow({"Service": "s3.amazonaws.com"}, "s3:*"))),
                ACCOUNTS,
            ),
            "pass_deny_foreign": (
                bucket(
                    "x",
                    policy=policy(
                        {
                            "Effect": "Deny",
                            "Principal": {"AWS": "999999999999"},
                            "Action": "s3:*",
                            "Resource": "*",
                        }
                    ),
                ),
                ACCOUNTS,
            ),
        },
        {
            "fail_foreign_arn": (
                bucket("x", policy=policy(allow({"AWS": "arn:aws:iam::999999999999:root"}, "s3:GetObject"))),
                ACCOUNTS,
            ),
            "fail_foreign_bare_id": (
                bucket("x", policy=policy(allow({"AWS": ["111122223333", "999999999999"]}, "s3:GetObject"))),
                ACCOUNTS,
            ),
            "fail_foreign_sts": (
                bucket(
                    "x", policy=policy(allow({"AWS": "arn:aws:sts::999999999999:assumed-role/r/s"}, "s3:*"))
                ),
                ACCOUNTS,
            ),
        },
    ),
    "s3_bucket_malware_scanning_enabled": (
        {
            "pass_listener_queue": bucket("x", notifications=(LISTENER,)),
            "pass_listener_eventbridge": bucket(
                "x",
                notifications=(NotificationTarget("eventbridge", "", ("*",), is_bucketguard_listener=True),),
            ),
            "pass_listener_among_others": bucket(
                "x",
                notifications=(
                    NotificationTarget("lambda", "arn:aws:lambda:::function:thumbs", ("s3:ObjectCreated:*",)),
                    LISTENER,
                ),
            ),
            "pass_protected_tag": bucket("x", tags={"bucketguard:protected": "true"}),
            "pass_quarantine_bucket": bucket("x", tags={"bucketguard:role": "quarantine"}),
            "pass_promote_bucket": bucket("x", tags={"bucketguard:role": "promote"}),
            "pass_internal_bucket": bucket("x", tags={"bucketguard:role": "internal"}),
            "pass_log_bucket": bucket("x", receives_access_logs=True),
        },
        {
            "fail_no_notification": bucket("x"),
            "fail_other_queue": bucket(
                "x",
                notifications=(NotificationTarget("queue", "arn:aws:sqs:::other", ("s3:ObjectCreated:*",)),),
            ),
            "fail_listener_put_only": bucket(
                "x",
                notifications=(
                    NotificationTarget("queue", "q", ("s3:ObjectCreated:Put",), is_bucketguard_listener=True),
                ),
            ),
            "fail_listener_prefix": bucket(
                "x",
                notifications=(
                    NotificationTarget(
                        "queue",
                        "q",
                        ("s3:ObjectCreated:*",),
                        filter_prefix="uploads/",
                        is_bucketguard_listener=True,
                    ),
                ),
            ),
            "fail_tag_false": bucket("x", tags={"bucketguard:protected": "false"}),
            "fail_listener_role_is_not_exempt": bucket("x", tags={"bucketguard:role": "listener"}),
        },
    ),
    "lambda_permission_public_access_prohibited": (
        {
            "pass_service_scoped": LambdaPermissionFacts(
                name="p", principal="s3.amazonaws.com", source_arn="arn:aws:s3:::b", source_account="1"
            ),
            "pass_account": LambdaPermissionFacts(name="p", principal="111122223333"),
            "pass_star_with_account": LambdaPermissionFacts(
                name="p", principal="*", source_account="111122223333"
            ),
            "pass_star_with_org": LambdaPermissionFacts(name="p", principal="*", principal_org_id="o-abc"),
            "pass_url_iam": LambdaPermissionFacts(
                name="p", principal="*", action="lambda:InvokeFunctionUrl", function_url_auth_type="AWS_IAM"
            ),
        },
        {
            "fail_star": LambdaPermissionFacts(name="p", principal="*", function_name="listener"),
            "fail_star_source_arn_star": LambdaPermissionFacts(name="p", principal="*", source_arn="*"),
            "fail_star_any_bucket": LambdaPermissionFacts(
                name="p", principal="*", source_arn="arn:aws:s3:::*"
            ),
            "fail_star_account_pattern": LambdaPermissionFacts(
                name="p", principal="*", source_account="1111????????"
            ),
            "fail_url_none": LambdaPermissionFacts(
                name="p", principal="*", action="lambda:InvokeFunctionUrl", function_url_auth_type="NONE"
            ),
        },
    ),
    "lambda_permission_source_restricted": (
        {
            "pass_source_arn": LambdaPermissionFacts(
                name="p", principal="s3.amazonaws.com", source_arn="arn:aws:s3:::b"
            ),
            "pass_source_account": LambdaPermissionFacts(
                name="p", principal="sns.amazonaws.com", source_account="1"
            ),
            "pass_account_principal": LambdaPermissionFacts(name="p", principal="111122223333"),
        },
        {
            "fail_s3_unscoped": LambdaPermissionFacts(name="p", principal="s3.amazonaws.com"),
            "fail_s3_any_bucket": LambdaPermissionFacts(
                name="p", principal="s3.amazonaws.com", source_arn="arn:aws:s3:::camp-*"
            ),
            "fail_events_unscoped": LambdaPermissionFacts(
                name="p", principal="events.amazonaws.com", source_arn="*"
            ),
        },
    ),
    "lambda_function_url_auth_required": (
        {"pass_iam": LambdaFunctionUrlFacts(name="u", authorization_type="AWS_IAM")},
        {"fail_none": LambdaFunctionUrlFacts(name="u", authorization_type="NONE")},
    ),
    "lambda_function_role_admin_prohibited": (
        {
            "pass_basic": LambdaFunctionFacts(
                name="f",
                role_managed_policy_arns=(
                    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                ),
                role_statements=policy(allow(None, "sqs:ReceiveMessage", Resource="arn:aws:sqs:::q")),
            ),
            "pass_no_role_info": LambdaFunctionFacts(name="f"),
        },
        {
            "fail_admin_managed": LambdaFunctionFacts(
                name="f", role_managed_policy_arns=("arn:aws:iam::aws:policy/AdministratorAccess",)
            ),
            "fail_admin_inline": LambdaFunctionFacts(name="f", role_statements=policy(allow(None, "*"))),
        },
    ),
    "sqs_queue_public_access_prohibited": (
        {
            "pass_no_policy": SqsQueueFacts(name="q"),
            "pass_s3_source_arn": SqsQueueFacts(
                name="q",
                policy=policy(
                    allow(
                        {"Service": "s3.amazonaws.com"},
                        "sqs:SendMessage",
                        {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::b"}},
                    )
                ),
            ),
            "pass_star_source_arn": SqsQueueFacts(
                name="q",
                policy=policy(
                    allow("*", "sqs:SendMessage", {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::b"}})
                ),
            ),
        },
        {
            "fail_star": SqsQueueFacts(name="q", policy=policy(allow("*", "sqs:SendMessage"))),
            "fail_aws_star": SqsQueueFacts(name="q", policy=policy(allow({"AWS": "*"}, "sqs:*"))),
        },
    ),
    "sns_topic_public_access_prohibited": (
        {
            "pass_no_policy": SnsTopicFacts(name="t"),
            "pass_default_owner_policy": SnsTopicFacts(
                name="t",
                policy=policy(
                    allow(
                        {"AWS": "*"},
                        ["SNS:Publish", "SNS:Subscribe"],
                        {"StringEquals": {"AWS:SourceOwner": "1"}},
                    )
                ),
            ),
        },
        {
            "fail_star_publish": SnsTopicFacts(name="t", policy=policy(allow("*", "sns:Publish"))),
            "fail_star_subscribe": SnsTopicFacts(
                name="t", policy=policy(allow({"AWS": "*"}, "sns:Subscribe"))
            ),
        },
    ),
    "sqs_queue_encrypted_at_rest": (
        {
            "pass_default_sse_sqs": SqsQueueFacts(name="q"),
            "pass_sse_sqs": SqsQueueFacts(name="q", sqs_managed_sse_enabled=True),
            "pass_kms": SqsQueueFacts(
                name="q", kms_master_key_id="alias/aws/sqs", sqs_managed_sse_enabled=False
            ),
        },
        {"fail_off": SqsQueueFacts(name="q", sqs_managed_sse_enabled=False)},
    ),
    "sns_topic_encrypted_at_rest": (
        {"pass_kms": SnsTopicFacts(name="t", kms_master_key_id="alias/aws/sns")},
        {"fail_default": SnsTopicFacts(name="t")},
    ),
    "kms_key_rotation_enabled": (
        {
            "pass_on": KmsKeyFacts(name="k", rotation_enabled=True),
            "pass_asymmetric": KmsKeyFacts(name="k", key_spec="RSA_2048", key_usage="SIGN_VERIFY"),
            "pass_hmac": KmsKeyFacts(name="k", key_spec="HMAC_256", key_usage="GENERATE_VERIFY_MAC"),
        },
        {"fail_default": KmsKeyFacts(name="k"), "fail_off": KmsKeyFacts(name="k", rotation_enabled=False)},
    ),
    "kms_key_public_access_prohibited": (
        {
            "pass_default_policy": KmsKeyFacts(name="k"),
            "pass_root": KmsKeyFacts(name="k", policy=policy(allow({"AWS": "arn:aws:iam::1:root"}, "kms:*"))),
            "pass_caller_account": KmsKeyFacts(
                name="k",
                policy=policy(
                    allow(
                        {"AWS": "*"}, ["kms:Decrypt"], {"StringEquals": {"kms:CallerAccount": "111122223333"}}
                    )
                ),
            ),
        },
        {"fail_star": KmsKeyFacts(name="k", policy=policy(allow("*", "kms:*")))},
    ),
    "iam_policy_admin_access_prohibited": (
        {
            "pass_scoped": IamPolicyFacts(name="p", statements=policy(allow(None, "s3:GetObject"))),
            "pass_star_action_scoped_resource": IamPolicyFacts(
                name="p", statements=policy(allow(None, "*", Resource="arn:aws:s3:::b"))
            ),
            # PowerUserAccess: everything but IAM and Organizations is broad, but not administrator.
            "pass_not_action_excludes_iam": IamPolicyFacts(
                name="p",
                statements=policy(
                    {
                        "Effect": "Allow",
                        "NotAction": ["iam:*", "organizations:*", "account:*"],
                        "Resource": "*",
                    }
                ),
            ),
            "pass_deny_all": IamPolicyFacts(
                name="p", statements=policy({"Effect": "Deny", "Action": "*", "Resource": "*"})
            ),
            "pass_iam_star_on_one_role": IamPolicyFacts(
                name="p",
                statements=policy(allow(None, "iam:*", Resource="arn:aws:iam::111122223333:role/r")),
            ),
            "pass_iam_read_only": IamPolicyFacts(
                name="p", statements=policy(allow(None, ["iam:Get*", "iam:List*"], Resource="*"))
            ),
        },
        {
            "fail_admin": IamPolicyFacts(
                name="p", statements=policy({"Effect": "Allow", "Action": "*", "Resource": "*"})
            ),
            # Everything but a few actions, IAM included: the holder can grant itself the rest.
            "fail_not_action_keeps_iam": IamPolicyFacts(
                name="p",
                statements=policy({"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "*"}),
            ),
            "fail_admin_not_resource": IamPolicyFacts(
                name="p",
                statements=policy({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::audit/*"}),
            ),
            "fail_admin_list": IamPolicyFacts(
                name="p",
                statements=policy({"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["*"]}),
            ),
            # IAM's policy-granting actions on every resource: administrator in two calls.
            "fail_iam_star": IamPolicyFacts(name="p", statements=policy(allow(None, "iam:*", Resource="*"))),
            "fail_iam_attach_wildcard": IamPolicyFacts(
                name="p", statements=policy(allow(None, "IAM:Attach*", Resource="*"))
            ),
        },
    ),
    "iam_principal_administrator_access_prohibited": (
        {
            "pass_read_only": IamAttachmentFacts(
                name="a",
                principal_type="role",
                principal_name="r",
                policy_arn="arn:aws:iam::aws:policy/ReadOnlyAccess",
            ),
            "pass_customer_named_like_admin": IamAttachmentFacts(
                name="a", policy_arn="arn:aws:iam::111122223333:policy/AdministratorAccess"
            ),
        },
        {
            "fail_role": IamAttachmentFacts(
                name="a",
                principal_type="role",
                principal_name="r",
                policy_arn="arn:aws:iam::aws:policy/AdministratorAccess",
            ),
            "fail_gov_cloud_user": IamAttachmentFacts(
                name="a",
                principal_type="user",
                policy_arn="arn:aws-us-gov:iam::aws:policy/AdministratorAccess",
            ),
            "fail_iam_full_access": IamAttachmentFacts(
                name="a", principal_type="group", policy_arn="arn:aws:iam::aws:policy/IAMFullAccess"
            ),
        },
    ),
    "iam_role_public_trust_prohibited": (
        {
            "pass_lambda": IamRoleFacts(
                name="r", trust_policy=policy(allow({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole"))
            ),
            "pass_star_with_org": IamRoleFacts(
                name="r",
                trust_policy=policy(
                    allow("*", "sts:AssumeRole", {"StringEquals": {"aws:PrincipalOrgID": "o-a"}})
                ),
            ),
        },
        {
            "fail_star": IamRoleFacts(name="r", trust_policy=policy(allow("*", "sts:AssumeRole"))),
            "fail_aws_star": IamRoleFacts(
                name="r", trust_policy=policy(allow({"AWS": "*"}, "sts:AssumeRole"))
            ),
        },
    ),
    "ec2_security_group_ssh_restricted": (
        {
            "pass_office_cidr": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 22, 22, ("203.0.113.0/24",)),)
            ),
            "pass_https_world": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 443, 443, ("0.0.0.0/0",)),)
            ),
            "pass_rdp_world": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 3389, 3389, ("0.0.0.0/0",)),)
            ),
            "pass_udp_22": SecurityGroupFacts(
                name="g", ingress=(IngressRule("udp", 22, 22, ("0.0.0.0/0",)),)
            ),
            "pass_no_ingress": SecurityGroupFacts(name="g"),
        },
        {
            "fail_ipv4": SecurityGroupFacts(name="g", ingress=(IngressRule("tcp", 22, 22, ("0.0.0.0/0",)),)),
            "fail_ipv6": SecurityGroupFacts(name="g", ingress=(IngressRule("tcp", 22, 22, (), ("::/0",)),)),
            "fail_range": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 0, 1024, ("0.0.0.0/0",)),)
            ),
            "fail_all_protocols": SecurityGroupFacts(
                name="g", ingress=(IngressRule("-1", 0, 0, ("0.0.0.0/0",)),)
            ),
        },
    ),
    "ec2_security_group_rdp_restricted": (
        {
            "pass_office_cidr": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 3389, 3389, ("10.0.0.0/8",)),)
            ),
            "pass_ssh_world": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 22, 22, ("0.0.0.0/0",)),)
            ),
        },
        {
            "fail_ipv4": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 3389, 3389, ("0.0.0.0/0",)),)
            ),
            "fail_ipv6": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 3389, 3389, (), ("::/0",)),)
            ),
            "fail_ipv6_long_form": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 3389, 3389, (), ("0:0:0:0:0:0:0:0/0",)),)
            ),
            "fail_every_port": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", 0, 65535, ("0.0.0.0/0",)),)
            ),
            "fail_all_ports": SecurityGroupFacts(
                name="g", ingress=(IngressRule("tcp", None, None, ("0.0.0.0/0",)),)
            ),
            "fail_all_protocols": SecurityGroupFacts(
                name="g", ingress=(IngressRule("all", -1, -1, ("0.0.0.0/0",)),)
            ),
        },
    ),
    "ec2_instance_public_ip_prohibited": (
        {
            "pass_private": Ec2InstanceFacts(name="i", associate_public_ip_address=False),
            "pass_private_subnet": Ec2InstanceFacts(
                name="i", subnet_id="subnet-1", subnet_maps_public_ip_on_launch=False
            ),
            "pass_unknown_subnet": Ec2InstanceFacts(name="i", subnet_id="subnet-1"),
        },
        {
            "fail_explicit": Ec2InstanceFacts(
                name="i", associate_public_ip_address=True, subnet_id="subnet-1"
            ),
            "fail_default_vpc": Ec2InstanceFacts(name="i"),
            "fail_public_subnet": Ec2InstanceFacts(
                name="i", subnet_id="subnet-1", subnet_maps_public_ip_on_launch=True
            ),
        },
    ),
    "cloudtrail_trail_enabled": (
        {
            "pass_trail": StackFacts(trails=(trail("t"),)),
            "pass_logging": StackFacts(trails=(trail("t", is_logging=True),)),
            "pass_empty_stack": StackFacts(),
        },
        {
            "fail_stopped": StackFacts(trails=(trail("t", is_logging=False),)),
            "fail_no_trail": ONE_BUCKET,
            "fail_no_trail_generic": StackFacts(
                resources=(ResourceFacts(name="r", type="aws:sqs/queue:Queue"),)
            ),
        },
    ),
    "cloudtrail_trail_multi_region_enabled": (
        {
            "pass_multi": StackFacts(trails=(GOOD_TRAIL,)),
            "pass_one_of_two": StackFacts(trails=(trail("t1"), GOOD_TRAIL)),
            "pass_no_trail_left_to_other_rule": ONE_BUCKET,
        },
        {"fail_single": StackFacts(trails=(trail("t", is_multi_region=False),))},
    ),
    "cloudtrail_trail_log_file_validation_enabled": (
        {"pass_on": StackFacts(trails=(GOOD_TRAIL,)), "pass_no_trail": ONE_BUCKET},
        {
            "fail_default": StackFacts(trails=(trail("t"),)),
            "fail_one_of_two": StackFacts(trails=(GOOD_TRAIL, trail("t2", log_file_validation=False))),
        },
    ),
    "cloudtrail_trail_s3_data_events_enabled": (
        {
            "pass_both": StackFacts(trails=(GOOD_TRAIL,)),
            "pass_split": StackFacts(
                trails=(
                    trail("r", s3_data_events=frozenset({"read"})),
                    trail("w", s3_data_events=frozenset({"write"})),
                )
            ),
            "pass_no_trail": ONE_BUCKET,
        },
        {
            "fail_none": StackFacts(trails=(trail("t"),)),
            "fail_write_only": StackFacts(trails=(trail("t", s3_data_events=frozenset({"write"})),)),
        },
    ),
    "aws_resource_region_allowed": (
        {
            "pass_unconfigured": ResourceFacts(name="r", region="us-east-1"),
            "pass_allowed": (ResourceFacts(name="r", region="eu-west-1"), REGIONS),
            "pass_unknown_region": (ResourceFacts(name="r"), REGIONS),
        },
        {
            "fail_outside": (
                ResourceFacts(name="r", type="aws:s3/bucket:Bucket", region="us-east-1"),
                REGIONS,
            ),
        },
    ),
}
