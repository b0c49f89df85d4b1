"""`python -m bucketguard scan`: formats, exit codes, flags, bad input, directories."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bucketguard.cli import main
from bucketguard.cli.scan import parse_size
from bucketguard.demo import pranks
from tests.scanning.engine_support import EICAR, engine, nested_zip, zip_of
from tests.scanning.format_samples import pdf_with_attachment, rtf_with_package

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["scan", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def camp(tmp_path: Path) -> Path:
    """A directory as a child's upload folder looks: pranks, clean files and bad input."""
    root = tmp_path / "camp"
    for sample in pranks.all_samples():
        path = root / sample.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.data)
    (root / "empty.txt").write_bytes(b"")
    (root / "dangling.lnk").symlink_to(root / "nowhere")
    os.mkfifo(root / "pipe")
    return root


def test_clean_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.pdf").write_bytes(pranks.clean_pdf())
    code, out, _ = run(capsys, str(tmp_path / "a.pdf"))
    assert code == 0
    assert "clean" in out and "1 scanned" in out


def test_malicious_file_exits_1_and_table_names_rule_and_inner_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "h.zip").write_bytes(pranks.eicar_nested_zip())
    code, out, _ = run(capsys, str(tmp_path / "h.zip"))
    assert code == 1
    assert "malicious" in out and "EICAR_Test_File" in out and "docs/inner.zip!eicar.com" in out


def test_names_in_the_table_are_text_never_console_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an archive member's name is the uploader's: "[/x]" was a MarkupError, "[bold]" swallowed
    (tmp_path / "[bold]h.zip").write_bytes(zip_of({"[/x]eicar.com": EICAR}))
    code, out, _ = run(capsys, str(tmp_path / "[bold]h.zip"))
    assert code == 1
    assert "[bold]h.zip" in out and "[/x]eicar.com" in out


def test_unscannable_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.zip").write_bytes(pranks.encrypted_zip())
    code, out, _ = run(capsys, str(tmp_path / "s.zip"))
    assert code == 1
    assert "unscannable" in out and "encrypted" in out


