"""Unit tests for routilux/job_state.py used standalone (no flow execution)."""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from routilux.exceptions import InvalidPayloadError, RoutiluxError
from routilux.execution_record import ExecutionRecord
from routilux.execution_tracker import ExecutionTracker
from routilux.job_state import FINISHED_STATUSES, JobState
from routilux.output_handler import OutputHandler

PAST = datetime(2000, 1, 1, 0, 0, 0)


# -- defaults --------------------------------------------------------------------------


def test_defaults() -> None:
    before = datetime.now()
    job = JobState("flow")
    after = datetime.now()
    assert job.flow_id == "flow"
    assert job.status == "pending"
    assert str(uuid.UUID(job.job_id)) == job.job_id
    assert job.current_routine_id is None
    assert job.routine_states == {}
    assert job.pause_points == []
    assert job.pending_tasks == []
    assert job.deferred_events == []
    assert job.shared_data == {}
    assert job.shared_log == []
    assert job.output_log == []
    assert job.errors == []
    assert job.output_handler is None
    assert job.execution_history == []
    assert job.history_limit is None
    assert job.history_dropped == 0
    assert isinstance(job.created_at, datetime)
    assert before <= job.created_at <= after
    assert isinstance(job.updated_at, datetime)
    assert job.is_finished is False


def test_default_flow_id_is_empty() -> None:
    assert JobState().flow_id == ""


def test_job_ids_are_unique() -> None:
    assert len({JobState("f").job_id for _ in range(50)}) == 50


def test_each_job_has_its_own_tracker() -> None:
    a, b = JobState("f"), JobState("f")
    assert isinstance(a.execution_tracker, ExecutionTracker)
    assert a.execution_tracker.flow_id == "f"
    assert a.execution_tracker is not b.execution_tracker


def test_updated_at_setter_round_trips() -> None:
    job = JobState("f")
    job.updated_at = PAST
    assert job.updated_at == PAST


def _set_output(job: JobState) -> None:
    job.send_output("r", "t", {})


MUTATORS: dict[str, Callable[[JobState], None]] = {
    "update_routine_state": lambda j: j.update_routine_state("r", {"a": 1}),
    "_merge_routine_state": lambda j: j._merge_routine_state("r", {"a": 1}),
    "record_execution": lambda j: j.record_execution("r", "e", {}),
    "update_shared_data": lambda j: j.update_shared_data("k", 1),
    "append_to_shared_log": lambda j: j.append_to_shared_log({"m": 1}),
    "send_output": _set_output,
    "add_deferred_event": lambda j: j.add_deferred_event("r", "e", {}),
}


@pytest.mark.parametrize("name", sorted(MUTATORS))
def test_changes_move_updated_at_forward(name: str) -> None:
    job = JobState("f")
    job.updated_at = PAST
    before = datetime.now()
    MUTATORS[name](job)
    assert job.updated_at > PAST
    assert job.updated_at >= before.replace(microsecond=0)


def test_updated_at_never_moves_backwards_on_successive_changes() -> None:
    job = JobState("f")
    stamps = [job.updated_at]
    for mutate in MUTATORS.values():
        mutate(job)
        stamps.append(job.updated_at)
    assert stamps == sorted(stamps)


# -- routine state ---------------------------------------------------------------------


def test_update_routine_state_stores_a_shallow_copy() -> None:
    job = JobState("f")
    nested = [1]
    state = {"count": 1, "items": nested}
    job.update_routine_state("r", state)
    stored = job.get_routine_state("r")
    assert stored == {"count": 1, "items": [1]}
    assert stored is not state
    state["count"] = 99
    assert job.get_routine_state("r") == {"count": 1, "items": [1]}
    assert stored is not None
    assert stored["items"] is nested  # shallow


def test_update_routine_state_replaces_whole_state() -> None:
    job = JobState("f")
    job.update_routine_state("r", {"a": 1, "b": 2})
    job.update_routine_state("r", {"c": 3})
    assert job.get_routine_state("r") == {"c": 3}
    assert job.routine_states == {"r": {"c": 3}}


