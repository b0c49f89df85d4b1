"""The one table helper: cells are text, never console markup, and off a terminal rows stay on one line."""

from __future__ import annotations

from bucketguard.tables import PLAIN_WIDTH, render, table


def test_cells_are_text_never_markup() -> None:
    # names, tags and messages come from accounts: "[/x]" was a MarkupError and "[bold]" was swallowed
    drawn = table("resource", "message", listing=True)
    drawn.add_row("bucket-[/x]", "tag [bold]owner[/bold] is [red]")
    assert render(drawn).splitlines()[1].split(maxsplit=1) == [
        "bucket-[/x]",
        "tag [bold]owner[/bold] is [red]",
    ]
    assert render("a [/x] line") == "a [/x] line"
    assert render("note on camp\x1b[2J\nresolved  everything") == r"note on camp\x1b[2J\nresolved  everything"


def test_off_a_terminal_rows_are_plain_text_up_to_the_plain_width() -> None:
    drawn = table("rule", "message", title="findings")
    long = "x" * (PLAIN_WIDTH - 40)
    drawn.add_row("s3_bucket_public_read_prohibited", long)
    text = render(drawn)
    assert "\x1b[" not in text  # no colour codes in files and CI logs
    assert sum(long in line for line in text.splitlines()) == 1
    assert max(len(line) for line in text.splitlines()) <= PLAIN_WIDTH


def test_cells_are_one_printable_line_whatever_their_characters() -> None:
    # an object's key or a file's name: an ESC sequence clearing the screen, a line break forging a row of
    # its own, U+202E showing 'gnp.exe' as 'exe.png', a name that is no UTF-8 (a lone surrogate)
    names = ["evil\x1b[2J\x1b[31m.txt", "line\nclean   x.txt", "a\u202egnp.exe", "\udcff.txt", "bell\x07\x9b"]
    drawn = table("target", "verdict", listing=True)
    for name in names:
        drawn.add_row(name, "malicious")
    for terminal in (False, True):
        text = render(drawn, terminal=terminal)
        assert "\x1b[2J" not in text and "\x07" not in text and "\x9b" not in text and "\u202e" not in text
        rows = text.splitlines()[1:]
        assert len(rows) == len(names)  # one line each
        text.encode("utf-8")  # printable on any terminal: no surrogate left
    shown = [row.split()[0] for row in render(drawn).splitlines()[1:]]
    assert shown == [
        r"evil\x1b[2J\x1b[31m.txt",
        r"line\nclean",
        r"a\u202egnp.exe",
        r"\udcff.txt",
        r"bell\x07\x9b",
    ]