def test_directory_is_scanned_recursively_and_bad_entries_get_results(
    camp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--format", "json", str(camp))
    assert code == 1
    document = json.loads(out)
    by_target = {Path(r["target"]).relative_to(camp).as_posix(): r for r in document["results"]}
    for sample in pranks.all_samples():
        assert by_target[sample.key]["verdict"] == sample.expected.value, sample.key
    assert (by_target["empty.txt"]["verdict"], by_target["empty.txt"]["size"]) == ("clean", 0)
    assert (by_target["dangling.lnk"]["verdict"], by_target["dangling.lnk"]["reason"]) == (
        "unscannable",
        "unreadable",
    )
    assert by_target["pipe"]["reason"] == "not_a_regular_file"
    summary = document["summary"]
    assert summary["targets"] == len(pranks.all_samples()) + 3
    assert summary["malicious"] == sum(1 for s in pranks.all_samples() if s.expected.value == "malicious")


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """The camp's pranks and clean files, documents carrying EICAR, one ELF under names the rules judge
    differently side by side, many small scripts and a file that cannot be read."""
    root = tmp_path / "mixed"
    files = {sample.key: sample.data for sample in pranks.all_samples()}
    files |= {
        "docs/letter.rtf": rtf_with_package("eicar.com", EICAR),
        "docs/brochure.pdf": pdf_with_attachment("eicar.com", EICAR),
        "docs/clean.pdf": pdf_with_attachment("notes.txt", b"bring a hat"),
    }
    for name in ("a.jpg", "b.bin", "c.png", "d", "e.txt"):  # the extension alone decides
        files[f"tools/{name}"] = pranks.elf_header()
    for index in range(200):
        files[f"site/js/lib{index:03d}.js"] = pranks.clean_js() + str(index).encode()
    files["site/js/lib100.js"] = pranks.injected_js()
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    if os.geteuid() == 0:  # root reads any mode: /proc/self/mem's first read fails (EIO) for anyone
        (root / "docs/unreadable.txt").symlink_to("/proc/self/mem")
    else:
        (root / "docs/unreadable.txt").write_bytes(b"secret")
        (root / "docs/unreadable.txt").chmod(0)
    return root


def test_a_directory_scan_gives_each_file_the_result_it_gets_alone(
    mixed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory scan (one engine and one reused scanner for every file, paths walked as strings,
    results encoded line by line) says of each file what a fresh engine says of it alone."""
    monkeypatch.chdir(mixed.parent)
    argument = f"./{mixed.name}//"  # named as Path spells them: "mixed/docs/letter.rtf"
    code, out, _ = run(capsys, "--format", "json", argument)
    results = json.loads(out)["results"]
    expected_targets = sorted(
        str(Path(argument) / path.relative_to(mixed)) for path in mixed.rglob("*") if not path.is_dir()
    )
    assert sorted(r["target"] for r in results) == expected_targets
    for result in results:
        alone = engine().scan_file(Path(result["target"]), name=result["target"]).to_dict()
        assert {**result, "duration_ms": 0} == {**alone, "duration_ms": 0, "actions": NOTHING_DONE}
    verdicts = {r["target"].removeprefix("mixed/"): r["verdict"] for r in results}
    assert {name: verdicts[f"tools/{name}"] for name in ("a.jpg", "b.bin", "c.png", "d", "e.txt")} == {
        "a.jpg": "malicious",
        "b.bin": "clean",
        "c.png": "malicious",
        "d": "clean",
        "e.txt": "malicious",
    }
    assert [verdicts[f"docs/{name}"] for name in ("letter.rtf", "brochure.pdf", "clean.pdf")] == [
        "malicious",
        "malicious",
        "clean",
    ]
    assert (verdicts["docs/unreadable.txt"], verdicts["site/js/lib100.js"]) == ("unscannable", "malicious")
    assert (code, Counter(verdicts.values())) == (1, {"malicious": 12, "unscannable": 3, "clean": 206})


def test_json_document_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.js").write_bytes(pranks.injected_js())
    code, out, _ = run(capsys, "--format", "json", str(tmp_path / "a.js"))
    document = json.loads(out)
    assert code == 1
    assert document["schema_version"] == 1
    assert set(document) == {"schema_version", "results", "summary"}
    result = document["results"][0]
    assert set(result) >= {
        "target",
        "verdict",
        "findings",
        "reason",
        "sha256",
        "size",
        "backend",
        "ruleset_version",
    }
    assert {f["source"] for f in result["findings"]} == {"yara"}
    assert result["actions"] == NOTHING_DONE  # a local scan never acts on what it scans
    assert document["summary"]["malicious"] == 1


NOTHING_DONE = {"tagged": False, "quarantined_to": None, "promoted_to": None, "deleted_version": None}


def test_json_document_has_one_result_a_line(camp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each result is a line of its own (grep finds a file's whole result), names with quotes and line
    breaks included."""
    (camp / 'odd "name"\n.txt').write_bytes(b"camp")
    _, out, _ = run(capsys, "--format", "json", str(camp))
    results = json.loads(out)["results"]
    lines = [line for line in out.splitlines() if line.startswith('{"target": ')]
    assert [json.loads(line.removesuffix(",")) for line in lines] == results


@pytest.mark.parametrize("output", ["json", "results"])
def test_a_target_that_is_not_a_local_file_keeps_its_place_among_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    # Local files go to the engine in groups (spread over its workers), the others one by one: a directory
    # that could not be listed is reported where the walk met it, between the files around it.
    from bucketguard.cli.scan import LocalFile, UnlistedDirectory, scan_all, write_json

    (tmp_path / "a.txt").write_text("note")
    (tmp_path / "e.com").write_bytes(EICAR)
    targets = [
        LocalFile("a", str(tmp_path / "a.txt")),
        LocalFile("e", tmp_path / "e.com"),
        UnlistedDirectory("locked", "locked: cannot list directory: Permission denied"),
        LocalFile("a-again", str(tmp_path / "a.txt")),
    ]
    if output == "json":
        assert not write_json(engine(), targets)
        results = json.loads(capsys.readouterr().out)["results"]
    else:
        results = [result.to_dict() for result in scan_all(engine(), targets)]
    assert [(r["target"], r["verdict"]) for r in results] == [
        ("a", "clean"),
        ("e", "malicious"),
        ("locked", "unscannable"),
        ("a-again", "clean"),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--apply"], "--apply acts on s3:// targets only; {path} is a local path"),
        (["--enqueue", "https://sqs.example/q"], "--enqueue acts on s3:// targets only"),
        (
            ["--result-topic", "arn:aws:sns:us-east-1:111111111111:t"],
            "--result-topic is only used with --enqueue",
        ),
        (["--quarantine-bucket", "q"], "--quarantine-bucket is only used with --apply"),
        (["--promote-bucket", "p"], "--promote-bucket is only used with --apply"),
        (["--endpoint-url", "http://127.0.0.1:1"], "--endpoint-url is for s3:// targets; no target is one"),
        (["--rescan-older-rulesets"], "--rescan-older-rulesets is for s3:// targets"),
    ],
)
def test_s3_options_on_local_paths_are_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    (tmp_path / "a.js").write_bytes(pranks.injected_js())
    path = str(tmp_path / "a.js")
    code, out, err = run(capsys, path, *options)
    assert (code, out) == (2, "")
    assert err.startswith(f"bucketguard: {message.format(path=path)}")
    assert err.count("\n") == 1


def _sarif(out: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(out)
    assert document["version"] == "2.1.0"
    assert document["$schema"].endswith("sarif-2.1.0.json")
    (run_,) = document["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "bucketguard" and driver["version"]
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("note", "warning", "error")
        assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
    for result in run_["results"]:
        assert result["ruleId"] in rule_ids
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("note", "warning", "error")
        assert result["message"]["text"]
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"]
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        assert result["partialFingerprints"]
        assert set(result["properties"]["actions"]) == set(NOTHING_DONE)
    return document


def test_sarif_is_valid_for_code_scanning(camp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "sarif", str(camp))
    assert code == 1
    document = _sarif(out)
    results = document["runs"][0]["results"]
    rule_ids = {r["ruleId"] for r in results}
    assert {
        "EICAR_Test_File",
        "bucketguard/unscannable/encrypted",
        "bucketguard/unscannable/ratio_exceeded",
    } <= rule_ids
    eicar = next(
        r for r in results if r["ruleId"] == "EICAR_Test_File" and "homework" in r["message"]["text"]
    )
    assert eicar["level"] == "error"
    assert eicar["properties"]["innerPath"].endswith("homework.zip!docs/inner.zip!eicar.com")


def test_sarif_of_clean_files_has_no_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.png").write_bytes(pranks.clean_png())
    code, out, _ = run(capsys, "--format", "sarif", str(tmp_path))
    assert code == 0
    assert _sarif(out)["runs"][0]["results"] == []


def test_limit_flags_reach_the_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "n.zip").write_bytes(nested_zip(3, b"harmless"))
    assert run(capsys, str(tmp_path / "n.zip"))[0] == 0
    code, out, _ = run(capsys, "--max-depth", "2", "--format", "json", str(tmp_path / "n.zip"))
    assert (code, json.loads(out)["results"][0]["reason"]) == (1, "depth_exceeded")
    (tmp_path / "m.zip").write_bytes(zip_of({f"{i}.txt": b"x" for i in range(4)}))
    code, out, _ = run(capsys, "--max-members", "3", "--format", "json", str(tmp_path / "m.zip"))
    assert json.loads(out)["results"][0]["reason"] == "too_many_members"
    code, out, _ = run(capsys, "--max-size", "100", "--format", "json", str(tmp_path / "m.zip"))
    assert json.loads(out)["results"][0]["reason"] == "too_large"
    (tmp_path / "b.zip").write_bytes(zip_of({"big.bin": os.urandom(300_000)}))
    code, out, _ = run(capsys, "--max-extracted", "100K", "--format", "json", str(tmp_path / "b.zip"))
    assert json.loads(out)["results"][0]["reason"] == "extracted_too_large"
    (tmp_path / "bomb.zip").write_bytes(pranks.zip_bomb(4 << 20))
    assert run(capsys, str(tmp_path / "bomb.zip"))[0] == 1
    assert run(capsys, "--max-ratio", "5000", str(tmp_path / "bomb.zip"))[0] == 0


def test_min_severity_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.js").write_bytes(pranks.injected_js())
    assert run(capsys, "--min-severity", "critical", str(tmp_path / "a.js"))[0] == 0
    assert run(capsys, "--min-severity", "high", str(tmp_path / "a.js"))[0] == 1


@pytest.mark.parametrize("backend", ["yara", "yara-x", "auto"])
def test_engine_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str) -> None:
    (tmp_path / "e.com").write_bytes(EICAR)
    code, out, _ = run(capsys, "--engine", backend, "--format", "json", str(tmp_path / "e.com"))
    assert code == 1
    expected = "yara-x" if backend == "auto" else backend
    assert json.loads(out)["results"][0]["backend"] == expected


def test_hashes_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    payload = b"innocent looking\n"
    (tmp_path / "f.txt").write_bytes(payload)
    (tmp_path / "bad.txt").write_text(hashlib.sha256(payload).hexdigest() + "\n")
    code, out, _ = run(
        capsys, "--hashes", str(tmp_path / "bad.txt"), "--format", "json", str(tmp_path / "f.txt")
    )
    assert code == 1
    assert json.loads(out)["results"][0]["findings"][0]["source"] == "hash"


def test_user_rules_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "camp.yar").write_text(
        'rule Camp_Secret_Word { meta: severity = "medium" strings: $a = "marshmallow" condition: $a }\n'
    )
    (tmp_path / "note.txt").write_text("the password is marshmallow")
    code, out, _ = run(capsys, "--rules", str(rules), "--format", "json", str(tmp_path / "note.txt"))
    assert code == 1
    assert json.loads(out)["results"][0]["findings"][0]["rule"] == "Camp_Secret_Word"


