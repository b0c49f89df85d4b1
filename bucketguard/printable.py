"""Text someone else chose (an object's key, a member's name, a tag, a resource's name, a rule's metadata)
made safe to show a person: one line, every character printable.

Control characters (ESC starting a terminal's escape sequence, a bell, a line break writing lines of its own),
bidirectional overrides and other invisible format characters (U+202E shows `a<U+202E>gnp.exe` as
`aexe.png`), line and paragraph separators and lone surrogates (a file name that is no UTF-8) are written as
their Python escapes (`\\x1b`, `\\u202e`, `\\n`, `\\udcff`): what is shown is what is there.
In an alert, a line break could write lines of its own ('Verdict:  clean'), and SNS refuses a subject holding
one."""

from __future__ import annotations


def one_line(text: str) -> str:
    if text.isprintable():  # nearly always: one pass in C
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
