"""Differential test: every bundled rule and every sample through yara-python and yara-x must give the
same rule names (and the same meta), from memory and from disk. `auto` may pick either backend, so a
difference here would make the verdict depend on which engine happened to load."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.ruleset import Ruleset, load_ruleset
from tests.scanning.samples_rules import CASES
from tests.scanning.test_rules_bundled import BUNDLED_RULE_NAMES

NAMES = ("upload.bin", "photo.jpg", "page.html", "lib.js", "report.pdf", "a.zip!b/c.txt", "noext")


def _all_samples() -> list[tuple[str, str, bytes]]:
    """(id, logical name, bytes) for every rule sample, every prank and every member of the prank zips."""
    samples = [(c.id, c.name, c.data) for c in CASES]
    samples += [(f"pranks:{s.key}", s.key, s.data) for s in pranks.all_samples() if s.key != "free-games.zip"]
    # Zip members too: what the engine hands to the rules after opening a container.
    for sample in pranks.all_samples():
        if sample.key.endswith((".zip", ".docm")) and sample.key not in ("free-games.zip", "secret.zip"):
            with zipfile.ZipFile(io.BytesIO(sample.data)) as archive:
                samples += [(f"{sample.key}!{n}",) * 2 + (archive.read(n),) for n in archive.namelist()]
    return samples


SAMPLES = _all_samples()


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    return load_ruleset()


@pytest.mark.parametrize(("sample_id", "logical_name", "data"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_both_backends_match_the_same_rules(
    ruleset: Ruleset, sample_id: str, logical_name: str, data: bytes
) -> None:
    yara_matcher, yara_x_matcher = ruleset.matcher("yara"), ruleset.matcher("yara-x")
    for name in (*NAMES, logical_name):
        by_yara = sorted(
            (m.rule, m.namespace, sorted(m.meta.items())) for m in yara_matcher.match_bytes(data, name=name)
        )
        by_yara_x = sorted(
            (m.rule, m.namespace, sorted(m.meta.items())) for m in yara_x_matcher.match_bytes(data, name=name)
        )
        assert by_yara == by_yara_x, f"{sample_id} named {name!r}"


def test_both_backends_match_the_same_rules_from_disk(ruleset: Ruleset, tmp_path: Path) -> None:
    yara_matcher, yara_x_matcher = ruleset.matcher("yara"), ruleset.matcher("yara-x")
    matched_something = 0
    for index, (sample_id, logical_name, data) in enumerate(SAMPLES):
        path = tmp_path / f"{index}.bin"
        path.write_bytes(data)
        by_yara = sorted(m.rule for m in yara_matcher.match_file(path, name=logical_name))
        by_yara_x = sorted(m.rule for m in yara_x_matcher.match_file(path, name=logical_name))
        assert by_yara == by_yara_x, sample_id
        matched_something += bool(by_yara)
    assert matched_something >= 40  # the comparison is not vacuous


def test_the_differential_covers_every_bundled_rule(ruleset: Ruleset) -> None:
    matcher = ruleset.matcher("yara")
    seen = {m.rule for _, name, data in SAMPLES for m in matcher.match_bytes(data, name=name)}
    assert seen == set(BUNDLED_RULE_NAMES)
