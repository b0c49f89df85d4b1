"""KMS collector: customer-managed keys with their rotation status and key policy (AWS-managed keys are
rotated by AWS and their policies are not the account's to change: skipped)."""

from __future__ import annotations

from bucketguard.audit.reader import Call, Reader, tag_list
from bucketguard.rules.facts import KmsKeyFacts, parse_policy_document

KEY_RULES = ("kms_key_rotation_enabled", "kms_key_public_access_prohibited")
LIST_KEYS = Call("list_keys", KEY_RULES)
DESCRIBE_KEY = Call("describe_key", KEY_RULES)
ROTATION = Call(
    "get_key_rotation_status",
    ("kms_key_rotation_enabled",),
    absent=frozenset({"UnsupportedOperationException"}),  # asymmetric and HMAC keys do not rotate
)
KEY_POLICY = Call("get_key_policy", ("kms_key_public_access_prohibited",))
TAGS = Call("list_resource_tags", KEY_RULES)  # tags decide tag-based exemptions
CALLS = (LIST_KEYS, DESCRIBE_KEY, ROTATION, KEY_POLICY, TAGS)
SKIPPED_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion"})


def collect_kms(reader: Reader) -> None:
    kms = reader.client("kms")

    def collect(key_id: str) -> None:
        arn = f"arn:aws:kms:{reader.region}:{reader.account}:key/{key_id}"
        described = reader.call(kms, DESCRIBE_KEY, resource_name=key_id, arn=arn, KeyId=key_id)
        metadata = (described or {}).get("KeyMetadata", {})
        if metadata.get("KeyManager") == "AWS" or metadata.get("KeyState") in SKIPPED_STATES:
            return
        rotation = reader.call(kms, ROTATION, resource_name=key_id, arn=arn, KeyId=key_id) or {}
        policy = reader.call(
            kms, KEY_POLICY, resource_name=key_id, arn=arn, KeyId=key_id, PolicyName="default"
        )
        tags = reader.call(kms, TAGS, resource_name=key_id, arn=arn, KeyId=key_id) or {}
        reader.collection.add(
            "kms_keys",
            KmsKeyFacts(
                name=key_id,
                type="AWS::KMS::Key",
                region=reader.region,
                ref=str(metadata.get("Arn", arn)),
                tags=tag_list(tags.get("Tags"), "TagKey", "TagValue"),
                rotation_enabled=bool(rotation.get("KeyRotationEnabled")),
                key_spec=metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec"),
                key_usage=metadata.get("KeyUsage"),
                policy=parse_policy_document((policy or {}).get("Policy")),
            ),
        )

    keys = [str(k["KeyId"]) for k in reader.paginate(kms, LIST_KEYS, "Keys")]
    reader.each(keys, lambda key_id: f"key {key_id}", collect)
