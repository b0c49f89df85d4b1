"""SARIF 2.1.0 logs as GitHub code scanning reads them: one envelope, one severity scale and one fingerprint
for both `scan` results and `policy check` violations."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from bucketguard import __version__
from bucketguard.printable import one_line
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


# A scan's S3 targets and the audit's ARNs are URIs of their own; anything else is a path, in which a ':'
# would make the first segment a scheme: 'javascript:alert(1)' a link a viewer follows.
_URI_SCHEMES = ("s3://", "arn:")


def artifact_uri(path: str) -> str:
    """A target's URI reference, every character outside RFC 3986's unreserved and sub-delims
    percent-encoded; a file name that is no UTF-8 as the bytes it is."""
    scheme = next((s for s in _URI_SCHEMES if path.startswith(s)), "")
    rest = path[len(scheme) :] if scheme else path.replace("\\", "/")
    safe = "/!@$&'()*+,;=-._~" + (":" if scheme else "")
    return scheme + quote(rest.encode("utf-8", "surrogateescape"), safe=safe)


def plain_text(text: str) -> dict[str, str]:
    """A message (or description) as SARIF's plain text: on one printable line, and with '[', ']' and '\\'
    escaped, which would otherwise start an embedded link (SARIF 3.11.6): a key holding
    '[x](javascript:alert(1))' a link in the viewer."""
    escaped = one_line(text).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return {"text": escaped}


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


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
