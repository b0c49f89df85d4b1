"""Compiled rules kept between processes: used when they match the rules, never trusted blindly."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.backends import RuleSource, compile_yara, compile_yara_x
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.result import Verdict
from bucketguard.scanning.ruleset import CompiledRulesCache, installed_version, load_ruleset

BACKENDS = ("yara", "yara-x")
MARKER_RULE = 'rule Camp_Marker { strings: $m = "camp-marker" condition: $m }\n'
OTHER_RULE = 'rule Something_Else { strings: $m = "nothing-here-at-all" condition: $m }\n'


def _rules_dir(tmp_path: Path, text: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "camp.yar").write_text(text)
    return rules


def _verdict(tmp_path: Path, rules: Path, cache: Path, backend: str) -> Verdict:
    sample = tmp_path / "sample.txt"
    sample.write_bytes(b"hello camp-marker\n")
    ruleset = load_ruleset([rules], include_bundled=False, cache_dir=cache)
    return Engine(ruleset, engine=backend).scan_file(sample).verdict


def _forge(cache: Path, backend: str, rules: Path, text: str) -> Path:
    """A well-formed cache entry for the rules in `rules` that holds other compiled rules: if the cache
    is read, the scan uses these."""
    sources = load_ruleset([rules], include_bundled=False, cache_dir=cache / "unused").sources
    compile_ = compile_yara_x if backend == "yara-x" else compile_yara
    other = compile_([RuleSource(sources[0].namespace, "forged", text)])
    CompiledRulesCache(cache).store(backend, sources, other)
    return CompiledRulesCache(cache).path(backend, sources)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_rules_are_stored_and_loaded_by_the_next_load(tmp_path: Path, backend: str) -> None:
    rules = _rules_dir(tmp_path, MARKER_RULE)
    cache = tmp_path / "cache"
    assert _verdict(tmp_path, rules, cache, backend) is Verdict.MALICIOUS
    assert any(p.name.startswith(f"{backend}-") for p in cache.iterdir())
    # The entry is what the next load uses: replace it with other (validly stored) rules and see them.
    _forge(cache, backend, rules, OTHER_RULE)
    assert _verdict(tmp_path, rules, cache, backend) is Verdict.CLEAN


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_changed_rule_misses_the_cache(tmp_path: Path, backend: str) -> None:
    rules = _rules_dir(tmp_path, OTHER_RULE)
    cache = tmp_path / "cache"
    assert _verdict(tmp_path, rules, cache, backend) is Verdict.CLEAN
    _rules_dir(tmp_path, MARKER_RULE)  # the rule file changes: the old compiled rules must not be used
    assert _verdict(tmp_path, rules, cache, backend) is Verdict.MALICIOUS


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_cache_entry_whose_payload_was_swapped_is_refused_and_recompiled(
    tmp_path: Path, backend: str
) -> None:
    rules = _rules_dir(tmp_path, MARKER_RULE)
    cache = tmp_path / "cache"
    entry = _forge(cache, backend, rules, MARKER_RULE)
    header = entry.read_bytes().partition(b"\n")[0]
    swapped = _forge(tmp_path / "other", backend, rules, OTHER_RULE).read_bytes().partition(b"\n")[2]
    entry.write_bytes(header + b"\n" + swapped)  # rules that load fine, under another payload's checksum
    assert _verdict(tmp_path, rules, cache, backend) is Verdict.MALICIOUS
    assert entry.read_bytes().partition(b"\n")[2] != swapped  # replaced by the rules just compiled


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_truncated_cache_entry_is_refused(tmp_path: Path, backend: str) -> None:
    rules = _rules_dir(tmp_path, MARKER_RULE)
    cache = tmp_path / "cache"
    entry = _forge(cache, backend, rules, OTHER_RULE)
    entry.write_bytes(entry.read_bytes()[:-100])
    assert _verdict(tmp_path, rules, cache, backend) is Verdict.MALICIOUS


@pytest.mark.parametrize("where", ["file", "directory"])
def test_a_cache_others_could_write_is_never_read(tmp_path: Path, where: str) -> None:
    rules = _rules_dir(tmp_path, MARKER_RULE)
    cache = tmp_path / "cache"
    entry = _forge(cache, "yara-x", rules, OTHER_RULE)
    target = entry if where == "file" else cache
    target.chmod(target.stat().st_mode | 0o022)
    assert _verdict(tmp_path, rules, cache, "yara-x") is Verdict.MALICIOUS


def test_a_symbolic_link_in_the_cache_is_never_read(tmp_path: Path) -> None:
    rules = _rules_dir(tmp_path, MARKER_RULE)
    cache = tmp_path / "cache"
    entry = _forge(cache, "yara-x", rules, OTHER_RULE)
    elsewhere = tmp_path / "elsewhere.bin"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)
    assert _verdict(tmp_path, rules, cache, "yara-x") is Verdict.MALICIOUS


def test_an_unwritable_cache_still_scans(tmp_path: Path) -> None:
    rules = _rules_dir(tmp_path, MARKER_RULE)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    assert _verdict(tmp_path, rules, blocked / "rules", "yara-x") is Verdict.MALICIOUS


def test_the_bundled_rules_still_detect_through_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    sample = tmp_path / "eicar.com"
    sample.write_bytes(pranks.eicar())
    for _ in range(2):  # compiled and stored, then loaded from the cache
        assert Engine(load_ruleset(cache_dir=cache)).scan_file(sample).verdict is Verdict.MALICIOUS
    assert len(list(cache.iterdir())) == 1


def test_the_engine_version_in_the_cache_key_is_the_installed_one() -> None:
    import yara_x

    assert installed_version(yara_x.__file__, "yara_x") == importlib.metadata.version("yara-x")


def test_the_engine_version_is_read_from_the_dist_info_beside_the_module(tmp_path: Path) -> None:
    package = tmp_path / "site" / "camp_engine"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    info = tmp_path / "site" / "camp_engine-2.7.1.dist-info"
    info.mkdir()
    # A later field may say "Version:" in a description: only the headers count.
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: camp-engine\nVersion: 2.7.1\n\nVersion: 0\n")
    assert installed_version(str(package / "__init__.py"), "camp_engine") == "2.7.1"
    # Two candidates (or none): the general lookup, which knows no such distribution.
    (tmp_path / "site" / "camp_engine-2.7.2.dist-info").mkdir()
    (tmp_path / "site" / "camp_engine-2.7.2.dist-info" / "METADATA").write_text("Version: 2.7.2\n")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        installed_version(str(package / "__init__.py"), "camp_engine")
