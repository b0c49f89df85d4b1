"""Rulesets: the bundled YARA rules plus user rule directories (and, built by `rules update`, rule feeds
and SHA-256 hash lists), versioned, compiled once, shipped as an artifact that the scanner loads.

The version is a hash over the normalised sources (namespace + text) and the hash lists' digests, so the
same rules give the same version wherever the checkout lives, and any change to any rule or listed hash
gives a new one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yara_x

from bucketguard.errors import UserError
from bucketguard.scanning.backends import (
    BACKENDS,
    EXTERNAL_DEFAULTS,
    CompileFailure,
    Matcher,
    RuleSource,
    YaraMatcher,
    YaraXMatcher,
    compile_yara,
    compile_yara_x,
    yara_python,
)
from bucketguard.scanning.hashes import HashList

if TYPE_CHECKING:
    import zipfile

__all__ = [
    "ARTIFACT_FORMAT_VERSION",
    "BUNDLED_RULES_DIR",
    "RuleSource",
    "Ruleset",
    "RulesetError",
    "load_artifact",
    "load_ruleset",
    "read_manifest",
    "write_artifact",
]

BUNDLED_RULES_DIR = Path(__file__).parent / "rules"
RULE_SUFFIXES = (".yar", ".yara")
ARTIFACT_FORMAT = "bucketguard-ruleset"
ARTIFACT_FORMAT_VERSION = 2  # 2 added feeds, hash lists and dropped rules; format 1 is still read
_READABLE_FORMAT_VERSIONS = (1, 2)
ENGINES = ("auto", *BACKENDS)

_INCLUDE = re.compile(r'^\s*include\s+"', re.MULTILINE)
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_RULE_DECL = re.compile(r"^\s*(?:(?:private|global)\s+)*rule\s+\w+", re.MULTILINE)


class RulesetError(UserError, ValueError):
    """A rule file is missing, unreadable or invalid: the message names the file (and line)."""


@dataclass(frozen=True)
class Ruleset:
    version: str
    sources: tuple[RuleSource, ...]
    # (name, list) per feed that brought hashes; the version covers them, so equality need not.
    hash_lists: tuple[tuple[str, HashList], ...] = field(default=(), compare=False)
    # Compiled rules per backend and the reason yara-x was refused, filled lazily; not part of equality.
    _compiled: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _failures: dict[str, CompileFailure] = field(default_factory=dict, compare=False, repr=False)
    # Compiled rules read from an artifact with the engine version that compiled them, deserialised only
    # for the backend asked for (a cold start pays for one engine, not both).
    _blobs: dict[str, tuple[str | None, bytes]] = field(default_factory=dict, compare=False, repr=False)
    # Where compiled rules are kept between processes (load_ruleset: the user's cache); None: nowhere.
    cache_dir: Path | None = field(default=None, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def hashes(self) -> HashList | None:
        """Every listed hash (None when the ruleset carries no hash list)."""
        if not self.hash_lists:
            return None
        merged = HashList()
        for _name, listed in self.hash_lists:
            merged = merged.merged(listed)
        return merged

    @property
    def hash_count(self) -> int:
        hashes = self.hashes
        return len(hashes) if hashes is not None else 0

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
            built_with, blob = self._blobs.pop(backend, (None, b""))
            if blob and backend not in self._compiled and built_with == engine_version(backend):
                # A blob this engine cannot read is recompiled from the sources instead.
                with contextlib.suppress(Exception):
                    self._compiled[backend] = _deserialize(backend, blob)
            if backend not in self._compiled and self.cache_dir is not None:
                cached = CompiledRulesCache(self.cache_dir).load(backend, self.sources)
                if cached is not None:
                    self._compiled[backend] = cached
            if backend not in self._compiled:
                compile_ = compile_yara_x if backend == "yara-x" else compile_yara
                try:
                    self._compiled[backend] = compile_(self.sources)
                except CompileFailure as exc:
                    self._failures[backend] = exc
                    raise
                if self.cache_dir is not None:
                    CompiledRulesCache(self.cache_dir).store(backend, self.sources, self._compiled[backend])
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


def ruleset_version(sources: Sequence[RuleSource], hash_lists: Sequence[tuple[str, HashList]] = ()) -> str:
    digest = hashlib.sha256()

    def add(part: str) -> None:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big") + encoded)

    for source in sorted(sources, key=lambda s: s.namespace):
        add(source.namespace)
        add(normalise_source(source.text))
    for name, listed in sorted(hash_lists, key=lambda pair: pair[0]):  # none: versions as before lists
        add(f"hashes:{name}")
        add("\n".join(sorted(listed.entries)))
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


def other_bundled_rules(ruleset: Ruleset) -> list[str]:
    """The bundled rule files of this bucketguard that a ruleset holds otherwise or not at all: it was built
    by another version, and until one built by this version is published, this version's rules are not
    all in use."""
    held = {source.namespace: source.text for source in ruleset.sources}
    return [source.namespace for source in bundled_sources() if held.get(source.namespace) != source.text]


def load_ruleset(
    extra_dirs: Sequence[Path] = (), *, include_bundled: bool = True, cache_dir: Path | None = None
) -> Ruleset:
    """The bundled rules plus each user directory (or single file), validated. Compiled rules are kept
    in `cache_dir` (default: the user's cache, see rules_cache_dir) so the next process loads them.

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
    cache = cache_dir if cache_dir is not None else rules_cache_dir()
    ruleset = Ruleset(version=ruleset_version(sources), sources=tuple(sources), cache_dir=cache)
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


@functools.cache
def engine_version(backend: str) -> str:
    """The installed version of the backend's library: compiled rules are this version's only."""
    if backend == "yara-x":
        return installed_version(yara_x.__file__, "yara_x")
    return str(yara_python().__version__)


def _engine_versions() -> dict[str, str]:
    return {backend: engine_version(backend) for backend in BACKENDS}


def installed_version(module_file: str, distribution: str) -> str:
    """The version of the distribution (its name as in its .dist-info directory) that installed the module
    at `module_file`: the Version field of that directory's METADATA, beside the module's package. That is
    the file importlib.metadata reads, which imports the email package and lists every sys.path entry to
    find it: 50 ms of every process's start-up, more than loading the rules. Laid out otherwise, the
    general lookup."""
    found = list(Path(module_file).parent.parent.glob(f"{distribution}-*.dist-info/METADATA"))
    if len(found) == 1:
        with found[0].open(encoding="utf-8") as metadata:
            for line in metadata:
                if not line.strip():  # the headers' end
                    break
                if line.startswith("Version:"):
                    return line.removeprefix("Version:").strip()
    import importlib.metadata

    return importlib.metadata.version(distribution)


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
    return yara_python().load(file=io.BytesIO(blob))


# --- compiled rules kept between processes ----------------------------------------------------------

_CACHE_FORMAT = b"bucketguard-compiled-rules 1"


def rules_cache_dir() -> Path | None:
    """$XDG_CACHE_HOME/bucketguard/rules (~/.cache/... by default); None when there is no home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "bucketguard" / "rules"


class CompiledRulesCache:
    """Compiled rules on disk, one file per (sources, backend, engine version), so a process start
    deserialises (~8 ms for the bundled rules) instead of compiling (~80 ms; seconds for feed rulesets).

    A file is named and headed by a SHA-256 over everything the compiled rules depend on, and carries the
    SHA-256 of its payload: a change to any rule, engine or compile option misses the cache, and a
    corrupt, truncated or edited file is refused and recompiled. Loading compiled rules from an
    untrusted file is unsafe (libyara's format is not hardened), so a file or directory that another
    user could have written (not ours, group- or world-writable, a symbolic link) is never read.
    Everything here is best effort: a cache that cannot be read or written means compiling, as before."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def key(backend: str, sources: Sequence[RuleSource]) -> str:
        digest = hashlib.sha256(_CACHE_FORMAT)
        setup = {"backend": backend, "engine": engine_version(backend), "externals": EXTERNAL_DEFAULTS}
        for part in (json.dumps(setup, sort_keys=True), *(f"{s.namespace}\0{s.text}" for s in sources)):
            encoded = part.encode("utf-8", "surrogateescape")
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
        return digest.hexdigest()

    def path(self, backend: str, sources: Sequence[RuleSource]) -> Path:
        return self.directory / f"{backend}-{self.key(backend, sources)}.bin"

    def load(self, backend: str, sources: Sequence[RuleSource]) -> Any | None:
        """The cached compiled rules, or None (missing, refused, corrupt or unreadable)."""
        path = self.path(backend, sources)
        try:
            if not (_private(self.directory, directory=True) and _private(path, directory=False)):
                return None
            content = path.read_bytes()
        except OSError:
            return None
        header, _, payload = content.partition(b"\n")
        if header != _cache_header(path, payload):
            return None
        try:
            return _deserialize(backend, payload)
        except Exception:  # a payload the engine refuses: compile instead
            return None

    def store(self, backend: str, sources: Sequence[RuleSource], rules: Any) -> None:
        path = self.path(backend, sources)
        payload = _serialize(backend, rules)
        with contextlib.suppress(OSError):
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _private(self.directory, directory=True):
                return
            import tempfile  # here: a process that finds its rules in the cache writes none

            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")  # mode 0600
            try:
                with os.fdopen(descriptor, "wb") as out:
                    out.write(_cache_header(path, payload) + b"\n" + payload)
                Path(temporary).replace(path)
            finally:
                Path(temporary).unlink(missing_ok=True)


def _cache_header(path: Path, payload: bytes) -> bytes:
    return b" ".join((_CACHE_FORMAT, path.stem.encode(), hashlib.sha256(payload).hexdigest().encode()))


def _private(path: Path, *, directory: bool) -> bool:
    """Ours, not a symbolic link, writable by nobody else."""
    info = path.lstat()
    kind = stat.S_ISDIR if directory else stat.S_ISREG
    return (
        kind(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _hash_list_text(listed: HashList) -> str:
    return "".join(f"{digest} {label}".rstrip() + "\n" for digest, label in sorted(listed.entries.items()))


def write_artifact(
    ruleset: Ruleset,
    path: Path,
    *,
    feeds: Sequence[Mapping[str, Any]] = (),
    dropped: Sequence[Mapping[str, str]] = (),
) -> None:
    """A zip: manifest.json (format version, ruleset version, engine versions, the feeds it was built
    from and the rules it dropped), the sources, the hash lists, and the rules compiled by every backend
    that accepts them. Every member is listed in the manifest with its sha256."""
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
    hash_entries = []
    for i, (name, listed) in enumerate(ruleset.hash_lists):
        text = _hash_list_text(listed).encode()
        member = f"hashes/{i:03d}.txt"
        blobs[member] = text
        hash_entries.append(
            {"name": name, "member": member, "count": len(listed), "sha256": hashlib.sha256(text).hexdigest()}
        )
    manifest = {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_FORMAT_VERSION,
        "ruleset_version": ruleset.version,
        "auto_backend": ruleset.auto_backend,
        "rule_count": ruleset.rule_count,
        "hash_count": ruleset.hash_count,
        "engines": _engine_versions(),
        "sources": source_entries,
        "hash_lists": hash_entries,
        "feeds": list(feeds),
        "dropped": list(dropped),
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
    import zipfile  # here: see _reading

    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        for entry, source in zip(source_entries, ruleset.sources, strict=True):
            archive.writestr(entry["member"], source.text)
        for member, blob in blobs.items():
            archive.writestr(member, blob)
    temporary.replace(path)  # never leave a half-written artifact under the real name


def _checked_manifest(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(archive.read("manifest.json"))
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise RulesetError(f"{path}: not a bucketguard ruleset artifact")
    if manifest.get("format_version") not in _READABLE_FORMAT_VERSIONS:
        raise RulesetError(
            f"{path}: ruleset artifact format {manifest.get('format_version')} is not supported "
            f"(this bucketguard reads formats {', '.join(map(str, _READABLE_FORMAT_VERSIONS))})"
        )
    return manifest


def _unreadable(path: Path, exc: Exception) -> RulesetError:
    # "No such file or directory", not "[Errno 2] No such file or directory: 'r.zip'" after the path again
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return RulesetError(f"{path}: unreadable ruleset artifact: {reason}")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[zipfile.ZipFile]:
    """The artifact open for reading; what cannot be read of it (not a zip, a member missing, a value of
    the wrong kind) is one RulesetError naming it."""
    # Imported here: a scan with the bundled or its own rules reads no artifact, and paid for zipfile at
    # its start.
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, RulesetError):
            raise
        raise _unreadable(path, exc) from None


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of an artifact (feeds, their validators, counts), without loading its rules."""
    with _reading(path) as archive:
        return _checked_manifest(archive, path)


def load_artifact(path: Path) -> Ruleset:
    """The ruleset of an artifact written by write_artifact, with its compiled rules ready to match.

    Compiled rules made by another engine version are recompiled from the sources in the artifact."""
    with _reading(path) as archive:
        manifest = _checked_manifest(archive, path)
        sources = tuple(
            RuleSource(e["namespace"], e["origin"], archive.read(e["member"]).decode("utf-8"))
            for e in manifest["sources"]
        )
        hash_lists = []
        for entry in manifest.get("hash_lists", []):
            text = archive.read(entry["member"])
            if hashlib.sha256(text).hexdigest() != entry["sha256"]:
                raise RulesetError(f"{path}: corrupt ruleset artifact: hash list {entry['name']} was changed")
            hash_lists.append((entry["name"], HashList.parse(text.decode("utf-8"), entry["member"])))
        blobs = {b: archive.read(entry["member"]) for b, entry in manifest["compiled"].items()}
    version = ruleset_version(sources, hash_lists)
    if version != manifest["ruleset_version"]:
        raise RulesetError(f"{path}: corrupt ruleset artifact: sources hash to {version}")
    ruleset = Ruleset(version=version, sources=sources, hash_lists=tuple(hash_lists))
    built_with = manifest.get("engines")
    built_with = built_with if isinstance(built_with, dict) else {}
    for backend, why in manifest.get("refused", {}).items():
        if backend in BACKENDS and built_with.get(backend) == engine_version(backend):
            ruleset._failures[backend] = CompileFailure(backend, why["origin"], why["line"], why["message"])
    for backend, blob in blobs.items():
        if backend not in BACKENDS:
            continue
        if hashlib.sha256(blob).hexdigest() != manifest["compiled"][backend]["sha256"]:
            raise RulesetError(f"{path}: corrupt ruleset artifact: {backend} rules do not match their hash")
        # Compiled by the installed version of the backend, whose version is asked when they are used:
        # a cold start on yara-x never imports yara-python to compare its version.
        ruleset._blobs[backend] = (built_with.get(backend), blob)
    return ruleset
