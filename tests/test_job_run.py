"""The engine: ordering, completion, concurrency limits, contexts and isolation."""

from __future__ import annotations

import contextvars
import sys
import threading
from typing import Any

import pytest

from routilux import Flow, JobState, Routine
from routilux.exceptions import JobStateError

from helpers import Collector, Relay, Source, chain, events


class Recorder(Routine):
    """Appends ``(name, value)`` to a shared list and relays the value."""

    def __init__(self, name: str, log: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.define_slot("input", handler=self.record)
        self.define_event("output", ["value"])

    def record(self, value: Any) -> None:
        self.log.append((self.name, value))
        self.emit("output", value=value)


def test_sequential_fifo_with_fan_out_in_connect_order() -> None:
    log: list[tuple[str, Any]] = []
    flow = Flow("f")
    flow.add_routine(Source(), "src")
    for name in ("a", "b", "c"):
        flow.add_routine(Recorder(name, log), name)
    flow.add_routine(Recorder("d", log), "d")
    flow.connect("src", "output", "b", "input")
    flow.connect("src", "output", "a", "input")
    flow.connect("src", "output", "c", "input")
    flow.connect("a", "output", "d", "input")
    job = flow.execute("src", {"count": 2})
    assert job.status == "completed"
    # The entry handler runs first and whole; then activations in FIFO order, with
    # each emit fanning out in connect order (b, a, c).
    assert log == [("b", 0), ("a", 0), ("c", 0), ("b", 1), ("a", 1), ("c", 1), ("d", 0), ("d", 1)]
    assert events(job) == [
        ("src", "start"),
        ("src", "output"),
        ("src", "output"),
        ("b", "output"),
        ("a", "output"),
        ("c", "output"),
        ("b", "output"),
        ("a", "output"),
        ("c", "output"),
        ("d", "output"),
        ("d", "output"),
        ("src", "completed"),
    ]


def test_entry_handler_runs_alone_before_downstream_in_sequential_mode() -> None:
    log: list[str] = []

    class Entry(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, **_: Any) -> None:
            for value in range(3):
                self.emit("output", value=value)
                log.append(f"emitted {value}")

    class Sink(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda value: log.append(f"got {value}"))

    flow = Flow("f")
    flow.add_routine(Entry(), "e")
    flow.add_routine(Sink(), "s")
    flow.connect("e", "output", "s", "input")
    flow.execute("e")
    assert log == ["emitted 0", "emitted 1", "emitted 2", "got 0", "got 1", "got 2"]


class Blocking(Routine):
    """Announces that its handler is running, then holds until released.

    With ``emits`` it is an entry routine that emits ``value=0..emits-1`` once
    released; without, a sink that records ``done`` once released.
    """

    def __init__(self, emits: int | None = None) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()
        self.job: JobState | None = None
        self.emits = emits
        if emits is None:
            self.define_slot("input", handler=self.hold)
        else:
            self.define_slot("trigger", handler=self.hold)
            self.define_event("output", ["value"])

    def reset(self) -> None:
        for event in (self.entered, self.release, self.done):
            event.clear()
        self.job = None

    def hold(self, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        self.job = ctx.job_state
        self.entered.set()
        assert self.release.wait(30), "the test never released the handler"
        for value in range(self.emits or 0):
            self.emit("output", value=value)
        self.done.set()


def execute_in_thread(
    flow: Flow, entry: str, blocking: Blocking
) -> tuple[threading.Thread, dict[str, Any]]:
    """Start a blocking ``flow.execute(entry)`` in a thread. The dict gets the JobState
    under "job" and, under "done_at_return", whether ``blocking``'s handler had
    finished at the moment ``execute`` returned.

    A first job runs with ``blocking`` open, so the flow's worker threads exist: an
    ``execute`` that wrongly returned early would otherwise still be inside its own
    call, starting a worker thread, when the handler announces itself.
    """
    blocking.release.set()
    flow.execute(entry, wait=False)
    assert flow.wait_for_completion(10)
    blocking.reset()
    returned: dict[str, Any] = {}

    def run() -> None:
        job = flow.execute(entry)
        returned["done_at_return"] = blocking.done.is_set()
        returned["job"] = job

    thread = threading.Thread(target=run)
    thread.start()
    return thread, returned


def inside_execute(thread: threading.Thread) -> bool:
    """Whether ``thread`` is, right now, inside a call of ``Flow.execute``.

    A deterministic witness that ``execute`` has not returned yet: reading a flag the
    thread sets after the call races with the thread itself.
    """
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code is Flow.execute.__code__:
            return True
        frame = frame.f_back
    return False


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_slow_entry_handler_loses_nothing(strategy: str) -> None:
    """O: this test slept 0.5 s in the entry handler and then asserted that execute
    took at least 0.5 s, which its own sleep guaranteed. Now the entry handler holds
    until the test has seen that the job is running, unfinished and its caller still
    inside execute while no activation is queued; only then it emits, and every
    emission arrives before execute returns."""
    entry = Blocking(emits=5)
    flow = chain(("e", entry), ("sink", Collector()), strategy=strategy)
    thread, returned = execute_in_thread(flow, "e", entry)
    try:
        assert entry.entered.wait(10)
        job = entry.job
        assert job is not None
        # The entry handler is the job's only work in flight: an engine that judges
        # completion by an empty queue, or by a quiet spell, would finish it here.
        assert job.status == "running"
        assert not job.is_finished
        assert not job.wait_for_completion(timeout=0)
        assert not flow.wait_for_completion(timeout=0)
        assert inside_execute(thread)
    finally:
        entry.release.set()
        thread.join(30)
    assert not thread.is_alive()
    assert returned["job"] is job and returned["done_at_return"]
    assert job.status == "completed"
    received = job.get_routine_state("sink")["received"]
    assert sorted(item["value"] for item in received) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_execute_returns_only_after_the_last_activation(strategy: str) -> None:
    """O: the last activation used to outlast the entry handler by sleeping. Now it
    holds until the test has seen it running with the caller still inside execute;
    at the moment execute returns, the last handler has finished."""
    last = Blocking()
    flow = chain(("src", Source()), ("relay", Relay()), ("last", last), strategy=strategy)
    thread, returned = execute_in_thread(flow, "src", last)
    try:
        assert last.entered.wait(10)
        assert inside_execute(thread)
        assert last.job is not None and not last.job.is_finished
    finally:
        last.release.set()
        thread.join(30)
    assert not thread.is_alive()
    assert returned["done_at_return"], "execute returned before the last activation ended"
    assert returned["job"].status == "completed"


def test_concurrent_strategy_reaches_but_never_exceeds_max_workers() -> None:
    workers = 4
    lock = threading.Lock()
    running = [0]
    peak = [0]
    barrier = threading.Barrier(workers, timeout=5)

    class Busy(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)

        def work(self, value: int) -> None:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            if value < workers:
                barrier.wait()  # the first four only pass together
            with lock:
                running[0] -= 1

    flow = chain(("src", Source()), ("busy", Busy()), strategy="concurrent", workers=workers)
    job = flow.execute("src", {"count": 40})
    assert job.status == "completed", job.errors
    assert peak[0] == workers


def test_sequential_strategy_runs_one_activation_at_a_time() -> None:
    lock = threading.Lock()
    running = [0]
    peak = [0]

    class Busy(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)
            self.define_event("output", ["value"])

        def work(self, value: int) -> None:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            self.emit("output", value=value)
            with lock:
                running[0] -= 1

    flow = Flow("f", max_workers=8)
    flow.add_routine(Source(), "src")
    for name in ("a", "b", "c"):
        flow.add_routine(Busy(), name)
        flow.connect("src", "output", name, "input")
    job = flow.execute("src", {"count": 30}, wait=False)
    assert job.wait_for_completion(5)
    assert peak[0] == 1


def test_context_follows_the_job_into_threads_started_with_a_copied_context() -> None:
    seen: list[Any] = []

    class Spawner(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, **_: Any) -> None:
            def in_thread() -> None:
                ctx = self.get_execution_context()
                seen.append(ctx)
                self.emit("output", value="from thread")

            context = contextvars.copy_context()
            thread = threading.Thread(target=context.run, args=(in_thread,))
            thread.start()
            thread.join()

    flow = chain(("spawner", Spawner()), ("sink", Collector()))
    job = flow.execute("spawner")
    assert job.status == "completed"
    assert seen[0] is not None
    assert seen[0].job_state is job and seen[0].routine_id == "spawner"
    assert job.get_routine_state("sink")["received"] == [{"value": "from thread"}]


def test_emit_into_a_finished_job_raises() -> None:
    escaped: list[Any] = []
    release = threading.Event()
    outcome: list[BaseException] = []

    class Leaky(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, **_: Any) -> None:
            def late() -> None:
                release.wait(5)
                try:
                    self.emit("output", value=1)
                except BaseException as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=contextvars.copy_context().run, args=(late,))
            escaped.append(thread)
            thread.start()

    flow = chain(("leaky", Leaky()), ("sink", Collector()))
    job = flow.execute("leaky")
    assert job.status == "completed"
    release.set()
    escaped[0].join(5)
    assert isinstance(outcome[0], JobStateError)
    assert "has already finished" in str(outcome[0])
    assert job.get_routine_state("sink") is None


def test_routine_ids_in_context_for_two_instances_of_one_class() -> None:
    flow = chain(("src", Source()), ("first", Collector()))
    flow.add_routine(Collector(), "second")
    flow.connect("src", "output", "second", "input")
    job = flow.execute("src")
    assert job.get_routine_state("first")["received"] == [{"value": 0}]
    assert job.get_routine_state("second")["received"] == [{"value": 0}]


def test_handler_context_variables_do_not_leak() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    seen: list[str] = []

    class Setter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)

        def work(self, value: int) -> None:
            seen.append(marker.get())
            marker.set(f"set by {value}")

    marker.set("caller")
    flow = chain(("src", Source()), ("setter", Setter()))
    flow.execute("src", {"count": 3})
    # Every activation starts from the caller's context, untouched by earlier ones...
    assert seen == ["caller", "caller", "caller"]
    # ...and nothing a handler set comes back to the caller.
    assert marker.get() == "caller"


