"""Jobs saved as ``routilux.job`` documents and loaded again."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from routilux import ErrorHandler, Flow, JobState, Routine
from routilux.exceptions import JobStateError, SerializationError

from helpers import Collector, Source

STAMP = datetime(2024, 5, 6, 7, 8, 9, 123456)


class FlakyError(Exception):
    pass


class Numbers(Routine):
    """Entry: emits ``value=0..count-1`` and sets shared data of many types."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 0, pause_at: int | None = None, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        job = ctx.job_state
        job.update_shared_data("pause_at", pause_at)
        job.update_shared_data("window", (0, count))
        job.update_shared_data("tags", {"alpha", "beta"})
        job.update_shared_data("frozen", frozenset({1, 2}))
        job.update_shared_data("started", STAMP)
        job.update_shared_data("by_number", {1: "one", (2, 3): ["two", "three"]})
        job.update_shared_data("amount", Decimal("10.50"))
        job.update_shared_data("nested", {"a": [{"b": (1, {2})}]})
        for value in range(count):
            self.emit("output", value=value)
        state = job.get_routine_state(ctx.routine_id) or {}
        job.update_routine_state(ctx.routine_id, {**state, "emitted": count, "shape": (count,)})


class Square(Routine):
    """Squares values; counts them in its state; logs them."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.square)
        self.define_event("output", ["value", "square"])

    def square(self, value: int) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        job = ctx.job_state
        state = job.get_routine_state(ctx.routine_id) or {}
        job.update_routine_state(
            ctx.routine_id,
            {"seen": state.get("seen", 0) + 1, "total": state.get("total", 0) + value},
        )
        job.append_to_shared_log({"square_of": value})
        self.emit("output", value=value, square=value * value)


class Picky(Routine):
    """Fails on value 1 (no error handler: recorded, the job goes on)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.check)

    def check(self, value: int, square: int) -> None:
        if value == 1:
            raise ValueError(f"picky about {value}")
        ctx = self.get_execution_context()
        assert ctx is not None
        state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
        ctx.job_state.update_routine_state(
            ctx.routine_id, {**state, "ok": [*state.get("ok", []), square]}
        )


class Collect(Routine):
    """Collects with the append strategy; pauses the job after ``pause_at`` items."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.collect, merge_strategy="append")
        self.define_event("done", ["count"])

    def collect(self, value: list[int], square: list[int]) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        job = ctx.job_state
        job.update_shared_data("squares", tuple(square))
        job.update_shared_data("values", set(value))
        self.send_output("progress", received=len(value), last=(value[-1], square[-1]))
        tracker = job.execution_tracker
        tracker.performance_metrics["collect_calls"] = len(value)
        tracker.record_event(ctx.routine_id, "progress", None, {"n": len(value)})
        if len(value) == job.get_shared_data("pause_at"):
            ctx.flow.pause(job, f"after {len(value)}", {"received": len(value), "at": (1, 2)})


class DeferringPauser(Routine):
    """Pauses on value 1 after recording a deferred event."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("later", ["note", "when"])

    def handle(self, value: int) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        if value == 1:
            self.emit_deferred_event("later", note=("resumed", value), when=STAMP)
            ctx.flow.pause(ctx.job_state, "deferred")


class Flaky(Routine):
    """Fails its first attempt in each job (counted in the job, not the routine)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["value"])

    def handle(self, value: int) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
        attempts = state.get("attempts", 0) + 1
        ctx.job_state.update_routine_state(ctx.routine_id, {**state, "attempts": attempts})
        if attempts == 1:
            raise FlakyError("first attempt fails")
        self.emit("output", value=value)


class Pauser(Routine):
    """Pauses the job when it receives value 0."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, value: int) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        if value == 0:
            ctx.flow.pause(ctx.job_state, "hold")


