"""Formats no Python library reads, opened by the 7-Zip program (`7zz`, Debian package 7zip) where it is
installed: ARJ, CHM, LZH, NSIS installers, and zip members in methods zipfile lacks (Implode, Shrink,
Reduce). Where the program is absent (the Lambda runtime carries none) they stay `unsupported`.

The program runs on a copy in a private temporary directory, with no password, no standard input, a file
size limit of what the object's budget has left and a CPU time limit. util-linux's `setpriv` and `prlimit`
set those limits and PR_SET_PDEATHSIG (the program dies with the process waiting on it, a match worker
killed included), then execute 7-Zip: no Python runs in the child between fork and exec (a preexec_fn
could deadlock there on a lock another thread held, and scans run beside threads); without them 7-Zip is
not run.
Member names are untrusted: they only name findings, and what the program wrote is read back by walking
its output directory for regular files (never following a link). Whatever it extracted is scanned even
when it reports an error; the error then makes the container `corrupt`.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from bucketguard.scanning.blobs import CHUNK, Blob, BlobWriter, Expansion, copy_source
from bucketguard.scanning.limits import ContainerProblem, MemberProblem, RatioGuard, ScanProblem, ScanStop
from bucketguard.scanning.result import Reason

if TYPE_CHECKING:
    import subprocess

PROGRAMS = ("7zz", "7z")  # Debian's 7zip, then p7zip's
LIMITER = "prlimit"  # util-linux (essential in Debian)
REAPER = "setpriv"  # util-linux too
CPU_SECONDS = 60
WALL_SECONDS = 300


def program() -> str | None:
    return next((found for name in PROGRAMS if (found := shutil.which(name)) is not None), None)


class _Programs(NamedTuple):
    reaper: str
    limiter: str
    seven_zip: str


def extract(blob: Blob, expansion: Expansion, archive_type: str) -> None:
    """Every file of the archive (a 7-Zip type name: Arj, Chm, Lzh, Nsis) handed to the visitor."""
    name = expansion.name
    programs = _required(name, archive_type, ContainerProblem)
    with tempfile.TemporaryDirectory(prefix="bucketguard-7z-", dir=expansion.work_dir) as private:
        archive = _on_disk(blob, Path(private))
        _count_entries(programs, archive, archive_type, expansion)
        out = Path(private) / "out"
        # -aou: a member named like one already written is renamed, not written over it (unread).
        arguments = [
            "x",
            f"-t{archive_type}",
            "-y",
            "-aou",
            "-bd",
            "-p",
            f"-o{out}",
            "--",
            str(archive),
        ]
        done = _run(programs, arguments, expansion)
        guard = RatioGuard(blob.size, expansion.budget.limits, name, ContainerProblem)
        for path in _regular_files(out):
            where = f"{name}!{path.relative_to(out).as_posix()}"
            expansion.budget.count_members(1, where)
            member = expansion.expand(where, functools.partial(_copy, path), guard)
            if member is not None:
                expansion.visit(where, member)
    _check(done, name, archive_type, ContainerProblem)


def extract_zip_member(blob: Blob, expansion: Expansion, member_name: str, declared_size: int) -> None:
    """One zip member in a method zipfile does not implement, streamed from the program's output; fewer
    or more bytes than its header declares (a name 7-Zip reads differently matches nothing) is reported."""
    where = f"{expansion.name}!{member_name}"
    try:
        programs = _required(where, "zip member", MemberProblem)
    except MemberProblem as problem:
        expansion.problem(where, problem)
        return
    runs: list[subprocess.CompletedProcess[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bucketguard-7z-", dir=expansion.work_dir) as private:
        archive = str(_on_disk(blob, Path(private)))
        # -spd: the name is a literal, not a wildcard; -so: the member's bytes on standard output.
        arguments = ["e", "-tzip", "-so", "-spd", "-bd", "-p", "--", archive, member_name]
        guard = RatioGuard(blob.size, expansion.budget.limits, where, MemberProblem)
        member = expansion.expand(
            where,
            lambda writer: runs.append(
                _run(programs, arguments, expansion, lambda out: writer.copy_from(out.read))
            ),
            guard,
        )
    if member is not None:
        if member.size != declared_size:
            expansion.visitor.problem(
                where, Reason.CORRUPT, f"{where}: declares {declared_size} bytes, 7-Zip gave {member.size}"
            )
        expansion.visit(where, member)
    if runs:
        try:
            _check(runs[0], where, "zip member", MemberProblem)
        except MemberProblem as problem:
            expansion.problem(where, problem)


def _required(name: str, what: str, scope: type[ScanProblem]) -> _Programs:
    found = program()
    if found is None:
        raise scope(Reason.UNSUPPORTED, f"{name}: {what} is decoded by 7-Zip (7zz), not installed here")
    reaper, limiter = shutil.which(REAPER), shutil.which(LIMITER)
    if reaper is None or limiter is None:
        raise scope(
            Reason.UNSUPPORTED,
            f"{name}: {what}: 7-Zip runs under {REAPER} and {LIMITER} (util-linux), not installed here",
        )
    return _Programs(reaper, limiter, found)


def _on_disk(blob: Blob, directory: Path) -> Path:
    if blob.path is not None:
        return blob.path
    if blob.source is not None:
        return copy_source(blob.source, directory)  # the program reads a file: the one copy kept
    path = directory / "archive"
    path.write_bytes(blob.data or b"")
    return path


def _count_entries(programs: _Programs, archive: Path, archive_type: str, expansion: Expansion) -> None:
    """Refuses an archive of more entries than the member budget has left before 7-Zip extracts one: `7z x`
    writes every file, empty ones too (inodes, disk, CPU), before the files are counted. Each entry of the
    technical listing starts with a `Path = ` line (after the archive's own properties, ended by a line of
    dashes): counted, directories too, read no further than the cap. A name holding such a line only counts
    more. A listing that fails leaves the extraction to fail likewise."""
    arguments = ["l", "-slt", f"-t{archive_type}", "-bd", "-p", "--", str(archive)]

    def entries(out: IO[bytes]) -> Iterator[bytes]:
        lines = iter(out.readline, b"")
        for line in lines:
            if line.rstrip(b"\r\n") == b"----------":
                break
        return (line for line in lines if line.startswith(b"Path = "))

    budget = expansion.budget
    done = _run(programs, arguments, expansion, lambda out: budget.check_each(entries(out), expansion.name))
    if done.returncode < 0:  # stopped by its CPU limit: the count is short
        _check(done, expansion.name, archive_type, ContainerProblem)


def _run(
    programs: _Programs,
    arguments: list[str],
    expansion: Expansion,
    read: Callable[[IO[bytes]], None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run 7-Zip under the limits; with `read`, that reads its standard output (raising kills the program)."""
    import subprocess  # here: a scan that runs no program does not pay for it at its start

    budget = expansion.budget
    room = budget.limits.max_extracted_bytes - budget.extracted_bytes + 1
    # setpriv asks for SIGKILL when the parent dies and prlimit sets soft and hard limits, each on itself,
    # then executes the next program in the same process, 7-Zip last.
    limits = [f"--fsize={room}", f"--cpu={CPU_SECONDS}"]
    reaped = [programs.reaper, "--pdeathsig", "KILL", "--"]
    command = [*reaped, programs.limiter, *limits, "--", programs.seven_zip, *arguments]
    stdout = subprocess.DEVNULL if read is None else subprocess.PIPE
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, env=_environment()
    ) as process:
        try:
            if read is not None:
                assert process.stdout is not None
                read(process.stdout)
            _, errors = process.communicate(timeout=WALL_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            raise ContainerProblem(
                Reason.TOO_LARGE, f"{expansion.name}: 7-Zip ran longer than {WALL_SECONDS} s"
            ) from None
        except BaseException:
            process.kill()
            raise
    return subprocess.CompletedProcess(command, process.returncode, b"", errors)


def _environment() -> dict[str, str]:
    """What 7-Zip needs of the environment (its search path, locale and temporary directory), and nothing
    else: it parses untrusted archives, and the environment may hold AWS credentials."""
    return {
        name: value
        for name, value in os.environ.items()
        if name in ("PATH", "LANG", "LANGUAGE", "TMPDIR") or name.startswith("LC_")
    }


def _check(done: subprocess.CompletedProcess[bytes], name: str, what: str, scope: type[ScanProblem]) -> None:
    """What 7-Zip's exit says: a file past the size limit, a signal (CPU limit), a password, damage."""
    if done.returncode == -signal.SIGXFSZ:
        raise ScanStop(Reason.EXTRACTED_TOO_LARGE, f"{name}: {what} expands past the bytes the scan has left")
    if done.returncode < 0:
        raise scope(Reason.TOO_LARGE, f"{name}: {what}: 7-Zip stopped by signal {-done.returncode}")
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"exit status {done.returncode}"
        reason = Reason.ENCRYPTED if "password" in why.lower() else Reason.CORRUPT
        raise scope(reason, f"{name}: unreadable {what}: {why}")


def _regular_files(root: Path) -> Iterator[Path]:
    for directory, folders, files in os.walk(root):  # links are neither followed nor read
        folders.sort()
        for file_name in sorted(files):
            path = Path(directory) / file_name
            if path.is_file() and not path.is_symlink():
                yield path


def _copy(path: Path, writer: BlobWriter) -> None:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            writer.write(chunk)
