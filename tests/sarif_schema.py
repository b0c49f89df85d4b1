"""The SARIF 2.1.0 schema (tests/schemas/, an unmodified OASIS copy) as a validator for our SARIF output."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = Path(__file__).resolve().parent / "schemas" / "sarif-schema-2.1.0.json"


@cache
def _validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def sarif_errors(document: Any) -> list[str]:
    """Every schema violation, as `path: message` (empty when the document is valid SARIF 2.1.0)."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in _validator().iter_errors(document)
    ]
