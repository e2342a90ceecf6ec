"""Store I/O never runs under the engine's locks: a slow or blocked store slows its own
job's driver only (issue 8, G and U), and whatever fails around a store still settles
the job (P)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine
from routilux.exceptions import JobStateError
from routilux.stores import JobStore, MemoryStore, SQLiteStore

from helpers import Collector, Source, chain


class BlockingSQLiteStore(SQLiteStore):
    """An SQLite store whose writes block while ``blocked`` is set, as if another
    process held the file's lock."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, checkpoint_every=1, checkpoint_interval=0)
        self.blocked = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    def _write(self, *args: Any, **kwargs: Any) -> Any:
        if self.blocked.is_set():
            self.entered.set()
            assert self.release.wait(20)
        return super()._write(*args, **kwargs)


class FlakyOnce(Routine):
    """Fails on its first call; on that failure ``on_fail`` runs first."""

    def __init__(self, on_fail: Any = None) -> None:
        super().__init__()
        self.calls = 0
        self.on_fail = on_fail
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["value"])

    def handle(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            if self.on_fail is not None:
                self.on_fail()
            raise RuntimeError("first call fails")
        self.emit("output", value=value)


class Gate(Routine):
    """Holds its first activation until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.first = True
        self.define_slot("input", handler=self.handle)

    def handle(self, value: Any) -> None:
        if self.first:
            self.first = False
            assert self.release.wait(20)


def retrying(routine: Routine, delay: float) -> Routine:
    routine.set_error_handler(
        ErrorHandler(strategy=ErrorStrategy.RETRY, max_retries=3, retry_delay=delay)
    )
    return routine


def test_a_blocked_checkpoint_delays_no_other_jobs_retry_and_cancel_returns_at_once(
    tmp_path: Path,
) -> None:
    """G: job A's checkpoint write blocks (its file is locked) while A has a retry
    timer due; job B's retry still runs while A is blocked. U: cancelling A returns
    at once; A settles "cancelled" once its store can write again."""
    store = BlockingSQLiteStore(tmp_path / "a.db")
    flaky_a = retrying(FlakyOnce(on_fail=store.blocked.set), delay=0.01)
    gate = Gate()
    flow_a = Flow("a", execution_strategy="concurrent", store=store)
    flow_a.add_routine(Source(), "src")
    flow_a.add_routine(flaky_a, "flaky")
    flow_a.add_routine(gate, "gate")
    flow_a.connect("src", "output", "flaky", "input")
    flow_a.connect("flaky", "output", "gate", "input")
    # One item: flaky fails on it (nothing else of A runs then), A's checkpoint write
    # gets stuck in the store, its retry runs meanwhile on another driver and hands the
    # item to the gate, which holds it.
    job_a = flow_a.execute("src", {"count": 1}, wait=False)
    try:
        assert store.entered.wait(10)
        flow_b = chain(("src", Source()), ("flaky", retrying(FlakyOnce(), delay=0.02)))
        job_b = flow_b.execute("src", {"count": 1}, wait=False)
        assert job_b.wait_for_completion(10), "B's retry waited for A's store"
        assert job_b.status == "completed"

        canceller = threading.Thread(target=flow_a.cancel, args=(job_a, "stop"))
        canceller.start()
        canceller.join(10)
        assert not canceller.is_alive(), "cancel waited for A's store"
        assert job_a.status == "cancelled"
        assert not job_a.wait_for_completion(0)  # its store has not recorded it yet
    finally:
        store.blocked.clear()
        store.release.set()
        gate.release.set()
    assert job_a.wait_for_completion(10)
    assert job_a.status == "cancelled"
    recorded = store.load(job_a.job_id)
    assert recorded is not None and recorded.status == "cancelled"
    store.close()


def test_pause_from_outside_returns_while_the_store_records_it(tmp_path: Path) -> None:
    """U: pause() waits for the job's handlers, not for its store."""
    store = BlockingSQLiteStore(tmp_path / "p.db")
    entered, release = threading.Event(), threading.Event()

    class Gate(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.handle)

        def handle(self, value: Any) -> None:
            if value == 0:
                entered.set()
                assert release.wait(10)

    flow = chain(("src", Source()), ("gate", Gate()))
    flow.store = store
    job = flow.execute("src", {"count": 3}, wait=False)
    assert entered.wait(10)
    store.blocked.set()
    pauser = threading.Thread(target=flow.pause, args=(job,))
    pauser.start()
    release.set()
    pauser.join(10)
    try:
        assert not pauser.is_alive(), "pause waited for the store"
        assert job.status == "paused"
        assert len(job.pending_tasks) == 2
    finally:
        store.blocked.clear()
        store.release.set()
    assert job.wait_for_completion(10)
    flow.resume(job, wait=True)
    assert job.status == "completed"
    store.close()


def test_a_failure_while_finishing_still_settles_the_job() -> None:
    """P: whatever fails while a job finishes (here its tracker) is recorded, and the
    job settles: wait_for_completion returns."""
    flow = chain(("src", Source()), ("sink", Collector()))
    job = flow.execute("src", {"count": 2}, wait=False)
    assert job.wait_for_completion(10)

    class BrokenTracker:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"tracker is broken ({name})")

    paused_flow = chain(("src", Source()), ("sink", Collector()))
    held = threading.Event()
    release = threading.Event()

    class Hold(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        def go(self) -> None:
            held.set()
            assert release.wait(10)

    paused_flow.add_routine(Hold(), "hold")
    running = paused_flow.execute("hold", wait=False)
    assert held.wait(10)
    running.execution_tracker = BrokenTracker()  # type: ignore[assignment]
    release.set()
    assert running.wait_for_completion(10)
    assert running.status == "completed"
    assert [error["strategy"] for error in running.errors] == ["finish"]
    assert "tracker is broken" in running.errors[0]["error"]


class RefusingStore(MemoryStore):
    """A third-party store that refuses to start jobs when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = False

    def job_started(self, job_state: JobState) -> None:
        if self.refuse:
            raise JobStateError("the store is read-only today")
        super().job_started(job_state)


def test_a_store_refusing_a_resume_leaves_the_job_paused_with_its_work() -> None:
    """P: a store that raises in job_started: resume raises, and the job is paused
    with all its pending work, ready for another try."""
    store = RefusingStore()
    flow = chain(("src", Source()), ("sink", Collector()))
    flow.store = store

    class PauseFirst(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self) -> None:
            for value in range(3):
                self.emit("output", value=value)
            ctx = self.require_execution_context()
            ctx.flow.pause(ctx.job_state)

    flow.add_routine(PauseFirst(), "first")
    flow.connect("first", "output", "sink", "input")
    job = flow.execute("first")
    assert job.status == "paused" and len(job.pending_tasks) == 3
    store.refuse = True
    with pytest.raises(JobStateError, match="read-only"):
        flow.resume(job, wait=True)
    assert job.status == "paused"
    assert len(job.pending_tasks) == 3
    assert job.wait_for_completion(0)
    store.refuse = False
    flow.resume(job, wait=True)
    assert job.status == "completed"
    assert [r["value"] for r in job.get_routine_state("sink")["received"]] == [0, 1, 2]


def test_a_store_refusing_a_new_job_fails_it_and_raises() -> None:
    store = RefusingStore()
    store.refuse = True
    flow = chain(("src", Source()), ("sink", Collector()))
    flow.store = store
    with pytest.raises(JobStateError, match="read-only"):
        flow.execute("src")
    assert flow.wait_for_completion(1)


def test_stores_written_by_third_parties_need_only_the_abstract_methods() -> None:
    class Minimal(JobStore):
        def job_started(self, job_state: JobState) -> None:
            pass

        def job_settled(self, job_state: JobState) -> None:
            pass

        def load(self, job_id: str) -> JobState | None:
            return None

        def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
            return []

    flow = chain(("src", Source()), ("sink", Collector()))
    flow.store = Minimal()
    assert flow.execute("src", {"count": 2}).status == "completed"
