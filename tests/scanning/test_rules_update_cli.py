"""`rules update`, `rules diff` and `scan --ruleset` end to end: a feed served by a loopback HTTP server,
the artifact written, a second update answered by a 304, a feed that times out leaving the artifact as
it was, and the artifact's rules and hashes judging real files."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketguard.cli import main
from bucketguard.demo import pranks
from bucketguard.scanning.ruleset import load_artifact
from tests.scanning.test_feeds import RULE, FeedServer, _serve, zip_of

SMALL = ["--sample-size", "1MiB", "--max-slowdown", "1e9"]  # a test never depends on timing


@pytest.fixture
def feeds() -> Iterator[str]:
    yield from _serve()


def update(*args: str) -> int:
    return main(["rules", "update", *SMALL, *args])


def test_update_writes_then_a_304_keeps_the_feed_and_the_version(
    feeds: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "ruleset.zip"
    assert update("--source", f"{feeds}/rules.zip", "-o", str(output), "--format", "json") == 0
    first = json.loads(capsys.readouterr().out)
    assert first["written"] and first["feeds"][0]["status"] == "fetched"
    assert first["feeds"][0]["etag"] == '"v1"' and first["feeds"][0]["rules"] == 1

    assert update("--source", f"{feeds}/rules.zip", "-o", str(output), "--format", "json") == 0
    second = json.loads(capsys.readouterr().out)
    assert second["feeds"][0]["status"] == "unchanged" and second["feeds"][0]["rules"] == 1
    assert second["ruleset_version"] == first["ruleset_version"] == second["previous_version"]
    assert FeedServer.hits["/rules.zip"] == 2  # the second update cost one conditional request


def test_on_a_terminal_each_step_is_told_before_it_runs_the_feed_shown_without_its_key(
    feeds: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing was said until the report: a 20 MiB feed, the compile and the gates took minutes in silence,
    # and a feed that hung was not named until it timed out.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    output = tmp_path / "ruleset.zip"
    url = f"{feeds}/rules.zip?auth-key=SECRET"
    assert update("--source", url, "-o", str(output), "--format", "json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["written"]
    assert captured.err.splitlines() == [
        f"rules update: fetching rules.zip ({feeds}/rules.zip)",
        "rules update: rules.zip: fetched, 1 rule files, 0 hashes",
        "rules update: merging the feeds with the bundled rules (each feed file compiled)",
        f"rules update: compiling {load_artifact(output).rule_count} rules, then scanning the clean files",
        "rules update: scanning the bundled samples",
        "rules update: scanning a 1 MiB sample with these rules and the bundled ones",
    ]
    assert update("--source", f"{feeds}/hang", "--timeout", "0.2", "-o", str(output)) == 2
    assert capsys.readouterr().err.splitlines()[-2:] == [
        f"rules update: fetching hang ({feeds}/hang)",
        f"bucketguard: source hang ({feeds}/hang): {feeds}/hang: timed out (nothing written)",
    ]


def test_a_feed_that_times_out_leaves_the_previous_artifact(
    feeds: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "ruleset.zip"
    assert update("--source", f"{feeds}/rules.zip", "-o", str(output)) == 0
    before = output.read_bytes()
    code = update("--source", f"{feeds}/hang", "--timeout", "0.2", "-o", str(output))
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("timed out (nothing written)") and "\n" not in err
    assert output.read_bytes() == before


def test_scan_with_the_artifact_uses_its_rules_and_hashes(
    feeds: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = tmp_path / "list.txt"
    secret = b"a file only the hash list knows"
    hashes.write_text(hashlib.sha256(secret).hexdigest() + " camp list\n")
    output = tmp_path / "ruleset.zip"
    assert update("--source", f"{feeds}/rules.zip", "--source", str(hashes), "-o", str(output)) == 0
    files = tmp_path / "files"
    files.mkdir()
    (files / "note.txt").write_bytes(b"see bucketguard-feed-test-7f3a")
    (files / "listed.bin").write_bytes(secret)
    (files / "clean.txt").write_bytes(b"nothing to see")
    capsys.readouterr()
    assert main(["scan", "--ruleset", str(output), "--format", "json", str(files)]) == 1
    results = {r["target"].rsplit("/", 1)[-1]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert results["note.txt"]["findings"][0]["rule"] == "Feed_Test_String"
    assert results["listed.bin"]["findings"][0]["rule"] == "sha256_blocklist"
    assert results["clean.txt"]["verdict"] == "clean"


def test_diff_lists_added_rules_and_hashes(
    feeds: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "old.zip", tmp_path / "new.zip"
    assert main(["rules", "compile", "-o", str(old)]) == 0
    bazaar = tmp_path / "bazaar.csv"
    eicar_sha = hashlib.sha256(pranks.eicar()).hexdigest()
    bazaar.write_text(
        f'# MalwareBazaar\n"2026-11-30 08:00:01", "{eicar_sha}", "x", "x", "camp", "e", "com", "t", "EICAR"\n'
    )
    assert update("--source", f"{feeds}/rules.zip", "--source", str(bazaar), "-o", str(new)) == 0
    capsys.readouterr()
    assert main(["rules", "diff", str(old), str(new), "--format", "json"]) == 1
    diff = json.loads(capsys.readouterr().out)
    assert diff["added"] == ["feed/rules.zip/rules/test.yar:Feed_Test_String"]
    assert diff["removed"] == [] and diff["changed"] == []
    assert diff["hashes_added"] == [eicar_sha]
    assert main(["rules", "diff", str(new), str(new)]) == 0


def test_sources_from_the_stack_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "team.yar"
    rules.write_text(RULE)
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(
        "config:\n  bucketguard:scanner:\n    region: eu-west-1\n    ruleSources:\n"
        f"      - name: team\n        url: {rules}\n        minSeverity: medium\n"
    )
    output = tmp_path / "ruleset.zip"
    assert update("--config", str(stack), "-o", str(output), "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["feeds"][0]["name"] == "team"
    stack.write_text(
        "config:\n  bucketguard:scanner:\n    region: eu-west-1\n    ruleSources:\n"
        f"      - url: {rules}\n        sha: x\n"
    )
    assert update("--config", str(stack), "-o", str(output)) == 2
    err = capsys.readouterr().err
    assert "bucketguard:scanner.ruleSources[0].sha: unknown key; did you mean sha256?" in err


def test_sources_of_one_scanner_of_a_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "team.yar"
    rules.write_text(RULE)
    stack = tmp_path / "Pulumi.fleet.yaml"
    stack.write_text(
        "config:\n  bucketguard:scanners:\n    - name: europe\n      region: eu-west-1\n"
        "    - name: americas\n      region: us-east-1\n      ruleSources:\n"
        f"        - name: team\n          url: {rules}\n"
    )
    output = tmp_path / "ruleset.zip"
    # a fleet's sources are per scanner: reading none silently would publish without them
    assert update("--config", str(stack), "-o", str(output)) == 2
    assert "bucketguard:scanners is a fleet: name its scanner with --scanner (europe, americas)" in (
        capsys.readouterr().err
    )
    assert update("--config", str(stack), "--scanner", "americas", "-o", str(output), "--format", "json") == 0
    assert [f["name"] for f in json.loads(capsys.readouterr().out)["feeds"]] == ["team"]


def test_a_feeds_file_names_are_shown_printable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a feed names its files: an ESC sequence and a line break writing a line of its own ('wrote ok.yar')
    name = "evil\x1b[2J\nwrote ok.yar"
    broken = "rule Broken_One\n{\n    condition:\n        no_such_identifier\n}\n"
    feed = tmp_path / "feed.zip"
    feed.write_bytes(zip_of({name: (broken + RULE).encode()}))
    assert update("--source", str(feed), "-o", str(tmp_path / "ruleset.zip")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(line.isprintable() for line in lines)
    assert not any(line.startswith("wrote ok.yar") for line in lines)
    assert any(r"feed.zip:evil\x1b[2J\nwrote ok.yar Broken_One" in line for line in lines)
