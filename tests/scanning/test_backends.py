"""The two backends behind one interface: externals from the logical name, scanning from disk, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bucketguard.demo import pranks
from bucketguard.scanning.backends import BackendError, externals_for, normalise_meta
from bucketguard.scanning.ruleset import Ruleset, load_ruleset

BACKENDS = ("yara", "yara-x")


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    return load_ruleset()


@pytest.mark.parametrize(
    ("name", "filename", "filepath", "extension"),
    [
        ("photos/badge.JPG", "badge.JPG", "photos", ".jpg"),
        ("badge.jpg", "badge.jpg", "", ".jpg"),
        ("archive.tar.gz", "archive.tar.gz", "", ".gz"),
        ("outer.zip!docs/inner.zip!evil.js", "evil.js", "", ".js"),
        ("outer.zip!site/js/evil.js", "evil.js", "site/js", ".js"),
        ("bin/tool", "tool", "bin", ""),
        (".bashrc", ".bashrc", "", ""),
        ("dir\\file.PNG", "file.PNG", "dir", ".png"),
        ("", "", "", ""),
    ],
)
def test_externals_follow_the_logical_name(name: str, filename: str, filepath: str, extension: str) -> None:
    assert externals_for(name) == {
        "filename": filename,
        "filepath": filepath,
        "extension": extension,
        "filetype": "",
        "owner": "",
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_matcher_names_its_backend(ruleset: Ruleset, backend: str) -> None:
    assert ruleset.matcher(backend).backend == backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_logical_name_not_the_path_on_disk_decides(
    ruleset: Ruleset, backend: str, tmp_path: Path
) -> None:
    on_disk = tmp_path / "harmless.exe"
    on_disk.write_bytes(pranks.elf_header())
    matcher = ruleset.matcher(backend)
    assert [m.rule for m in matcher.match_file(on_disk, name="camp-photo.jpg")] == [
        "Disguised_Executable_ELF"
    ]
    assert matcher.match_file(on_disk, name="tool.bin") == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_large_file_is_scanned_from_disk(ruleset: Ruleset, backend: str, tmp_path: Path) -> None:
    path = tmp_path / "big.html"
    page = (b"<p>camp</p>\n" * 800_000) + b'<iframe src="http://x.invalid" width="0"></iframe>'
    path.write_bytes(page)
    assert [m.rule for m in ruleset.matcher(backend).match_file(path, name="big.html")] == [
        "WebInject_Hidden_Iframe"
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unreadable_file_is_a_backend_error_not_an_empty_match(
    ruleset: Ruleset, backend: str, tmp_path: Path
) -> None:
    with pytest.raises(BackendError, match=r"could not scan missing\.txt"):
        ruleset.matcher(backend).match_file(tmp_path / "missing", name="missing.txt")


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_data_matches_nothing(ruleset: Ruleset, backend: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert ruleset.matcher(backend).match_bytes(b"", name="empty.jpg") == []
    assert ruleset.matcher(backend).match_file(empty, name="empty.jpg") == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_matcher_serves_threads_each_with_its_own_name(ruleset: Ruleset, backend: str) -> None:
    matcher = ruleset.matcher(backend)
    elf = pranks.elf_header()
    errors: list[str] = []

    def scan(name: str, expected: list[str]) -> None:
        for _ in range(200):
            got = [m.rule for m in matcher.match_bytes(elf, name=name)]
            if got != expected:
                errors.append(f"{name}: {got}")
                return

    threads = [
        threading.Thread(target=scan, args=("a.jpg", ["Disguised_Executable_ELF"])),
        threading.Thread(target=scan, args=("a.bin", [])),
        threading.Thread(target=scan, args=("b.txt", ["Disguised_Executable_ELF"])),
        threading.Thread(target=scan, args=("b", [])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


NAME_RULES = """
rule named_target { condition: filename == "target.txt" }
rule in_deep_dir { condition: filepath == "deep/dir" }
rule a_log { condition: extension == ".log" }
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_matcher_scans_name_after_name_each_seeing_its_own(backend: str, tmp_path: Path) -> None:
    """A matcher reused for file after file (yara-x: one scanner per thread whose externals are set only
    when they change): a rule on the name matches exactly the files that have that name, never one scanned
    after it."""
    (tmp_path / "names.yar").write_text(NAME_RULES)
    matcher = load_ruleset([tmp_path], include_bundled=False).matcher(backend)
    expected = {
        "deep/dir/target.txt": {"named_target", "in_deep_dir"},
        "deep/dir/other.txt": {"in_deep_dir"},
        "target.txt": {"named_target"},
        "target.txt.log": {"a_log"},
        "deep/dir/x.LOG": {"in_deep_dir", "a_log"},
        "outer.zip!deep/dir/target.txt": {"named_target", "in_deep_dir"},
        "deep/dir.zip!other": set(),
        "deep/target.txt": {"named_target"},
        "": set(),
    }
    names = list(expected)
    for name in [*names, *reversed(names), *names[::2], *names[1::2]]:
        assert {m.rule for m in matcher.match_bytes(b"camp", name=name)} == expected[name], name


@pytest.mark.parametrize(
    ("raw", "severity"),
    [
        ({"severity": "LOW"}, "low"),
        ({"severity": "critical"}, "critical"),
        ({"severity": "info"}, "low"),
        ({"severity": "warning"}, "medium"),
        ({"severity": "bogus"}, "high"),
        ({"score": 80}, "high"),
        ({"score": 70}, "medium"),
        ({"score": 40}, "low"),
        ({"score": True}, "high"),
        ({}, "high"),
    ],
)
def test_severity_is_normalised(raw: dict[str, object], severity: str) -> None:
    assert normalise_meta("R", raw.items())["severity"] == severity


def test_meta_keeps_other_fields_and_pins_source() -> None:
    meta = normalise_meta(
        "R", [("author", "camp"), ("source", "https://github.com/x"), ("hash", b"\xff\x41")]
    )
    assert meta["author"] == "camp"
    assert meta["source"] == "yara"
    assert meta["hash"] == "\ufffdA"
    assert normalise_meta("R", [("source", "type")])["source"] == "type"
