"""The scan result: a frozen, JSON-serialisable value that every part of bucketguard passes around.

Its dictionary form is part of the scan-result event contract
(bucketguard/schemas/scan-result-event.v1.json), so field names change only with a schema version bump.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bucketguard.severity import Severity as Severity  # the scale is shared with the rules


class Verdict(StrEnum):
    CLEAN = "clean"
    MALICIOUS = "malicious"
    UNSCANNABLE = "unscannable"  # we could not look at every byte: never reported clean
    ERROR = "error"  # the scan itself failed (download refused, internal error)


class Reason(StrEnum):
    """Why an object is unscannable or errored. Stable codes: they end up in object tags and events."""

    TOO_LARGE = "too_large"
    ENCRYPTED = "encrypted"
    DEPTH_EXCEEDED = "depth_exceeded"
    TOO_MANY_MEMBERS = "too_many_members"
    EXTRACTED_TOO_LARGE = "extracted_too_large"
    RATIO_EXCEEDED = "ratio_exceeded"
    CORRUPT = "corrupt"
    UNSUPPORTED = "unsupported"  # a format or method recognised but not decodable here
    PACKED = "packed"  # a packed executable or an installer whose payload is not unpacked here
    UNREADABLE = "unreadable"
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    ACCESS_DENIED = "access_denied"
    URL_EXPIRED = "url_expired"
    DOWNLOAD_FAILED = "download_failed"
    INTERNAL_ERROR = "internal_error"


# Module constants: a member looked up on its enum class costs 0.1 us each time (Python 3.11).
_CLEAN, _MALICIOUS, _NOT_JUDGED = Verdict.CLEAN, Verdict.MALICIOUS, (Verdict.UNSCANNABLE, Verdict.ERROR)


class FindingSource(StrEnum):
    YARA = "yara"
    HASH = "hash"
    TYPE = "type"  # content type contradicts the name (an executable called .jpg)


@dataclass(frozen=True)
class Finding:
    rule: str
    source: FindingSource
    severity: Severity
    path: str  # where inside the target: "" for the object itself, "outer.zip!docs/evil.js" inside containers
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "source": self.source.value,
            "severity": self.severity.value,
            "path": self.path,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=str(data["rule"]),
            source=FindingSource(data["source"]),
            severity=Severity(data["severity"]),
            path=str(data.get("path", "")),
            detail=str(data.get("detail", "")),
        )


@dataclass(frozen=True)
class ScanResult:
    target: str
    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    reason: Reason | None = None
    detail: str = ""  # human-readable context for the reason (never secrets such as presigned URLs)
    sha256: str | None = None  # None when the bytes were not all read
    size: int | None = None
    backend: str = ""
    ruleset_version: str = ""
    duration_ms: float = 0.0

    def __post_init__(self) -> None:
        # The invariants that make the verdict trustworthy, checked once where every result is made.
        if self.verdict is _CLEAN and (self.findings or self.reason):
            raise ValueError("a clean result cannot carry findings or a reason")
        if self.verdict is _MALICIOUS and not self.findings:
            raise ValueError("a malicious result needs at least one finding")
        if self.verdict in _NOT_JUDGED and self.reason is None:
            raise ValueError(f"an {self.verdict.value} result needs a reason")

    @classmethod
    def clean(
        cls, target: str, sha256: str, size: int, backend: str, ruleset_version: str, duration_ms: float
    ) -> ScanResult:
        """A clean result, with no findings, reason or detail: the invariants hold by construction, so it is
        made from its fields directly (the frozen dataclass's own __init__ and checks cost 3 us, about as
        much as hashing a small file, and most files are clean)."""
        result = object.__new__(cls)
        object.__setattr__(result, "__dict__", {
            "target": target, "verdict": _CLEAN, "findings": (), "reason": None, "detail": "",
            "sha256": sha256, "size": size, "backend": backend, "ruleset_version": ruleset_version,
            "duration_ms": duration_ms,
        })  # fmt: skip
        return result

    @property
    def is_clean(self) -> bool:
        return self.verdict is Verdict.CLEAN

    def to_dict(self) -> dict[str, Any]:
        return result_fields(
            self.target,
            self.verdict.value,
            [f.to_dict() for f in self.findings],
            self.reason.value if self.reason else None,
            self.detail,
            self.sha256,
            self.size,
            self.backend,
            self.ruleset_version,
            round(self.duration_ms, 3),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanResult:
        return cls(
            target=str(data["target"]),
            verdict=Verdict(data["verdict"]),
            findings=tuple(Finding.from_dict(f) for f in data.get("findings", [])),
            reason=Reason(data["reason"]) if data.get("reason") else None,
            detail=str(data.get("detail", "")),
            sha256=data.get("sha256"),
            size=data.get("size"),
            backend=str(data.get("backend", "")),
            ruleset_version=str(data.get("ruleset_version", "")),
            duration_ms=float(data.get("duration_ms", 0.0)),
        )


def result_fields(
    target: str,
    verdict: str,
    findings: list[dict[str, str]],
    reason: str | None,
    detail: str,
    sha256: str | None,
    size: int | None,
    backend: str,
    ruleset_version: str,
    duration_ms: float,
) -> dict[str, Any]:
    """A result's dictionary form (`ScanResult.to_dict`) from its values already in that form."""
    return {
        "target": target,
        "verdict": verdict,
        "findings": findings,
        "reason": reason,
        "detail": detail,
        "sha256": sha256,
        "size": size,
        "backend": backend,
        "ruleset_version": ruleset_version,
        "duration_ms": duration_ms,
    }


def valid_text(text: str) -> str:
    """`text` as valid Unicode: bytes that were not UTF-8 (kept as surrogate escapes, as a tar's member
    names are) become U+FFFD, for what takes UTF-8 only (yara-x's externals, SNS)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate no escape made
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
