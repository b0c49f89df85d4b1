"""The bucketguard CrossGuard pack: adapters (Pulumi resources -> facts), one policy per catalogue rule,
policy config (enforcement, allowed regions, exemptions) and safe remediations.

The pack runs in the interpreter the Pulumi CLI starts for it (`python -u -m pulumi.policy ... policy_pack`).
When `bucketguard` is not installed in that interpreter, the repository this pack lives in is put on
`sys.path`, so a checkout works without installing the package.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("bucketguard") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
