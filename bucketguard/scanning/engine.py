"""The scan engine: one file in, one `ScanResult` out, never an exception for a bad file.

What it does with a file:
1. checks it is a regular, readable file within `Limits.max_file_bytes`;
2. matches the rules against it and hashes it (SHA-256): small files are read once into memory, hashed
   and matched there; larger ones are read window by window, each window matched while helper threads
   hash it and read and prepare the next ones; bytes read by offset from elsewhere (`scan_source`: an
   S3 object through ranged GETs) are scanned the same way, and their containers opened through reads
   by offset, with no local copy. With match workers (`start_workers`, one process per usable CPU:
   bucketguard.scanning.workers), windows are matched in parallel by the workers while this process reads
   and hashes them, and `scan_files` spreads many files over the workers;
3. looks the SHA-256 up in the hash blocklist;
4. when its bytes say it is a container (zip, tar, gzip, bzip2, xz, 7z; a zip glued behind other bytes),
   expands every member under the limits and does 2-4 again for each, recursively.

The verdict, strongest first: `malicious` (a finding at or above `min_severity`, even if some member could
not be read) > `error` (the scan itself failed) > `unscannable` (some bytes could not be looked at: a limit,
encryption, corruption) > `clean` (every byte was read and nothing was found). Findings below
`min_severity` do not make an object malicious and are not reported as findings (a clean result carries
none); their rule names are listed in the result's `detail` so they are not lost silently.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import stat
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from bucketguard.scanning.backends import BackendError, Matcher, RuleMatch, normalise_meta
from bucketguard.scanning.blobs import RandomAccess, SourceFailed
from bucketguard.scanning.containers import (
    CHUNK,
    IN_MEMORY_MAX,
    Blob,
    Kind,
    open_container,
    sniff,
)
from bucketguard.scanning.hashes import HashList
from bucketguard.scanning.limits import Budget, ContainerProblem, Limits, ScanFailure, ScanStop
from bucketguard.scanning.result import (
    Finding,
    FindingSource,
    Reason,
    ScanResult,
    Severity,
    Verdict,
)
from bucketguard.scanning.ruleset import Ruleset
from bucketguard.scanning.workers import (
    STALL_SECONDS,
    WorkerFailed,
    Workers,
    fork_workers,
    single_threaded,
    usable_cpus,
)

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["Engine", "HashList", "Limits"]

_T = TypeVar("_T")

HASH_RULE = "sha256_blocklist"
# Files larger than WINDOW_BYTES are scanned window by window (bounded memory); windows overlap by more
# than the longest string a rule can match, so no match is lost at a boundary. The windows of one file all
# have the same length, at least half of WINDOW_BYTES. A window (with its guard) stays under glibc's
# largest mmap threshold (32 MiB): the copy yara-x needs of it then reuses heap pages instead of
# faulting in fresh ones at every window (measured: 50 ms per 64 MiB window, 5-10 ms per 31 MiB one).
WINDOW_BYTES = 31 << 20
WINDOW_OVERLAP = 1 << 20
# Every window but the first is scanned behind this many zero bytes: rules anchored at the start of a
# file (`uint16(0) == 0x5A4D`, `$magic at 0`, `uint32(0x3C)`) read zeros there, not whatever bytes a
# window happens to start with. Within a large file, offsets are window offsets and `filesize` is the
# window's length (15.5 MiB or more): `filesize < N` for N up to 15.5 MiB never holds, as for the file.
WINDOW_GUARD = 64 << 10
_GUARD = bytes(WINDOW_GUARD)
# A match worker's slot of shared memory: the guard's zeros (never written), then one window.
_SLOT_BYTES = WINDOW_GUARD + WINDOW_BYTES
_FILES_PER_TASK = 256  # files a worker scans per task (about 15 ms): few round trips, even at the end
_MAX_DETAILS = 3  # problems spelled out in a result's detail; the rest are counted
# The types a worker's result fields may have (JSON's): type() is, so True is no size.
_TEXT_OR_NONE, _INT_OR_NONE = (str, type(None)), (int, type(None))
# O_NONBLOCK: a path swapped for a FIFO since it was checked must fail or read nothing, not hang the scan.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class _Problem(NamedTuple):  # not a frozen dataclass: see bucketguard.scanning.backends.RuleSource
    reason: Reason
    detail: str
    is_error: bool


@dataclass
class _Walk:
    """The state of one `scan_file` call: everything found and everything that went wrong."""

    target: str
    matcher: Matcher
    hashes: HashList | None
    limits: Limits
    work_dir: Path | None
    budget: Budget
    workers: Workers | None
    findings: list[Finding] = field(default_factory=list)
    problems: list[_Problem] = field(default_factory=list)

    def scan_blob(self, blob: Blob, where: str, depth: int, matches: list[RuleMatch] | None = None) -> None:
        """Rules, hash and (for containers) members of one blob; `where` is "" for the object itself;
        `matches`: the blob's, when they are already known."""
        name = where or self.target
        try:
            self._add_matches(self._match(blob, name) if matches is None else matches, where)
        except BackendError as exc:
            self.failed(Reason.INTERNAL_ERROR, str(exc))
        for kind in sniff(blob):
            self._open(kind, blob, name, where, depth)
        self._check_hash(blob.digest(), where)

    def _match(self, blob: Blob, name: str) -> list[RuleMatch]:
        if blob.data is not None:
            return self.matcher.match_bytes(blob.data, name=name)
        if self.workers is not None:
            return _match_windows_in(self.workers, blob, name)
        return self._match_windows(blob, name)

    def _match_windows(self, blob: Blob, name: str) -> list[RuleMatch]:
        """A file on disk (or a source read by offset) scanned in overlapping windows so memory stays
        bounded whatever its size; hashed in the same pass when its digest is not known yet.

        The backend holds the GIL for a whole match (yara-x), so the rest runs on helper threads inside
        C calls that release it, each entered before the match starts: while window k is matched, its
        new bytes are hashed, window k+1 is copied behind the guard's zeros (yara-x scans `bytes`
        only) and window k+2 is read. The match is then the only work on this thread."""
        from concurrent.futures import ThreadPoolExecutor  # here: with logging, 7 ms of every start-up

        digest = hashlib.sha256() if blob.sha256 is None else None
        matches: list[RuleMatch] = []
        try:
            with (
                _window_reader(blob) as (size, read_into),
                ThreadPoolExecutor(3, "bucketguard-window") as helpers,
            ):
                starts, length = _windows(size)
                buffers = [memoryview(bytearray(length)) for _ in starts[:2]]

                def read(index: int) -> None:
                    read_into(buffers[index % 2], starts[index])

                def scanned(index: int) -> bytes:
                    """What the backend sees: the first window is the file's start, later ones come
                    after the guard's zeros."""
                    window = buffers[index % 2]
                    return b"".join((_GUARD, window) if index else (window,))

                read(0)
                if len(starts) > 1:
                    read(1)
                current = scanned(0)
                for index, start in enumerate(starts):
                    alongside = []
                    if digest is not None:
                        fresh = 0 if index == 0 else starts[index - 1] + length - start
                        unhashed = memoryview(current)[(WINDOW_GUARD if index else 0) + fresh :]
                        alongside.append(_entered(helpers, digest.update, unhashed))
                    following = None
                    if index + 1 < len(starts):
                        following = _entered(helpers, scanned, index + 1)
                    if index + 2 < len(starts):
                        alongside.append(_entered(helpers, read, index + 2))
                    matches.extend(self.matcher.match_bytes(current, name=name))
                    for pending in alongside:
                        pending.result()
                    if following is not None:
                        current = following.result()
        except OSError as exc:
            raise _ReadError(exc.strerror or str(exc)) from None
        if digest is not None:
            blob.sha256 = digest.hexdigest()
            blob.size = size
        return _distinct(matches)

    def _open(self, kind: Kind, blob: Blob, name: str, where: str, depth: int) -> None:
        if depth >= self.limits.max_depth:
            self.problem(
                Reason.DEPTH_EXCEEDED, f"{name}: {kind.value} nested deeper than {self.limits.max_depth}"
            )
            return
        try:
            open_container(
                kind,
                blob,
                name=name,
                budget=self.budget,
                visitor=_Members(self, depth),
                work_dir=self.work_dir,
            )
        except ContainerProblem as exc:
            self.problem(exc.reason, exc.detail)

    def _add_matches(self, matches: list[RuleMatch], where: str) -> None:
        for match in matches:
            source = FindingSource.TYPE if match.source == "type" else FindingSource.YARA
            detail = str(match.meta.get("description", ""))
            self.findings.append(Finding(match.rule, source, Severity(match.severity), where, detail))

    def _check_hash(self, sha256: str, where: str) -> None:
        if self.hashes is None:
            return
        label = self.hashes.lookup(sha256)
        if label is not None:
            detail = f"sha256 {sha256} is on the blocklist" + (f" ({label})" if label else "")
            self.findings.append(Finding(HASH_RULE, FindingSource.HASH, Severity.CRITICAL, where, detail))

    def problem(self, reason: Reason, detail: str) -> None:
        self.problems.append(_Problem(reason, detail, is_error=False))

    def failed(self, reason: Reason, detail: str) -> None:
        self.problems.append(_Problem(reason, detail, is_error=True))


