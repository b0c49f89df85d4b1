"""Two YARA backends behind one interface: yara-python (libyara) and yara-x (the Rust successor).

A `Matcher` is a set of compiled rules bound to one backend. Both backends scan files from disk through
mmap, so a large object is never read whole into memory, and both see the object's logical name (the S3
key, or the path inside an archive) through external variables, so a rule can say "PE content under a
name ending .jpg".

The external variables follow the LOKI/THOR convention that public rule collections (signature-base)
already use, so those rules compile here unchanged:

    filename   the last component of the logical name       "logo.jpg"
    filepath   the directory part of the logical name       "site/img"
    extension  the lowercase last suffix, with its dot      ".jpg"   ("" when there is none)
    filetype   always "" (bucketguard does not guess types)
    owner      always ""
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import yara_x

from bucketguard.scanning.result import valid_text

BACKENDS = ("yara", "yara-x")

MetaValue = str | int | float | bool

EXTERNAL_DEFAULTS: Mapping[str, str] = {
    "filename": "",
    "filepath": "",
    "extension": "",
    "filetype": "",
    "owner": "",
}

SEVERITIES = ("low", "medium", "high", "critical")
DEFAULT_SEVERITY = "high"  # a user rule without a severity is a malware rule: treat its match as serious


# Records made at every start-up are NamedTuples: a frozen dataclass costs 0.5-1 ms to make (its methods
# are generated and compiled), a NamedTuple a fifth of that.
class RuleSource(NamedTuple):
    """One rule file: `namespace` is a stable id (independent of where the checkout lives), `origin` is
    the path shown in error messages, `text` the normalised source."""

    namespace: str
    origin: str
    text: str


class RuleMatch(NamedTuple):
    rule: str
    namespace: str
    # Always holds "severity" (low|medium|high|critical), "description", "reference" and "source"
    # ("yara", or "type" for rules about content contradicting the name), plus the rule's other meta.
    meta: Mapping[str, MetaValue]

    @property
    def severity(self) -> str:
        return str(self.meta["severity"])

    @property
    def source(self) -> str:
        return str(self.meta["source"])


class Matcher(Protocol):
    backend: str

    def match_file(self, path: Path, *, name: str) -> list[RuleMatch]: ...

    def match_bytes(self, data: bytes | memoryview, *, name: str) -> list[RuleMatch]: ...


class BackendError(Exception):
    """The backend could not scan (file unreadable, timeout): the caller must not report the object clean."""


class CompileFailure(Exception):
    """A rule source did not compile under one backend."""

    def __init__(self, backend: str, origin: str, line: int | None, message: str) -> None:
        super().__init__(backend, origin, line, message)
        self.backend, self.origin, self.line, self.message = backend, origin, line, message

    def __str__(self) -> str:
        where = f"{self.origin}:{self.line}" if self.line is not None else self.origin
        return f"{where}: {self.message}"


# The externals that follow the object's name (in _name_externals' order); the others keep their
# EXTERNAL_DEFAULTS value.
NAME_EXTERNALS = ("filename", "filepath", "extension")


def externals_for(name: str) -> dict[str, str]:
    """The external variables a rule sees for an object called `name` (key, relative or inner path)."""
    filename, filepath, extension = _name_externals(name)
    return {**EXTERNAL_DEFAULTS, "filename": filename, "filepath": filepath, "extension": extension}


def _name_externals(name: str) -> tuple[str, str, str]:
    """The values of NAME_EXTERNALS for an object called `name`."""
    # Archive members are named "outer.zip!docs/evil.js": the member's own name is what counts. Names
    # that were not UTF-8 (decoded with surrogate escapes) are made valid text, or yara-x refuses them.
    if not name.isascii():
        name = valid_text(name)
    directory, _, filename = name[name.rfind("!") + 1 :].replace("\\", "/").rpartition("/")
    dot = filename.rfind(".")
    extension = filename[dot:].lower() if dot > 0 else ""
    return filename, directory, extension


def _meta_value(value: object) -> MetaValue:
    if isinstance(value, bytes):  # yara-x gives bytes for meta strings that are not valid UTF-8
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def severity_of(meta: Mapping[str, MetaValue]) -> str:
    raw = meta.get("severity")
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in SEVERITIES:
            return text
        aliases = {"info": "low", "informational": "low", "warning": "medium", "moderate": "medium"}
        if text in aliases:
            return aliases[text]
    # signature-base and THOR rules carry a numeric `score` instead (75+ alert, 60+ suspicious).
    score = meta.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        return "high" if score >= 75 else "medium" if score >= 60 else "low"
    return DEFAULT_SEVERITY


def normalise_meta(rule: str, raw: Iterable[tuple[str, object]]) -> dict[str, MetaValue]:
    """The rule's meta with the keys every finding needs, whoever wrote the rule."""
    meta: dict[str, MetaValue] = {}
    for key, value in raw:
        meta[key] = _meta_value(value)  # the last value wins, as in yara-python
    meta["severity"] = severity_of(meta)
    meta["description"] = str(meta.get("description") or rule)
    meta["reference"] = str(meta.get("reference") or "")
    meta["source"] = "type" if meta.get("source") == "type" else "yara"
    return meta


