"""The README's command synopses against each command's own `--help`: every option shown exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bucketguard.cli import main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
COMMAND = re.compile(r"^python -m bucketguard ([a-z]+(?: [a-z]+(?= |$))?)(.*)$")


def _synopses() -> dict[str, set[str]]:
    """Each `python -m bucketguard <command> [<subcommand>]` line of the README (with its indented
    continuation lines) -> the options it shows."""
    found: dict[str, set[str]] = {}
    command = None
    for line in README.splitlines():
        match = COMMAND.match(line)
        if match:
            command = match.group(1).strip()
            text = match.group(2)
        elif command and line.startswith("    "):
            text = line
        else:
            command = None
            continue
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text.split("#")[0]))
        found.setdefault(command, set()).update(options)
    return found


SYNOPSES = _synopses()


def test_the_readme_shows_a_synopsis_of_each_command() -> None:
    assert {
        "scan",
        "rules compile",
        "rules update",
        "policy check",
        "audit",
        "monitor replay",
        "build",
    } <= set(SYNOPSES)


@pytest.mark.parametrize("command", sorted(SYNOPSES))
def test_every_option_in_the_readme_is_one_the_command_takes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    shown = capsys.readouterr().out
    assert not [option for option in SYNOPSES[command] if option not in shown], shown


def test_audit_usage_says_its_subcommand_is_optional(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    assert "[history] ..." in capsys.readouterr().out