class _Members:
    """The visitor the container code hands members to: each is scanned one level deeper."""

    def __init__(self, walk: _Walk, depth: int) -> None:
        self.walk = walk
        self.depth = depth

    def member(self, where: str, blob: Blob) -> None:
        self.walk.scan_blob(blob, where, self.depth + 1)

    def problem(self, where: str, reason: Reason, detail: str) -> None:
        self.walk.problem(reason, detail)

    def finding(self, finding: Finding) -> None:
        self.walk.findings.append(finding)


@dataclass(frozen=True)
class CleanRun:
    """Consecutive files a match worker found plainly clean (every byte read, nothing found, nothing to
    say), their results column by column: what `results()` would hold, without an object per file. The
    columns were checked (hex digests, sizes, finite durations in milliseconds, rounded as a result's
    dictionary form rounds them); the names, backend and ruleset are the scanning process's own."""

    names: list[str]
    sha256: list[str]
    size: list[int]
    duration_ms: list[float]
    backend: str
    ruleset_version: str

    def __len__(self) -> int:
        return len(self.names)

    def results(self) -> list[ScanResult]:
        columns = zip(self.names, self.sha256, self.size, self.duration_ms, strict=True)
        backend, version = self.backend, self.ruleset_version
        return [ScanResult(name, Verdict.CLEAN, (), None, "", sha256, size, backend, version, duration_ms)
                for name, sha256, size, duration_ms in columns]  # fmt: skip


