"""KMS rules: key rotation, key policies open to everyone."""

from __future__ import annotations

from collections.abc import Iterator

from bucketguard.rules.catalogue._common import RESTRICT_NOTE, public_policy_findings
from bucketguard.rules.facts import KmsKeyFacts
from bucketguard.rules.rule import References, Remediation, RulesConfig, Severity, rule


@rule(
    "kms_key_rotation_enabled",
    KmsKeyFacts,
    Severity.MEDIUM,
    title="KMS keys rotate their key material automatically",
    risk=(
        "Key material that never rotates protects ever more data, so one exposure reveals all of it. "
        "Automatic rotation limits what a compromised key version can decrypt."
    ),
    remediation=Remediation(
        summary="Set enable_key_rotation=True on symmetric encryption keys.",
        pulumi="""\
import pulumi_aws as aws

aws.kms.Key("bucketguard", enable_key_rotation=True, deletion_window_in_days=30)
""",
        console="KMS > Customer managed keys > key > Key rotation: tick 'Automatically rotate' > Save.",
        cli="aws kms enable-key-rotation --key-id KEY_ID",
    ),
    references=References(
        fsbp=("KMS.4",),
        cis=("3.6",),
        checkov=("CKV_AWS_7",),
        prowler=("kms_cmk_rotation_enabled",),
    ),
    notes="Not set fails (AWS default: off). Asymmetric, HMAC and non ENCRYPT_DECRYPT keys cannot rotate "
    "and are not judged.",
)
def kms_key_rotation_enabled(key: KmsKeyFacts, config: RulesConfig) -> Iterator[str]:
    rotatable = (key.key_spec or "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT" and (
        key.key_usage or "ENCRYPT_DECRYPT"
    ) == "ENCRYPT_DECRYPT"
    if rotatable and not key.rotation_enabled:
        yield "automatic key rotation is off"


@rule(
    "kms_key_public_access_prohibited",
    KmsKeyFacts,
    Severity.CRITICAL,
    title="KMS key policies do not allow public access",
    risk=(
        "A key policy open to Principal * lets any AWS account use or manage the key, and with it decrypt "
        "everything it protects. Key policies must name the account and roles that use the key."
    ),
    remediation=Remediation(
        summary="Name the account root and the roles that need the key instead of Principal *.",
        pulumi="""\
import json

import pulumi_aws as aws

account_id = aws.get_caller_identity().account_id
aws.kms.Key(
    "bucketguard",
    enable_key_rotation=True,
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountRoot",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    ),
)
""",
        console="KMS > key > Key policy > Edit: remove statements with Principal * or add a "
        "kms:CallerAccount / aws:PrincipalOrgID condition.",
        cli="aws kms put-key-policy --key-id KEY_ID --policy-name default --policy file://key-policy.json",
    ),
    references=References(
        fsbp=("KMS.5",),
        checkov=("CKV_AWS_33",),
        prowler=("kms_key_not_publicly_accessible",),
    ),
    notes="No policy passes (the default key policy admits the account root only). " + RESTRICT_NOTE,
)
def kms_key_public_access_prohibited(key: KmsKeyFacts, config: RulesConfig) -> Iterator[str]:
    yield from public_policy_findings(key.policy, "key policy")
