"""Rulesets: the bundled YARA rules plus user rule directories, versioned, compiled once, shipped as an
artifact that the scanner Lambda loads once per container.

The version is a hash over the normalised sources (namespace + text), so the same rules give the same
version wherever the checkout lives, and any change to any rule gives a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import re
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yara
import yara_x

from bucketguard.scanning.backends import (
    BACKENDS,
    CompileFailure,
    Matcher,
    RuleSource,
    YaraMatcher,
    YaraXMatcher,
    compile_yara,
    compile_yara_x,
)

__all__ = [
    "ARTIFACT_FORMAT_VERSION",
    "BUNDLED_RULES_DIR",
    "RuleSource",
    "Ruleset",
    "RulesetError",
    "load_artifact",
    "load_ruleset",
    "write_artifact",
]

BUNDLED_RULES_DIR = Path(__file__).parent / "rules"
RULE_SUFFIXES = (".yar", ".yara")
ARTIFACT_FORMAT = "bucketguard-ruleset"
ARTIFACT_FORMAT_VERSION = 1
ENGINES = ("auto", *BACKENDS)

_INCLUDE = re.compile(r'^\s*include\s+"', re.MULTILINE)
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_RULE_DECL = re.compile(r"^\s*(?:(?:private|global)\s+)*rule\s+\w+", re.MULTILINE)


class RulesetError(ValueError):
    """A rule file is missing, unreadable or invalid: the message names the file (and line)."""


@dataclass(frozen=True)
class Ruleset:
    version: str
    sources: tuple[RuleSource, ...]
    # Compiled rules per backend and the reason yara-x was refused, filled lazily; not part of equality.
    _compiled: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _failures: dict[str, CompileFailure] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def rule_count(self) -> int:
        return sum(len(_RULE_DECL.findall(_COMMENTS.sub("", s.text))) for s in self.sources)

    @property
    def auto_backend(self) -> str:
        """The backend `auto` picks: yara-x when every rule compiles under it, else yara-python."""
        return "yara-x" if self.compiles_under("yara-x") else "yara"

    def compiles_under(self, backend: str) -> bool:
        return self.failure(backend) is None

    def failure(self, backend: str) -> CompileFailure | None:
        """Why `backend` cannot compile this ruleset (None when it can)."""
        try:
            self.compiled(backend)
        except CompileFailure as exc:
            return exc
        return None

    def compiled(self, backend: str) -> Any:
        """The backend's compiled rules (compiled once, then cached); raises CompileFailure."""
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
        with self._lock:
            if backend in self._failures:
                raise self._failures[backend]
            if backend not in self._compiled:
                compile_ = compile_yara_x if backend == "yara-x" else compile_yara
                try:
                    self._compiled[backend] = compile_(self.sources)
                except CompileFailure as exc:
                    self._failures[backend] = exc
                    raise
            return self._compiled[backend]

    def matcher(self, engine: str = "auto") -> Matcher:
        """Compiled rules bound to a backend: "auto" | "yara" | "yara-x"."""
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
        backend = self.auto_backend if engine == "auto" else engine
        try:
            rules = self.compiled(backend)
        except CompileFailure as exc:
            raise RulesetError(f"{exc} (with {backend})") from None
        return YaraXMatcher(rules) if backend == "yara-x" else YaraMatcher(rules)


