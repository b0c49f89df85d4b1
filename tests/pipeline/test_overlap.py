"""RecordsAhead: the records after the current one start early while their objects fit the bytes allowed
ahead; outcomes stay with their own record."""

from __future__ import annotations

import threading

import pytest

from bucketguard.pipeline.overlap import Deferred, Record, RecordsAhead


def _run(records: list[Record], reached: list[str], **kwargs: object) -> list[str]:
    """Reaches the records in `reached` only, then lets everything started finish: what ran."""
    ran: list[str] = []
    lock = threading.Lock()

    def work(body: str) -> str:
        with lock:
            ran.append(body)
        return body.upper()

    with RecordsAhead(work, records, ahead_max_bytes=100, **kwargs) as ahead:  # type: ignore[arg-type]
        for message_id in reached:
            assert (
                ahead.result(message_id)
                == next(r.body for r in records if r.message_id == message_id).upper()
            )
    return sorted(ran)


def test_the_records_after_the_current_one_start_with_it() -> None:
    records = [Record(f"m{i}", body, 10) for i, body in enumerate("abcdefghijkl")]
    assert _run(records, ["m0"]) == ["a", "b", "c"]
    assert _run(records, ["m0"], ahead=9) == list("abcdefghij")  # a whole batch of 10


def test_the_records_ahead_hold_at_most_the_bytes_allowed_together() -> None:
    records = [Record(f"m{i}", body, 60) for i, body in enumerate("abc")]
    assert _run(records, ["m0"]) == ["a", "b"]  # 60 bytes ahead; the second would make 120 of 100
    assert _run(records, ["m0", "m1"]) == ["a", "b", "c"]


def test_a_large_object_does_not_run_ahead_nor_what_follows_it() -> None:
    records = [Record("m0", "a", 10), Record("m1", "big", 101), Record("m2", "c", 10)]
    assert _run(records, ["m0"]) == ["a"]
    assert _run(records, ["m0", "m1"]) == ["a", "big", "c"]  # it runs as the current record


def test_an_exception_belongs_to_its_own_record() -> None:
    def work(body: str) -> str:
        if body == "bad":
            raise ValueError(body)
        return body

    records = [Record("m0", "bad", 1), Record("m1", "good", 1)]
    with RecordsAhead(work, records, ahead_max_bytes=100) as ahead:
        with pytest.raises(ValueError, match="bad"):
            ahead.result("m0")
        assert ahead.result("m1") == "good"


def test_a_record_ahead_needs_the_time_of_those_in_flight_before_it() -> None:
    records = [Record("m0", "a", 10), Record("m1", "b", 10), Record("m2", "c", 10)]
    # 5 s left, 2 s each: a and b fit (2 + 2), c would need 6
    assert _run(records, ["m0"], time_left=lambda: 5.0, seconds_needed=lambda size: 2.0) == ["a", "b"]


def test_without_time_left_only_the_first_record_starts() -> None:
    records = [Record("m0", "a", 10), Record("m1", "b", 10)]
    ran: list[str] = []
    with RecordsAhead(
        lambda body: ran.append(body),
        records,
        ahead_max_bytes=100,
        time_left=lambda: 1.0,
        seconds_needed=lambda size: 2.0,
    ) as ahead:
        ahead.result("m0")
        with pytest.raises(Deferred):
            ahead.result("m1")
    assert ran == ["a"]
