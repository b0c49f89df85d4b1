"""The bundled samples as a gate on a ruleset: one that judges them wrong (built without the bundled rules,
or with a rule that fires on everything) never reaches a scanner, whoever made it. It needs only an engine
and the samples: a scanner runs it on each published ruleset before swapping it in, at cold start too."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bucketguard.demo import pranks
from bucketguard.scanning.engine import Engine

__all__ = ["misjudged_samples", "refusal", "sample_verdict_problems"]

# The samples the rules alone judge (no format's parser, no limit), in a few milliseconds.
_QUICK_SAMPLES = ("homework.zip", "site/js/helpers.js", *(s.key for s in pranks.CLEAN_FILES))


@functools.cache
def _data(sample: pranks.Sample) -> bytes:
    return sample.data  # made once per process: a scanner checks every ruleset it swaps in


def sample_verdict_problems(engine: Engine, samples: Sequence[pranks.Sample] | None = None) -> list[str]:
    """Bundled samples (all, or those given) whose verdict this engine's ruleset changes."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="bucketguard-gate-") as work:
        path = Path(work) / "sample"
        for sample in pranks.all_samples() if samples is None else samples:
            path.write_bytes(_data(sample))
            verdict = engine.scan_file(path, name=sample.key).verdict
            if verdict is not sample.expected:
                expected = sample.expected.value
                problems.append(
                    f"{sample.key} ({sample.description}) is {verdict.value}, expected {expected}"
                )
    return problems


def misjudged_samples(engine: Engine, *, quick: bool = False) -> list[str]:
    """What an engine's ruleset judges wrong among the bundled samples; `quick`: only those the rules alone
    judge, for a scanner about to swap rules."""
    samples = [s for s in pranks.all_samples() if not quick or s.key in _QUICK_SAMPLES]
    return sample_verdict_problems(engine, samples)


def refusal(where: str, problems: Sequence[str]) -> str:
    """One line: the first problem and how many more."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: judges the bundled samples wrong: {problems[0]}{more}"
