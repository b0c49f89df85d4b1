"""ClamAV's own test files (Debian package clamav-testfiles): one harmless test PE inside 44 containers,
encodings and packers. With one rule for that PE, a file whose content the engine could not see must not
be reported clean. `make test` installs the package when it can."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from bucketguard.cli import main
from bucketguard.scanning.formats.seven_zip_program import program

TESTFILES = Path("/usr/share/clamav-testfiles")
TEST_PE_RULES = Path(__file__).resolve().parents[2] / "benchmarks" / "rules"

pytestmark = pytest.mark.skipif(
    not TESTFILES.is_dir(), reason=f"{TESTFILES} missing: apt-get install clamav-testfiles (make test does)"
)


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, str]]:
    """{file name: result} from `scan /usr/share/clamav-testfiles --rules <the test PE rule>`."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            ["scan", str(TESTFILES), "--no-bundled-rules", "--rules", str(TEST_PE_RULES), "--format", "json"]
        )
    assert code == 1
    return {Path(r["target"]).name: r for r in json.loads(printed.getvalue())["results"]}


@pytest.fixture(scope="module")
def verdicts(results: dict[str, dict[str, str]]) -> dict[str, str]:
    return {name: result["verdict"] for name, result in results.items()}


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("clam-aspack.exe", "(ASPack)"),
        ("clam-mew.exe", "(MEW"),
        ("clam-pespin.exe", "(PESpin)"),
        ("clam-petite.exe", "(Petite)"),
        ("clam-upack.exe", "(Upack"),
        ("clam-wwpack.exe", "(WWPack)"),
        ("clam-yc.exe", "yC)"),
        ("clam_IScab_int.exe", "InstallShield installer"),
        ("clam_ISmsi_ext.exe", "InstallShield installer"),
    ],
)
def test_packers_not_unpacked_here_are_named(
    results: dict[str, dict[str, str]], name: str, what: str
) -> None:
    """What no well-kept library unpacks is `packed`, and says which packer, so a user knows why."""
    assert (results[name]["verdict"], results[name]["reason"]) == ("unscannable", "packed")
    assert what in results[name]["detail"], results[name]["detail"]


def test_every_test_file_gets_a_result_and_the_plain_ones_are_detected(verdicts: dict[str, str]) -> None:
    assert len(verdicts) == 44
    counts = Counter(verdicts.values())
    # today's floor: never fewer (the packers but UPX and InstallShield's own streams are unscannable;
    # ARJ, CHM, NSIS and Implode need the 7-Zip program)
    assert counts["malicious"] >= (34 if program() else 30)
    assert verdicts["clam_cache_emax.tgz"] == "malicious"  # 16 levels deep: within the default depth
    for plain in ("clam.exe", "clam.zip", "clam.7z", "clam.tar.gz", "clam.exe.bz2", "clam.bin-le.cpio"):
        assert verdicts[plain] == "malicious", plain


def test_no_test_file_is_reported_clean(verdicts: dict[str, str]) -> None:
    clean = sorted(name for name, verdict in verdicts.items() if verdict == "clean")
    assert clean == []
