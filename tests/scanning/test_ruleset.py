"""Rulesets: versions, user rule directories, invalid rules named by file and line, yara-x fallback,
compiled artifacts."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.ruleset import (
    Ruleset,
    RulesetError,
    load_artifact,
    load_ruleset,
    ruleset_version,
    write_artifact,
)

GOOD_RULE = """
rule Camp_Secret_Word
{
    meta:
        description = "the camp's secret word"
        severity = "low"
        reference = "https://camp.example.org"
    strings:
        $word = "marshmallow-42"
    condition:
        $word
}
"""


def _rules_dir(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_version_is_a_short_sha256_stable_across_loads() -> None:
    first, second = load_ruleset(), load_ruleset()
    assert first.version == second.version
    assert first.version.startswith("sha256:")
    assert len(first.version) == len("sha256:") + 12


def test_version_ignores_line_endings_and_trailing_spaces_but_not_content(tmp_path: Path) -> None:
    unix = _rules_dir(tmp_path / "a" / "rules", {"camp.yar": GOOD_RULE})
    windows = _rules_dir(tmp_path / "b" / "rules", {"camp.yar": GOOD_RULE.replace("\n", "  \r\n")})
    changed = _rules_dir(tmp_path / "c" / "rules", {"camp.yar": GOOD_RULE.replace("42", "43")})
    # Same directory name, different checkout locations: same version.
    assert load_ruleset([unix]).version == load_ruleset([windows]).version
    assert load_ruleset([unix]).version != load_ruleset([changed]).version
    assert load_ruleset([unix]).version != load_ruleset().version


def test_user_rules_are_added_to_the_bundled_ones(tmp_path: Path) -> None:
    rules = _rules_dir(tmp_path / "extra", {"camp.yar": GOOD_RULE})
    ruleset = load_ruleset([rules])
    matches = ruleset.matcher().match_bytes(b"say marshmallow-42 twice", name="notes.txt")
    assert [(m.rule, m.namespace, m.severity) for m in matches] == [
        ("Camp_Secret_Word", "user/extra/camp.yar", "low")
    ]
    eicar = ruleset.matcher().match_bytes(pranks.eicar(), name="eicar.com")
    assert [m.rule for m in eicar] == ["EICAR_Test_File"]


def test_bundled_rules_can_be_left_out(tmp_path: Path) -> None:
    ruleset = load_ruleset([_rules_dir(tmp_path / "extra", {"camp.yar": GOOD_RULE})], include_bundled=False)
    assert ruleset.matcher().match_bytes(pranks.eicar(), name="eicar.com") == []
    assert ruleset.rule_count == 1


def test_same_rule_name_in_two_files_or_two_directories_does_not_collide(tmp_path: Path) -> None:
    one = _rules_dir(tmp_path / "x" / "rules", {"a.yar": GOOD_RULE, "sub/b.yara": GOOD_RULE})
    two = _rules_dir(tmp_path / "y" / "rules", {"a.yar": GOOD_RULE})
    ruleset = load_ruleset([one, two], include_bundled=False)
    for backend in ("yara", "yara-x"):
        matches = ruleset.matcher(backend).match_bytes(b"marshmallow-42", name="x")
        assert sorted(m.namespace for m in matches) == [
            "user/rules#2/a.yar",
            "user/rules/a.yar",
            "user/rules/sub/b.yara",
        ]


def test_a_single_rule_file_can_be_given(tmp_path: Path) -> None:
    rules = _rules_dir(tmp_path / "extra", {"camp.yar": GOOD_RULE})
    assert load_ruleset([rules / "camp.yar"], include_bundled=False).rule_count == 1


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("rule ok { condition: true }\n\nrule bad {\n  condition: nosuch\n}\n", 4, "nosuch"),
        ('rule ok { condition: true }\nrule broken {\n  strings: $a = "x"\n  condition $a\n}\n', 4, "syntax"),
        ('import "nosuchmodule"\nrule r { condition: true }\n', 1, "nosuchmodule"),
    ],
)
def test_an_invalid_rule_is_named_by_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    rules = _rules_dir(tmp_path / "extra", {"fine.yar": GOOD_RULE, "zz/bad.yar": text})
    with pytest.raises(RulesetError) as raised:
        load_ruleset([rules])
    message = str(raised.value)
    assert message.startswith(f"{rules / 'zz' / 'bad.yar'}:{line}: ")
    assert words in message
    assert "\n" not in message


def test_include_statements_are_refused_with_file_and_line(tmp_path: Path) -> None:
    rules = _rules_dir(tmp_path / "extra", {"main.yar": 'rule a { condition: true }\ninclude "other.yar"\n'})
    with pytest.raises(RulesetError, match=r"main\.yar:2: include statements are not supported"):
        load_ruleset([rules])


def test_index_files_of_includes_are_skipped(tmp_path: Path) -> None:
    rules = _rules_dir(
        tmp_path / "collection",
        {"index.yar": '// all rules\ninclude "./camp.yar"\n', "camp.yar": GOOD_RULE},
    )
    ruleset = load_ruleset([rules], include_bundled=False)
    assert [s.namespace for s in ruleset.sources] == ["user/collection/camp.yar"]


def test_missing_or_empty_rule_directories_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RulesetError, match="no such rules directory"):
        load_ruleset([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("no rules here")
    with pytest.raises(RulesetError, match=r"no \.yar or \.yara rule files"):
        load_ruleset([tmp_path / "empty"])
    with pytest.raises(RulesetError, match="no rules"):
        load_ruleset([], include_bundled=False)


def test_auto_falls_back_to_yara_python_when_yara_x_refuses_a_rule(tmp_path: Path) -> None:
    # `entrypoint` is deprecated in YARA and unsupported by yara-x: public collections still use it.
    legacy = "rule Legacy_EP { condition: entrypoint == 0 and filesize < 0 }\n" + GOOD_RULE
    ruleset = load_ruleset([_rules_dir(tmp_path / "legacy", {"legacy.yar": legacy})])
    assert ruleset.auto_backend == "yara"
    assert ruleset.matcher().backend == "yara"
    assert [m.rule for m in ruleset.matcher().match_bytes(b"marshmallow-42", name="a")] == [
        "Camp_Secret_Word"
    ]
    failure = ruleset.failure("yara-x")
    assert failure is not None and failure.origin.endswith("legacy.yar") and failure.line == 1
    with pytest.raises(RulesetError, match=r"legacy\.yar:1: .*entrypoint.*\(with yara-x\)"):
        ruleset.matcher("yara-x")


def test_the_bundled_rules_all_compile_under_yara_x() -> None:
    ruleset = load_ruleset()
    assert ruleset.auto_backend == "yara-x"
    assert ruleset.failure("yara") is None


def test_public_rules_using_modules_and_loki_externals_compile_under_both(tmp_path: Path) -> None:
    module_rules = """