def test_get_execution_context_outside_and_after_a_job() -> None:
    source = Source()
    flow = chain(("src", source))
    assert source.get_execution_context() is None
    flow.execute("src")
    assert source.get_execution_context() is None


def test_merge_buffers_belong_to_the_job() -> None:
    flow = chain(("src", Source()), ("sink", Collector("append")))
    first = flow.execute("src", {"count": 3})
    second = flow.execute("src", {"count": 2})
    assert first.get_routine_state("sink")["received"][-1] == {"value": [0, 1, 2]}
    # 0.9 kept appending across runs; each job starts with an empty buffer.
    assert second.get_routine_state("sink")["received"][-1] == {"value": [0, 1]}
    assert flow.routines["sink"].get_slot("input")._data == {}


def test_slot_receive_inside_a_handler_queues_into_the_job() -> None:
    class Forwarder(Routine):
        def __init__(self, target: Routine) -> None:
            super().__init__()
            self.target = target
            self.define_slot("trigger", handler=self.go)

        def go(self, **_: Any) -> None:
            self.target.get_slot("input").receive({"value": "direct"})

    sink = Collector()
    flow = Flow("f")
    flow.add_routine(Forwarder(sink), "fwd")
    flow.add_routine(sink, "sink")
    job = flow.execute("fwd")
    assert job.get_routine_state("sink")["received"] == [{"value": "direct"}]
    assert sink.get_slot("input")._data == {}


