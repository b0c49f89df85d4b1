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


def test_off_a_terminal_rows_are_plain_text_up_to_the_plain_width() -> None:
    drawn = table("rule", "message", title="findings")
    long = "x" * (PLAIN_WIDTH - 40)
    drawn.add_row("s3_bucket_public_read_prohibited", long)
    text = render(drawn)
    assert "\x1b[" not in text  # no colour codes in files and CI logs
    assert sum(long in line for line in text.splitlines()) == 1
    assert max(len(line) for line in text.splitlines()) <= PLAIN_WIDTH
