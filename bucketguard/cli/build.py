"""`python -m bucketguard build`: the Lambda artifact for the Python 3.12 runtime (bucketguard.packaging)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bucketguard.cli import EXIT_OK, UsageError
from bucketguard.packaging import (
    ARCHITECTURES,
    DEFAULT_OUTPUT,
    LAMBDA_PYTHON_VERSION,
    build,
    build_policy_pack,
    no_bytecode_warning,
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "build",
        help="build the Lambda artifact (platform wheels, library, handlers, compiled rules)",
        description="Build the Lambda artifact that `pulumi up` deploys: <output>/<architecture>/package "
        "and manifest.json. Needs pip access to PyPI for the platform wheels, and the target Python (this "
        "interpreter or python<version> on PATH) to compile the bytecode (else a warning).",
    )
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), default="arm64")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    parser.add_argument(
        "--python-version",
        default=LAMBDA_PYTHON_VERSION,
        help=f"target interpreter (default {LAMBDA_PYTHON_VERSION}, the Lambda runtime; other values are for "
        "local tests)",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="YARA rules (a directory or a file) compiled in with the bundled ones; repeatable",
    )
    parser.add_argument(
        "--hashes",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="SHA-256 blocklist (one hash a line, or a MalwareBazaar CSV) the scanner checks; repeatable",
    )
    parser.add_argument(
        "--policy-pack",
        type=Path,
        metavar="OUT_DIR",
        help="instead of the Lambda artifact, write the self-contained policy pack (with the bucketguard "
        "modules it imports) to OUT_DIR, the folder `pulumi policy publish` ships",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def _run_policy_pack(args: argparse.Namespace) -> int:
    output: Path = args.policy_pack
    if output.exists() and not output.is_dir():
        raise UsageError(f"--policy-pack {output}: is a file; give a directory for the pack")
    try:
        modules = build_policy_pack(output)
    except OSError as exc:
        raise UsageError(f"--policy-pack {output}: cannot write the pack: {exc.strerror or exc}") from None
    if args.format == "json":
        print(json.dumps({"schema_version": 1, "policy_pack": str(output), "vendored_modules": modules}))
    else:
        print(f"built {output} (policy pack with {len(modules)} vendored bucketguard modules)")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.policy_pack is not None:
        return _run_policy_pack(args)
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"--output {args.output}: is a file; give a directory for the artifact")
    try:
        directory, manifest = build(
            args.architecture,
            args.output,
            python_version=args.python_version,
            rules=args.rules,
            hashes=args.hashes,
        )
    except OSError as exc:
        raise UsageError(
            f"--output {args.output}: cannot write the artifact: {exc.strerror or exc}"
        ) from None
    if not manifest.bytecode:
        print(f"bucketguard: warning: {no_bytecode_warning(manifest.python_version)}", file=sys.stderr)
    if args.format == "json":
        print(
            json.dumps(
                {"schema_version": 1, "artifact": str(directory), "manifest": json.loads(manifest.to_json())}
            )
        )
    else:
        print(
            f"built {directory} ({manifest.architecture}, Python {manifest.python_version}, "
            f"{manifest.file_count} files, {manifest.size_bytes / 1e6:.1f} MB, "
            f"content sha256:{manifest.content_sha256[:12]}, rules {manifest.ruleset_version}, "
            f"bytecode {manifest.bytecode or 'none'})"
        )
    return EXIT_OK
