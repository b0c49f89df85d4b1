"""`python -m bucketguard rules compile`: the artifact, its summary, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bucketguard.cli import main
from bucketguard.demo import pranks
from bucketguard.scanning.ruleset import bundled_sources, load_artifact, load_ruleset

CAMP_RULE = 'rule Camp_Word { meta: severity = "low" strings: $a = "marshmallow-42" condition: $a }\n'


def test_compile_writes_a_loadable_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "ruleset.zip"
    assert main(["rules", "compile", "-o", str(output)]) == 0
    printed = capsys.readouterr().out
    version = load_ruleset().version
    assert f"wrote {output}: ruleset {version}" in printed
    loaded = load_artifact(output)
    assert loaded.version == version
    assert [m.rule for m in loaded.matcher().match_bytes(pranks.eicar(), name="e.com")] == ["EICAR_Test_File"]


def test_compile_with_user_rules_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "camp.yar").write_text(CAMP_RULE)
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "legacy.yar").write_text("rule Legacy { condition: entrypoint == 0 }\n")
    output = tmp_path / "ruleset.zip"
    argv = ["rules", "compile", "--rules", str(tmp_path / "extra"), "--rules", str(tmp_path / "more")]
    assert main([*argv, "-o", str(output), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["schema_version"] == 1
    assert summary["ruleset_version"] == load_ruleset([tmp_path / "extra", tmp_path / "more"]).version
    assert summary["rule_files"] == len(bundled_sources()) + 2  # the bundled files and the two given
    assert summary["backends"] == ["yara"]
    assert summary["auto_backend"] == "yara"
    assert "legacy.yar:1:" in summary["refused"]["yara-x"]
    loaded = load_artifact(output)
    assert [m.rule for m in loaded.matcher().match_bytes(b"marshmallow-42", name="a")] == ["Camp_Word"]


def test_an_invalid_rule_is_one_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad").mkdir()
    bad = tmp_path / "bad" / "bad.yar"
    bad.write_text(CAMP_RULE + "\nrule Broken {\n  condition: no_such_thing\n}\n")
    output = tmp_path / "ruleset.zip"
    assert main(["rules", "compile", "--rules", str(tmp_path / "bad"), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"bucketguard: {bad}:4: ")
    assert "no_such_thing" in err
    assert not output.exists()


def test_bad_output_paths_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "compile", "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["rules", "compile", "-o", str(tmp_path / "no" / "such" / "x.zip")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_rules_needs_a_subcommand_and_compile_needs_an_output() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["rules"])
    assert raised.value.code == 2
    with pytest.raises(SystemExit) as raised:
        main(["rules", "compile"])
    assert raised.value.code == 2


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    output = tmp_path / "r.zip"
    done = subprocess.run(
        [sys.executable, "-m", "bucketguard", "rules", "compile", "-o", str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert output.is_file()
