"""Pause, resume and cancel act on one job; the final status is true."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any

import pytest

from routilux import ErrorHandler, Flow, JobState, Routine
from routilux.exceptions import FlowMismatchError, JobStateError, RoutineNotFoundError

from helpers import Collector, Failing, Relay, Source, Step, chain, events


class Blocking(Routine):
    """Blocks on ``release`` when it receives ``block_on``; records every value."""

    def __init__(self, block_on: Any = 2) -> None:
        super().__init__()
        self.block_on = block_on
        self.entered = threading.Event()
        self.release = threading.Event()
        self.seen: list[Any] = []
        self.define_slot("input", handler=self.work)
        self.define_event("output", ["value"])

    def work(self, value: Any) -> None:
        self.seen.append(value)
        if value == self.block_on:
            self.entered.set()
            assert self.release.wait(10)
        self.emit("output", value=value)


def blocked_job(strategy: str = "sequential", count: int = 6) -> tuple[Flow, Blocking, JobState]:
    blocking = Blocking()
    flow = chain(("src", Source()), ("block", blocking), ("sink", Collector()), strategy=strategy)
    job = flow.execute("src", {"count": count}, wait=False)
    assert blocking.entered.wait(5)
    return flow, blocking, job


def pause_in_thread(flow: Flow, job: JobState, reason: str = "") -> threading.Thread:
    thread = threading.Thread(target=flow.pause, args=(job, reason, {"step": 1}))
    thread.start()
    return thread


def test_pause_waits_for_in_flight_work_and_keeps_pending_activations() -> None:
    flow, blocking, job = blocked_job()
    pauser = pause_in_thread(flow, job, "maintenance")
    # The status flips at once, but pause() waits for the running handler.
    pauser.join(0.05)
    assert pauser.is_alive()
    blocking.release.set()
    pauser.join(5)
    assert not pauser.is_alive()
    assert job.status == "paused"
    # Paused: nothing in progress once the store has recorded the pause.
    assert job.wait_for_completion(10) is True
    assert blocking.seen == [0, 1, 2]
    pending = [(p["slot_routine_id"], p["slot_name"], p["data"]) for p in job.pending_tasks]
    assert pending == [
        ("block", "input", {"value": 3}),
        ("block", "input", {"value": 4}),
        ("block", "input", {"value": 5}),
        ("sink", "input", {"value": 0}),
        ("sink", "input", {"value": 1}),
        ("sink", "input", {"value": 2}),
    ]
    assert job.pause_points[-1]["reason"] == "maintenance"
    assert job.pause_points[-1]["checkpoint"] == {"step": 1}
    assert flow.store.get(job.job_id) is job

    assert flow.resume(job) is job
    assert job.wait_for_completion(5)
    assert job.status == "completed"
    assert job.pending_tasks == []
    assert blocking.seen == [0, 1, 2, 3, 4, 5]
    received = [r["value"] for r in job.get_routine_state("sink")["received"]]
    assert received == [0, 1, 2, 3, 4, 5]
    assert events(job).count(("block", "output")) == 6
    assert flow.store.get(job.job_id) is None


def test_execute_returns_a_job_paused_from_its_own_handler() -> None:
    class SelfPausing(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)
            self.define_event("output", ["value"])

        def work(self, value: int) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            if value == 1 and not ctx.job_state.pause_points:
                ctx.flow.pause(ctx.job_state, reason="asked by handler")
                assert ctx.job_state.status == "paused"
            self.emit("output", value=value)

    flow = chain(("src", Source()), ("p", SelfPausing()), ("sink", Collector()))
    job = flow.execute("src", {"count": 3})
    assert job.status == "paused"
    # The pausing handler finished; what it emitted is kept with the rest.
    assert [p["data"]["value"] for p in job.pending_tasks] == [2, 0, 1]
    flow.resume(job, wait=True)
    assert job.status == "completed"
    assert [r["value"] for r in job.get_routine_state("sink")["received"]] == [0, 1, 2]


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_cancel_in_the_middle(strategy: str) -> None:
    flow, blocking, job = blocked_job(strategy)
    flow.cancel(job, reason="user asked")
    assert job.status == "cancelled"
    blocking.release.set()
    assert job.wait_for_completion(5)
    assert job.status == "cancelled"  # never overwritten by "completed"
    assert job.routine_states["_cancellation"] == {"reason": "user asked"}
    if strategy == "sequential":
        assert blocking.seen == [0, 1, 2]
    assert ("src", "completed") not in events(job)
    with pytest.raises(JobStateError, match="it is cancelled"):
        flow.cancel(job)
    with pytest.raises(JobStateError, match="not paused"):
        flow.resume(job)


def test_cancel_a_paused_job_drops_its_pending_work() -> None:
    flow, blocking, job = blocked_job()
    pauser = pause_in_thread(flow, job)
    blocking.release.set()
    pauser.join(5)
    assert job.pending_tasks
    flow.cancel(job)
    assert job.status == "cancelled"
    assert job.pending_tasks == []
    assert job.wait_for_completion(1)
    assert flow.wait_for_completion(1)


def test_pause_and_cancel_of_finished_jobs_are_refused() -> None:
    flow = chain(("src", Source()), ("sink", Collector()))
    job = flow.execute("src")
    with pytest.raises(JobStateError, match=r"Cannot pause job .* it is completed"):
        flow.pause(job)
    with pytest.raises(JobStateError, match="it is completed"):
        flow.cancel(job)
    with pytest.raises(JobStateError, match="not paused"):
        flow.resume(job)
    assert job.status == "completed"


def test_pausing_twice_is_harmless() -> None:
    flow, blocking, job = blocked_job()
    pauser = pause_in_thread(flow, job)
    blocking.release.set()
    pauser.join(5)
    pending = list(job.pending_tasks)
    flow.pause(job)
    assert job.pending_tasks == pending


def test_jobs_of_another_flow_are_refused() -> None:
    flow_a = chain(("src", Source()))
    flow_b = Flow("other")
    job = flow_a.execute("src")
    for action in (flow_b.pause, flow_b.cancel, flow_b.resume):
        with pytest.raises(FlowMismatchError, match="does not match Flow flow_id 'other'"):
            action(job)


def test_pausing_one_job_leaves_the_others_running() -> None:
    flow, blocking, job = blocked_job(count=3)
    pauser = pause_in_thread(flow, job)
    blocking.release.set()
    pauser.join(5)
    blocking.block_on = None
    other = flow.execute("src", {"count": 3})
    assert other.status == "completed"
    assert len(other.get_routine_state("sink")["received"]) == 3
    assert job.status == "paused"
    flow.resume(job, wait=True)
    assert job.status == "completed"


def test_deferred_events_are_emitted_on_resume_in_order() -> None:
    class Deferring(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, **_: Any) -> None:
            self.emit_deferred_event("output", value="first")
            self.emit_deferred_event("output", value="second")
            self.emit("output", value="now")
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.flow.pause(ctx.job_state)

    flow = chain(("d", Deferring()), ("sink", Collector()))
    job = flow.execute("d")
    assert job.status == "paused"
    assert [e["data"]["value"] for e in job.deferred_events] == ["first", "second"]
    flow.resume(job, wait=True)
    assert job.status == "completed"
    values = [r["value"] for r in job.get_routine_state("sink")["received"]]
    # Deferred events go first, then the work pending at the pause.
    assert values == ["first", "second", "now"]
    assert job.deferred_events == []


def test_a_retry_waiting_at_pause_time_is_kept_and_runs_on_resume() -> None:
    failing = Failing(fail_on={0}, times=1)
    failing.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=30))
    gate = Blocking(block_on=1)
    flow = Flow("f")
    flow.add_routine(Source(), "src")
    flow.add_routine(failing, "flaky")
    flow.add_routine(gate, "gate")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "flaky", "input")
    flow.connect("src", "output", "gate", "input")
    flow.connect("flaky", "output", "sink", "input")
    job = flow.execute("src", {"count": 2}, wait=False)
    assert gate.entered.wait(5)  # flaky(0) failed and waits 30 s for its retry
    pauser = pause_in_thread(flow, job)
    gate.release.set()
    pauser.join(5)
    assert not pauser.is_alive()  # pause did not wait out the 30 s retry delay
    retry = [p for p in job.pending_tasks if p["retry_count"] == 1]
    assert [(p["slot_routine_id"], p["data"]) for p in retry] == [("flaky", {"value": 0})]
    flow.resume(job, wait=True)
    assert job.status == "completed"
    assert sorted(r["value"] for r in job.get_routine_state("sink")["received"]) == [0, 1]


def test_resume_on_a_rebuilt_flow_continues_the_job() -> None:
    flow, blocking, job = blocked_job(count=4)
    pauser = pause_in_thread(flow, job)
    blocking.release.set()
    pauser.join(5)

    # A second flow object with the same id and routines (as after a restart).
    rebuilt = chain(("src", Source()), ("block", Blocking(block_on=None)), ("sink", Collector()))
    rebuilt.flow_id = flow.flow_id
    rebuilt.resume(job, wait=True)
    assert job.status == "completed"
    assert [r["value"] for r in job.get_routine_state("sink")["received"]] == [0, 1, 2, 3]


def test_resume_with_unknown_routines_leaves_the_job_unchanged() -> None:
    flow, blocking, job = blocked_job(count=4)
    pauser = pause_in_thread(flow, job)
    blocking.release.set()
    pauser.join(5)
    pending = [dict(p) for p in job.pending_tasks]

    lacking = chain(("src", Source()), ("block", Blocking(block_on=None)))
    lacking.flow_id = flow.flow_id
    with pytest.raises(RoutineNotFoundError, match="'sink', which is not in flow"):
        lacking.resume(job)
    assert job.status == "paused"
    assert job.pending_tasks == pending
    flow.resume(job, wait=True)
    assert job.status == "completed"


# -- races around resume (found in review; each interleaving forced deterministically) --


def paused_with_deferred_event() -> tuple[Flow, JobState]:
    class Deferring(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, **_: Any) -> None:
            self.emit_deferred_event("output", value="deferred")
            self.emit("output", value="pending")
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.flow.pause(ctx.job_state)

    flow = chain(("d", Deferring()), ("sink", Collector()))
    job = flow.execute("d")
    assert job.status == "paused"
    return flow, job


def test_pause_asked_for_during_a_resume_takes_effect_after_it() -> None:
    flow, job = paused_with_deferred_event()
    signal = flow.routines["d"].get_event("output").signal
    asked = []

    def pause_while_resuming(sender: Any, **kwargs: Any) -> None:
        if not asked:
            asked.append(True)
            flow.pause(job, "again")  # runs inside resume, in the resuming thread

    signal.connect(pause_while_resuming, weak=False)
    flow.resume(job, wait=True)
    assert job.status == "paused"
    assert [p["data"]["value"] for p in job.pending_tasks] == ["deferred", "pending"]
    signal.disconnect(pause_while_resuming)
    flow.resume(job, wait=True)
    assert job.status == "completed"
    values = [r["value"] for r in job.get_routine_state("sink")["received"]]
    assert values == ["deferred", "pending"]


def test_cancel_asked_for_during_a_resume_takes_effect_after_it() -> None:
    flow, job = paused_with_deferred_event()
    signal = flow.routines["d"].get_event("output").signal
    signal.connect(lambda sender, **kw: flow.cancel(job, "stop now"), weak=False)
    flow.resume(job)
    assert job.wait_for_completion(5)
    assert job.status == "cancelled"
    assert job.get_routine_state("sink") is None
    assert flow.wait_for_completion(1)
    assert flow.store.unfinished_jobs() == []


def test_a_second_resume_during_a_resume_is_refused() -> None:
    flow, job = paused_with_deferred_event()
    outcome: list[BaseException] = []

    def resume_again(sender: Any, **kwargs: Any) -> None:
        try:
            flow.resume(job)
        except BaseException as exc:
            outcome.append(exc)

    flow.routines["d"].get_event("output").signal.connect(resume_again, weak=False)
    flow.resume(job, wait=True)
    assert job.status == "completed"
    assert isinstance(outcome[0], JobStateError)


def test_a_deferred_event_that_cannot_be_delivered_fails_the_resume_without_a_hang() -> None:
    flow, job = paused_with_deferred_event()
    outsider = Collector()
    flow.routines["d"].get_event("output").connect(outsider.get_slot("input"))
    with pytest.raises(RoutineNotFoundError, match="not in flow"):
        flow.resume(job)
    assert job.wait_for_completion(5)
    assert job.status == "failed"
    assert job.errors[-1]["strategy"] == "resume"
    assert flow.wait_for_completion(1)


def test_resume_before_the_pause_took_effect_lets_the_job_run_on() -> None:
    class ChangesItsMind(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)
            self.define_event("output", ["value"])

        def work(self, value: int) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            if value == 0:
                ctx.flow.pause(ctx.job_state, "maybe")
                ctx.flow.resume(ctx.job_state)
            self.emit("output", value=value)

    flow = chain(("src", Source()), ("m", ChangesItsMind()), ("sink", Collector()))
    job = flow.execute("src", {"count": 3})
    assert job.status == "completed"
    assert [r["value"] for r in job.get_routine_state("sink")["received"]] == [0, 1, 2]
    assert job.pause_points[0]["reason"] == "maybe"


def test_a_resumed_concurrent_job_runs_its_pending_work_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)
    paused = threading.Event()

    class Meet(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.meet)

        def meet(self, value: int) -> None:
            barrier.wait()  # passes only if three activations run at once

    class PausingSource(Source):
        def generate(self, count: int = 1, **_: Any) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.flow.pause(ctx.job_state)  # what it emits now waits for the resume
            paused.set()
            super().generate(count)

    flow = chain(("src", PausingSource()), ("meet", Meet()), strategy="concurrent", workers=3)
    job = flow.execute("src", {"count": 3})
    assert job.status == "paused" and paused.is_set()
    assert len(job.pending_tasks) == 3
    flow.resume(job, wait=True)
    assert job.status == "completed"
    assert job.errors == []


def test_failing_error_handling_fails_the_job() -> None:
    class BrokenHandler(ErrorHandler):
        def retry_delay_for(self, retry_number: int) -> float:
            raise ArithmeticError("cannot compute a delay")

    failing = Failing()
    failing.set_error_handler(BrokenHandler("retry"))
    flow = chain(("src", Source()), ("f", failing))
    job = flow.execute("src")
    # The job cannot follow its strategy, so it fails (0.9 reported "completed").
    assert job.status == "failed"
    assert job.errors[-1]["strategy"] == "error-handling"
    assert job.errors[-1]["error_type"] == "ArithmeticError"


def test_jobs_waiting_for_jobs_of_the_same_flow_do_not_starve() -> None:
    class Parent(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        def go(self, child: bool = False, **_: Any) -> None:
            if child:
                return
            ctx = self.get_execution_context()
            assert ctx is not None
            children = [ctx.flow.execute("p", {"child": True}, wait=False) for _ in range(3)]
            assert all(job.wait_for_completion(5) for job in children)

    flow = Flow("nested", max_workers=1)
    flow.add_routine(Parent(), "p")
    parents = [flow.execute("p", wait=False) for _ in range(4)]
    assert all(job.wait_for_completion(10) for job in parents)
    assert [job.status for job in parents] == ["completed"] * 4


def test_a_job_started_from_a_handler_does_not_hold_the_outer_job() -> None:
    from routilux._context import current_frame

    inner = chain(("src", Source()))
    seen: list[Any] = []

    class Outer(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        def go(self, **_: Any) -> None:
            seen.append(inner.execute("src", wait=False))
            seen[0].wait_for_completion(5)

    outer = Flow("outer")
    outer.add_routine(Outer(), "o")
    outer.execute("o")
    assert seen[0]._machine.base_context[current_frame] is None


# -- regressions (issue 8) ------------------------------------------------------------


class PauseSelf(Routine):
    """Entry: emits ``value=0..count-1``, then pauses its own job."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, count: int = 3, **_: Any) -> None:
        for value in range(count):
            self.emit("output", value=value)
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.flow.pause(ctx.job_state, reason="self")