class Blocker(Routine):
    """Blocks until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.define_slot("trigger", handler=self.block)

    def block(self, **_: Any) -> None:
        self.entered.set()
        assert self.release.wait(10)


class Unstorable:
    """An object of a class nobody registered."""


def build_flow(history_limit: int | None = None) -> Flow:
    flow = Flow("jobs", history_limit=history_limit)
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(Square(), "square")
    flow.add_routine(Collect(), "collect")
    flow.add_routine(Picky(), "picky")
    flow.connect("numbers", "output", "square", "input")
    flow.connect("square", "output", "collect", "input")
    flow.connect("square", "output", "picky", "input")
    return flow


def paused_job(history_limit: int | None = None) -> tuple[Flow, JobState]:
    flow = build_flow(history_limit)
    job = flow.execute("numbers", {"count": 6, "pause_at": 3})
    assert job.status == "paused"
    return flow, job


_TIMING = {"execution_time", "start_time", "end_time", "error_time"}


def final_states(job: JobState) -> dict[str, Any]:
    return {
        routine_id: {k: v for k, v in state.items() if k not in _TIMING}
        for routine_id, state in job.routine_states.items()
    }


def history(job: JobState) -> list[tuple[str, str, Any, datetime]]:
    return [(r.routine_id, r.event_name, r.data, r.timestamp) for r in job.execution_history]


def via_json(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(document))
    return result


def assert_same_job(loaded: JobState, job: JobState) -> None:
    assert loaded.job_id == job.job_id
    assert loaded.flow_id == job.flow_id
    assert loaded.status == job.status
    assert loaded.current_routine_id == job.current_routine_id
    assert loaded.created_at == job.created_at
    assert loaded.updated_at == job.updated_at
    assert loaded.routine_states == job.routine_states
    assert loaded.shared_data == job.shared_data
    assert loaded.shared_log == job.shared_log
    assert loaded.output_log == job.output_log
    assert loaded.errors == job.errors
    assert loaded.pause_points == job.pause_points
    assert loaded.deferred_events == job.deferred_events
    assert loaded.pending_tasks == job.pending_tasks
    assert loaded._merge_buffers == job._merge_buffers
    assert loaded.history_limit == job.history_limit
    assert loaded.history_dropped == job.history_dropped
    assert history(loaded) == history(job)
    for mine, theirs in zip(loaded.execution_history, job.execution_history, strict=True):
        assert abs(mine.time - theirs.time) < 1e-6
    tracker, original = loaded.execution_tracker, job.execution_tracker
    assert tracker.flow_id == original.flow_id
    assert tracker.routine_executions == original.routine_executions
    assert tracker.performance_metrics == original.performance_metrics
    assert tracker._recorded_events == original._recorded_events
    assert loaded.serialize() == job.serialize()


# -- a paused job -------------------------------------------------------------------


def test_paused_job_document_holds_the_pause() -> None:
    _, job = paused_job()
    doc = job.serialize()
    assert doc["format"] == "routilux.job"
    assert doc["version"] == 1
    assert doc["status"] == "paused"
    assert doc["flow_id"] == "jobs"
    assert doc["current_routine_id"] == "numbers"
    assert [(p["slot_routine_id"], p["slot_name"], p["data"]) for p in doc["pending_tasks"]] == [
        ("picky", "input", {"value": 2, "square": 4}),
        ("collect", "input", {"value": 3, "square": 9}),
        ("picky", "input", {"value": 3, "square": 9}),
        ("collect", "input", {"value": 4, "square": 16}),
        ("picky", "input", {"value": 4, "square": 16}),
        ("collect", "input", {"value": 5, "square": 25}),
        ("picky", "input", {"value": 5, "square": 25}),
    ]
    assert {p["retry_count"] for p in doc["pending_tasks"]} == {0}
    # The append buffer is caught mid-way: three of six deliveries.
    assert doc["merge_buffers"] == {"collect": {"input": {"value": [0, 1, 2], "square": [0, 1, 4]}}}
    assert doc["shared_data"]["window"] == {"$tuple": [0, 6]}
    assert doc["shared_data"]["started"] == {"$datetime": "2024-05-06T07:08:09.123456"}
    assert doc["pause_points"][0]["reason"] == "after 3"
    assert doc["pause_points"][0]["checkpoint"] == {"received": 3, "at": {"$tuple": [1, 2]}}
    assert [e["routine_id"] for e in doc["errors"]] == ["picky"]
    assert len(doc["output_log"]) == 3
    assert json.loads(json.dumps(doc)) == doc


def test_set_members_keep_their_order_through_a_round_trip() -> None:
    job = JobState("sets")
    members = set()
    members.add(45)
    members.add(53)  # 45 and 53 collide in a small set: iteration order is [53, 45]
    job.shared_data["members"] = members
    first = job.serialize()
    loaded = JobState.deserialize(via_json(first))
    assert loaded.shared_data["members"] == {45, 53}  # the value is kept...
    assert loaded.serialize() == first  # ...but is the document?


@pytest.mark.parametrize("form", ["class", "instance"])
def test_paused_job_round_trips_completely(form: str) -> None:
    _, job = paused_job()
    doc = via_json(job.serialize())
    if form == "class":
        loaded = JobState.deserialize(doc)
        assert isinstance(loaded, JobState)
        assert loaded is not job
    else:
        target = JobState("some other flow")
        loaded = target.deserialize(doc)
        assert loaded is target
    assert_same_job(loaded, job)

    # Values keep their types.
    shared = loaded.shared_data
    assert type(shared["window"]) is tuple
    assert type(shared["tags"]) is set
    assert type(shared["frozen"]) is frozenset
    assert shared["started"] == STAMP
    assert type(shared["started"]) is datetime
    assert shared["by_number"] == {1: "one", (2, 3): ["two", "three"]}
    assert type(shared["amount"]) is Decimal
    assert type(shared["nested"]["a"][0]["b"]) is tuple
    assert type(shared["squares"]) is tuple
    assert shared["values"] == {0, 1, 2}
    assert type(loaded.routine_states["numbers"]["shape"]) is tuple
    assert type(loaded.pause_points[0]["checkpoint"]["at"]) is tuple

    # Details of the parts that matter for resuming.
    assert loaded.pending_tasks[1] == {
        "slot_routine_id": "collect",
        "slot_name": "input",
        "data": {"value": 3, "square": 9},
        "retry_count": 0,
        "merged": False,
        "is_entry": False,
    }
    assert loaded._merge_buffers == {
        "collect": {"input": {"value": [0, 1, 2], "square": [0, 1, 4]}}
    }
    assert [entry["square_of"] for entry in loaded.shared_log] == [0, 1, 2, 3, 4, 5]
    assert all(isinstance(entry["timestamp"], str) for entry in loaded.shared_log)
    assert [o["data"]["last"] for o in loaded.output_log] == [(0, 0), (1, 1), (2, 4)]
    assert loaded.errors[0]["routine_id"] == "picky"
    assert loaded.errors[0]["error_type"] == "ValueError"
    assert "picky about 1" in loaded.errors[0]["error"]
    assert loaded.execution_tracker.performance_metrics == {"collect_calls": 3}
    assert [e["data"] for e in loaded.execution_tracker.event_flow] == [
        {"n": 1},
        {"n": 2},
        {"n": 3},
    ]
    runs = loaded.execution_tracker.routine_executions["numbers"]
    assert runs[0]["params"] == {"count": 6, "pause_at": 3}
    assert runs[0]["status"] == "running"


def test_history_keeps_routines_events_data_and_microseconds() -> None:
    _, job = paused_job()
    loaded = JobState.deserialize(via_json(job.serialize()))
    records = loaded.get_execution_history()
    assert [(r.routine_id, r.event_name) for r in records][:4] == [
        ("numbers", "start"),
        ("numbers", "output"),
        ("numbers", "output"),
        ("numbers", "output"),
    ]
    assert records[0].data == {"count": 6, "pause_at": 3}
    assert [r.data for r in loaded.get_execution_history("collect")] == []
    assert [r.data for r in loaded.get_execution_history("square")][:2] == [
        {"value": 0, "square": 0},
        {"value": 1, "square": 1},
    ]
    original = [r.timestamp for r in job.get_execution_history()]
    restored = [r.timestamp for r in records]
    assert restored == original
    assert any(stamp.microsecond for stamp in restored)  # not truncated to seconds


def test_history_limit_and_dropped_records_round_trip() -> None:
    _, job = paused_job(history_limit=5)
    assert job.history_limit == 5
    assert job.history_dropped > 0
    doc = via_json(job.serialize())
    assert doc["history_limit"] == 5
    assert doc["history_dropped"] == job.history_dropped
    assert len(doc["execution_history"]) == 5
    loaded = JobState.deserialize(doc)
    assert loaded.history_limit == 5
    assert loaded.history_dropped == job.history_dropped
    assert history(loaded) == history(job)
    # The limit still applies to the loaded job.
    loaded.record_execution("numbers", "extra", {"n": 1})
    assert len(loaded.execution_history) == 5
    assert loaded.history_dropped == job.history_dropped + 1
    assert loaded.execution_history[-1].event_name == "extra"


def test_resumed_loaded_job_finishes_like_an_uninterrupted_run(tmp_path: Path) -> None:
    flow, job = paused_job()
    flow.save(tmp_path / "flow.json")
    job.save(tmp_path / "job.json")

    rebuilt = Flow.load(tmp_path / "flow.json")
    loaded = JobState.load(tmp_path / "job.json")
    assert rebuilt.resume(loaded, wait=True) is loaded
    assert loaded.status == "completed"
    assert loaded.pending_tasks == []

    uninterrupted = build_flow().execute("numbers", {"count": 6, "pause_at": None})
    assert uninterrupted.status == "completed"
    expected_shared = dict(uninterrupted.shared_data, pause_at=3)
    assert loaded.shared_data == expected_shared
    assert final_states(loaded) == final_states(uninterrupted)
    assert loaded.shared_data["squares"] == (0, 1, 4, 9, 16, 25)
    assert loaded.shared_data["values"] == {0, 1, 2, 3, 4, 5}
    assert [o["data"]["received"] for o in loaded.output_log] == [1, 2, 3, 4, 5, 6]
    assert [e["routine_id"] for e in loaded.errors] == ["picky"]
    # The original paused job resumed in place agrees too.
    flow.resume(job, wait=True)
    assert job.shared_data == loaded.shared_data
    assert final_states(job) == final_states(loaded)


def test_resume_with_instance_form_on_a_rebuilt_flow() -> None:
    _, job = paused_job()
    doc = via_json(job.serialize())
    target = JobState()
    target.deserialize(doc)
    rebuilt = build_flow()
    rebuilt.resume(target)
    assert target.wait_for_completion(10)
    assert target.status == "completed"
    assert target.shared_data["squares"] == (0, 1, 4, 9, 16, 25)


def test_pending_retry_counts_round_trip_and_the_retry_runs_on_resume() -> None:
    def build() -> Flow:
        flow = Flow("retrying")
        flow.add_routine(Source(), "src")
        flaky = Flaky()
        # A retry far in the future: the pause takes the waiting retry with it.
        flaky.set_error_handler(
            ErrorHandler("retry", max_retries=3, retry_delay=3600, retryable_exceptions=FlakyError)
        )
        flow.add_routine(flaky, "flaky")
        flow.add_routine(Pauser(), "pauser")
        flow.add_routine(Collector(), "sink")
        flow.connect("src", "output", "flaky", "input")
        flow.connect("src", "output", "pauser", "input")
        flow.connect("flaky", "output", "sink", "input")
        return flow

    job = build().execute("src", {"count": 1})
    assert job.status == "paused"
    assert [(p["slot_routine_id"], p["retry_count"]) for p in job.pending_tasks] == [("flaky", 1)]

    doc = via_json(job.serialize())
    assert doc["pending_tasks"] == [
        {
            "slot_routine_id": "flaky",
            "slot_name": "input",
            "data": {"value": 0},
            "retry_count": 1,
            "merged": True,
            "is_entry": False,
            "activation_id": job.pending_tasks[0].activation_id,
        }
    ]
    loaded = JobState.deserialize(doc)
    assert loaded.pending_tasks == job.pending_tasks
    assert [r.event_name for r in loaded.get_execution_history("flaky")] == ["retry"]

    build().resume(loaded, wait=True)
    assert loaded.status == "completed"
    assert loaded.get_routine_state("flaky")["attempts"] == 2  # type: ignore[index]
    assert loaded.get_routine_state("sink")["received"] == [{"value": 0}]  # type: ignore[index]


def test_deferred_events_round_trip_and_are_emitted_on_resume() -> None:
    def build() -> Flow:
        flow = Flow("deferring")
        flow.add_routine(Source(), "src")
        flow.add_routine(DeferringPauser(), "pauser")
        flow.add_routine(Collector(), "sink")
        flow.connect("src", "output", "pauser", "input")
        flow.connect("pauser", "later", "sink", "input")
        return flow

    job = build().execute("src", {"count": 3})
    assert job.status == "paused"
    assert len(job.deferred_events) == 1
    doc = via_json(job.serialize())
    assert doc["deferred_events"][0]["routine_id"] == "pauser"
    assert doc["deferred_events"][0]["event_name"] == "later"
    assert doc["deferred_events"][0]["data"] == {
        "note": {"$tuple": ["resumed", 1]},
        "when": {"$datetime": "2024-05-06T07:08:09.123456"},
    }
    loaded = JobState.deserialize(doc)
    assert loaded.deferred_events == job.deferred_events
    assert loaded.deferred_events[0]["timestamp"] == job.deferred_events[0]["timestamp"]

    build().resume(loaded, wait=True)
    assert loaded.status == "completed"
    assert loaded.deferred_events == []
    assert loaded.get_routine_state("sink")["received"] == [  # type: ignore[index]
        {"note": ("resumed", 1), "when": STAMP}
    ]


def test_results_round_trip() -> None:
    _, job = paused_job()
    job._results["collect"] = {"answer": (4, 2)}
    loaded = JobState.deserialize(via_json(job.serialize()))
    assert loaded._results == {"collect": {"answer": (4, 2)}}


def test_output_handler_is_not_stored_and_an_instance_keeps_its_own() -> None:
    _, job = paused_job()
    doc = via_json(job.serialize())
    assert "output_handler" not in doc
    target = JobState()
    handler = object()
    target.output_handler = handler  # type: ignore[assignment]
    target.deserialize(doc)
    assert target.output_handler is handler
    assert JobState.deserialize(doc).output_handler is None


# -- finished jobs ------------------------------------------------------------------


def test_completed_job_round_trips() -> None:
    job = build_flow().execute("numbers", {"count": 4})
    assert job.status == "completed"
    doc = via_json(job.serialize())
    assert doc["pending_tasks"] == []
    assert doc["merge_buffers"] == {}
    loaded = JobState.deserialize(doc)
    assert_same_job(loaded, job)
    assert loaded.is_finished
    assert loaded.get_execution_history()[-1].event_name == "completed"
    assert loaded.routine_states["numbers"]["status"] == "completed"


def test_failed_job_round_trips() -> None:
    flow = build_flow()
    flow.routines["picky"].set_error_handler(ErrorHandler("stop"))
    job = flow.execute("numbers", {"count": 4})
    assert job.status == "failed"
    loaded = JobState.deserialize(via_json(job.serialize()))
    assert_same_job(loaded, job)
    assert loaded.status == "failed"
    assert loaded.is_finished
    assert loaded.errors[0]["strategy"] == "stop"
    assert loaded.routine_states["picky"]["status"] == "failed"
    with pytest.raises(JobStateError):
        flow.resume(loaded)


def test_cancelled_job_round_trips() -> None:
    flow, job = paused_job()
    flow.cancel(job, "no longer needed")
    assert job.wait_for_completion(10)
    assert job.status == "cancelled"
    loaded = JobState.deserialize(via_json(job.serialize()))
    assert_same_job(loaded, job)
    assert loaded.routine_states["_cancellation"] == {"reason": "no longer needed"}
    assert loaded.pending_tasks == []


# -- errors -------------------------------------------------------------------------


def test_serializing_a_running_job_raises_job_state_error(tmp_path: Path) -> None:
    blocker = Blocker()
    flow = Flow("blocking")
    flow.add_routine(blocker, "block")
    job = flow.execute("block", wait=False)
    try:
        assert blocker.entered.wait(10)
        assert job.status == "running"
        with pytest.raises(JobStateError, match="while it runs"):
            job.serialize()
        with pytest.raises(JobStateError):
            job.save(tmp_path / "job.json")
        assert list(tmp_path.iterdir()) == []
        other = paused_job()[1].serialize()
        with pytest.raises(JobStateError):
            job.deserialize(other)
        assert job.flow_id == "blocking"
    finally:
        blocker.release.set()
    assert job.wait_for_completion(10)
    assert job.status == "completed"
    assert job.serialize()["status"] == "completed"


def test_load_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        JobState.load(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (Unstorable(), "$.shared_data.thing"),
        ({"deep": [1, {"x": Unstorable()}]}, "$.shared_data.thing.deep[1].x"),
        (lambda: None, "$.shared_data.thing"),
        (Unstorable, "$.shared_data.thing"),
    ],
)
def test_unstorable_shared_data_raises_serialization_error_naming_it(
    value: Any, path: str, tmp_path: Path
) -> None:
    _, job = paused_job()
    job.shared_data["thing"] = value
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == path
    assert f"(at {path})" in str(info.value)
    with pytest.raises(SerializationError):
        job.save(tmp_path / "job.json")
    assert list(tmp_path.iterdir()) == []


def test_unstorable_data_elsewhere_names_its_place() -> None:
    _, job = paused_job()
    job.routine_states["square"]["bad"] = Unstorable()
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == "$.routine_states.square.bad"
    del job.routine_states["square"]["bad"]
    job.pending_tasks[0] = attrs.evolve(job.pending_tasks[0], data={"value": Unstorable()})
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == "$.pending_tasks[0].data.value"


# -- saving -------------------------------------------------------------------------


def test_save_writes_the_document_and_leaves_no_partial_file(tmp_path: Path) -> None:
    _, job = paused_job()
    path = tmp_path / "sub" / "job.json"
    job.save(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["job.json"]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == via_json(job.serialize())
    assert data["format"] == "routilux.job"
    assert_same_job(JobState.load(path), job)
    assert_same_job(JobState.load(str(path)), job)


def test_save_replaces_an_existing_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text("an older, longer file " * 1000, encoding="utf-8")
    old_inode = os.stat(path).st_ino
    _, job = paused_job()
    job.save(path)
    # A new file was moved into place (a reader never sees a half-written file).
    assert os.stat(path).st_ino != old_inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json"]
    assert_same_job(JobState.load(path), job)

    # Saving again (a later state of the job) replaces it again.
    job.shared_data["later"] = True
    job.save(path)
    assert JobState.load(path).shared_data["later"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json"]


def test_failed_save_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    _, job = paused_job()
    job.save(path)
    before = path.read_bytes()
    job.shared_data["bad"] = Unstorable()
    with pytest.raises(SerializationError):
        job.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json"]


def test_save_of_text_that_is_not_valid_unicode(tmp_path: Path) -> None:
    """A lone surrogate cannot be written as UTF-8: it is saved escaped and comes back."""
    _, job = paused_job()
    job.shared_data["text"] = "bad \ud800 text"
    job.routine_states["square"]["ok"] = "still readable é"
    path = tmp_path / "job.json"
    job.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]
    path.read_bytes().decode("utf-8")  # valid UTF-8 on disk
    loaded = JobState.load(path)
    assert loaded.shared_data["text"] == "bad \ud800 text"
    assert loaded.routine_states["square"]["ok"] == "still readable é"


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    _, job = paused_job()
    target = tmp_path / "job.json"
    target.mkdir()  # the final rename cannot replace a (non-empty) directory
    (target / "keep").write_text("x", encoding="utf-8")
    with pytest.raises(OSError):
        job.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json"]
    assert (target / "keep").read_text(encoding="utf-8") == "x"


def test_serialized_document_is_a_snapshot() -> None:
    flow, job = paused_job()
    doc = job.serialize()
    snapshot = json.loads(json.dumps(doc))
    flow.resume(job, wait=True)
    assert job.status == "completed"
    assert doc == snapshot
    # ... and changing the document does not change the job.
    doc["shared_data"]["pause_at"] = 99
    doc["routine_states"]["square"]["seen"] = -1
    doc["execution_tracker"]["performance_metrics"]["collect_calls"] = -1
    assert job.shared_data["pause_at"] == 3
    assert job.routine_states["square"]["seen"] == 6
    assert job.execution_tracker.performance_metrics["collect_calls"] == 6


# -- damaged documents fail when loaded, not in the resumed job (issue 8) --------------


def tracker_job_document() -> dict[str, Any]:
    """The document of a paused job with pending work and tracker records."""
    _, job = paused_job()
    document = via_json(job.serialize())
    assert document["pending_tasks"]
    assert document["execution_tracker"]["routine_executions"]["numbers"]
    assert document["execution_tracker"]["recorded_events"]
    return document


def set_path(document: Any, path: list[Any], value: Any) -> None:
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = value


RUN = ["execution_tracker", "routine_executions", "numbers", 0]
RUN_AT = "$.execution_tracker.routine_executions['numbers'][0]"
EVENT = ["execution_tracker", "recorded_events", 0]
EVENT_AT = "$.execution_tracker.recorded_events[0]"


@pytest.mark.parametrize(
    ("path", "value", "where", "message"),
    [
        (RUN[:-1], [5], RUN_AT, "a run record must be an object, not int"),
        (RUN[:-1], {"0": {}}, RUN_AT[:-3], "the runs of a routine must be a list"),
        (RUN[:-2], [], "$.execution_tracker.routine_executions", "expected dict"),
        ([*RUN, "start_time"], "yesterday", f"{RUN_AT}.start_time", "invalid or out-of-range"),
        ([*RUN, "start_time"], 1700000000, f"{RUN_AT}.start_time", "must be an ISO string"),
        ([*RUN, "start_time"], "2024-01-01T00:00:00+02:00", f"{RUN_AT}.start_time", "local"),
        ([*RUN, "end_time"], "2024-13-01T00:00:00", f"{RUN_AT}.end_time", "invalid"),
        ([*RUN, "routine_id"], "square", f"{RUN_AT}.routine_id", "listed under 'numbers'"),
        ([*RUN, "params"], [1], f"{RUN_AT}.params", "params must be an object"),
        ([*RUN, "status"], None, f"{RUN_AT}.status", "status must be a string"),
        ([*RUN, "error"], 5, f"{RUN_AT}.error", "error must be a string"),
        ([*RUN, "execution_time"], "1s", f"{RUN_AT}.execution_time", "finite number"),
        ([*RUN, "activations"], -1, f"{RUN_AT}.activations", "activations must be an int"),
        ([*RUN, "surprise"], 1, RUN_AT, "unknown keys 'surprise'"),
        (EVENT, "event", EVENT_AT, "an event record must be an object"),
        ([*EVENT, "timestamp"], "then", f"{EVENT_AT}.timestamp", "invalid or out-of-range"),
        ([*EVENT, "event_name"], 3, f"{EVENT_AT}.event_name", "event_name must be a string"),
        ([*EVENT, "target_routine_id"], [], f"{EVENT_AT}.target_routine_id", "or null"),
        ([*EVENT, "extra"], 1, EVENT_AT, "unknown keys 'extra'"),
        (["execution_tracker", "performance_metrics"], [], None, "expected dict"),
    ],
)
def test_damaged_tracker_records_are_refused_when_loaded(
    path: list[Any], value: Any, where: str | None, message: str, tmp_path: Path
) -> None:
    """P: a malformed tracker record used to load, and the resumed job then never
    settled (the tracker raised while finishing it). Every tracker field is checked
    at load, as the tracker writes it; the file's error names the file."""
    document = tracker_job_document()
    set_path(document, path, value)
    with pytest.raises(SerializationError) as info:
        JobState.deserialize(document)
    assert message in str(info.value)
    if where is not None:
        assert info.value.path == where
    file = tmp_path / "job.json"
    file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SerializationError) as file_info:
        JobState.load(file)
    assert str(file_info.value).startswith(f"cannot load {file}: ")
    assert file_info.value.path == info.value.path