@pytest.mark.parametrize("bad", [None, [("a", 1)], "state", 3])
def test_update_routine_state_rejects_non_dicts(bad: object) -> None:
    job = JobState("f")
    with pytest.raises(InvalidPayloadError, match="my_routine"):
        job.update_routine_state("my_routine", bad)  # type: ignore[arg-type]
    assert job.routine_states == {}


def test_get_routine_state_returns_stored_dict_or_none() -> None:
    job = JobState("f")
    assert job.get_routine_state("unknown") is None
    job.update_routine_state("r", {"a": 1})
    stored = job.get_routine_state("r")
    assert stored is job.routine_states["r"]
    assert stored is not None
    stored["b"] = 2  # the job's own dict
    assert job.get_routine_state("r") == {"a": 1, "b": 2}


def test_merge_routine_state_keeps_existing_keys() -> None:
    job = JobState("f")
    job.update_routine_state("r", {"user_key": "kept", "status": "old"})
    job._merge_routine_state("r", {"status": "completed", "extra": 1})
    assert job.get_routine_state("r") == {"user_key": "kept", "status": "completed", "extra": 1}


def test_merge_routine_state_creates_a_copy_when_missing() -> None:
    job = JobState("f")
    updates = {"status": "skipped"}
    job._merge_routine_state("r", updates)
    assert job.get_routine_state("r") == {"status": "skipped"}
    updates["status"] = "changed"
    assert job.get_routine_state("r") == {"status": "skipped"}


# -- history ---------------------------------------------------------------------------


def test_record_execution_and_history_order() -> None:
    job = JobState("f")
    before = datetime.now()
    payload = {"v": 1}
    job.record_execution("a", "start", payload)
    job.record_execution("b", "out", {"v": 2})
    job.record_execution("a", "completed")
    after = datetime.now()
    history = job.get_execution_history()
    assert [(r.routine_id, r.event_name, r.data) for r in history] == [
        ("a", "start", {"v": 1}),
        ("b", "out", {"v": 2}),
        ("a", "completed", {}),
    ]
    assert all(isinstance(r, ExecutionRecord) for r in history)
    # Record times are floats turned into datetimes (rounded to the microsecond).
    slack = timedelta(microseconds=1)
    assert all(before - slack <= r.timestamp <= after + slack for r in history)
    assert history[0].data is payload  # stored by reference


def test_get_execution_history_filters_by_routine() -> None:
    job = JobState("f")
    for rid, event in [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("a", "5")]:
        job.record_execution(rid, event)
    assert [r.event_name for r in job.get_execution_history("a")] == ["1", "3", "5"]
    assert [r.event_name for r in job.get_execution_history("b")] == ["2"]
    assert job.get_execution_history("zzz") == []
    assert len(job.get_execution_history()) == 5
    assert len(job.get_execution_history(None)) == 5


def test_history_records_are_new_objects() -> None:
    job = JobState("f")
    job.record_execution("a", "e", {"x": 1})
    first = job.get_execution_history()
    first[0].event_name = "changed"
    first.clear()
    again = job.get_execution_history()
    assert [r.event_name for r in again] == ["e"]
    assert job.execution_history is not job.execution_history


def test_execution_history_property_matches_get_execution_history() -> None:
    job = JobState("f")
    job.record_execution("a", "x")
    job.record_execution("b", "y")
    assert job.execution_history == job.get_execution_history()


def test_execution_history_setter_replaces_history() -> None:
    job = JobState("f")
    job.record_execution("old", "gone")
    records = [
        ExecutionRecord("a", "start", {"p": 1}, datetime(2024, 1, 1, 10, 0, 0)),
        ExecutionRecord("b", "out", {"q": 2}, datetime(2024, 1, 1, 9, 0, 0)),
    ]
    job.execution_history = records
    history = job.execution_history
    assert history == records
    assert [r.timestamp for r in history] == [
        datetime(2024, 1, 1, 10, 0, 0),
        datetime(2024, 1, 1, 9, 0, 0),
    ]
    job.record_execution("c", "later")
    assert [r.routine_id for r in job.execution_history] == ["a", "b", "c"]


