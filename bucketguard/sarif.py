"""SARIF 2.1.0 logs as GitHub code scanning reads them: one envelope, one severity scale and one fingerprint
for both `scan` results and `policy check` violations."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from bucketguard import __version__
from bucketguard.severity import Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/bucketguard/bucketguard"

# GitHub code scanning ranks security alerts by this property (0.0-10.0: low < 4, medium < 7, high < 9).
SECURITY_SEVERITY = {
    Severity.LOW: "2.0",
    Severity.MEDIUM: "5.0",
    Severity.HIGH: "8.0",
    Severity.CRITICAL: "9.5",
}


def artifact_uri(path: str) -> str:
    return quote(path.replace("\\", "/"), safe="/:!@$&'()*+,;=-._~")


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def location(path: str, line: int = 1) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": artifact_uri(path)},
            "region": {"startLine": max(line, 1)},
        }
    }


def sarif_log(
    *,
    automation_id: str,
    rules: Sequence[dict[str, Any]],
    results: Sequence[dict[str, Any]],
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One run of bucketguard: `rules` are reportingDescriptors, `results` name theirs by `ruleId` (the
    `ruleIndex` is filled in here)."""
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "bucketguard",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": list(rules),
            }
        },
        "automationDetails": {"id": automation_id},
        "results": [{**result, "ruleIndex": index[result["ruleId"]]} for result in results],
    }
    if properties is not None:
        run["properties"] = dict(properties)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