# What the many-files scan holds of a file: its result, a run of clean ones, or its index when it is
# scanned in this process after the workers' session (a file of several windows).
_Item = ScanResult | CleanRun | int


class Engine:
    """Rules + hash list + limits, bound to one backend; `scan_file` is safe to call from many threads."""

    def __init__(
        self,
        ruleset: Ruleset,
        *,
        engine: str = "auto",
        hashes: HashList | None = None,
        limits: Limits = Limits(),  # noqa: B008 - a frozen value, shared safely
        min_severity: Severity = Severity.LOW,
        work_dir: Path | None = None,
    ) -> None:
        self.matcher: Matcher = ruleset.matcher(engine)
        self.backend: str = self.matcher.backend
        self.ruleset_version: str = ruleset.version
        # The ruleset's own hash lists (from feeds) plus any the caller adds.
        self.hashes = hashes.merged(ruleset.hashes) if hashes and ruleset.hashes else hashes or ruleset.hashes
        self.limits = limits
        self.min_severity = min_severity
        self.work_dir = work_dir  # where large members are expanded (Lambda: /tmp); None = the system's
        self._workers: Workers | None = None
        self._scratch = ""  # the match workers' temporary directory

    def start_workers(self, count: int | None = None, *, stall_seconds: float = STALL_SECONDS) -> int:
        """Forks match workers (bucketguard.scanning.workers), one per CPU this process may use unless
        `count` says otherwise, so windows and files are matched on several cores; none with one CPU or
        while other threads run (a fork must copy no lock another thread holds). Call it right after the
        engine is made, and again at a clean point to replace workers that failed. Returns how many run."""
        wanted = usable_cpus() if count is None else count
        if self._workers is None:
            # Workers expand members (and run 7-Zip) in a private directory: what a worker killed mid-scan
            # left there is removed when workers are replaced or stopped.
            import tempfile  # here: a scan of one small file makes none (its import is start-up time)

            try:
                self._scratch = tempfile.mkdtemp(prefix="bucketguard-workers-", dir=self.work_dir)
            except OSError:  # no room for one (a full /tmp): the scan stays in this process
                return 0
            self._workers = fork_workers(
                wanted, self._serve, slots=wanted + 1, slot_bytes=_SLOT_BYTES, stall_seconds=stall_seconds
            )
            if self._workers is not None:
                weakref.finalize(self, _stop_workers, self._workers, self._scratch)
            else:
                Path(self._scratch).rmdir()
        elif len(self._workers) < wanted and single_threaded():
            _empty(self._scratch)  # a clean point: nothing in flight, what is there the failed workers left
            self._workers.fork(wanted, self._serve)
        return len(self._workers) if self._workers is not None else 0

    def close(self) -> None:
        """Stops the match workers (killed and reaped); the engine goes on scanning in this process."""
        if self._workers is not None:
            _stop_workers(self._workers, self._scratch)
            self._workers = None

    def _serve(self, task: dict[str, Any], slots: memoryview) -> object:
        """A match worker's answer to one task (runs in the worker): a batch of files scanned whole, or one
        window of shared memory matched."""
        self._workers = None  # a worker scans on its own
        self.work_dir = Path(self._scratch)
        if "paths" in task:
            return self._scan_batch(task["paths"], task.get("names"))
        start = task["slot"] * _SLOT_BYTES + (0 if task["guarded"] else WINDOW_GUARD)
        data = bytes(slots[start : task["slot"] * _SLOT_BYTES + WINDOW_GUARD + task["length"]])
        try:
            matches = self.matcher.match_bytes(data, name=task["name"])
        except BackendError as exc:
            return {"error": str(exc)}
        return {"matches": [[m.rule, m.namespace, dict(m.meta)] for m in matches]}

    def _scan_batch(self, paths: list[str], names: list[str] | None) -> list[list[Any]]:
        """A match worker's answer to a batch of files (runs in the worker): the plainly clean results
        (every byte read, nothing found, nothing to say) column by column, [sha256s, sizes, durations],
        then the others by position in the batch, [[position, result (`_sent`)], ...], None for a file of
        several windows, left to the parent: all the workers match those."""
        sha256: list[str] = []
        size: list[int] = []
        duration_ms: list[float] = []
        others: list[list[Any]] = []
        for position, path in enumerate(paths):
            if _windowed(path):
                others.append([position, None])
                continue
            result = self.scan_file(path, name=path if names is None else names[position])
            plainly_clean = result.verdict is Verdict.CLEAN and not result.detail
            if plainly_clean and result.sha256 is not None and result.size is not None:
                sha256.append(result.sha256)
                size.append(result.size)
                duration_ms.append(round(result.duration_ms, 3))
            else:
                others.append([position, _sent(result)])
        return [sha256, size, duration_ms, others]

    def _live_workers(self) -> Workers | None:
        workers = self._workers
        return workers if workers is not None and len(workers) else None

    def scan_files(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        names: Sequence[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[ScanResult]:
        """`scan_file(path, name=name)` of each path (named by `names`, else by itself), results in the
        order given; `progress(count)` as results come. Spread over the match workers in batches when
        there are several files and workers: each file is scanned whole by one worker, but for files of
        several windows, scanned here afterwards, their windows matched by all the workers. One after the
        other in this process otherwise."""
        results: list[ScanResult] = []
        for item in self.scan_files_in_runs(paths, names=names, progress=progress):
            results.extend(item.results() if isinstance(item, CleanRun) else (item,))
        return results

    def scan_files_in_runs(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        names: Sequence[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[ScanResult | CleanRun]:
        """`scan_files`, given as soon as a result and those before it are done, the consecutive files a
        match worker found plainly clean as one CleanRun (their values column by column, checked): no
        object per file where the caller needs none."""
        return self._scanned_in_runs([os.fspath(path) for path in paths], names, progress or _ignore_progress)

    def _scanned_in_runs(
        self, paths: list[str], given_names: Sequence[str] | None, progress: Callable[[int], None]
    ) -> Iterator[ScanResult | CleanRun]:
        names = paths if given_names is None else list(given_names)
        if len(names) != len(paths):
            raise ValueError(f"{len(names)} names for {len(paths)} files")
        if names == paths:
            names = paths  # the names are not sent to the workers
        batches: deque[range] = deque()  # sent to a worker, not given yet, in order
        answers: dict[int, list[_Item]] = {}  # by the start of their batch
        sent = 0

        def answered(batch: range, reply: Any) -> None:
            items = answers[batch.start] = self._batch_items(batch, names, reply)
            progress(len(batch) - sum(isinstance(item, int) for item in items))

        def failed(batch: range, detail: str) -> None:
            started = time.perf_counter()
            answers[batch.start] = [self._stamped(_internal_error(names[i], WorkerFailed(detail)), started)
                                    for i in batch]  # fmt: skip
            progress(len(batch))

        workers = self._live_workers()
        if workers is not None and len(paths) > 1:
            with workers.session() as session:
                for batch in _batches(len(paths), len(workers)):
                    task: dict[str, Any] = {"paths": paths[batch.start : batch.stop]}
                    if names is not paths:
                        task["names"] = names[batch.start : batch.stop]
                    try:
                        session.submit(
                            task, functools.partial(answered, batch), functools.partial(failed, batch)
                        )
                    except WorkerFailed:
                        break  # the rest are scanned here
                    batches.append(batch)
                    sent = batch.stop
                    yield from _given(batches, answers)
                while session.busy:
                    session.collect()
                    yield from _given(batches, answers)
        # A file of several windows (its index) is scanned here after the session, when this process can
        # lease the workers to match its windows; so are the files no worker was left to take.
        for batch in batches:
            for item in answers.pop(batch.start):
                if isinstance(item, int):
                    item = self.scan_file(paths[item], name=names[item])
                    progress(1)
                yield item
        for index in range(sent, len(paths)):
            yield self.scan_file(paths[index], name=names[index])
            progress(1)

    def _batch_items(self, batch: range, names: list[str], reply: Any) -> list[_Item]:
        """A worker's answer to `batch` (`_scan_batch`), checked whole as untrusted input before any of it
        is taken (garbage fails the batch): one result per file, the clean ones' columns well formed
        (hex digests, sizes, finite durations), every other result one a ScanResult could be. The names,
        backend and ruleset are this process's."""
        sha256, size, duration_ms, others = reply
        clean = len(batch) - len(others)
        if not (type(sha256) is type(size) is type(duration_ms) is type(others) is list
                and len(sha256) == len(size) == len(duration_ms) == clean >= 0):  # fmt: skip
            raise ValueError("not one result per file")
        if clean and not _clean_columns(sha256, size, duration_ms):
            raise ValueError("not clean results")
        items: list[_Item] = []
        at = column = 0  # the next position in the batch, and in the clean columns
        for position, sent in others:
            if type(position) is not int or not at <= position < len(batch):
                raise ValueError("not one result per file")
            if position > at:
                end = column + position - at
                run = names[batch.start + at : batch.start + position]
                items.append(
                    self._clean_run(run, sha256[column:end], size[column:end], duration_ms[column:end])
                )
                column = end
            index = batch.start + position
            items.append(index if sent is None else self._received(names[index], sent))
            at = position + 1
        if at < len(batch):
            items.append(self._clean_run(names[batch.start + at : batch.stop],
                                         sha256[column:], size[column:], duration_ms[column:]))  # fmt: skip
        return items

    def _clean_run(
        self, names: list[str], sha256: list[str], size: list[int], duration_ms: list[float]
    ) -> CleanRun:
        return CleanRun(names, sha256, size, duration_ms, self.backend, self.ruleset_version)

    def _received(self, target: str, sent: Any) -> ScanResult:
        """A result a worker sent (`_sent`) as the ScanResult it stands for, checked as untrusted input:
        well-formed fields, a verdict one ScanResult could have. The name, backend and ruleset are this
        process's."""
        verdict, reason, detail, sha256, size, duration_ms, findings = sent
        texts = type(detail) is str and type(sha256) in _TEXT_OR_NONE
        numbers = type(size) in _INT_OR_NONE and (size or 0) >= 0 and type(duration_ms) is float
        if not (texts and numbers and math.isfinite(duration_ms)):
            raise ValueError("not a scan result")
        return ScanResult(
            target,
            Verdict(verdict),
            tuple(
                Finding(_text(rule), FindingSource(source), Severity(severity), _text(path), _text(text))
                for rule, source, severity, path, text in findings
            ),
            Reason(reason) if reason is not None else None,
            detail,
            sha256,
            size,
            self.backend,
            self.ruleset_version,
            duration_ms,
        )

    def scan_file(self, path: str | os.PathLike[str], *, name: str | None = None) -> ScanResult:
        """Scan one file; `name` (the S3 key or a relative path) is the result's target and what rules
        see as the file name. A bad file gives an unscannable or error result, never an exception."""
        path = os.fspath(path)  # once: a Path spells itself out again at every system call
        target = name if name is not None else path
        started = time.perf_counter()
        try:
            result = self._scan_path(path, target, started)
        except Exception as exc:  # the promise: one bad object never takes the run down with it
            result = _internal_error(target, exc)
        return self._stamped(result, started)

    def scan_source(self, source: RandomAccess, *, name: str) -> ScanResult:
        """Scan bytes read by offset from `source` (an object read through ranged GETs), window by
        window, and its containers through reads by offset too: no local copy. Whatever the source raises
        when it cannot give its bytes (the object changed, the network failed) propagates: no verdict is
        ever built from part of an object."""
        started = time.perf_counter()
        try:
            result = self._scan_source(source, name, started)
        except SourceFailed:
            raise
        except Exception as exc:
            result = _internal_error(name, exc)
        return self._stamped(result, started)

    def _stamped(self, result: ScanResult, started: float) -> ScanResult:
        """A result made before the walk's verdict (a bad file, an internal error) with the backend, the
        ruleset and the duration; the walk's verdict carries them already."""
        if result.backend:
            return result
        # Not dataclasses.replace: its field introspection cost 14 % of a small file's scan.
        r = result
        duration_ms = (time.perf_counter() - started) * 1000
        return ScanResult(r.target, r.verdict, r.findings, r.reason, r.detail, r.sha256, r.size, self.backend,
                          self.ruleset_version, duration_ms)  # fmt: skip

    def _too_large(self, target: str, size: int) -> ScanResult | None:
        limit = self.limits.max_file_bytes
        if limit is None or size <= limit:
            return None
        return ScanResult(
            target,
            Verdict.UNSCANNABLE,
            reason=Reason.TOO_LARGE,
            detail=f"{target}: {size} bytes, more than the limit of {limit}",
            size=size,
        )

    def _scan_source(self, source: RandomAccess, target: str, started: float) -> ScanResult:
        too_large = self._too_large(target, source.size)
        if too_large is not None:
            return too_large
        # Containers are opened where they lie, through the source (bucketguard.scanning.blobs).
        result = self._walked(Blob(source.size, None, source=source), target, started)
        if source.failure is not None:
            raise source.failure  # whatever a parser made of it: no verdict on part of an object
        return result

    def _scan_path(self, path: str, target: str, started: float) -> ScanResult:
        try:
            info = os.stat(path)  # noqa: PTH116 - the path as given: a Path per file cost more than its stat
        except FileNotFoundError:
            why = "broken symbolic link" if Path(path).is_symlink() else "no such file"
            return _unscannable(target, Reason.UNREADABLE, f"{target}: {why}")
        except OSError as exc:
            return _unscannable(target, Reason.UNREADABLE, f"{target}: {exc.strerror or exc}")
        if not stat.S_ISREG(info.st_mode):
            return _unscannable(
                target,
                Reason.NOT_A_REGULAR_FILE,
                f"{target}: not a regular file ({_file_kind(info.st_mode)})",
            )
        if self.limits.max_file_bytes is not None:
            too_large = self._too_large(target, info.st_size)
            if too_large is not None:
                return too_large
        try:
            descriptor = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            return _unscannable(target, Reason.UNREADABLE, f"{target}: {exc.strerror or exc}")
        try:
            opened = os.fstat(descriptor)
            if not stat.S_ISREG(opened.st_mode):
                return _unscannable(target, Reason.NOT_A_REGULAR_FILE, f"{target}: not a regular file")
            try:
                blob = _top_level_blob(path, descriptor, opened.st_size)
            except _ReadError as exc:
                return _unscannable(target, Reason.UNREADABLE, f"{target}: {exc}")
            return self._walked(blob, target, started)
        finally:
            os.close(descriptor)

    def _walked(self, blob: Blob, target: str, started: float) -> ScanResult:
        """The object's blob walked (rules, hash, members) into its result. A blob read into memory (most
        files) is matched and sniffed first: with no match, no container and a hash not listed, it is
        clean without the walk's bookkeeping."""
        matches = None
        if blob.data is not None:
            try:
                matches = self.matcher.match_bytes(blob.data, name=target)
            except BackendError:
                pass  # matched again by the walk, which records the failure
            else:
                digest = blob.digest()
                if not (matches or sniff(blob) or self._listed(digest)):
                    duration_ms = (time.perf_counter() - started) * 1000
                    return ScanResult.clean(
                        target, digest, blob.size, self.backend, self.ruleset_version, duration_ms
                    )
        walk = _Walk(target, self.matcher, self.hashes, self.limits, self.work_dir, Budget(self.limits),
                     self._live_workers())  # fmt: skip
        try:
            walk.scan_blob(blob, "", 0, matches)
        except _ReadError as exc:
            return _unscannable(target, Reason.UNREADABLE, f"{target}: {exc}")
        except ScanStop as exc:
            walk.problem(exc.reason, exc.detail)
        except ScanFailure as exc:
            walk.failed(exc.reason, exc.detail)
        try:
            sha256: str | None = blob.digest()  # the object's own bytes, read in full
        except _ReadError as exc:
            return _unscannable(target, Reason.UNREADABLE, f"{target}: {exc}")
        except ScanFailure:
            sha256 = None  # the backend failed part-way: the verdict is already `error`
        return self._verdict(walk, sha256, blob.size, started)

    def _listed(self, sha256: str) -> bool:
        return self.hashes is not None and self.hashes.lookup(sha256) is not None

    def _verdict(self, walk: _Walk, sha256: str | None, size: int, started: float) -> ScanResult:
        """The result, stamped with the backend, the ruleset and the duration: one ScanResult made per
        file (making one costs about as much as hashing a small file)."""
        verdict, reason, detail = Verdict.CLEAN, None, ""
        counted: tuple[Finding, ...] = ()
        if walk.findings:
            unique = dict.fromkeys(walk.findings)
            counted = tuple(f for f in unique if f.severity.at_least(self.min_severity))
            below = sorted({f.rule for f in unique if not f.severity.at_least(self.min_severity)})
            if below:
                detail = f"ignored below {self.min_severity.value}: " + ", ".join(below)
        if counted:
            verdict = Verdict.MALICIOUS
        elif walk.problems:
            errors = [p for p in walk.problems if p.is_error]
            chosen = errors or walk.problems
            details = [p.detail for p in chosen[:_MAX_DETAILS]]
            if len(chosen) > _MAX_DETAILS:
                details.append(f"and {len(chosen) - _MAX_DETAILS} more")
            verdict = Verdict.ERROR if errors else Verdict.UNSCANNABLE
            # sha256 stays: it covers the object's own bytes, which were all read; its members were not.
            reason, detail = chosen[0].reason, "; ".join(details)
        duration_ms = (time.perf_counter() - started) * 1000
        return ScanResult(walk.target, verdict, counted, reason, detail, sha256, size, self.backend,
                          self.ruleset_version, duration_ms)  # fmt: skip


class _ReadError(Exception):
    """The object's own bytes could not be read."""


def _top_level_blob(path: str, descriptor: int, expected_size: int) -> Blob:
    """Small files: read once into memory. Larger ones: left on disk, read, hashed and matched window by
    window."""
    if expected_size <= IN_MEMORY_MAX:
        try:
            data = _read_up_to(descriptor, IN_MEMORY_MAX + 1, expected_size)
        except OSError as exc:
            raise _ReadError(exc.strerror or str(exc)) from None
        if len(data) <= IN_MEMORY_MAX:
            return Blob(len(data), hashlib.sha256(data).hexdigest(), data=data)
    return Blob(expected_size, None, path=Path(path))


def _match_windows_in(workers: Workers, blob: Blob, name: str) -> list[RuleMatch]:
    """`_Walk._match_windows` with the windows matched by the match workers, several at once: this
    process reads each window into a slot of shared memory, hands it to a worker and hashes its new bytes
    while the workers match. A worker that fails fails the match (BackendError), never a clean verdict."""
    digest = hashlib.sha256() if blob.sha256 is None else None
    found: dict[int, list[RuleMatch]] = {}
    failures: list[str] = []

    def answered(index: int, reply: Any) -> None:
        if isinstance(reply, dict) and isinstance(reply.get("error"), str):
            failures.append(reply["error"])
        else:
            found[index] = _rule_matches(reply["matches"])

    try:
        with _window_reader(blob) as (size, read_into), workers.session() as session:
            starts, length = _windows(size)
            for index, start in enumerate(starts):
                if failures:
                    break
                slot, memory = session.slot()
                window = memory[WINDOW_GUARD : WINDOW_GUARD + length]
                read_into(window, start)
                task = {"slot": slot, "length": length, "guarded": index > 0, "name": name}
                session.submit(task, functools.partial(answered, index), failures.append, slot)
                if digest is not None:
                    digest.update(window[0 if index == 0 else starts[index - 1] + length - start :])
    except OSError as exc:
        raise _ReadError(exc.strerror or str(exc)) from None
    if failures:
        raise BackendError(failures[0])
    if digest is not None:
        blob.sha256 = digest.hexdigest()
        blob.size = size
    return _distinct(match for index in range(len(starts)) for match in found[index])


def _batches(count: int, workers: int) -> Iterator[range]:
    """Files 0 to `count` in tasks for `workers` workers: each an eighth of a worker's share of the files
    left, at most _FILES_PER_TASK; shrinking with what is left, so that at the end no worker still holds a
    queue of files (tasks written to its pipe are its own) while the others have finished, down to a 64th
    of the first share, so the end costs few more round trips."""
    begin = 0
    smallest = max(1, count // (64 * workers))
    while begin < count:
        size = min(_FILES_PER_TASK, max(smallest, (count - begin) // (8 * workers)), count - begin)
        yield range(begin, begin + size)
        begin += size


def _given(batches: deque[range], answers: dict[int, list[_Item]]) -> Iterator[ScanResult | CleanRun]:
    """The answered batches at the head of `batches`, in order, up to one holding a file of several
    windows (scanned after the session)."""
    while batches and (items := answers.get(batches[0].start)) is not None:
        if any(isinstance(item, int) for item in items):
            return
        del answers[batches.popleft().start]
        yield from items  # type: ignore[misc]  # no int among them


def _clean_columns(sha256: list[Any], size: list[Any], duration_ms: list[Any]) -> bool:
    """A worker's columns of clean results well formed, checked column by column in C: SHA-256 digests in
    lowercase hex, sizes whole and not negative, durations finite and not negative (`type() is`: True is
    no size). Raises TypeError for a digest that is not text."""
    digests = "".join(sha256)
    return (
        set(map(len, sha256)) == {64}
        and digests.isascii()
        and not digests.encode().translate(None, b"0123456789abcdef")
        and set(map(type, size)) == {int}
        and min(size) >= 0
        and set(map(type, duration_ms)) == {float}
        and all(map(math.isfinite, duration_ms))
        and min(duration_ms) >= 0
    )


def _sent(result: ScanResult) -> list[Any]:
    """What a worker sends of a file's result: all the parent does not know (the name, backend, ruleset)."""
    findings = [[f.rule, f.source.value, f.severity.value, f.path, f.detail] for f in result.findings]
    reason = result.reason.value if result.reason is not None else None
    return [
        result.verdict.value,
        reason,
        result.detail,
        result.sha256,
        result.size,
        round(result.duration_ms, 3),
        findings,
    ]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


def workers_would_help(paths: Sequence[str | os.PathLike[str]]) -> bool:
    """Whether match workers would take part in scanning these files: several of them, or one file of
    several windows. For one small file, forking them costs more than its scan."""
    return len(paths) > 1 or any(_windowed(path) for path in paths)


def _windowed(path: str | os.PathLike[str]) -> bool:
    """A regular file scanned in several windows (what it is otherwise, its scan says)."""
    try:
        info = os.stat(path)  # noqa: PTH116 - as the scan itself stats it
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size > WINDOW_BYTES


def _rule_matches(reply: Any) -> list[RuleMatch]:
    """A worker's matches, checked as untrusted input."""
    matches = []
    for rule, namespace, meta in reply:
        if not (isinstance(rule, str) and isinstance(namespace, str) and isinstance(meta, dict)):
            raise ValueError("not a rule match")
        matches.append(RuleMatch(rule, namespace, normalise_meta(rule, meta.items())))
    return matches


def _distinct(matches: Iterable[RuleMatch]) -> list[RuleMatch]:
    """A rule matched in several windows counts once."""
    return list({(m.namespace, m.rule): m for m in matches}.values())


def _ignore_progress(count: int) -> None:
    pass


def _stop_workers(workers: Workers, scratch: str) -> None:
    import shutil  # here, with the workers' directory: see start_workers

    workers.close()
    shutil.rmtree(scratch, ignore_errors=True)


def _empty(directory: str) -> None:
    """What is in `directory` (ours, mode 0700) removed, links and all, none followed."""
    try:
        entries = list(os.scandir(directory))
    except OSError:  # removed by a cleaner of the temporary directory: nothing to remove
        return
    import shutil  # here, with the workers' directory: see start_workers

    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                Path(entry.path).unlink()


def _windows(size: int) -> tuple[list[int], int]:
    """Where the windows of `size` bytes start, and their common length: as few windows as fit, all the
    same length (at least half of WINDOW_BYTES past one window), each overlapping the next by
    WINDOW_OVERLAP."""
    if size <= WINDOW_BYTES:
        return [0], size
    step = WINDOW_BYTES - WINDOW_OVERLAP
    count = -(-(size - WINDOW_OVERLAP) // step)
    length = -(-(size + (count - 1) * WINDOW_OVERLAP) // count)
    starts = [min(index * (length - WINDOW_OVERLAP), size - length) for index in range(count)]
    return starts, length


@contextlib.contextmanager
def _window_reader(blob: Blob) -> Iterator[tuple[int, Callable[[memoryview, int], None]]]:
    """The size of a blob on disk or behind a source, and how to fill a window from an offset."""
    if blob.source is not None:
        yield blob.source.size, blob.source.read_into
        return
    assert blob.path is not None
    descriptor = os.open(blob.path, _OPEN_FLAGS)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"not a regular file any more ({_file_kind(info.st_mode)})")
        yield info.st_size, lambda into, offset: _read_exactly(descriptor, into, offset)
    finally:
        os.close(descriptor)


def _entered(helpers: ThreadPoolExecutor, call: Callable[..., _T], *args: Any) -> Future[_T]:
    """`call(*args)` started on a helper thread, returning once the helper is about to make it: a call
    into C that releases the GIL (hashlib, bytes.join, preadv, all on large buffers) then runs alongside
    a match that holds the GIL, instead of waiting for the match to end."""
    entered = threading.Event()

    def enter() -> _T:
        entered.set()
        return call(*args)

    pending = helpers.submit(enter)
    entered.wait()
    return pending


def _read_exactly(descriptor: int, into: memoryview, offset: int) -> None:
    done = 0
    while done < len(into):
        count = os.preadv(descriptor, [into[done:]], offset + done)
        if count == 0:
            raise _ReadError(f"the file ended at {offset + done} bytes while it was being read")
        done += count


def _read_up_to(descriptor: int, size: int, expected: int) -> bytes:
    """Up to `size` bytes; the first read asks for the `expected` size and one byte more, so a small file
    costs a buffer of its own size, not of `size`, and one read when it gives the expected size (a regular
    file reads short only at its end: the file, as large as its fstat said, is read whole)."""
    first = os.read(descriptor, min(size, expected + 1))
    if len(first) == expected or not first:
        return first
    parts = [first]
    remaining = size - len(first)
    while remaining > 0:
        chunk = os.read(descriptor, min(remaining, CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _internal_error(target: str, exc: Exception) -> ScanResult:
    return ScanResult(
        target, Verdict.ERROR, reason=Reason.INTERNAL_ERROR, detail=f"{type(exc).__name__}: {exc}"
    )


def _unscannable(target: str, reason: Reason, detail: str) -> ScanResult:
    return ScanResult(target, Verdict.UNSCANNABLE, reason=reason, detail=detail)


def _file_kind(mode: int) -> str:
    for test, label in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return label
    return "special file"