def test_bookkeeping_merges_into_the_entry_routine_state() -> None:
    class Entry(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        def go(self, **_: Any) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.job_state.update_routine_state(ctx.routine_id, {"generated": 5})

    flow = Flow("f")
    flow.add_routine(Entry(), "entry")
    job = flow.execute("entry")
    state = job.get_routine_state("entry")
    assert state["generated"] == 5  # 0.9 wiped this at the end of the run
    assert state["status"] == "completed"
    assert {"execution_time", "start_time", "end_time"} <= set(state)


def test_downstream_routines_get_no_bookkeeping_on_success() -> None:
    flow = chain(("src", Source()), ("relay", Relay()))
    job = flow.execute("src")
    assert job.get_routine_state("relay") is None


def test_payload_key_named_flow_is_ordinary_data() -> None:
    class Entry(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["flow"])

        def go(self, **_: Any) -> None:
            self.emit("output", flow="water")

    flow = chain(("e", Entry()), ("sink", Collector()))
    job = flow.execute("e")
    assert job.get_routine_state("sink")["received"] == [{"flow": "water"}]


def test_nested_execute_from_a_handler() -> None:
    inner = chain(("src", Source()), ("sink", Collector()))

    class Outer(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)

        def go(self, **_: Any) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            job = inner.execute("src", {"count": 2})
            ctx.job_state.update_shared_data("inner", job.get_routine_state("sink"))
            assert self.get_execution_context() == ctx

    outer = Flow("outer")
    outer.add_routine(Outer(), "outer")
    job = outer.execute("outer")
    assert job.status == "completed"
    assert job.shared_data["inner"]["received"] == [{"value": 0}, {"value": 1}]


def test_one_routine_reaching_another_routines_context() -> None:
    class Peeker(Routine):
        def __init__(self, other: Routine) -> None:
            super().__init__()
            self.other = other
            self.define_slot("trigger", handler=self.go)

        def go(self, **_: Any) -> None:
            ctx = self.other.get_execution_context()
            assert ctx is not None
            ctx.job_state.update_shared_data("other_id", ctx.routine_id)
            self.other.emit("output", value="via other")

    other = Source()
    flow = Flow("f")
    flow.add_routine(Peeker(other), "peeker")
    flow.add_routine(other, "other")
    flow.add_routine(Collector(), "sink")
    flow.connect("other", "output", "sink", "input")
    job = flow.execute("peeker")
    assert job.shared_data["other_id"] == "other"
    assert ("other", "output") in events(job)
    assert job.get_routine_state("sink")["received"] == [{"value": "via other"}]


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_wait_false_jobs_run_on_the_pool(strategy: str) -> None:
    flow = chain(("src", Source()), ("relay", Relay()), ("sink", Collector()), strategy=strategy)
    jobs = [flow.execute("src", {"count": 5}, wait=False) for _ in range(10)]
    assert flow.wait_for_completion(timeout=10)
    for job in jobs:
        assert job.status == "completed"
        assert len(job.get_routine_state("sink")["received"]) == 5