def test_missing_run_record_key_is_refused() -> None:
    """P: a run record without start_time would make record_routine_end raise."""
    document = tracker_job_document()
    record = document["execution_tracker"]["routine_executions"]["numbers"][0]
    del record["start_time"]
    with pytest.raises(SerializationError, match="missing start_time") as info:
        JobState.deserialize(document)
    assert info.value.path == RUN_AT


def test_the_repro_tracker_document_is_refused_and_a_valid_one_resumes() -> None:
    """P: the repro's ``{"src": [5]}`` tracker is refused at load; the untouched
    document resumes and the job settles (wait_for_completion returns)."""
    document = tracker_job_document()
    damaged = json.loads(json.dumps(document))
    damaged["execution_tracker"]["routine_executions"] = {"numbers": [5]}
    with pytest.raises(SerializationError):
        JobState.deserialize(damaged)
    job = JobState.deserialize(document)
    flow = build_flow()
    flow.resume(job)
    assert job.wait_for_completion(30)
    assert job.status == "completed"
    runs = job.execution_tracker.routine_executions["numbers"]
    assert runs[-1]["status"] == "completed"


def test_damaged_tracker_in_a_sqlite_store_is_refused(tmp_path: Path) -> None:
    """P: the same from a damaged SQLite row: the store's load raises
    SerializationError instead of handing back a job that can never settle."""
    import sqlite3

    from routilux.stores import SQLiteStore

    path = tmp_path / "jobs.db"
    store = SQLiteStore(str(path))
    try:
        flow = build_flow()
        flow.store = store
        job = flow.execute("numbers", {"count": 6, "pause_at": 3})
        assert job.status == "paused"
        assert store.load(job.job_id) is not None
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        changed = db.execute(
            "UPDATE jobs SET snapshot = json_set(snapshot, "
            "'$.execution_tracker.routine_executions', json('{\"numbers\": [5]}')) "
            "WHERE job_id = ?",
            (job.job_id,),
        ).rowcount
    assert changed == 1
    reopened = SQLiteStore(str(path))
    try:
        with pytest.raises(SerializationError) as info:
            reopened.load(job.job_id)
        assert info.value.path == RUN_AT
    finally:
        reopened.close()


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (-1, "retry_count must be an int from 0 to 2147483647, not -1"),
        (-(2**40), "not -1099511627776"),
        (2**31, "not 2147483648"),
        (2**63, "integer out of range"),
    ],
)
def test_out_of_range_retry_count_is_refused(count: int, message: str, tmp_path: Path) -> None:
    """Q: a negative retry_count in pending work used to drop the activation (the job
    "completed", nothing ran); it is refused at load, as is an absurdly large one."""
    document = tracker_job_document()
    document["pending_tasks"][0]["retry_count"] = count
    with pytest.raises(SerializationError, match=message) as info:
        JobState.deserialize(document)
    assert info.value.path == "$.pending_tasks[0].retry_count"
    file = tmp_path / "job.json"
    file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SerializationError, match=f"cannot load {file}"):
        JobState.load(file)