def paused_flow() -> tuple[Flow, JobState]:
    flow = chain(("src", PauseSelf()), ("relay", Relay()), ("sink", Collector()))
    job = flow.execute("src", {"count": 3})
    assert job.status == "paused"
    return flow, job


def test_refilled_paused_job_records_emissions_after_resume() -> None:
    """A: deserialize into a paused job, resume: the new history gets the emissions."""
    flow, job = paused_flow()
    job.deserialize(job.serialize())
    flow.resume(job, wait=True)
    assert job.status == "completed"
    relayed = [r for r in job.get_execution_history("relay") if r.event_name == "output"]
    assert [r.data for r in relayed] == [{"value": 0}, {"value": 1}, {"value": 2}]
    assert ("src", "completed") in events(job)


def test_cancel_racing_resume_of_a_loaded_job_ends_cancelled() -> None:
    """B: resume and cancel from two threads on a loaded job: a successful cancel
    always wins, and the finished status never changes afterwards."""
    flow, job = paused_flow()
    document = job.serialize()
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so the two calls interleave
    try:
        race_resume_and_cancel(flow, document)
    finally:
        sys.setswitchinterval(switch_interval)


def race_resume_and_cancel(flow: Flow, document: dict[str, Any]) -> None:
    for _ in range(300):
        loaded = JobState.deserialize(document)
        start = threading.Barrier(2)
        outcome: dict[str, Any] = {}

        def resume(
            loaded: JobState = loaded,
            start: threading.Barrier = start,
            outcome: dict[str, Any] = outcome,
        ) -> None:
            start.wait()
            try:
                flow.resume(loaded)
            except JobStateError as exc:
                outcome["resume"] = exc

        def cancel(
            loaded: JobState = loaded,
            start: threading.Barrier = start,
            outcome: dict[str, Any] = outcome,
        ) -> None:
            start.wait()
            try:
                flow.cancel(loaded, reason="race")
            except JobStateError as exc:
                outcome["cancel"] = exc
            else:
                outcome["cancelled"] = True

        threads = [threading.Thread(target=resume), threading.Thread(target=cancel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert loaded.wait_for_completion(10)
        final = loaded.status
        if outcome.get("cancelled"):
            assert final == "cancelled", outcome
            assert loaded.routine_states["_cancellation"] == {"reason": "race"}
        else:
            assert final == "completed", outcome
        assert flow.wait_for_completion(10)
        assert loaded.status == final


def test_a_job_moved_to_another_flow_object_leaves_the_first_store() -> None:
    """H: paused on one Flow object, resumed on another: the first forgets it."""
    first, job = paused_flow()
    assert first.store.unfinished_job_ids() == [job.job_id]
    second = chain(("src", PauseSelf()), ("relay", Relay()), ("sink", Collector()))
    second.flow_id = first.flow_id
    second.resume(job, wait=True)
    assert job.status == "completed"
    assert first.store.unfinished_job_ids() == []
    assert second.store.unfinished_job_ids() == []
    with pytest.raises(JobStateError):
        first.pause(job)


def test_resume_with_wait_from_the_jobs_own_handler_raises() -> None:
    """J: resume(own job, wait=True) inside its handler would wait for itself."""
    seen: list[BaseException] = []

    class PauseThenResume(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        def go(self) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.flow.pause(ctx.job_state)
            try:
                ctx.flow.resume(ctx.job_state, wait=True)
            except JobStateError as exc:
                seen.append(exc)
            ctx.flow.resume(ctx.job_state)  # without waiting: the job goes on

    flow = Flow()
    flow.add_routine(PauseThenResume(), "p")
    job = flow.execute("p")
    assert job.status == "completed"
    assert len(seen) == 1
    assert "own handlers" in str(seen[0])


class PauseSelfAndSave(Routine):
    """Entry: emits three values, pauses its own job, then tries to save it."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])
        self.save_error: BaseException | None = None

    def go(self, **_: Any) -> None:
        for value in range(3):
            self.emit("output", value=value)
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.flow.pause(ctx.job_state)
        try:
            ctx.job_state.serialize()
        except JobStateError as exc:
            self.save_error = exc


def test_saving_a_job_whose_pause_has_not_settled_never_writes_a_partial_job() -> None:
    """I: a handler that pauses its own job and saves it gets a clear error (the pause
    takes effect when it returns); saved afterwards, the document has all 3 pending."""
    entry = PauseSelfAndSave()
    flow = chain(("src", entry), ("sink", Collector()))
    job = flow.execute("src")
    assert isinstance(entry.save_error, JobStateError)
    assert "own handlers" in str(entry.save_error)
    document = job.serialize()
    assert len(document["pending_tasks"]) == 3
    copy = JobState.deserialize(document)
    rebuilt = chain(("src", PauseSelfAndSave()), ("sink", Collector()))
    rebuilt.flow_id = flow.flow_id
    rebuilt.resume(copy, wait=True)
    assert [r["value"] for r in copy.get_routine_state("sink")["received"]] == [0, 1, 2]


def test_serialize_from_another_thread_waits_for_the_pause_to_settle() -> None:
    """R: status already reads "paused" while a handler still runs: serialize()
    from another thread waits, and the document holds the pending work."""
    flow, blocking, job = blocked_job(count=4)
    # Pause from a handler of another job: returns at once, the job is "pausing".
    outer = Flow()
    outer.add_routine(
        Step(lambda ctx, data: flow.pause(job), forward=False),
        "pauser",
    )
    outer.execute("pauser")
    assert job.status == "paused"
    documents: list[dict[str, Any]] = []
    saver = threading.Thread(target=lambda: documents.append(job.serialize()))
    saver.start()
    saver.join(0.05)
    assert saver.is_alive()  # waiting: the blocked handler has not returned
    blocking.release.set()
    saver.join(10)
    assert not saver.is_alive()
    (document,) = documents
    pending = [(p["slot_routine_id"], p["data"]) for p in document["pending_tasks"]]
    assert pending == [
        ("block", {"value": 3}),
        ("sink", {"value": 0}),
        ("sink", {"value": 1}),
        ("sink", {"value": 2}),
    ]


def test_a_running_status_without_a_live_run_can_be_saved(tmp_path: Any) -> None:
    """0.9-break 5: built by hand (or loaded) with status "running": saveable."""
    job = JobState("f")
    job.status = "running"
    job.save(tmp_path / "job.json")
    assert JobState.load(tmp_path / "job.json").status == "running"
    _, blocking, live = blocked_job()
    with pytest.raises(JobStateError, match="while it runs"):
        live.serialize()
    blocking.release.set()
    assert live.wait_for_completion(10)
    assert live.serialize()["status"] == "completed"


def test_two_jobs_pausing_each_other_do_not_deadlock() -> None:
    """T: pause() of another job from a handler returns at once."""
    jobs: dict[str, JobState] = {}
    both_started = threading.Barrier(2)
    ready = threading.Event()
    flow = Flow()

    def pause_other(ctx: Any, data: dict[str, Any]) -> None:
        assert ready.wait(10)  # both jobs exist
        both_started.wait(10)
        other = jobs[data["other"]]
        with contextlib.suppress(JobStateError):  # the other job already finished: fine
            flow.pause(other)

    step = Step(pause_other, forward=False)
    flow.add_routine(step, "p")

    def start_both() -> None:
        jobs["A"] = flow.execute("p", {"other": "B"}, wait=False)
        jobs["B"] = flow.execute("p", {"other": "A"}, wait=False)
        ready.set()

    # The handlers read jobs[...] only after the barrier, when both exist.
    starter = threading.Thread(target=start_both)
    starter.start()
    assert ready.wait(10)
    starter.join(10)
    assert jobs["A"].wait_for_completion(10)
    assert jobs["B"].wait_for_completion(10)
    assert flow.wait_for_completion(10)
    assert step.failures == []
    for job in jobs.values():
        assert job.status in ("paused", "completed")


def test_jobs_waiting_on_jobs_of_the_same_flow_cannot_starve_the_pool() -> None:
    """T: 200 background jobs whose handlers each wait for an inner job of the same
    flow: every inner job runs (a waiting pool thread does not count against the
    pool's size)."""
    inner_done: list[bool] = []
    lock = threading.Lock()
    all_submitted = threading.Event()
    flow = Flow()

    def outer_or_inner(ctx: Any, data: dict[str, Any]) -> None:
        if data["outer"]:
            # Every outer job is queued before any inner one: the worst order for a
            # fixed-size pool, whose threads would all wait for queued inner jobs.
            assert all_submitted.wait(10)
            inner = ctx.flow.execute("w", {"outer": False}, wait=False)
            finished = inner.wait_for_completion(20)
            with lock:
                inner_done.append(finished)

    step = Step(outer_or_inner, forward=False)
    flow.add_routine(step, "w")
    jobs = [flow.execute("w", {"outer": True}, wait=False) for _ in range(200)]
    all_submitted.set()
    assert all(job.wait_for_completion(40) for job in jobs)
    assert step.failures == []
    assert inner_done == [True] * 200
    assert all(job.status == "completed" for job in jobs)
