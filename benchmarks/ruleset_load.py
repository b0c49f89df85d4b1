"""Compile and cold-start load times of a large ruleset (a script, not a test): prints what it measures.

    .venv/bin/python benchmarks/ruleset_load.py [--rules 5000] [--repeat 3]

Generates N rules shaped like public feed rules (a few text and hex strings, a filesize guard), then per
engine: compiling them from source, loading the artifact that `rules update` writes (the compiled rules
deserialised after their checksum is verified), which is what a scanner cold start pays, and beside it the
floor: the engine deserialising the same compiled rules from memory, nothing else. Median wall and CPU time.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yara  # noqa: E402
import yara_x  # noqa: E402

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


def timed(action: object, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeat` runs."""
    times, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(times), statistics.median(cpu)


def compiled_blob(artifact: Path, backend: str) -> bytes:
    with zipfile.ZipFile(artifact) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        return archive.read(manifest["compiled"][backend]["member"])


def deserialize(backend: str, blob: bytes) -> object:
    if backend == "yara-x":
        return yara_x.Rules.deserialize_from(io.BytesIO(blob))
    return yara.load(file=io.BytesIO(blob))


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
            compile_s, _ = timed(lambda compile_=compile_: compile_(sources), args.repeat)
            # What a cold start pays: read and verify the artifact, deserialise this engine's rules.
            load_s, load_cpu = timed(
                lambda backend=backend: load_artifact(artifact).matcher(backend), args.repeat
            )
            blob = compiled_blob(artifact, backend)
            floor_s, floor_cpu = timed(lambda b=backend, blob=blob: deserialize(b, blob), args.repeat)
            print(
                f"{backend:7s} compile {compile_s:6.2f} s   load from artifact {load_s:6.3f} s "
                f"({load_cpu:.3f} s CPU)   deserialise alone {floor_s:6.3f} s ({floor_cpu:.3f} s CPU): "
                f"{load_cpu - floor_cpu:+.3f} s CPU above it"
            )


if __name__ == "__main__":
    main()
