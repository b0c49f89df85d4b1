"""`python -m bucketguard rules` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("rules", help="not built yet")
    parser.set_defaults(run=lambda args: 2)
