"""Match workers: processes forked with the engine's compiled rules, so matching runs on several cores.

yara-x holds the GIL for a whole match, so one process never matches faster than one core. A `Workers` pool
forks `count` processes once the rules are loaded: each inherits the rules (no reload) and answers tasks
(a window to match, a batch of files to scan) on its own pipe. Window bytes travel through anonymous shared
memory mapped before the fork (no copy through the pipe); replies are JSON, parsed and checked by the parent
as untrusted input.

What AWS Lambda allows: no /dev/shm there, so nothing here uses POSIX semaphores or named shared memory
(multiprocessing's Pool, Queue and Lock): plain fork, pipes and an anonymous shared mapping only.

Fork only from a clean point: `fork_workers` refuses (returns None) while this process runs more than one
thread, since a lock another thread held at the fork would stay locked in the worker forever. Callers start
the pool right after the rules are loaded (the CLI before scanning, the scanner Lambda between batches).

Fail closed: a worker that dies, answers garbage or stops making progress (no CPU time, its own or its
children's, and no reply for `stall_seconds` while it holds a task) is killed and reaped, and every task
it held fails (the engine reports its file as an internal error, never clean). Workers never outlive
the parent: they die with it (PR_SET_PDEATHSIG) and leave when their task pipe closes.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import select
import signal
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketguard.aws import LAMBDA_MB_PER_VCPU, LAMBDA_MEMORY_VARIABLE
from bucketguard.scanning.backends import BackendError

STALL_SECONDS = 60.0  # a worker holding a task that used no CPU and sent nothing for this long is hung
_POLL_SECONDS = 0.5
_DEPTH = 4  # tasks queued on one worker, so it has work while the parent waits for a CPU
_HEADER = struct.Struct(">I")
# What a pipe holds (Linux's default): a read asking for more allocates, and gets, no more than this.
_PIPE_BYTES = 64 << 10
_MAX_REPLY = 64 << 20
# The parent's ends of every pool's pipes: each new worker closes them, or a worker forked later would
# keep an older worker's task pipe open and that worker would never see its end.
_PARENT_FDS: set[int] = set()

Handler = Callable[[dict[str, Any], memoryview], object]


class WorkerFailed(BackendError):
    """A match worker died, hung or answered garbage: whatever it held is not scanned."""


def usable_cpus(environ: Mapping[str, str] = os.environ) -> int:
    """CPUs this process may use: its affinity, within a Lambda function's share of CPU (by memory)."""
    if not hasattr(os, "sched_getaffinity"):
        return 1
    cpus = len(os.sched_getaffinity(0))
    memory = environ.get(LAMBDA_MEMORY_VARIABLE, "")
    if memory.isdigit():
        cpus = min(cpus, round(int(memory) / LAMBDA_MB_PER_VCPU))
    return max(cpus, 1)


def single_threaded() -> bool:
    """True when this process runs one thread (native ones included), so a fork copies no held lock."""
    try:
        return sum(1 for _ in Path("/proc/self/task").iterdir()) == 1
    except OSError:
        return threading.active_count() == 1