def test_largest_retry_count_loads_and_the_activation_runs() -> None:
    """Q: the bound itself is accepted, and the loaded activation does run."""
    document = tracker_job_document()
    document["pending_tasks"][0]["retry_count"] = 2**31 - 1
    job = JobState.deserialize(document)
    assert job.pending_tasks[0]["retry_count"] == 2**31 - 1
    build_flow().resume(job, wait=True)
    assert job.status == "completed"
    uninterrupted = build_flow().execute("numbers", {"count": 6})
    assert job.get_shared_data("squares") == uninterrupted.get_shared_data("squares")
    assert len(job.get_shared_data("squares")) == 6


def test_saving_a_job_a_loader_would_refuse_is_refused() -> None:
    """P and Q: save checks the same shapes as load, so it never writes a document
    that cannot be loaded again."""
    _, job = paused_job()
    job.pending_tasks[0] = attrs.evolve(job.pending_tasks[0], attempt=-1)
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == "$.pending_tasks[0].retry_count"
    job.pending_tasks[0] = attrs.evolve(job.pending_tasks[0], attempt=0)
    job.execution_tracker.routine_executions["numbers"].append(5)  # type: ignore[arg-type]
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == "$.execution_tracker.routine_executions['numbers'][1]"
    job.execution_tracker.routine_executions["numbers"].pop()
    job.errors.append("not a record")  # type: ignore[arg-type]
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == f"$.errors[{len(job.errors) - 1}]"
    job.errors.pop()
    job.routine_states["square"] = ["not", "a", "state"]  # type: ignore[assignment]
    with pytest.raises(SerializationError) as info:
        job.serialize()
    assert info.value.path == "$.routine_states['square']"