# --- yara-python -------------------------------------------------------------------------------------


def yara_python() -> Any:
    """The yara-python module, imported where it is first used: scans on yara-x, the backend `auto` picks,
    never load libyara (nor the libcrypto its wheel brings), 1.5-3 ms of every start-up."""
    import yara

    return yara


_YARA_LINE = re.compile(r"^line (\d+): (.*)$", re.DOTALL)


def compile_yara(sources: Sequence[RuleSource]) -> Any:
    """Compile with yara-python; raises CompileFailure naming the file and line of the first error."""
    yara = yara_python()
    try:
        return yara.compile(
            sources={s.namespace: s.text for s in sources},
            externals=dict(EXTERNAL_DEFAULTS),
            includes=False,
        )
    except yara.SyntaxError as whole_error:
        # libyara reports "line N: ..." without the file: find the file by compiling each alone.
        for source in sources:
            try:
                yara.compile(source=source.text, externals=dict(EXTERNAL_DEFAULTS), includes=False)
            except yara.SyntaxError as exc:
                raise _yara_failure(source.origin, str(exc)) from None
        origin = sources[0].origin if len(sources) == 1 else "rules"
        raise _yara_failure(origin, str(whole_error)) from None


def _yara_failure(origin: str, text: str) -> CompileFailure:
    found = _YARA_LINE.match(text)
    if found:
        return CompileFailure("yara", origin, int(found.group(1)), found.group(2).strip())
    return CompileFailure("yara", origin, None, text.strip())


class YaraMatcher:
    backend = "yara"

    def __init__(self, rules: Any) -> None:
        self._rules = rules
        self._error: type[Exception] = yara_python().Error

    def match_file(self, path: Path, *, name: str) -> list[RuleMatch]:
        try:
            found = self._rules.match(filepath=str(path), externals=externals_for(name))
        except self._error as exc:
            raise BackendError(f"yara could not scan {name}: {exc}") from exc
        return _from_yara(found)

    def match_bytes(self, data: bytes | memoryview, *, name: str) -> list[RuleMatch]:
        try:
            found = self._rules.match(data=data, externals=externals_for(name))
        except self._error as exc:
            raise BackendError(f"yara could not scan {name}: {exc}") from exc
        return _from_yara(found)


def _from_yara(found: Iterable[Any]) -> list[RuleMatch]:
    return [RuleMatch(m.rule, m.namespace, normalise_meta(m.rule, m.meta.items())) for m in found]


# --- yara-x ------------------------------------------------------------------------------------------