@dataclass(eq=False)
class _Worker:
    pid: int
    tasks: int  # the parent writes tasks here
    replies: int  # and reads replies here
    inbox: bytearray = field(default_factory=bytearray)
    pending: deque[_Task] = field(default_factory=deque)
    cpu: int = -1
    progressed: float = 0.0

    def cpu_ticks(self) -> int:
        """CPU time of the worker and of the programs it waits on (7-Zip extracting an archive): a worker
        waiting on one that works uses none of its own."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_bytes().split()
        except OSError:  # a kernel without CONFIG_PROC_CHILDREN: the worker's own time only
            children = []
        own = _cpu_ticks(self.pid)
        return own + sum(max(_cpu_ticks(int(child)), 0) for child in children) if own >= 0 else -1


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return -1


@dataclass(eq=False)
class _Task:
    on_reply: Callable[[Any], None]
    on_failure: Callable[[str], None]
    slot: int | None


class Workers:
    """A pool of forked workers answering tasks with `handler(task, slots)`; see `fork_workers`."""

    def __init__(self, slots: int, slot_bytes: int, stall_seconds: float) -> None:
        self.slot_bytes = slot_bytes
        self.stall_seconds = stall_seconds
        self._memory = mmap.mmap(-1, max(slots * slot_bytes, 1), flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        self._slots = memoryview(self._memory)
        self._free_slots = list(range(slots))
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._changed = threading.Condition()
        self._parent = os.getpid()

    @property
    def pids(self) -> list[int]:
        with self._changed:
            return [worker.pid for worker in self._workers]

    def __len__(self) -> int:
        with self._changed:
            return len(self._workers)

    def fork(self, count: int, handler: Handler) -> None:
        """Fork workers until `count` are alive (the caller checked this process is single-threaded)."""
        _die_with_parent.prepare()
        while len(self) < count:
            task_read, task_write = os.pipe()
            reply_read, reply_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                _serve(handler, self._slots, task_read, reply_write, (task_write, reply_read), self._parent)
            os.close(task_read)
            os.close(reply_write)
            _PARENT_FDS.update((task_write, reply_read))
            os.set_blocking(task_write, False)
            os.set_blocking(reply_read, False)
            worker = _Worker(pid, task_write, reply_read)
            with self._changed:
                self._workers.append(worker)
                self._idle.append(worker)
                self._changed.notify_all()

    def close(self) -> None:
        """Every worker killed and reaped, the shared memory released."""
        with self._changed:
            workers, self._workers, self._idle = self._workers, [], []
            self._changed.notify_all()
        for worker in workers:
            self._end(worker)
        if os.getpid() == self._parent:
            with contextlib.suppress(ValueError, OSError):
                self._memory.madvise(mmap.MADV_REMOVE)

    def _end(self, worker: _Worker) -> str:
        """Kills and reaps `worker`; how it had ended when it was already dead, else ""."""
        ended = ""
        with contextlib.suppress(ChildProcessError):
            done, status = os.waitpid(worker.pid, os.WNOHANG)
            if not done:
                os.kill(worker.pid, signal.SIGKILL)  # not reaped yet: the pid is still this worker's
                os.waitpid(worker.pid, 0)
            elif os.WIFSIGNALED(status):
                ended = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
            else:
                ended = f"exit status {os.WEXITSTATUS(status)}"
        for fd in (worker.tasks, worker.replies):
            _PARENT_FDS.discard(fd)
            os.close(fd)
        return ended

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """Tasks of one scan; on leaving, every task it sent is answered or failed and what it held freed.
        Interrupted (Ctrl-C, SIGTERM), it waits for no worker: those it holds are killed."""
        session = Session(self)
        try:
            yield session
        except BaseException as exc:
            if not isinstance(exc, Exception):
                session.abandon()
            raise
        finally:
            session.drain()

    # --- used by sessions, under self._changed ---------------------------------------------------------

    def _take_slot(self) -> int | None:
        return self._free_slots.pop() if self._free_slots else None

    def _take_worker(self) -> _Worker | None:
        return self._idle.pop() if self._idle else None

    def _release(self, worker: _Worker | None, slot: int | None) -> None:
        with self._changed:
            if slot is not None:
                self._free_slots.append(slot)
                if len(self._free_slots) * self.slot_bytes == len(self._memory):
                    # Nothing in flight: give the pages back (a scan of a large file touched them all).
                    with contextlib.suppress(ValueError, OSError):
                        self._memory.madvise(mmap.MADV_REMOVE)
            if worker is not None and worker in self._workers:
                self._idle.append(worker)
            self._changed.notify_all()

    def _failed(self, worker: _Worker, detail: str) -> None:
        """`worker` killed and reaped; every task it held fails with `detail`."""
        with self._changed:
            ours = worker in self._workers  # else `close` ended it already (its descriptors are closed)
            if ours:
                self._workers.remove(worker)
        ended = self._end(worker) if ours else ""
        detail = f"{detail} ({ended})" if ended else detail
        while worker.pending:
            task = worker.pending.popleft()
            self._release(None, task.slot)
            task.on_failure(detail)


class Session:
    """One scan's use of the pool: it leases workers and slots, sends tasks and collects their replies on
    its own thread. It waits for another scan's resources only while it holds no task of its own, so two
    scans never wait on each other."""

    def __init__(self, pool: Workers) -> None:
        self.pool = pool
        self._leased: list[_Worker] = []
        self._held: set[int] = set()  # slots taken, not handed to a task yet

    def slot(self) -> tuple[int, memoryview]:
        """A free slot of shared memory (`pool.slot_bytes`), the session's until its task is answered."""
        index: int = self._acquire(self.pool._take_slot)
        self._held.add(index)
        start = index * self.pool.slot_bytes
        return index, self.pool._slots[start : start + self.pool.slot_bytes]

    def submit(
        self,
        task: dict[str, Any],
        on_reply: Callable[[Any], None],
        on_failure: Callable[[str], None],
        slot: int | None = None,
    ) -> None:
        """Send `task` to a worker; `on_reply(reply)` or `on_failure(detail)` runs later on this thread. A
        slot passed here is freed once the task is answered. Raises WorkerFailed when no worker is left."""
        worker: _Worker = self._acquire(self._worker_with_room)
        if slot is not None:
            self._held.discard(slot)
        pending = _Task(on_reply, on_failure, slot)
        worker.pending.append(pending)
        if len(worker.pending) == 1:
            worker.cpu, worker.progressed = worker.cpu_ticks(), time.monotonic()
        data = memoryview(_frame(task))
        while data:
            try:
                data = data[os.write(worker.tasks, data) :]
            except BlockingIOError:  # its pipe is full: it has not read the task before this one yet
                self._collect()
                if worker not in self._leased:
                    return  # it failed, and this task with it
            except OSError as exc:
                self._fail(worker, f"match worker {worker.pid} refused a task: {exc.strerror or exc}")
                return

    @property
    def busy(self) -> bool:
        """Some task this session sent is not answered or failed yet."""
        return bool(self._leased)

    def collect(self) -> None:
        """Waits a moment for replies (at most the poll interval) and handles those that came."""
        self._collect()

    def drain(self) -> None:
        """Every task sent is answered or failed, every slot freed."""
        while self._leased:
            self._collect()
        while self._held:
            self.pool._release(None, self._held.pop())

    def abandon(self) -> None:
        """Every worker this session holds killed (its tasks failed)."""
        for worker in list(self._leased):
            self._fail(worker, f"match worker {worker.pid} stopped: the scan was interrupted")

    def _worker_with_room(self) -> _Worker | None:
        """An idle worker first, else one this session leased with room in its queue (a leased worker
        always has a task pending: it goes back to the pool when its last is answered)."""
        worker = self.pool._take_worker()
        if worker is None:
            return next((leased for leased in self._leased if len(leased.pending) < _DEPTH), None)
        self._leased.append(worker)
        return worker

    def _acquire(self, take: Callable[[], Any]) -> Any:
        pool = self.pool
        while True:
            with pool._changed:
                got = take()
                if got is not None:
                    return got
                if not pool._workers:
                    raise WorkerFailed("no match worker is left")
                if not self._leased:
                    pool._changed.wait(_POLL_SECONDS)
                    continue
            self._collect()

    def _collect(self) -> None:
        """Waits for a reply from a worker this session leased: handles every complete one that came, and
        fails a worker that made no progress (no CPU time, no reply) for the stall limit."""
        fds = {worker.replies: worker for worker in self._leased}
        ready, _, _ = select.select(list(fds), [], [], _POLL_SECONDS)
        now = time.monotonic()
        for worker in list(self._leased):
            if worker.replies in ready:
                self._read(worker)
            elif worker in self._leased and now - worker.progressed >= _POLL_SECONDS:
                cpu = worker.cpu_ticks()
                if cpu != worker.cpu:
                    worker.cpu, worker.progressed = cpu, now
                elif now - worker.progressed > self.pool.stall_seconds:
                    stalled = f"match worker {worker.pid} made no progress for {self.pool.stall_seconds:g} s"
                    self._fail(worker, stalled)

    def _read(self, worker: _Worker) -> None:
        try:
            chunk = os.read(worker.replies, _PIPE_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            chunk, problem = b"", exc.strerror or str(exc)
        else:
            problem = "it exited"
        if not chunk:
            self._fail(worker, f"match worker {worker.pid} stopped: {problem}")
            return
        worker.inbox += chunk
        worker.progressed = time.monotonic()
        while len(worker.inbox) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(worker.inbox)
            if length > _MAX_REPLY:
                self._fail(worker, f"match worker {worker.pid} sent a reply of {length} bytes")
                return
            if len(worker.inbox) < _HEADER.size + length:
                return
            body = worker.inbox[_HEADER.size : _HEADER.size + length]
            del worker.inbox[: _HEADER.size + length]
            task = worker.pending.popleft()
            try:
                task.on_reply(_decode_reply(body.decode()))
            except Exception as exc:  # whatever the reply was, it was not an answer
                worker.pending.appendleft(task)  # failed with the others, its slot freed once
                self._fail(worker, f"match worker {worker.pid} answered garbage ({type(exc).__name__})")
                return
            self.pool._release(None, task.slot)
            if not worker.pending:
                self._leased.remove(worker)
                self.pool._release(worker, None)
                return

    def _fail(self, worker: _Worker, detail: str) -> None:
        if worker in self._leased:
            self._leased.remove(worker)
        self.pool._failed(worker, detail)


def fork_workers(count: int, handler: Handler, *, slots: int, slot_bytes: int,
                 stall_seconds: float = STALL_SECONDS) -> Workers | None:  # fmt: skip
    """`count` workers answering `handler(task, slots)`, or None when forking is not safe or useful: one
    CPU, no fork (not Linux), or other threads running in this process."""
    if count < 2 or not hasattr(os, "fork") or not single_threaded():
        return None
    pool = Workers(slots, slot_bytes, stall_seconds)
    pool.fork(count, handler)
    return pool


def _serve(
    handler: Handler, slots: memoryview, tasks: int, replies: int, parent_ends: tuple[int, ...], parent: int
) -> None:
    """A worker's life: tasks in, replies out, until the task pipe closes. Never returns."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops, the task pipe closes
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with_parent(parent)
        _drop_credentials()
        for fd in (*_PARENT_FDS, *parent_ends):
            with contextlib.suppress(OSError):
                os.close(fd)
        while True:
            task = _read_frame(tasks)
            if task is None:
                break
            try:
                reply = handler(task, slots)
            except Exception as exc:  # reported to the parent, which fails the task
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            _write_all(replies, _frame(reply))
    except BaseException:  # a worker never unwinds into the parent's code
        status = 1
    finally:
        os._exit(status)


def _drop_credentials() -> None:
    """A worker reads untrusted bytes and runs 7-Zip on them: the AWS credentials and endpoints in the
    environment (Lambda's role keys, the runtime API) are the parent's business only, not a worker's or
    its programs'."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]


class _DieWithParent:
    """PR_SET_PDEATHSIG: the kernel kills the worker when its parent dies (libc loaded before the fork);
    PR_SET_NO_NEW_PRIVS: neither the worker nor a program it runs gains privileges (setuid, file
    capabilities) by executing something."""

    def __init__(self) -> None:
        self._prctl: Any = None

    def prepare(self) -> None:
        if self._prctl is None:
            import ctypes  # here: importing it costs a scan's start-up 20 ms, and only a fork needs it

            with contextlib.suppress(OSError, AttributeError):
                self._prctl = ctypes.CDLL(None, use_errno=True).prctl

    def __call__(self, parent: int) -> None:
        if self._prctl is not None:
            self._prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            self._prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        if os.getppid() != parent:
            os._exit(1)  # the parent died before the signal was set


_die_with_parent = _DieWithParent()


def _frame(message: object) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# A worker's reply as JSON proper: json.loads takes NaN and Infinity, which no answer holds.
_decode_reply = json.JSONDecoder(parse_constant=_not_json).decode


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts = bytearray()
    while len(parts) < size:
        chunk = os.read(fd, size - len(parts))
        if not chunk:
            return None
        parts += chunk
    return bytes(parts)


def _read_frame(fd: int) -> Any:
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)
