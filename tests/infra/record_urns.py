"""Records the URNs the example stacks' resources have today (tests/infra/urns/<stack>.json).

    python -m tests.infra.record_urns ARTIFACT_DIR

Run it only when a resource is meant to be replaced or removed: test_resources_keep_their_urns checks
that every recorded URN is still some resource's URN or one of its aliases, since a URN that disappears
makes `pulumi up` delete that resource and create a new one for every existing user.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.infra.conftest import run_program, stack_config

URNS = Path(__file__).parent / "urns"


def recorded_stacks() -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (config, stack): the example stacks of tests/infra/test_program.py's graph fixture."""
    rescanning = stack_config("dev")
    rescanning["bucketguard:scanner"] = {**rescanning["bucketguard:scanner"], "rescanOnUpdate": "not-clean"}
    return {
        "dev": (stack_config("dev"), "dev"),
        "multiaccount": (stack_config("multiaccount"), "multiaccount"),
        "rescanning": (rescanning, "dev"),
    }


def main(artifacts: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, (config, stack) in recorded_stacks().items():
            result = run_program(config, artifacts, Path(tmp), stack=stack)
            assert result["error"] is None, result["error"]
            (URNS / f"{name}.json").write_text(json.dumps(sorted(result["urns"]), indent=0) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
