"""One explicit `aws.Provider` per account and region, shared by every component deployed there."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pulumi_aws as aws


class Providers:
    """Creates each (role, region) provider once; the default provider is never used by the components."""

    def __init__(self, default_tags: Mapping[str, str]) -> None:
        self._default_tags = dict(default_tags)
        self._providers: dict[tuple[str | None, str], aws.Provider] = {}

    def get(self, region: str, role_arn: str | None, account_id: str | None) -> aws.Provider:
        key = (role_arn, region)
        if key not in self._providers:
            self._providers[key] = aws.Provider(
                _provider_name(region, role_arn),
                region=region,
                # The typed args class: a plain dict would be sent with snake_case keys the provider rejects.
                assume_roles=[
                    aws.ProviderAssumeRoleArgs(role_arn=role_arn, session_name="bucketguard-deploy")
                ]
                if role_arn
                else None,
                # Refuse to deploy into another account than the config names (wrong credentials, typo).
                allowed_account_ids=[account_id] if account_id else None,
                default_tags=aws.ProviderDefaultTagsArgs(tags=self._default_tags),
            )
        return self._providers[key]

    @property
    def count(self) -> int:
        return len(self._providers)


def _provider_name(region: str, role_arn: str | None) -> str:
    if role_arn is None:
        return f"aws-{region}"
    account = role_arn.split(":")[4]
    role = re.sub(r"[^A-Za-z0-9-]", "-", role_arn.rsplit("/", 1)[-1])
    return f"aws-{account}-{role}-{region}"
