"""The bucketguard policy pack. Only the PolicyPack call lives here: it starts the analyzer and never
returns, so the policies are built in bucketguard_pack.policies (importable by tests)."""

from bucketguard_pack.policies import PACK_NAME, build_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=build_policies(),
)