@pytest.mark.parametrize(
    ("name", "value", "where"),
    [
        ("shared_log", ["entry"], "$.shared_log[0]"),
        ("output_log", [1], "$.output_log[0]"),
        ("errors", [[]], "$.errors[0]"),
        ("pause_points", [None], "$.pause_points[0]"),
        ("results", {"$dict": [[1, "x"]]}, "$.results"),
        ("merge_buffers", {"collect": {"$dict": [[1, {}]]}}, "$.merge_buffers['collect']"),
    ],
)
def test_job_lists_and_maps_hold_what_the_job_writes(name: str, value: Any, where: str) -> None:
    """P: logs, outputs, errors and pause points are lists of objects; results and
    merge buffers are keyed by names."""
    document = tracker_job_document()
    document[name] = value
    with pytest.raises(SerializationError) as info:
        JobState.deserialize(document)
    assert info.value.path == where


def test_deferred_event_timestamp_must_be_iso() -> None:
    """P: a deferred event's timestamp is checked like every other one."""
    _, job = paused_job()
    job.add_deferred_event("numbers", "output", {"value": 1})
    document = via_json(job.serialize())
    document["deferred_events"][0]["timestamp"] = "later"
    with pytest.raises(SerializationError) as info:
        JobState.deserialize(document)
    assert info.value.path == "$.deferred_events[0].timestamp"


