"""The resource graph a program registered, in the wire form the engine hands to analyzers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"


@dataclass
class RecordedResource:
    """One registered resource. `inputs`/`outputs` are JSON forms of the gRPC Struct (secrets, assets and
    unknowns keep their Pulumi signatures), exactly what the engine would send."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str = ""
    parent: str = ""
    provider: str = ""  # provider reference "urn::id", "" for the default provider
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    # Where the program constructs the resource (path relative to the program directory, 1-based line).
    source_file: str = ""
    source_line: int = 0

    @property
    def is_provider(self) -> bool:
        return self.type.startswith(PROVIDER_TYPE_PREFIX)

    @property
    def package(self) -> str:
        """`aws` for `aws:s3/bucket:Bucket`; the provider package for provider resources."""
        if self.is_provider:
            return self.type[len(PROVIDER_TYPE_PREFIX) :]
        return self.type.split(":", 1)[0]


@dataclass(frozen=True)
class NotEvaluated:
    """A source resource no rule judged (a type the adapter does not map, a nested stack it could not
    follow): reported in every format, so a template is never passed by leaving part of it out."""

    resource_type: str
    resource_name: str
    reason: str
    source_file: str = ""
    source_line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "reason": self.reason,
            "source": {"file": self.source_file, "line": self.source_line} if self.source_file else None,
        }


@dataclass
class RecordedStack:
    project: str
    stack: str
    dry_run: bool
    config: dict[str, str]
    config_secret_keys: list[str]
    resources: list[RecordedResource]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RecordedStack:
        raw = json.loads(text)
        resources = [RecordedResource(**r) for r in raw.pop("resources")]
        return cls(resources=resources, **raw)

    @classmethod
    def load(cls, path: Path) -> RecordedStack:
        return cls.from_json(path.read_text(encoding="utf-8"))

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}
