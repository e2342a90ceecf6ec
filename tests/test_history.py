"""Tests for routilux._history.History."""

import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from routilux import Flow, JobState, Routine
from routilux._history import History
from routilux.execution_record import ExecutionRecord
from routilux.stores import SQLiteStore


def fill(history, n, routine="r"):
    for i in range(n):
        history.append(f"{routine}{i % 2}", f"e{i}", {"i": i}, 1000.0 + i)


def test_new_history_is_empty():
    h = History()
    assert len(h) == 0
    assert h.rows() == []
    assert h.records() == []
    assert h.limit is None
    assert h.dropped == 0


def test_append_and_rows_keep_order():
    h = History()
    payload = {"x": 1}
    h.append("a", "start", payload, 1.5)
    h.append("b", "out", {"y": 2}, 2.5)
    h.append("a", "completed", {}, 3.5)
    rows = h.rows()
    assert rows == [
        ("a", "start", {"x": 1}, 1.5),
        ("b", "out", {"y": 2}, 2.5),
        ("a", "completed", {}, 3.5),
    ]
    assert rows[0][2] is payload  # stored by reference
    assert len(h) == 3


def test_rows_is_a_new_list_each_time():
    h = History()
    h.append("a", "e", {}, 1.0)
    rows = h.rows()
    rows.clear()
    assert len(h.rows()) == 1


def test_times_are_floats():
    h = History()
    h.append("a", "e", {}, 3)
    (row,) = h.rows()
    assert row[3] == 3.0
    assert isinstance(row[3], float)


def test_records_build_execution_records_in_order():
    h = History()
    h.append("a", "start", {"x": 1}, 100.0)
    h.append("b", "out", {"y": 2}, 200.0)
    records = h.records()
    assert all(isinstance(r, ExecutionRecord) for r in records)
    assert [(r.routine_id, r.event_name, r.data, r.time) for r in records] == [
        ("a", "start", {"x": 1}, 100.0),
        ("b", "out", {"y": 2}, 200.0),
    ]
    assert records == [ExecutionRecord("a", "start", {"x": 1}, 100.0), records[1]]


def test_records_filter_by_routine_id():
    h = History()
    h.append("a", "e1", {"n": 1}, 1.0)
    h.append("b", "e2", {"n": 2}, 2.0)
    h.append("a", "e3", {"n": 3}, 3.0)
    h.append("ab", "e4", {"n": 4}, 4.0)
    assert [r.event_name for r in h.records("a")] == ["e1", "e3"]
    assert [r.event_name for r in h.records("b")] == ["e2"]
    assert [r.event_name for r in h.records("ab")] == ["e4"]
    assert h.records("missing") == []
    assert [r.event_name for r in h.records()] == ["e1", "e2", "e3", "e4"]
    assert [r.event_name for r in h.records(None)] == ["e1", "e2", "e3", "e4"]


def test_records_are_new_objects_each_read():
    h = History()
    h.append("a", "e", {"n": 1}, 1.0)
    first = h.records()[0]
    first.routine_id = "changed"
    assert h.records()[0].routine_id == "a"


# -- bounded history --------------------------------------------------------------------


def test_bounded_history_keeps_newest_and_counts_dropped():
    h = History(limit=3)
    assert h.limit == 3
    fill(h, 2)
    assert h.dropped == 0
    assert len(h) == 2
    fill_more = [("r", f"n{i}", {"i": i}, float(i)) for i in range(5)]
    for row in fill_more:
        h.append(*row)
    assert len(h) == 3
    assert h.dropped == 4
    assert h.rows() == fill_more[-3:]
    assert [r.event_name for r in h.records()] == ["n2", "n3", "n4"]


def test_limit_one():
    h = History(1)
    h.append("a", "first", {}, 1.0)
    h.append("b", "second", {}, 2.0)
    assert h.rows() == [("b", "second", {}, 2.0)]
    assert h.dropped == 1


def test_bounded_history_filter_sees_only_kept_rows():
    h = History(limit=2)
    h.append("a", "e1", {}, 1.0)
    h.append("b", "e2", {}, 2.0)
    h.append("a", "e3", {}, 3.0)
    assert [r.event_name for r in h.records("a")] == ["e3"]


@pytest.mark.parametrize("limit", [0, -1, -100, 1.5, 2.0, "3", True, False, [3]])
def test_invalid_limits_raise_value_error(limit):
    with pytest.raises(ValueError, match="history limit"):
        History(limit)


def test_valid_limits():
    assert History(None).limit is None
    assert History(1).limit == 1
    assert History(10**6).limit == 10**6


# -- clear ------------------------------------------------------------------------------


def test_clear_empties_unbounded_history_and_append_still_works():
    h = History()
    fill(h, 5)
    h.clear()
    assert len(h) == 0
    assert h.rows() == []
    assert h.records() == []
    h.append("a", "e", {"k": 1}, 7.0)
    assert h.rows() == [("a", "e", {"k": 1}, 7.0)]


def test_clear_keeps_the_limit():
    h = History(limit=2)
    fill(h, 3)
    h.clear()
    assert len(h) == 0
    assert h.limit == 2
    for i in range(4):
        h.append("a", f"e{i}", {}, float(i))
    assert [r[1] for r in h.rows()] == ["e2", "e3"]


# -- threads ----------------------------------------------------------------------------


def run_threads(n_threads, target):
    barrier = threading.Barrier(n_threads)
    errors = []

    def wrapped(t):
        try:
            barrier.wait()
            target(t)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


def check_row(row):
    routine_id, event_name, data, moment = row
    t = int(routine_id[1:])
    i = data["i"]
    assert data["t"] == t
    assert event_name == f"e{t}-{i}"
    assert moment == float(t * 1_000_000 + i)
    return t, i