def test_execution_history_setter_accepts_empty() -> None:
    job = JobState("f")
    job.record_execution("a", "x")
    job.execution_history = []
    assert job.execution_history == []


def test_history_limit_keeps_newest() -> None:
    job = JobState("f", history_limit=3)
    assert job.history_limit == 3
    for i in range(7):
        job.record_execution("r", f"e{i}", {"i": i})
    assert [r.event_name for r in job.execution_history] == ["e4", "e5", "e6"]
    assert [r.data["i"] for r in job.get_execution_history("r")] == [4, 5, 6]
    assert job.history_dropped == 4


def test_history_limit_not_reached_drops_nothing() -> None:
    job = JobState("f", history_limit=5)
    for i in range(5):
        job.record_execution("r", str(i))
    assert len(job.execution_history) == 5
    assert job.history_dropped == 0


def test_history_limit_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        JobState("f", 3)  # type: ignore[misc]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_invalid_history_limit_raises_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="history limit"):
        JobState("f", history_limit=bad)  # type: ignore[arg-type]


def test_invalid_history_limit_raises_routilux_error() -> None:
    with pytest.raises(RoutiluxError):
        JobState("f", history_limit=0)


# -- shared data -----------------------------------------------------------------------


def test_shared_data_get_and_update() -> None:
    job = JobState("f")
    assert job.get_shared_data("missing") is None
    assert job.get_shared_data("missing", 7) == 7
    job.update_shared_data("k", [1, 2])
    job.update_shared_data("n", 0)
    assert job.get_shared_data("k") == [1, 2]
    assert job.get_shared_data("n", 5) == 0
    assert job.shared_data == {"k": [1, 2], "n": 0}
    job.update_shared_data("k", "replaced")
    assert job.get_shared_data("k") == "replaced"


def test_get_shared_data_reads_direct_changes_to_shared_data() -> None:
    job = JobState("f")
    job.shared_data["direct"] = 1
    assert job.get_shared_data("direct") == 1


# -- shared log ------------------------------------------------------------------------


def test_append_to_shared_log_copies_entry_and_adds_iso_timestamp() -> None:
    job = JobState("f")
    entry = {"message": "hello", "n": 1}
    before = datetime.now()
    job.append_to_shared_log(entry)
    after = datetime.now()
    assert entry == {"message": "hello", "n": 1}  # caller's dict untouched
    [stored] = job.get_shared_log()
    assert stored is not entry
    assert stored["message"] == "hello"
    assert stored["n"] == 1
    assert type(stored["timestamp"]) is str
    assert before.replace(microsecond=0) <= datetime.fromisoformat(stored["timestamp"]) <= after
    [via_property] = job.shared_log
    assert type(via_property["timestamp"]) is str
    assert via_property == stored


def test_shared_log_property_alone_formats_timestamp() -> None:
    job = JobState("f")
    job.append_to_shared_log({"a": 1})
    [entry] = job.shared_log
    assert type(entry["timestamp"]) is str
    datetime.fromisoformat(entry["timestamp"])


def test_append_to_shared_log_keeps_entry_with_timestamp_as_is() -> None:
    job = JobState("f")
    entry = {"message": "m", "timestamp": "yesterday"}
    job.append_to_shared_log(entry)
    [stored] = job.get_shared_log()
    assert stored is entry
    assert stored == {"message": "m", "timestamp": "yesterday"}
    moment = datetime(2024, 1, 1)
    entry2 = {"timestamp": moment}
    job.append_to_shared_log(entry2)
    assert job.shared_log[1] is entry2
    assert job.shared_log[1]["timestamp"] is moment


