"""`make test` installs every Debian package a test skips without and says make test installs (a test
skipped in CI for a package the Makefile never installs would be a test that can't fail)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_packages_tests_say_make_test_installs_are_in_its_list() -> None:
    makefile = (REPO / "Makefile").read_text()
    listed = re.search(r"^TEST_PACKAGES := ((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert listed is not None
    installed = {entry.split(":")[0] for entry in listed.group(1).replace("\\\n", " ").split()}
    promised = set()
    for path in (REPO / "tests").rglob("*.py"):
        for reason in re.findall(r'reason=f?"([^"]*\(make test [^"]*)"', path.read_text()):
            named = re.search(r"apt-get install (\S+)", reason)
            promised.add(named.group(1) if named else reason.split()[0])
    assert promised, "no skip reason found: the pattern above no longer matches the tests"
    assert promised <= installed, f"{sorted(promised - installed)} missing from the Makefile's TEST_PACKAGES"
