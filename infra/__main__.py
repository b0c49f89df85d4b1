"""The bucketguard Pulumi program: `pulumi preview` / `pulumi up` from the repository root."""

import sys
from pathlib import Path

# The program imports `infra` and `bucketguard` from the repository, whatever the working directory.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from infra.program import main  # noqa: E402

main()
