"""Lambda refuses, at `pulumi up` with the stack half created, a function whose environment passes 4 KB:
the config refuses at preview what would fill it, naming the key, and the program's own variables stay
within the part of the 4 KB the config check leaves them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bucketguard.pipeline import env
from infra.config import ENVIRONMENT_LIMIT, FIXED_ENVIRONMENT, ConfigError, parse_config
from tests.infra.conftest import Program

REGION = "ap-southeast-2"  # among the longest region names
# The variables the config grows (checked by the config), as the program names them.
GROWN = {
    env.MONITOR_POLICY_CONFIG,
    env.MONITOR_IGNORED_PRINCIPALS,
    env.MONITOR_REGIONS,
    env.MONITOR_REMEDIATE,
    env.AUDIT_POLICY_CONFIG,
    env.AUDIT_ROLE_ARNS,
    env.AUDIT_REGIONS,
    env.SKIP_PREFIXES,
    env.LISTENER_QUEUE_DIGESTS,
}


def longest_names() -> dict[str, Any]:
    """Every name at its longest, every kind of function and every fixed-size value it may carry."""
    storage = {
        "name": "a" * 24,
        "bucket": "b" * 63,
        "region": REGION,
        "createBucket": True,
        "actions": ["tag", "quarantine", "promote", "notify"],
        "quarantineBucket": "q" * 63,
        "promoteBucket": "p" * 63,
        "webhookSecretArn": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{'w' * 200}",
    }
    return {
        "scanners": [
            {
                "name": "s" * 24,
                "region": REGION,
                "ruleSources": [{"name": "feed", "url": "https://example.com/rules.zip"}],
                "rescanOnUpdate": "all-since: 365",
            }
        ],
        "storages": [storage],
        "monitor": {
            "region": REGION,
            "accounts": [{"accountId": "222222222222"}],
            "memberRoleName": "m" * 64,
            "securityHub": True,
            "webhookSecretArn": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:{'w' * 200}",
        },
        "audit": {"region": REGION, "regions": [REGION], "securityHub": True},
    }


@pytest.mark.slow  # the program in a fresh interpreter
def test_the_programs_own_variables_stay_within_what_the_config_check_leaves_them(program: Program) -> None:
    result = program({f"bucketguard:{key}": value for key, value in longest_names().items()})
    assert result["error"] is None, result["error"]
    functions = [r for r in result["resources"] if r["type"] == "aws:lambda/function:Function"]
    assert len(functions) == 7
    for function in functions:
        variables = function["inputs"]["environment"]["variables"]
        own = json.dumps({k: v for k, v in variables.items() if k not in GROWN}, separators=(",", ":"))
        # an auto-name's suffix is 8 characters in AWS, 7 in the mocks
        size = len(own) + len(re.findall("-0a1b2c", own)) + sum(len(k) + 4 for k in GROWN & set(variables))
        assert size <= FIXED_ENVIRONMENT, (function["name"], size)


def exemptions(count: int) -> dict[str, Any]:
    reason = "the camp's shared drop folder, reviewed by the counsellors every week"
    return {
        "s3_bucket_public_write_prohibited": {
            "exemptions": [{"resource": f"camp-drop-{i:03d}", "reason": reason} for i in range(count)]
        }
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["monitor"].update(policyConfig=exemptions(40)),
            r"^bucketguard:monitor\.policyConfig: too large for the monitor function's environment: what "
            r"the config puts there takes [\d,]+ bytes of the 3,072",
        ),
        (
            lambda c: c["audit"].update(policyConfig=exemptions(40)),
            r"^bucketguard:audit\.policyConfig: too large for the audit function's environment",
        ),
        (
            lambda c: c["audit"].update(
                roleArns=[f"arn:aws:iam::{100000000000 + i}:role/bucketguard-audit-read" for i in range(70)]
            ),
            r"^bucketguard:audit\.roleArns: too large for the audit function's environment",
        ),
        (
            lambda c: c["monitor"].update(accounts=[{"accountId": str(100000000000 + i)} for i in range(40)]),
            r"^bucketguard:monitor\.accounts: too large for the monitor function's environment",
        ),
        (
            # a fleet's storages, each known to the monitor and the audit by its listener queue's digest
            lambda c: c.update(
                scanners=[{**c["scanners"][0], "name": f"s{i}"} for i in range(4)],
                storages=[{"name": f"s{i}", "bucket": f"camp-{i}", "region": REGION} for i in range(200)],
            ),
            r"^bucketguard:storages: too large for the monitor function's environment",
        ),
        (
            lambda c: c["storages"][0].update(skipPrefixes=[f"generated/{i:04d}-cache/" for i in range(200)]),
            r"^bucketguard:storages\[0\]\.skipPrefixes \(name 'a+'\): too large for the listener function's",
        ),
    ],
)
def test_config_that_would_pass_lambdas_4_kb_is_refused_naming_the_key(mutate: Any, message: str) -> None:
    config = longest_names()
    parse_config(config)
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        parse_config(config)


def test_a_policy_config_that_fits_is_accepted() -> None:
    config = longest_names()
    config["monitor"]["policyConfig"] = config["audit"]["policyConfig"] = exemptions(20)
    assert len(json.dumps(exemptions(20))) < ENVIRONMENT_LIMIT - FIXED_ENVIRONMENT
    parse_config(config)