@pytest.fixture
def fast_switching():
    # switch threads very often so that a missing lock would show up as torn rows
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


@pytest.mark.parametrize("limit", [None, 500])
def test_concurrent_appends_never_tear_rows(limit, fast_switching):
    n_threads, n_rows = 8, 2000
    h = History(limit)
    done = threading.Event()
    reads = []

    def writer(t):
        append = h.append
        for i in range(n_rows):
            append(f"t{t}", f"e{t}-{i}", {"t": t, "i": i}, float(t * 1_000_000 + i))

    reader_errors = []

    def reader():
        # reads concurrently with the writers; every snapshot must be consistent
        try:
            while not done.is_set():
                rows = h.rows()
                for row in rows[-50:]:
                    check_row(row)
                reads.append(len(rows))
        except BaseException as exc:
            reader_errors.append(exc)

    reader_thread = threading.Thread(target=reader)
    reader_thread.start()
    try:
        run_threads(n_threads, writer)
    finally:
        done.set()
        reader_thread.join()
    assert reader_errors == []

    total = n_threads * n_rows
    rows = h.rows()
    expected_len = total if limit is None else limit
    assert len(rows) == expected_len
    assert len(h) == expected_len
    assert h.dropped == total - expected_len
    last_seen = {}
    for row in rows:
        t, i = check_row(row)
        # each thread's rows keep their order
        assert i > last_seen.get(t, -1)
        last_seen[t] = i
    if limit is None:
        assert sorted(check_row(r) for r in rows) == [
            (t, i) for t in range(n_threads) for i in range(n_rows)
        ]
    assert reads  # the reader ran at least once


def test_clear_resets_the_dropped_count() -> None:
    history = History(limit=2)
    for index in range(5):
        history.append("r", "e", {"i": index}, float(index))
    assert history.dropped == 3
    history.clear()
    assert history.dropped == 0 and len(history) == 0
    history.append("r", "e", {}, 1.0)
    assert [row[0] for row in history.rows()] == ["r"]


def test_events_named_like_framework_records_stay_apart_from_them() -> None:
    """K: a routine's events called error/start/completed/retry are listed in
    event_flow once per emission; the engine's records of those names are not, also
    after the job is saved and loaded."""
    names = ["error", "start", "completed", "retry"]

    class Noisy(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_slot("input", handler=self.fail)
            for name in names:
                self.define_event(name, ["n"])

        def go(self) -> None:
            for number, name in enumerate(names):
                self.emit(name, n=number)

        def fail(self, n: int) -> None:
            raise ValueError(f"failing on {n}")

    flow = Flow("k")
    flow.add_routine(Noisy(), "noisy")
    flow.add_routine(Noisy(), "other")
    flow.connect("noisy", "error", "other", "input")
    job = flow.execute("noisy")
    assert job.status == "completed"
    # The history has the engine's start, error (from "other") and completed records
    # besides the four emissions.
    recorded = [(r.routine_id, r.event_name) for r in job.get_execution_history()]
    assert recorded.count(("noisy", "start")) == 2  # the record and the emission
    assert ("other", "error") in recorded
    expected = [("noisy", name, {"n": number}) for number, name in enumerate(names)]

    def flow_of(tracker: Any) -> list[tuple[str, str, Any]]:
        return [(e["source_routine_id"], e["event_name"], e["data"]) for e in tracker.event_flow]

    assert flow_of(job.execution_tracker) == expected
    document = job.serialize()
    marked = [row[1] for row in document["execution_history"] if row[4:] == ["record"]]
    assert sorted(marked) == ["completed", "error", "start"]
    loaded = JobState.deserialize(document)
    assert [(r.routine_id, r.event_name) for r in loaded.get_execution_history()] == recorded
    assert loaded.serialize() == document
    # A store keeps the marks too.
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "jobs.db")
        stored = Flow("k", store=store)
        stored.add_routine(Noisy(), "noisy")
        stored.add_routine(Noisy(), "other")
        stored.connect("noisy", "error", "other", "input")
        job = stored.execute("noisy")
        from_store = store.load(job.job_id)
        store.close()
    assert from_store is not None
    assert from_store.serialize()["execution_history"] == job.serialize()["execution_history"]


def test_emissions_of_zero_one_and_two_keys_read_back_as_emitted() -> None:
    """Issue 9 (history <= 100 bytes a record): a one-key emission is kept without its
    dict, yet reads back, saves and loads as the dict it was; a later change to the
    emitted dict does not reach the record."""
    kept: list[dict[str, Any]] = []

    class Source(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("none")
            self.define_event("one", ["value"])
            self.define_event("two", ["a", "b"])

        def go(self) -> None:
            self.emit("none")
            self.emit("one", value=[1, 2])
            self.emit("one", value=None)
            self.emit("two", a=1, b="x")

    class Keeper(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.keep)

        def keep(self, data: dict[str, Any]) -> None:
            kept.append(data)
            data["changed"] = True

    flow = Flow("compact")
    flow.add_routine(Source(), "source")
    flow.add_routine(Keeper(), "keeper")
    flow.connect("source", "one", "keeper", "input")
    job = flow.execute("source")
    assert job.status == "completed"
    records = job.get_execution_history("source")
    emitted = [(r.event_name, r.data) for r in records if r.event_name != "start"]
    assert emitted[:4] == [
        ("none", {}),
        ("one", {"value": [1, 2]}),
        ("one", {"value": None}),
        ("two", {"a": 1, "b": "x"}),
    ]
    assert len(kept) == 2
    loaded = JobState.deserialize(job.serialize())
    assert [(r.event_name, r.data) for r in loaded.get_execution_history("source")] == [
        (r.event_name, r.data) for r in job.get_execution_history("source")
    ]