@pytest.mark.parametrize("bad", [None, "text", ["a"], 1, ("k", "v")])
def test_append_to_shared_log_rejects_non_dicts(bad: object) -> None:
    job = JobState("f")
    with pytest.raises(InvalidPayloadError, match="dictionary"):
        job.append_to_shared_log(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        job.append_to_shared_log(bad)  # type: ignore[arg-type]
    assert job.get_shared_log() == []


def test_get_shared_log_returns_new_list_in_order() -> None:
    job = JobState("f")
    for i in range(4):
        job.append_to_shared_log({"i": i})
    log = job.get_shared_log()
    assert [e["i"] for e in log] == [0, 1, 2, 3]
    log.clear()
    assert len(job.get_shared_log()) == 4
    assert job.get_shared_log() is not job.get_shared_log()


def test_get_shared_log_filter_func() -> None:
    job = JobState("f")
    for i in range(6):
        job.append_to_shared_log({"i": i, "kind": "even" if i % 2 == 0 else "odd"})
    odd = job.get_shared_log(lambda e: e["kind"] == "odd")
    assert [e["i"] for e in odd] == [1, 3, 5]
    # The filter sees formatted timestamps, and truthiness decides.
    seen: list[Any] = []
    result = job.get_shared_log(lambda e: seen.append(type(e["timestamp"])) or e["i"])
    assert seen == [str] * 6
    assert [e["i"] for e in result] == [1, 2, 3, 4, 5]


def test_shared_log_setter_replaces_log() -> None:
    job = JobState("f")
    job.append_to_shared_log({"old": 1})
    job.shared_log = [{"new": 1, "timestamp": "t"}]
    assert job.get_shared_log() == [{"new": 1, "timestamp": "t"}]
    job.append_to_shared_log({"newer": 2})
    log = job.get_shared_log()
    assert [next(iter(e)) for e in log] == ["new", "newer"]
    assert type(log[1]["timestamp"]) is str


# -- outputs ---------------------------------------------------------------------------


class KeywordOnlyHandler(OutputHandler):
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def handle(  # type: ignore[override]
        self,
        *,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        self.calls.append(
            {
                "job_id": job_id,
                "routine_id": routine_id,
                "output_type": output_type,
                "data": data,
                "timestamp": timestamp,
            }
        )


def test_send_output_without_handler_only_logs() -> None:
    job = JobState("f")
    before = datetime.now()
    data = {"v": 1}
    job.send_output("r1", "result", data)
    after = datetime.now()
    [entry] = job.output_log
    assert set(entry) == {"routine_id", "output_type", "data", "timestamp"}
    assert entry["routine_id"] == "r1"
    assert entry["output_type"] == "result"
    assert entry["data"] is data
    assert isinstance(entry["timestamp"], str)
    assert before <= datetime.fromisoformat(entry["timestamp"]) <= after


def test_send_output_calls_handler_with_keyword_arguments() -> None:
    job = JobState("f")
    handler = KeywordOnlyHandler()
    job.set_output_handler(handler)
    assert job.output_handler is handler
    job.send_output("r1", "progress", {"pct": 50})
    job.send_output("r2", "result", {"ok": True})
    assert [(c["job_id"], c["routine_id"], c["output_type"], c["data"]) for c in handler.calls] == [
        (job.job_id, "r1", "progress", {"pct": 50}),
        (job.job_id, "r2", "result", {"ok": True}),
    ]
    for call, entry in zip(handler.calls, job.output_log, strict=True):
        assert isinstance(call["timestamp"], datetime)
        assert entry["timestamp"] == call["timestamp"].isoformat()
    assert [e["output_type"] for e in job.output_log] == ["progress", "result"]


def test_set_output_handler_none_stops_forwarding() -> None:
    job = JobState("f")
    handler = KeywordOnlyHandler()
    job.set_output_handler(handler)
    job.send_output("r", "a", {})
    job.set_output_handler(None)
    job.send_output("r", "b", {})
    assert [c["output_type"] for c in handler.calls] == ["a"]
    assert [e["output_type"] for e in job.output_log] == ["a", "b"]


def test_raising_output_handler_warns_and_output_is_still_logged() -> None:
    class Failing(OutputHandler):
        def handle(self, job_id, routine_id, output_type, data, timestamp=None):  # type: ignore[no-untyped-def]
            raise RuntimeError("sink down")

    job = JobState("f")
    job.set_output_handler(Failing())
    with pytest.warns(RuntimeWarning, match="sink down"):
        job.send_output("r", "result", {"v": 1})
    assert [(e["routine_id"], e["output_type"], e["data"]) for e in job.output_log] == [
        ("r", "result", {"v": 1})
    ]


def test_raising_output_handler_does_not_raise_even_when_warnings_are_ignored() -> None:
    class Failing(OutputHandler):
        def handle(self, job_id, routine_id, output_type, data, timestamp=None):  # type: ignore[no-untyped-def]
            raise ValueError("bad")

    job = JobState("f")
    job.set_output_handler(Failing())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        job.send_output("r", "t", {})
    assert len(job.output_log) == 1


# -- deferred events -------------------------------------------------------------------


def test_add_deferred_event() -> None:
    job = JobState("f")
    before = datetime.now()
    data = {"x": 1}
    job.add_deferred_event("r1", "later", data)
    job.add_deferred_event("r2", "again", {})
    after = datetime.now()
    first, second = job.deferred_events
    assert {k: v for k, v in first.items() if k != "timestamp"} == {
        "routine_id": "r1",
        "event_name": "later",
        "data": {"x": 1},
    }
    assert isinstance(first["timestamp"], str)
    assert before <= datetime.fromisoformat(first["timestamp"]) <= after
    assert (second["routine_id"], second["event_name"]) == ("r2", "again")


# -- status ----------------------------------------------------------------------------


def test_wait_for_completion_on_never_started_job_returns_true() -> None:
    job = JobState("f")
    assert job.wait_for_completion(timeout=0) is True
    assert job.wait_for_completion(timeout=1) is True
    assert job.wait_for_completion() is True


def test_repr() -> None:
    job = JobState("f")
    assert repr(job) == f"JobState[{job.job_id}:pending]"
    job.status = "failed"
    assert repr(job) == f"JobState[{job.job_id}:failed]"


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        ("pending", False),
        ("running", False),
        ("paused", False),
        ("completed", True),
        ("failed", True),
        ("cancelled", True),
    ],
)
def test_is_finished(status: str, finished: bool) -> None:
    job = JobState("f")
    job.status = status
    assert job.is_finished is finished
    assert (status in FINISHED_STATUSES) is finished