def normalise_source(text: str) -> str:
    """Line endings and trailing whitespace do not change a rule: they do not change the version either.
    Line numbers are kept so compile errors still point at the right line of the file."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n") + "\n"


def ruleset_version(sources: Sequence[RuleSource]) -> str:
    digest = hashlib.sha256()
    for source in sorted(sources, key=lambda s: s.namespace):
        for part in (source.namespace, normalise_source(source.text)):
            encoded = part.encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
    return f"sha256:{digest.hexdigest()[:12]}"


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesetError(f"{path}: cannot read rule file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # some public collections still ship Latin-1 comments


def _is_index_file(text: str) -> bool:
    """A file of `include` lines only (collections ship them to load everything at once): skipped,
    because every included file is loaded from the directory on its own."""
    body = [line for line in _COMMENTS.sub("", text).splitlines() if line.strip()]
    return bool(body) and all(_INCLUDE.match(line) for line in body)


def _sources_in(directory: Path, namespace_prefix: str, shown_as: str | None = None) -> list[RuleSource]:
    if directory.is_file():
        files, base = [directory], directory.parent
    elif directory.is_dir():
        files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file())
        base = directory
    else:
        raise RulesetError(f"{directory}: no such rules directory")
    sources = []
    for path in files:
        text = normalise_source(_read_text(path))
        if _is_index_file(text):
            continue
        include = _INCLUDE.search(text)
        if include:
            line = text.count("\n", 0, include.start()) + 1
            raise RulesetError(
                f"{path}:{line}: include statements are not supported; "
                "pass the directory of the included files with --rules instead"
            )
        relative = path.relative_to(base).as_posix()
        origin = f"{shown_as}/{relative}" if shown_as else str(path)
        sources.append(RuleSource(namespace=f"{namespace_prefix}{relative}", origin=origin, text=text))
    if not sources:
        raise RulesetError(f"{directory}: no .yar or .yara rule files")
    return sources


def bundled_sources() -> list[RuleSource]:
    # Shown relative to the package, not to wherever it is installed.
    return _sources_in(BUNDLED_RULES_DIR, "bucketguard/", shown_as="bucketguard/scanning/rules")


def load_ruleset(extra_dirs: Sequence[Path] = (), *, include_bundled: bool = True) -> Ruleset:
    """The bundled rules plus each user directory (or single file), validated.

    Raises RulesetError naming the file and line of the first rule that compiles under neither backend.
    """
    sources: list[RuleSource] = bundled_sources() if include_bundled else []
    used_prefixes: set[str] = set()
    for directory in extra_dirs:
        directory = Path(directory)
        prefix = f"user/{directory.name or 'rules'}/"
        counter = 2
        while prefix in used_prefixes:  # two checkouts with the same directory name
            prefix = f"user/{directory.name}#{counter}/"
            counter += 1
        used_prefixes.add(prefix)
        sources.extend(_sources_in(directory, prefix))
    if not sources:
        raise RulesetError("no rules: the bundled rules are excluded and no --rules directory was given")
    ruleset = Ruleset(version=ruleset_version(sources), sources=tuple(sources))
    _validate(ruleset)
    return ruleset


def _validate(ruleset: Ruleset) -> None:
    if ruleset.compiles_under("yara-x"):
        return
    yara_failure = ruleset.failure("yara")
    if yara_failure is None:
        return  # yara-x refuses a rule libyara accepts: `auto` falls back to yara-python
    yara_x_failure = ruleset.failure("yara-x")
    # A rule both engines reject: yara-x's message is the clearer one when both point at the same file.
    chosen = (
        yara_x_failure if yara_x_failure and yara_x_failure.origin == yara_failure.origin else yara_failure
    )
    raise RulesetError(str(chosen))


# --- the compiled artifact -----------------------------------------------------------------------------


def _engine_versions() -> dict[str, str]:
    return {"yara": str(yara.__version__), "yara-x": importlib.metadata.version("yara-x")}


def _serialize(backend: str, rules: Any) -> bytes:
    buffer = io.BytesIO()
    if backend == "yara-x":
        rules.serialize_into(buffer)
    else:
        rules.save(file=buffer)
    return buffer.getvalue()


def _deserialize(backend: str, blob: bytes) -> Any:
    if backend == "yara-x":
        return yara_x.Rules.deserialize_from(io.BytesIO(blob))
    return yara.load(file=io.BytesIO(blob))


def write_artifact(ruleset: Ruleset, path: Path) -> None:
    """A zip: manifest.json (format version, ruleset version, engine versions), the sources, and the
    rules compiled by every backend that accepts them."""
    compiled: dict[str, dict[str, str]] = {}
    blobs: dict[str, bytes] = {}
    for backend in BACKENDS:
        if ruleset.compiles_under(backend):
            blob = _serialize(backend, ruleset.compiled(backend))
            member = f"compiled/{backend}.bin"
            blobs[member] = blob
            compiled[backend] = {"member": member, "sha256": hashlib.sha256(blob).hexdigest()}
    if not compiled:
        raise RulesetError(str(ruleset.failure("yara")))
    source_entries = [
        {"namespace": s.namespace, "origin": s.origin, "member": f"sources/{i:05d}.yar"}
        for i, s in enumerate(ruleset.sources)
    ]
    manifest = {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_FORMAT_VERSION,
        "ruleset_version": ruleset.version,
        "auto_backend": ruleset.auto_backend,
        "rule_count": ruleset.rule_count,
        "engines": _engine_versions(),
        "sources": source_entries,
        "compiled": compiled,
        # Why a backend refused the rules, so the Lambda does not retry that compile at every cold start.
        "refused": {
            b: {"origin": f.origin, "line": f.line, "message": f.message}
            for b in BACKENDS
            if (f := ruleset.failure(b)) is not None
        },
    }
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        for entry, source in zip(source_entries, ruleset.sources, strict=True):
            archive.writestr(entry["member"], source.text)
        for member, blob in blobs.items():
            archive.writestr(member, blob)
    temporary.replace(path)  # never leave a half-written artifact under the real name


def load_artifact(path: Path) -> Ruleset:
    """The ruleset of an artifact written by write_artifact, with its compiled rules ready to match.

    Compiled rules made by another engine version are recompiled from the sources in the artifact."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            if manifest.get("format") != ARTIFACT_FORMAT:
                raise RulesetError(f"{path}: not a bucketguard ruleset artifact")
            if manifest.get("format_version") != ARTIFACT_FORMAT_VERSION:
                raise RulesetError(
                    f"{path}: ruleset artifact format {manifest.get('format_version')} is not supported "
                    f"(this bucketguard reads format {ARTIFACT_FORMAT_VERSION})"
                )
            sources = tuple(
                RuleSource(e["namespace"], e["origin"], archive.read(e["member"]).decode("utf-8"))
                for e in manifest["sources"]
            )
            blobs = {b: archive.read(entry["member"]) for b, entry in manifest["compiled"].items()}
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, RulesetError):
            raise
        raise RulesetError(f"{path}: unreadable ruleset artifact: {exc}") from None
    version = ruleset_version(sources)
    if version != manifest["ruleset_version"]:
        raise RulesetError(f"{path}: corrupt ruleset artifact: sources hash to {version}")
    ruleset = Ruleset(version=version, sources=sources)
    same_engines = manifest.get("engines") == _engine_versions()
    if same_engines:
        for backend, why in manifest.get("refused", {}).items():
            if backend in BACKENDS:
                ruleset._failures[backend] = CompileFailure(
                    backend, why["origin"], why["line"], why["message"]
                )
    for backend, blob in blobs.items():
        if backend not in BACKENDS:
            continue
        if hashlib.sha256(blob).hexdigest() != manifest["compiled"][backend]["sha256"]:
            raise RulesetError(f"{path}: corrupt ruleset artifact: {backend} rules do not match their hash")
        if same_engines:
            # A blob this engine cannot read is recompiled from the sources when first needed.
            with contextlib.suppress(Exception):
                ruleset._compiled[backend] = _deserialize(backend, blob)
    return ruleset