def yara_x_compiler() -> Any:
    """A yara-x compiler set up as bucketguard compiles: LOKI externals, no includes."""
    # relaxed_re_syntax accepts the regular expressions libyara accepts, so more public rules compile.
    compiler = yara_x.Compiler(relaxed_re_syntax=True)
    compiler.enable_includes(False)
    for key, value in EXTERNAL_DEFAULTS.items():
        compiler.define_global(key, value)
    return compiler


def add_yara_x_source(compiler: Any, source: RuleSource) -> None:
    """Add one source to a yara-x compiler (a failed source adds nothing); raises CompileFailure."""
    try:
        compiler.add_source(source.text, origin=source.origin)
    except yara_x.CompileError as exc:
        raise _yara_x_failure(source.origin, compiler, exc) from None


def compile_yara_x(sources: Sequence[RuleSource]) -> Any:
    """Compile with yara-x; raises CompileFailure naming the file and line of the first error."""
    compiler = yara_x_compiler()
    for source in sources:
        compiler.new_namespace(source.namespace)
        add_yara_x_source(compiler, source)
    return compiler.build()


def _yara_x_failure(origin: str, compiler: Any, exc: Exception) -> CompileFailure:
    errors = compiler.errors()
    if errors:
        error = errors[-1]
        line = error.get("line")
        message = str(error.get("title", exc))
        labels = [str(label.get("text", "")) for label in error.get("labels", []) if label.get("text")]
        if labels and labels[0] not in message:  # "syntax error" alone says too little
            message = f"{message}: {labels[0]}"
        return CompileFailure("yara-x", origin, int(line) if line else None, message)
    return CompileFailure("yara-x", origin, None, str(exc).splitlines()[0])


class YaraXMatcher:
    backend = "yara-x"

    def __init__(self, rules: Any) -> None:
        self._rules = rules
        # A yara-x Scanner holds per-scan state: one per thread, reused across scans (creating one is
        # far costlier than a small scan).
        self._local = threading.local()

    def _scanner(self, name: str) -> Any:
        local = self._local
        try:
            scanner, previous = local.scanner, local.names
        except AttributeError:
            scanner = local.scanner = yara_x.Scanner(self._rules)
            for key, value in EXTERNAL_DEFAULTS.items():
                scanner.set_global(key, value)
            previous = tuple(EXTERNAL_DEFAULTS[key] for key in NAME_EXTERNALS)
        # Then only the name's externals that differ from the previous scan on this thread (most names
        # share a directory); the others keep their defaults. Spelt out: a loop over them cost more.
        names = _name_externals(name)
        filename, filepath, extension = names
        if filename != previous[0]:
            scanner.set_global("filename", filename)
        if filepath != previous[1]:
            scanner.set_global("filepath", filepath)
        if extension != previous[2]:
            scanner.set_global("extension", extension)
        local.names = names
        return scanner

    def match_file(self, path: Path, *, name: str) -> list[RuleMatch]:
        try:
            results = self._scanner(name).scan_file(str(path))
        except (yara_x.ScanError, yara_x.TimeoutError, OSError) as exc:
            raise BackendError(f"yara-x could not scan {name}: {exc}") from exc
        return _from_yara_x(results)

    def match_bytes(self, data: bytes | memoryview, *, name: str) -> list[RuleMatch]:
        if not isinstance(data, bytes):
            data = bytes(data)  # yara-x scans bytes only
        try:
            results = self._scanner(name).scan(data)
        except (yara_x.ScanError, yara_x.TimeoutError) as exc:
            raise BackendError(f"yara-x could not scan {name}: {exc}") from exc
        return _from_yara_x(results)


def _from_yara_x(results: Any) -> list[RuleMatch]:
    matching = results.matching_rules
    if not matching:
        return []  # most scans: no comprehension to run
    return [RuleMatch(r.identifier, r.namespace, normalise_meta(r.identifier, r.metadata)) for r in matching]