def test_invalid_rule_is_a_one_line_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yar").write_text("rule ok { condition: true }\n\nrule broken { condition: nonsense( }\n")
    (tmp_path / "a.txt").write_text("x")
    code, out, err = run(capsys, "--rules", str(rules), str(tmp_path / "a.txt"))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "broken.yar" in err and ":3" in err


def test_invalid_hash_list_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "h.txt").write_text("garbage\n")
    (tmp_path / "a.txt").write_text("x")
    code, _, err = run(capsys, "--hashes", str(tmp_path / "h.txt"), str(tmp_path / "a.txt"))
    assert code == 2
    assert "h.txt:1" in err


def test_missing_target_is_a_usage_error_before_scanning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("x")
    code, out, err = run(capsys, str(tmp_path / "a.txt"), str(tmp_path / "missing"))
    assert code == 2
    assert out == ""
    assert "missing: no such file or directory" in err


def test_symlink_loop_in_a_directory_terminates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("x")
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    code, out, _ = run(capsys, "--format", "json", str(tmp_path / "d"))
    assert code == 0
    assert [Path(r["target"]).name for r in json.loads(out)["results"]] == ["a.txt"]


def test_empty_directory_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(tmp_path))
    assert code == 0
    assert "0 scanned" in out


@pytest.mark.parametrize(
    ("text", "size"), [("1048576", 1 << 20), ("512K", 512 << 10), ("10MiB", 10 << 20), ("2g", 2 << 30)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_flag_value_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", "--max-size", "lots", "x"])
    assert exit_info.value.code == 2


def test_command_line_entry_point_runs_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "e.com").write_bytes(EICAR)
    completed = subprocess.run(
        [sys.executable, "-m", "bucketguard", "scan", "--format", "json", str(tmp_path / "e.com")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    assert json.loads(completed.stdout)["summary"]["malicious"] == 1
    assert "Traceback" not in completed.stderr


def test_the_json_document_stays_on_stdout_beside_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    # The bar (stderr a terminal, 10 files or more) replaces sys.stdout while it runs to print above itself
    # on stderr; the document, written as results come, must still all go to stdout.
    for index in range(12):
        (tmp_path / f"{index:02d}.txt").write_text(f"note {index}")
    (tmp_path / "e.com").write_bytes(EICAR)
    terminal, stderr = os.openpty()
    shown: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(terminal, shown), daemon=True)
    reader.start()  # the terminal drained, so the bar never waits on it
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "bucketguard", "scan", "--format", "json", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT, check=False, timeout=300,
        )  # fmt: skip
    finally:
        os.close(stderr)
        reader.join(60)
        os.close(terminal)
    assert b"scanning" in b"".join(shown)  # the bar was drawn
    assert completed.returncode == 1
    document = json.loads(completed.stdout)
    assert [Path(result["target"]).name for result in document["results"]] == [
        *(f"{index:02d}.txt" for index in range(12)),
        "e.com",
    ]
    assert document["summary"]["malicious"] == 1


def _read_all(fd: int, into: list[bytes]) -> None:
    with contextlib.suppress(OSError):  # EIO once the terminal's other end is closed
        while chunk := os.read(fd, 1 << 16):
            into.append(chunk)
