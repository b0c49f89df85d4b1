"""The records of one SQS batch, each one's work started while the ones before it run.

A scanner invocation receives up to 10 scan requests. One after the other, a small object costs mostly
round trips (the presigned GET, the publish) while the CPU waits. `RecordsAhead` starts the `ahead` records
after the current one as soon as the current one is reached, on threads of their own, so their round trips
overlap each other and the current scan (two: more measured slower on a loaded CPU, see
benchmarks/pipeline_bench.py). Bounded: the objects of the records ahead total at most `ahead_max_bytes`
(the first that would pass it waits until it is the current record, and so do the records after it), so
/tmp and memory hold one large object and that much besides.
With a deadline (`time_left`), a record is started only while the invocation has the time `seconds_needed`
says it and those in flight before it need; otherwise it fails with `Deferred` and SQS delivers it again.

Each record's outcome is its own: the work of a record sees only its own body, and its exception is raised
for that record alone, when the batch processor reaches it (so partial batch failures stay exact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class Deferred(Exception):
    """Not started: the invocation has no time left to finish it. SQS delivers the message again."""


@dataclass(frozen=True)
class Record:
    message_id: str
    body: str
    size: int  # the object's declared size: what running ahead may hold at once


class RecordsAhead(Generic[T]):
    def __init__(
        self,
        work: Callable[[str], T],
        records: Sequence[Record],
        *,
        ahead_max_bytes: int,
        ahead: int = 2,
        time_left: Callable[[], float] | None = None,
        seconds_needed: Callable[[int], float] = lambda size: 0.0,
    ) -> None:
        self._work = work
        self._records = list(records)
        self._index = {record.message_id: i for i, record in enumerate(self._records)}
        self._ahead_max_bytes = ahead_max_bytes
        self._ahead = ahead
        self._time_left = time_left
        self._seconds_needed = seconds_needed
        self._futures: dict[int, Future[T]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1 + ahead, thread_name_prefix="bucketguard-record")

    def __enter__(self) -> RecordsAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        # Every started record finishes (its verdict published) before the invocation returns.
        self._pool.shutdown(wait=True)

    def result(self, message_id: str) -> T:
        """The outcome of this record's work (raising its exception), once the ones after it are started."""
        index = self._index[message_id]
        # what the records in flight need from now on: a record ahead shares the time left with them
        needed = self._seconds_needed(self._records[index].size)
        if not self._start(index, needed, current=True):
            needed = 0.0
        held = 0
        for ahead in range(index + 1, min(index + 1 + self._ahead, len(self._records))):
            size = self._records[ahead].size
            held += size
            if held > self._ahead_max_bytes:
                break  # this object waits its turn, and so do the records after it
            needed += self._seconds_needed(size)
            if not self._start(ahead, needed, current=False):
                break
        return self._futures[index].result()

    def size(self, message_id: str) -> int:
        return self._records[self._index[message_id]].size

    def finished(self, message_id: str) -> bool:
        """True when this record's work is done (or it was deferred): its result will not wait."""
        future = self._futures.get(self._index[message_id])
        return future is not None and future.done()

    def _start(self, index: int, seconds: float, *, current: bool) -> bool:
        """Starts the record unless it is started or there is no time for it: a record ahead is then left
        for later, the current one is deferred. True when it is running (or done)."""
        if index in self._futures:
            future = self._futures[index]
            return not (future.done() and isinstance(future.exception(), Deferred))
        # The first record always starts: an invocation that scanned nothing would only be retried.
        if index > 0 and self._time_left is not None and self._time_left() < seconds:
            if current:
                deferred: Future[T] = Future()
                deferred.set_exception(Deferred(f"{seconds:.0f} s needed, {self._time_left():.0f} s left"))
                self._futures[index] = deferred
            return False
        self._futures[index] = self._pool.submit(self._work, self._records[index].body)
        return True
