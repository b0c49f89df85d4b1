"""`rules update`'s core: feeds merged rule by rule (broken rules dropped alone with their name, unknown
modules reported, same names kept apart by namespace, filters), and the gates (clean samples and corpus,
the bundled samples' verdicts, limits), on real rules and real bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.engine import Engine
from bucketguard.scanning.feeds import FeedContent, FeedSource, FeedState
from bucketguard.scanning.hashes import HashList
from bucketguard.scanning.rule_text import split_rules
from bucketguard.scanning.ruleset import Ruleset, load_artifact, load_ruleset, ruleset_version
from bucketguard.scanning.sample_gate import sample_verdict_problems
from bucketguard.scanning.update import (
    FeedInput,
    Measured,
    UpdateLimits,
    build,
    merge,
)

# Small and without the slowdown gate: a test never depends on timing (the gate is tested on numbers).
SMALL = UpdateLimits(sample_bytes=1 << 20, max_slowdown=1e9)


def rule(name: str, text: str, meta: str = "") -> str:
    return f'rule {name}\n{{\n    meta:\n        description = "{name}"\n{meta}    strings:\n' \
           f'        $s = "{text}"\n    condition:\n        $s\n}}\n'  # fmt: skip


def feed(
    name: str, files: dict[str, str], hashes: dict[str, str] | None = None, **options: object
) -> FeedInput:
    source = FeedSource(name, f"https://feeds.example/{name}.zip", **options)  # type: ignore[arg-type]
    content = FeedContent("yara-zip", tuple(files.items()), HashList(hashes or {}))
    return FeedInput(source, content, FeedState(etag='"1"'), "fetched")


def matched(ruleset: Ruleset, data: bytes, backend: str = "yara-x") -> set[str]:
    return {f"{m.namespace}:{m.rule}" for m in ruleset.matcher(backend).match_bytes(data, name="x.txt")}


def test_split_finds_rules_not_words_in_comments_or_strings() -> None:
    text = (
        'import "pe"\n/* rule Fake_In_Comment { } */\nrule A { strings: $a = "rule Fake_In_String" '
        "condition: $a }\n// rule Fake_In_Line_Comment\nprivate rule B { condition: true }\n"
    )
    parsed = split_rules(text)
    assert [r.name for r in parsed.rules] == ["A", "B"]
    assert parsed.preamble.startswith('import "pe"')
    assert parsed.text() == text


@pytest.mark.parametrize("backend", ["yara", "yara-x"])
def test_a_broken_rule_is_dropped_alone_with_its_file_and_name(backend: str) -> None:
    broken = "rule Broken_One\n{\n    condition:\n        no_such_identifier\n}\n"
    text = rule("Good_Before", "feed-good-1") + broken + rule("Good_After", "feed-good-2")
    merged = merge([feed("forge", {"rules/mixed.yar": text})], backend)
    dropped = [(d.source, d.file, d.rule) for d in merged.dropped]
    assert dropped == [("forge", "rules/mixed.yar", "Broken_One")]
    assert "no_such_identifier" in merged.dropped[0].why or "identifier" in merged.dropped[0].why
    assert matched(merged.ruleset, b"feed-good-1 feed-good-2", backend) == {
        "feed/forge/rules/mixed.yar:Good_Before",
        "feed/forge/rules/mixed.yar:Good_After",
    }


def test_a_file_importing_a_module_the_engine_lacks_is_dropped_and_reported() -> None:
    text = 'import "no_such_module"\n' + rule("Uses_Module", "feed-module")
    merged = merge([feed("forge", {"m.yar": text, "ok.yar": rule("Fine", "feed-fine")})], "yara-x")
    assert [(d.file, d.rule) for d in merged.dropped] == [("m.yar", "*")]
    assert "no_such_module" in merged.dropped[0].why
    assert matched(merged.ruleset, b"feed-fine") == {"feed/forge/ok.yar:Fine"}


def test_same_rule_name_in_two_sources_is_kept_in_each_namespace() -> None:
    merged = merge(
        [feed("one", {"a.yar": rule("Same", "feed-one")}), feed("two", {"b.yar": rule("Same", "feed-two")})],
        "yara-x",
    )
    assert merged.duplicates == {"Same": ["feed/one/a.yar", "feed/two/b.yar"]}
    assert matched(merged.ruleset, b"feed-one feed-two") == {"feed/one/a.yar:Same", "feed/two/b.yar:Same"}


def test_exclude_and_min_severity_filter_rule_by_rule() -> None:
    text = (
        rule("Noisy", "feed-noisy")
        + rule("Low_One", "feed-low", '        severity = "low"\n')
        + rule("Scored_High", "feed-score", "        score = 80\n")
    )
    merged = merge([feed("sb", {"x.yar": text}, exclude=("Noisy",), min_severity="medium")], "yara-x")
    assert {d.rule: d.why for d in merged.dropped} == {
        "Noisy": "excluded by the source's config",
        "Low_One": "severity low is below the source's minSeverity medium",
    }
    assert matched(merged.ruleset, b"feed-noisy feed-low feed-score") == {"feed/sb/x.yar:Scored_High"}


def test_hash_lists_change_the_version_and_reach_the_engine(tmp_path: Path) -> None:
    eicar_sha = hashlib.sha256(pranks.eicar()).hexdigest()
    merged = merge([feed("bazaar", {}, {eicar_sha: "MalwareBazaar: EICAR"})], "yara-x")
    assert merged.ruleset.version != load_ruleset().version
    assert merged.ruleset.version == ruleset_version(merged.ruleset.sources, merged.ruleset.hash_lists)
    path = tmp_path / "x.com"
    path.write_bytes(pranks.eicar())
    findings = Engine(merged.ruleset).scan_file(path).findings
    assert "sha256_blocklist" in {f.rule for f in findings}


def test_rules_and_hashes_firing_on_clean_files_are_dropped_and_listed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lesson.txt").write_bytes(b"today we learn about feed-fp-word")
    listed_clean = hashlib.sha256(b"a clean handout").hexdigest()
    (corpus / "handout.txt").write_bytes(b"a clean handout")
    js_word = pranks.clean_js()[10:30].decode()  # the bundled clean sample's own text
    rules = rule("Fp_On_Corpus", "feed-fp-word") + rule("Fp_On_Sample", js_word) + rule("Keeper", "feed-keep")
    output = tmp_path / "ruleset.zip"
    report = build([feed("forge", {"r.yar": rules}, {listed_clean: "bad?"})], output, clean_corpus=corpus,
                   limits=SMALL)  # fmt: skip
    assert report.refused == []
    assert {d.rule: d.why for d in report.dropped} == {
        "Fp_On_Corpus": "fires on clean file lesson.txt",
        "Fp_On_Sample": "fires on clean file site/js/app.js",
        listed_clean: "listed hash of clean file handout.txt",
    }
    written = load_artifact(output)
    assert matched(written, b"feed-fp-word feed-keep " + js_word.encode()) == {"feed/forge/r.yar:Keeper"}
    assert written.hashes is None


def test_a_feed_rule_named_like_a_bundled_one_that_fires_on_clean_files_is_dropped(tmp_path: Path) -> None:
    # condition: true marks everything malicious; named EICAR_Test_File it passed for the bundled rule:
    # not dropped, every clean sample malicious, and the whole update refused
    everything = "rule EICAR_Test_File { condition: true }\n"
    output = tmp_path / "ruleset.zip"
    report = build([feed("forge", {"all.yar": everything, "k.yar": rule("Keeper", "feed-keep")})], output,
                   limits=SMALL)  # fmt: skip
    assert report.refused == [] and report.warnings == []
    assert [(d.file, d.rule) for d in report.dropped] == [("all.yar", "EICAR_Test_File")]
    written = load_artifact(output)
    assert matched(written, b"feed-keep") == {"feed/forge/k.yar:Keeper"}
    assert matched(written, pranks.eicar()) == {"bucketguard/eicar.yar:EICAR_Test_File"}


def test_a_feed_rule_firing_on_clean_files_takes_no_other_feed_s_rule_of_its_name(tmp_path: Path) -> None:
    # Dropped by name, a noisy (or hostile) feed's "Shared" took the other feed's good "Shared" with it.
    good, noisy = rule("Shared", "feed-keep"), "rule Shared { condition: true }\n"
    output = tmp_path / "ruleset.zip"
    report = build([feed("good", {"g.yar": good}), feed("noisy", {"n.yar": noisy})], output, limits=SMALL)
    assert report.refused == []
    assert [(d.source, d.rule) for d in report.dropped] == [("noisy", "Shared")]
    assert matched(load_artifact(output), b"feed-keep") == {"feed/good/g.yar:Shared"}


def test_samples_gate_notices_a_ruleset_that_misses_the_pranks(tmp_path: Path) -> None:
    rules_dir = tmp_path / "only"
    rules_dir.mkdir()
    (rules_dir / "x.yar").write_text(rule("Unrelated", "nothing-here"))
    problems = sample_verdict_problems(Engine(load_ruleset([rules_dir], include_bundled=False)))
    assert any(p.startswith("homework.zip (EICAR test file two zips deep) is clean") for p in problems)
    assert sample_verdict_problems(Engine(load_ruleset())) == []


def test_limits_refuse_slow_big_or_long_to_compile_rulesets() -> None:
    limits = UpdateLimits(max_compile_seconds=10, max_artifact_bytes=1000, max_slowdown=10)
    fine = Measured(compile_seconds=9, artifact_bytes=1000, scan_seconds=0.9, baseline_scan_seconds=0.1)
    assert fine.refusals(limits) == []
    slow = Measured(compile_seconds=11, artifact_bytes=1001, scan_seconds=1.1, baseline_scan_seconds=0.1)
    refused = slow.refusals(limits)
    assert len(refused) == 3
    assert "over 10x the bundled rules' 0.10 s" in refused[2]
    noise = Measured(scan_seconds=0.3, baseline_scan_seconds=0.001)  # a tiny sample: timings are noise
    assert noise.refusals(limits) == []


def test_a_refused_update_leaves_the_previous_artifact(tmp_path: Path) -> None:
    output = tmp_path / "ruleset.zip"
    build([feed("forge", {"a.yar": rule("First", "feed-first")})], output, limits=SMALL)
    before = output.read_bytes()
    strict = UpdateLimits(sample_bytes=1 << 20, max_slowdown=1e9, max_artifact_bytes=10)
    report = build([feed("forge", {"a.yar": rule("Second", "feed-second")})], output, limits=strict)
    assert report.refused and "over the limit of 10" in report.refused[0]
    assert output.read_bytes() == before
    assert not list(tmp_path.glob("*.new"))
