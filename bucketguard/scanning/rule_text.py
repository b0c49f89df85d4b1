"""YARA source split into its rules, so one bad rule of a public feed can be dropped alone.

Not a parser: comments and string literals are blanked out, then every `rule NAME` declared at the start
of a line begins a new rule, which runs to the next one. A declaration the blanking misses (a regular
expression holding `/*`) only makes two rules travel together: they are kept or dropped as one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

_DECL = re.compile(r"^[ \t]*(?:(?:private|global)\s+)*rule\s+([A-Za-z_]\w*)", re.MULTILINE)
_INCLUDE = re.compile(r'^\s*include\s+"[^"\n]*"[ \t]*$', re.MULTILINE)
_SEVERITY = re.compile(r'^\s*severity\s*=\s*"([^"]*)"', re.MULTILINE)
_SCORE = re.compile(r"^\s*score\s*=\s*(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class RuleText:
    name: str
    first_line: int  # 1-based lines in the file it came from
    last_line: int
    text: str

    def meta(self) -> dict[str, str | int]:
        """`severity` and `score` as written in the rule's meta (what severity filters read)."""
        found: dict[str, str | int] = {}
        if severity := _SEVERITY.search(self.text):
            found["severity"] = severity.group(1)
        if score := _SCORE.search(self.text):
            found["score"] = int(score.group(1))
        return found


@dataclass(frozen=True)
class RuleFile:
    preamble: str  # imports and comments before the first rule
    rules: tuple[RuleText, ...]

    def text(self, keep: Collection[int] | None = None) -> str:
        """The file again, with only the rules at the indexes in `keep` (all when None); the others become
        blank lines, so the compiler's line numbers still point into this file."""
        kept = [
            r.text if keep is None or i in keep else "\n" * r.text.count("\n")
            for i, r in enumerate(self.rules)
        ]
        return self.preamble + "".join(kept)

    def index_at(self, line: int) -> int | None:
        """The index of the rule holding `line` (None: the preamble)."""
        return next((i for i, r in enumerate(self.rules) if r.first_line <= line <= r.last_line), None)


def _blank(text: str) -> str:
    """The text with comments and string literals replaced by spaces (newlines and offsets kept)."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        after_space = i == 0 or text[i - 1] in " \t\n;{}()"
        if c == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif text.startswith("//", i) and after_space:
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i) and after_space:
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        else:
            i += 1
    return "".join(out)


def strip_includes(text: str) -> str:
    """`include` lines removed (feeds are read file by file; an index of includes adds nothing)."""
    return _INCLUDE.sub("", text)


def split_rules(text: str) -> RuleFile:
    code = _blank(text)
    starts = [(m.start(), m.group(1)) for m in _DECL.finditer(code)]
    if not starts:
        return RuleFile(text, ())
    rules = []
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        body = text[start:end]
        first = text.count("\n", 0, start) + 1
        rules.append(
            RuleText(
                name=name,
                first_line=first,
                last_line=first + body.count("\n") - (1 if body.endswith("\n") else 0),
                text=body,
            )
        )
    return RuleFile(text[: starts[0][0]], tuple(rules))