import "pe"
import "math"

rule Tiny_PE64 {
    meta:
        score = 65
    condition:
        pe.is_pe and pe.machine == pe.MACHINE_AMD64 and math.entropy(0, filesize) < 2.0
}

rule Suspicious_Name {
    meta:
        severity = "Critical"
    condition:
        extension == ".jpg" and filename matches /^badge/ and filepath == "photos" and filetype == ""
}
"""
    ruleset = load_ruleset(
        [_rules_dir(tmp_path / "public", {"modules.yar": module_rules})], include_bundled=False
    )
    for backend in ("yara", "yara-x"):
        matches = ruleset.matcher(backend).match_bytes(pranks.pe_header(), name="photos/badge.jpg")
        assert sorted((m.rule, m.severity) for m in matches) == [
            ("Suspicious_Name", "critical"),
            ("Tiny_PE64", "medium"),
        ]


def test_rules_without_meta_still_give_complete_matches(tmp_path: Path) -> None:
    bare = 'rule Bare { strings: $a = "marshmallow" condition: $a }\n'
    ruleset = load_ruleset([_rules_dir(tmp_path / "bare", {"bare.yar": bare})], include_bundled=False)
    for backend in ("yara", "yara-x"):
        [match] = ruleset.matcher(backend).match_bytes(b"marshmallow", name="x")
        assert dict(match.meta) == {
            "severity": "high",
            "description": "Bare",
            "reference": "",
            "source": "yara",
        }


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        load_ruleset().matcher("clamav")


# --- artifacts ------------------------------------------------------------------------------------------


@pytest.fixture
def artifact(tmp_path: Path) -> tuple[Ruleset, Path]:
    ruleset = load_ruleset([_rules_dir(tmp_path / "extra", {"camp.yar": GOOD_RULE})])
    path = tmp_path / "ruleset.zip"
    write_artifact(ruleset, path)
    return ruleset, path


def test_artifact_round_trip_keeps_version_and_matches(artifact: tuple[Ruleset, Path]) -> None:
    original, path = artifact
    loaded = load_artifact(path)
    assert loaded.version == original.version
    assert loaded.sources == original.sources
    for backend in ("auto", "yara", "yara-x"):
        for data, name in (
            (pranks.eicar(), "eicar.com"),
            (b"marshmallow-42", "a.txt"),
            (pranks.elf_header(), "a.png"),
        ):
            assert loaded.matcher(backend).match_bytes(data, name=name) == original.matcher(
                backend
            ).match_bytes(data, name=name)


def test_artifact_carries_a_manifest_with_both_compiled_rule_sets(artifact: tuple[Ruleset, Path]) -> None:
    original, path = artifact
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist())
    assert manifest["format"] == "bucketguard-ruleset"
    assert manifest["format_version"] == 2
    assert manifest["ruleset_version"] == original.version
    assert manifest["auto_backend"] == "yara-x"
    assert set(manifest["compiled"]) == {"yara", "yara-x"}
    assert {"compiled/yara.bin", "compiled/yara-x.bin"} <= names
    assert len(manifest["sources"]) == len(original.sources)


def _rewrite(path: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members.update(change)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_tampered_artifact_is_refused(artifact: tuple[Ruleset, Path]) -> None:
    _, path = artifact
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        member = manifest["sources"][-1]["member"]
        text = archive.read(member)
    _rewrite(path, {member: text.replace(b"marshmallow-42", b"marshmallow-43")})
    with pytest.raises(RulesetError, match="corrupt ruleset artifact"):
        load_artifact(path)


def test_a_tampered_compiled_blob_is_refused(artifact: tuple[Ruleset, Path]) -> None:
    _, path = artifact
    _rewrite(path, {"compiled/yara-x.bin": b"garbage"})
    with pytest.raises(RulesetError, match="yara-x rules do not match their hash"):
        load_artifact(path)


def test_an_artifact_of_another_format_version_is_refused(artifact: tuple[Ruleset, Path]) -> None:
    _, path = artifact
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["format_version"] = 99
    _rewrite(path, {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(RulesetError, match="format 99 is not supported"):
        load_artifact(path)


def test_a_file_that_is_not_an_artifact_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.zip"
    path.write_bytes(b"hello")
    with pytest.raises(RulesetError, match="unreadable ruleset artifact"):
        load_artifact(path)


def test_artifact_from_other_engine_versions_is_recompiled_from_sources(
    artifact: tuple[Ruleset, Path],
) -> None:
    _, path = artifact
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["engines"] = {"yara": "0.0.1", "yara-x": "0.0.1"}
    _rewrite(path, {"manifest.json": json.dumps(manifest).encode()})
    loaded = load_artifact(path)
    assert [m.rule for m in loaded.matcher("yara").match_bytes(b"marshmallow-42", name="a")] == [
        "Camp_Secret_Word"
    ]


def test_artifact_rules_of_an_engine_whose_version_is_unchanged_are_used_when_the_other_changed(
    artifact: tuple[Ruleset, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each backend's compiled rules depend on its own library only: a yara-python upgrade leaves the
    # yara-x rules good (and the cold start on yara-x never needs yara-python's version).
    _, path = artifact
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["engines"]["yara"] = "0.0.1"
    _rewrite(path, {"manifest.json": json.dumps(manifest).encode()})

    def no_compiling(*_: object) -> None:
        raise AssertionError("compiled from sources")

    monkeypatch.setattr("bucketguard.scanning.ruleset.compile_yara_x", no_compiling)
    loaded = load_artifact(path)
    assert [m.rule for m in loaded.matcher("yara-x").match_bytes(b"marshmallow-42", name="a")] == [
        "Camp_Secret_Word"
    ]
    monkeypatch.setattr("bucketguard.scanning.ruleset.compile_yara", no_compiling)
    with pytest.raises(AssertionError, match="compiled from sources"):  # yara's are another version's
        loaded.matcher("yara")


def test_artifact_remembers_that_yara_x_refused(tmp_path: Path) -> None:
    legacy = _rules_dir(tmp_path / "legacy", {"legacy.yar": "rule L { condition: entrypoint == 0 }\n"})
    path = tmp_path / "ruleset.zip"
    write_artifact(load_ruleset([legacy]), path)
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest["compiled"]) == {"yara"}
    assert manifest["refused"]["yara-x"]["line"] == 1
    loaded = load_artifact(path)
    assert loaded.auto_backend == "yara"
    assert loaded.matcher().backend == "yara"


def test_artifact_version_equals_the_hash_of_its_sources(artifact: tuple[Ruleset, Path]) -> None:
    original, path = artifact
    assert ruleset_version(load_artifact(path).sources) == original.version
    copy = path.with_name("copy.zip")
    shutil.copy(path, copy)
    assert load_artifact(copy).version == original.version


def test_a_format_1_artifact_is_still_read(artifact: tuple[Ruleset, Path]) -> None:
    original, path = artifact
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    for key in ("hash_lists", "hash_count", "feeds", "dropped"):
        del manifest[key]
    manifest["format_version"] = 1
    _rewrite(path, {"manifest.json": json.dumps(manifest).encode()})
    assert load_artifact(path).version == original.version


def test_a_tampered_hash_list_is_refused(tmp_path: Path) -> None:
    from bucketguard.scanning.hashes import HashList

    ruleset = load_ruleset()
    listed = HashList.from_hashes(["a" * 64], label="feed")
    with_hashes = Ruleset(
        ruleset_version(ruleset.sources, [("feed", listed)]), ruleset.sources, (("feed", listed),)
    )
    path = tmp_path / "ruleset.zip"
    write_artifact(with_hashes, path)
    assert load_artifact(path).hash_count == 1
    _rewrite(path, {"hashes/000.txt": b"b" * 64 + b" feed\n"})
    with pytest.raises(RulesetError, match="hash list feed was changed"):
        load_artifact(path)


def test_a_cold_start_loads_compiled_rules_without_compiling(
    artifact: tuple[Ruleset, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = artifact

    def no_compiling(*_: object) -> None:
        raise AssertionError("compiled from sources")

    monkeypatch.setattr("bucketguard.scanning.ruleset.compile_yara_x", no_compiling)
    monkeypatch.setattr("bucketguard.scanning.ruleset.compile_yara", no_compiling)
    loaded = load_artifact(path)
    for backend in ("yara-x", "yara"):
        assert [m.rule for m in loaded.matcher(backend).match_bytes(b"marshmallow-42", name="a")] == [
            "Camp_Secret_Word"
        ]