# -- saving concurrently and durably (issue 8, D) ---------------------------------------


def test_concurrent_saves_to_one_path_all_succeed(tmp_path: Path) -> None:
    """D: 4 threads x 100 saves of one job to one path: every save succeeds (they
    used to share one temporary name: FileNotFoundError), a reader loading all the
    while always sees a whole document, and no temporary file is left."""
    _, job = paused_job()
    path = tmp_path / "job.json"
    job.save(path)
    expected = via_json(job.serialize())
    start = threading.Barrier(5)
    writers_done = threading.Event()
    failures: list[BaseException] = []
    loads = []

    def write() -> None:
        start.wait()
        try:
            for _ in range(100):
                job.save(path)
        except BaseException as exc:
            failures.append(exc)

    def read() -> None:
        start.wait()
        try:
            while not writers_done.is_set():
                loads.append(JobState.load(path).job_id)
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=write) for _ in range(4)]
    reader = threading.Thread(target=read)
    for thread in [*writers, reader]:
        thread.start()
    for thread in writers:
        thread.join(60)
    writers_done.set()
    reader.join(60)
    assert failures == []
    assert loads and set(loads) == {job.job_id}
    assert json.loads(path.read_text(encoding="utf-8")) == expected
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]


def test_save_syncs_the_file_before_replacing_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D: the new file's data reaches the disk before it replaces the old one, and
    the folder is synced after the rename."""
    import stat

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        mode = os.fstat(descriptor).st_mode
        events.append("fsync folder" if stat.S_ISDIR(mode) else "fsync file")
        real_fsync(descriptor)

    def replace(source: Any, target: Any) -> None:
        events.append("replace")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    _, job = paused_job()
    job.save(tmp_path / "job.json")
    assert events == ["fsync file", "replace", "fsync folder"]
    events.clear()
    flow = build_flow()
    flow.save(tmp_path / "flow.json")
    assert events == ["fsync file", "replace", "fsync folder"]


@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_failed_save_removes_its_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """D: a save that fails at any step leaves the old file and no temporary one."""
    path = tmp_path / "job.json"
    _, job = paused_job()
    job.save(path)
    before = path.read_bytes()

    def broken(*args: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, broken)
    with pytest.raises(OSError, match="No space left"):
        job.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]


def test_saved_file_has_the_permissions_of_any_new_file(tmp_path: Path) -> None:
    """D: the unique temporary file is created like a plain new file, so the saved
    file's permissions follow the umask (not the 0600 of a private temporary file)."""
    reference = tmp_path / "plain.txt"
    reference.write_text("x", encoding="utf-8")
    _, job = paused_job()
    job.save(tmp_path / "job.json")
    assert (tmp_path / "job.json").stat().st_mode == reference.stat().st_mode


def test_a_huge_integer_in_job_data_is_refused_when_saved(tmp_path: Path) -> None:
    """S: an integer JSON text cannot hold under the interpreter's digit limit is a
    SerializationError naming where it is, at save, not a ValueError from json."""
    _, job = paused_job()
    job.shared_data["huge"] = 10**5000
    with pytest.raises(SerializationError) as info:
        job.save(tmp_path / "job.json")
    assert info.value.path == "$.shared_data.huge"
    assert "too many digits" in str(info.value)
    assert list(tmp_path.iterdir()) == []
