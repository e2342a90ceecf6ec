"""Unit tests for routilux/execution_tracker.py used standalone (no flow)."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from routilux.execution_tracker import ExecutionTracker


def test_new_tracker_is_empty() -> None:
    tracker = ExecutionTracker("flow-a")
    assert tracker.flow_id == "flow-a"
    assert tracker.routine_executions == {}
    assert tracker.performance_metrics == {}
    assert tracker.event_flow == []
    assert ExecutionTracker().flow_id == ""


def test_repr() -> None:
    assert repr(ExecutionTracker("my_flow")) == "ExecutionTracker[my_flow]"
    assert repr(ExecutionTracker()) == "ExecutionTracker[]"


# -- routine start / end ---------------------------------------------------------------


def test_record_routine_start_opens_a_running_record() -> None:
    tracker = ExecutionTracker("f")
    # The tracker keeps time.time() and formats it with fromtimestamp, which rounds to
    # the nearest microsecond where datetime.now() truncates: compare on its clock.
    before = datetime.fromtimestamp(time.time())
    tracker.record_routine_start("r1", {"x": 1})
    after = datetime.fromtimestamp(time.time())
    [record] = tracker.routine_executions["r1"]
    assert record["routine_id"] == "r1"
    assert record["params"] == {"x": 1}
    assert record["status"] == "running"
    assert before <= datetime.fromisoformat(record["start_time"]) <= after
    assert "end_time" not in record
    assert "execution_time" not in record


def test_record_routine_start_without_params_stores_empty_dict() -> None:
    tracker = ExecutionTracker()
    tracker.record_routine_start("r1")
    assert tracker.routine_executions["r1"][0]["params"] == {}


def test_record_routine_end_closes_last_record() -> None:
    tracker = ExecutionTracker()
    tracker.record_routine_start("r1", {"n": 1})
    tracker.record_routine_start("r1", {"n": 2})
    tracker.record_routine_end("r1", "completed", result={"ok": True})
    first, second = tracker.routine_executions["r1"]
    assert first["status"] == "running"
    assert "end_time" not in first
    assert second["status"] == "completed"
    assert second["result"] == {"ok": True}
    assert "error" not in second
    start = datetime.fromisoformat(second["start_time"])
    end = datetime.fromisoformat(second["end_time"])
    assert end >= start
    assert second["execution_time"] == pytest.approx((end - start).total_seconds(), abs=1e-6)
    assert second["execution_time"] >= 0


def test_record_routine_end_default_status_is_completed() -> None:
    tracker = ExecutionTracker()
    tracker.record_routine_start("r")
    tracker.record_routine_end("r")
    [record] = tracker.routine_executions["r"]
    assert record["status"] == "completed"
    assert "result" not in record
    assert "error" not in record


def test_record_routine_end_with_error() -> None:
    tracker = ExecutionTracker()
    tracker.record_routine_start("r")
    tracker.record_routine_end("r", "failed", error="boom")
    [record] = tracker.routine_executions["r"]
    assert record["status"] == "failed"
    assert record["error"] == "boom"
    assert "result" not in record


@pytest.mark.parametrize("falsy", [0, "", [], {}, False])
def test_falsy_but_not_none_result_and_error_are_kept(falsy: object) -> None:
    tracker = ExecutionTracker()
    tracker.record_routine_start("r")
    tracker.record_routine_end("r", result=falsy, error=falsy)  # type: ignore[arg-type]
    [record] = tracker.routine_executions["r"]
    assert record["result"] == falsy
    assert record["error"] == falsy


def test_record_routine_end_without_start_is_ignored() -> None:
    tracker = ExecutionTracker()
    tracker.record_routine_end("ghost", "failed", error="x")
    assert tracker.routine_executions == {}
    assert tracker.get_routine_performance("ghost") is None


def test_end_of_one_routine_does_not_close_another() -> None:
    tracker = ExecutionTracker()
    tracker.record_routine_start("a")
    tracker.record_routine_start("b")
    tracker.record_routine_end("a")
    assert tracker.routine_executions["a"][0]["status"] == "completed"
    assert tracker.routine_executions["b"][0]["status"] == "running"


# -- events ----------------------------------------------------------------------------


def test_record_event_appears_in_event_flow() -> None:
    tracker = ExecutionTracker()
    before = datetime.now()
    tracker.record_event("src", "out", "dst", {"v": 1})
    tracker.record_event("src", "done")
    after = datetime.now()
    first, second = tracker.event_flow
    assert {k: v for k, v in first.items() if k != "timestamp"} == {
        "source_routine_id": "src",
        "event_name": "out",
        "target_routine_id": "dst",
        "data": {"v": 1},
    }
    assert before <= datetime.fromisoformat(first["timestamp"]) <= after
    assert second["event_name"] == "done"
    assert second["target_routine_id"] is None
    assert second["data"] == {}


def test_event_flow_is_a_new_list_on_every_read() -> None:
    tracker = ExecutionTracker()
    tracker.record_event("a", "e")
    events = tracker.event_flow
    events.clear()
    assert len(tracker.event_flow) == 1
    assert tracker.event_flow is not tracker.event_flow


# -- performance -----------------------------------------------------------------------


def test_get_routine_performance_unknown_is_none() -> None:
    assert ExecutionTracker().get_routine_performance("nope") is None


def test_get_routine_performance_counts_and_times() -> None:
    tracker = ExecutionTracker()
    # Records with known timings, written as record_routine_end would leave them.
    tracker.routine_executions["r"] = [
        {"status": "completed", "execution_time": 1.0},
        {"status": "completed", "execution_time": 3.0},
        {"status": "failed", "execution_time": 2.0},
        {"status": "running"},
    ]
    perf = tracker.get_routine_performance("r")
    assert perf == {
        "total_executions": 4,
        "completed": 2,
        "failed": 1,
        "success_rate": 0.5,
        "avg_execution_time": pytest.approx(2.0),
        "min_execution_time": 1.0,
        "max_execution_time": 3.0,
    }


def test_get_routine_performance_without_timings_defaults_to_zero() -> None:
    tracker = ExecutionTracker()
    tracker.record_routine_start("r")
    perf = tracker.get_routine_performance("r")
    assert perf is not None
    assert perf["total_executions"] == 1
    assert perf["completed"] == 0
    assert perf["failed"] == 0
    assert perf["success_rate"] == 0
    assert perf["avg_execution_time"] == 0
    assert perf["min_execution_time"] == 0
    assert perf["max_execution_time"] == 0


def test_get_routine_performance_from_recorded_runs() -> None:
    tracker = ExecutionTracker()
    for status in ("completed", "failed", "completed", "completed"):
        tracker.record_routine_start("r")
        tracker.record_routine_end("r", status)
    perf = tracker.get_routine_performance("r")
    assert perf is not None
    assert perf["total_executions"] == 4
    assert perf["completed"] == 3
    assert perf["failed"] == 1
    assert perf["success_rate"] == pytest.approx(0.75)
    times = [r["execution_time"] for r in tracker.routine_executions["r"]]
    assert perf["min_execution_time"] == min(times)
    assert perf["max_execution_time"] == max(times)
    assert perf["avg_execution_time"] == pytest.approx(sum(times) / 4)


def test_get_flow_performance() -> None:
    tracker = ExecutionTracker("f")
    tracker.routine_executions["a"] = [
        {"status": "completed", "execution_time": 1.0},
        {"status": "completed", "execution_time": 3.0},
    ]
    tracker.routine_executions["b"] = [{"status": "completed", "execution_time": 4.0}]
    # A routine with no timings counts as a routine but not in the time averages.
    tracker.routine_executions["c"] = [{"status": "running"}]
    tracker.record_event("a", "e1")
    tracker.record_event("b", "e2")
    tracker.record_event("b", "e3")
    assert tracker.get_flow_performance() == {
        "total_routines": 3,
        "total_events": 3,
        "total_execution_time": pytest.approx(6.0),  # avg(a)=2 + avg(b)=4
        "avg_routine_time": pytest.approx(3.0),
    }


def test_get_flow_performance_of_empty_tracker() -> None:
    assert ExecutionTracker().get_flow_performance() == {
        "total_routines": 0,
        "total_events": 0,
        "total_execution_time": 0,
        "avg_routine_time": 0,
    }


# -- thread safety ---------------------------------------------------------------------


def test_record_methods_from_8_threads_lose_nothing() -> None:
    tracker = ExecutionTracker("f")
    threads_n, per_thread = 8, 300
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(per_thread):
                tracker.record_routine_start("shared", {"t": index, "i": i})
                tracker.record_routine_start(f"own-{index}", {"i": i})
                tracker.record_routine_end(f"own-{index}", "completed", result=i)
                tracker.record_event(f"own-{index}", "e", None, {"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(tracker.routine_executions["shared"]) == threads_n * per_thread
    for index in range(threads_n):
        runs = tracker.routine_executions[f"own-{index}"]
        assert len(runs) == per_thread
        assert all(r["status"] == "completed" for r in runs)
        assert [r["result"] for r in runs] == list(range(per_thread))
    events = tracker.event_flow
    assert len(events) == threads_n * per_thread
    for index in range(threads_n):
        mine = [e["data"]["i"] for e in events if e["source_routine_id"] == f"own-{index}"]
        assert mine == list(range(per_thread))
    perf = tracker.get_flow_performance()
    assert perf["total_routines"] == threads_n + 1
    assert perf["total_events"] == threads_n * per_thread
