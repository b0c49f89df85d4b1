"""Compile and cold-start load times of a large ruleset (a script, not a test): prints what it measures.

    .venv/bin/python benchmarks/ruleset_load.py [--rules 5000] [--repeat 3]

Generates N rules shaped like public feed rules (a few text and hex strings, a filesize guard), then per
engine: compiling them from source, and loading the artifact that `rules update` writes (the compiled
rules deserialised after their checksum is verified), which is what a scanner cold start pays.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bucketguard.scanning.backends import compile_yara, compile_yara_x  # noqa: E402
from bucketguard.scanning.feeds import FeedContent, FeedSource, FeedState  # noqa: E402
from bucketguard.scanning.ruleset import load_artifact, write_artifact  # noqa: E402
from bucketguard.scanning.update import FeedInput, merge  # noqa: E402


def generated_rules(count: int) -> str:
    rules = []
    for i in range(count):
        hex_bytes = " ".join(f"{(i * 7 + k * 13) % 256:02X}" for k in range(8))
        rules.append(
            f'rule Generated_{i:05d}\n{{\n    meta:\n        description = "generated rule {i}"\n'
            f'        score = {60 + i % 40}\n    strings:\n        $a = "feed-marker-{i:05d}" ascii wide\n'
            f"        $b = {{ {hex_bytes} }}\n        $c = /evil-{i:05d}[a-z]{{2,8}}\\.php/ nocase\n"
            f"    condition:\n        filesize < 10MB and ($a or ($b and $c))\n}}\n"
        )
    return "".join(rules)


def timed(action: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rules", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    feed = FeedInput(
        FeedSource("generated", "https://feeds.example/generated.zip"),
        FeedContent("yara-zip", (("generated.yar", generated_rules(args.rules)),)),
        FeedState(),
        "fetched",
    )
    started = time.perf_counter()
    merged = merge([feed], "yara-x")
    elapsed = time.perf_counter() - started
    print(f"rules update's merge of {merged.ruleset.rule_count} rules (split, checked): {elapsed:.2f} s")
    sources = merged.ruleset.sources
    with tempfile.TemporaryDirectory() as work:
        artifact = Path(work) / "ruleset.zip"
        write_artifact(merged.ruleset, artifact)
        print(f"artifact: {artifact.stat().st_size / (1 << 20):.1f} MiB")
        for backend, compile_ in (("yara-x", compile_yara_x), ("yara", compile_yara)):
            compile_s = timed(lambda compile_=compile_: compile_(sources), args.repeat)
            # What a cold start pays: read and verify the artifact, deserialise this engine's rules.
            load_s = timed(lambda backend=backend: load_artifact(artifact).matcher(backend), args.repeat)
            print(f"{backend:7s} compile {compile_s:6.2f} s   load from artifact {load_s:6.3f} s")


if __name__ == "__main__":
    main()