# -- concurrency -----------------------------------------------------------------------


def test_concurrent_updates_from_8_threads_lose_nothing() -> None:
    job = JobState("f")
    threads_n, per_thread = 8, 400
    barrier = threading.Barrier(threads_n + 1)
    errors: list[BaseException] = []
    reads: list[int] = []

    def writer(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(per_thread):
                job.append_to_shared_log({"t": index, "i": i})
                job.update_shared_data(f"{index}-{i}", i)
                job.record_execution(f"r{index}", "e", {"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=10)
    # Read (and so format timestamps) while the writers run.
    while any(t.is_alive() for t in threads):
        reads.append(len(job.get_shared_log()))
    for thread in threads:
        thread.join()
    assert errors == []
    assert reads == sorted(reads)

    log = job.get_shared_log()
    assert len(log) == threads_n * per_thread
    assert all(type(e["timestamp"]) is str for e in log)
    for index in range(threads_n):
        assert [e["i"] for e in log if e["t"] == index] == list(range(per_thread))

    assert len(job.shared_data) == threads_n * per_thread
    assert all(job.get_shared_data(f"{n}-{i}") == i for n in range(threads_n) for i in range(10))

    assert len(job.execution_history) == threads_n * per_thread
    for index in range(threads_n):
        assert [r.data["i"] for r in job.get_execution_history(f"r{index}")] == list(
            range(per_thread)
        )
