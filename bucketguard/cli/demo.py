"""`python -m bucketguard demo` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("demo", help="not built yet")
    parser.set_defaults(run=lambda args: 2)
