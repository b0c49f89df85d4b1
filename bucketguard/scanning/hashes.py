"""Hash reputation: a SHA-256 blocklist checked against every object and every archive member.

Accepted file formats, mixed freely:
- one hex SHA-256 a line, optionally followed by whitespace and a label (`<sha256>  eicar test file`);
- a MalwareBazaar CSV export (`"first_seen_utc","sha256_hash",...`, quoted fields, `#` header lines),
  whose `signature` column becomes the label;
- blank lines and lines starting with `#` are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bucketguard.errors import UserError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# MalwareBazaar's CSV export columns (the header is a `#` comment line, so the order is fixed here).
_BAZAAR_SHA256_COLUMN = 1
_BAZAAR_SIGNATURE_COLUMN = 8


class HashListError(UserError, ValueError):
    """A blocklist line that is neither a SHA-256 nor a MalwareBazaar CSV row: names the file and line."""


@dataclass(frozen=True)
class HashList:
    """Known-bad SHA-256 digests, each with a label (what it is, where it came from)."""

    entries: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_hashes(cls, hashes: Iterable[str], *, label: str = "") -> HashList:
        entries: dict[str, str] = {}
        for digest in hashes:
            normal = digest.strip().lower()
            if not _SHA256.match(normal):
                raise HashListError(f"not a SHA-256 digest: {digest!r}")
            entries[normal] = label
        return cls(entries)

    @classmethod
    def load(cls, path: Path) -> HashList:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise HashListError(f"{path}: cannot read hash list: {exc.strerror or exc}") from None
        return cls.parse(text, str(path), default_label=path.name)

    @classmethod
    def parse(cls, text: str, origin: str, *, default_label: str = "") -> HashList:
        """The digests of a list's text; errors name `origin` and the line."""
        entries: dict[str, str] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            digest, label = _parse_line(line)
            if digest is None:
                raise HashListError(
                    f"{origin}:{number}: expected a SHA-256 digest or a MalwareBazaar CSV row"
                )
            entries[digest] = label or default_label or origin
        return cls(entries)

    def merged(self, other: HashList) -> HashList:
        return HashList({**self.entries, **other.entries})

    def lookup(self, sha256: str) -> str | None:
        """The label of a listed digest, or None when it is not listed."""
        return self.entries.get(sha256.lower())

    def __contains__(self, sha256: object) -> bool:
        return isinstance(sha256, str) and sha256.lower() in self.entries

    def __len__(self) -> int:
        return len(self.entries)


def _parse_line(line: str) -> tuple[str | None, str]:
    if "," in line or line.startswith('"'):
        import csv  # here: only a --hashes list in CSV needs it, and its import is every scan's start-up

        fields = [f.strip() for f in next(csv.reader([line], skipinitialspace=True))]
        if len(fields) > _BAZAAR_SHA256_COLUMN and _SHA256.match(fields[_BAZAAR_SHA256_COLUMN].lower()):
            signature = fields[_BAZAAR_SIGNATURE_COLUMN] if len(fields) > _BAZAAR_SIGNATURE_COLUMN else ""
            label = "" if signature in ("", "n/a") else f"MalwareBazaar: {signature}"
            return fields[_BAZAAR_SHA256_COLUMN].lower(), label or "MalwareBazaar"
        # Any other CSV: the first field that is a digest.
        for value in fields:
            if _SHA256.match(value.lower()):
                return value.lower(), ""
        return None, ""
    digest, _, label = line.partition(" ")
    if "\t" in digest:
        digest, _, label = line.partition("\t")
    digest = digest.lower()
    return (digest, label.strip()) if _SHA256.match(digest) else (None, "")
