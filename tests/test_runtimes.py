"""Runtimes: how a flow gets one, and engine promises checked on each runtime.

Issue 9, part 2 (one job machine, several runtimes). Tests parametrised over
``engine_runtime`` build their flows without a runtime and get the one their id names
(the swap in ``conftest.py``); the others build the runtime they need.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import routilux.flow
from routilux import Flow, JobState, Routine
from routilux.exceptions import ConfigurationError, QueueFullError
from routilux.runtimes import AsyncioRuntime, ThreadRuntime
from routilux.stores import MemoryStore

from helpers import Collector, Relay, Source, Step, chain

Runtime = ThreadRuntime | AsyncioRuntime

#: Parametrises a test over the default runtime (see conftest.py).
on_each_runtime = pytest.mark.parametrize("engine_runtime", ["threads", "asyncio"])

RUNTIME_CLASSES: dict[str, type[Runtime]] = {
    "threads": ThreadRuntime,
    "asyncio": AsyncioRuntime,
}


@pytest.fixture(params=["threads", "asyncio"])
def small_runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """A runtime with two threads for plain handlers."""
    made: Runtime = (
        ThreadRuntime(pool_size=2) if request.param == "threads" else AsyncioRuntime(threads=2)
    )
    yield made
    made.shutdown(wait=False)


def received(job: JobState) -> list[Any]:
    """The values the ``sink`` Collector of ``job`` received, in order."""
    state = job.get_routine_state("sink")
    assert state is not None
    return [item["value"] for item in state["received"]]


# -- how a flow gets its runtime ------------------------------------------------------


@on_each_runtime
def test_a_flow_without_a_runtime_gets_the_runtime_its_test_id_names(
    engine_runtime: str,
) -> None:
    """9.2: the engine suite really runs on both runtimes: a Flow made without a
    runtime gets the one the test id names (the hook conftest.py swaps)."""
    flow = chain(("src", Source()), ("sink", Collector()))
    assert type(flow.runtime) is RUNTIME_CLASSES[engine_runtime]
    job = flow.execute("src", {"count": 3})
    assert job.status == "completed"
    assert received(job) == [0, 1, 2]


def test_the_default_runtime_is_a_new_thread_runtime_per_flow() -> None:
    """9.2: unswapped, a Flow made without a runtime gets a ThreadRuntime of its own
    (the documented default), built by ``routilux.flow._default_runtime``."""
    first, second = Flow(), Flow()
    assert type(first.runtime) is ThreadRuntime
    assert first.runtime is not second.runtime
    made = routilux.flow._default_runtime("probe")
    try:
        assert type(made) is ThreadRuntime
    finally:
        made.shutdown(wait=False)


@pytest.mark.parametrize("bad", [object(), "threads", ThreadRuntime])
def test_a_runtime_that_is_not_one_is_refused_naming_the_flow(bad: Any) -> None:
    """9.2: ``Flow(runtime=...)`` refuses anything but a ThreadRuntime or an
    AsyncioRuntime, with a ConfigurationError naming the flow and the type."""
    with pytest.raises(ConfigurationError, match=r"runtime of flow 'f1'.*not (object|str|type)"):
        Flow("f1", runtime=bad)


@pytest.mark.parametrize(
    ("bound", "on_full", "match"),
    [
        (1, "wait", "queue_bound must be an int >= 2"),
        (True, "wait", "queue_bound must be an int >= 2"),
        ("10", "wait", "queue_bound must be an int >= 2"),
        (10, "drop", "on_full must be 'wait' or 'raise'"),
    ],
)
def test_bad_queue_bounds_are_refused(bound: Any, on_full: Any, match: str) -> None:
    """9.6: a queue bound must be an int of at least 2 and ``on_full`` one of the two
    policies; anything else is a ConfigurationError saying which."""
    with pytest.raises(ConfigurationError, match=match):
        Flow(queue_bound=bound, on_full=on_full)


@pytest.mark.parametrize(
    ("attribute", "bad"),
    [
        ("queue_bound", 1),
        ("queue_bound", 0),
        ("queue_bound", -4),
        ("queue_bound", True),
        ("queue_bound", 2.5),
        ("queue_bound", "10"),
        ("queue_bound", [10]),
        ("on_full", "drop"),
        ("on_full", "WAIT"),
        ("on_full", None),
        ("on_full", 1),
        ("on_full", ["wait"]),
    ],
)
def test_bad_queue_bounds_assigned_later_are_refused(attribute: str, bad: Any) -> None:
    """9.6: ``flow.queue_bound`` and ``flow.on_full`` assigned after the flow is made
    are checked as the constructor checks them: a ConfigurationError naming the
    attribute and the value, and the flow keeps its setting."""
    flow = Flow(queue_bound=10, on_full="raise")
    with pytest.raises(ConfigurationError, match=f"^{attribute} must be ") as caught:
        setattr(flow, attribute, bad)
    assert repr(bad) in str(caught.value)
    assert (flow.queue_bound, flow.on_full) == (10, "raise")


class _Streamer(Routine):
    """Entry routine: ``emit_now``s ``value=0..count-1``; keeps a QueueFullError."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: QueueFullError | None = None
        self.define_slot("trigger", handler=self.stream)
        self.define_event("output", ["value"])

    def stream(self, count: int = 1, **_: Any) -> None:
        try:
            for value in range(count):
                self.emit_now("output", value=value)
        except QueueFullError as exc:
            self.failure = exc


def test_a_queue_bound_assigned_later_applies_to_the_next_job() -> None:
    """9.6: valid values assigned after the flow is made are taken by the next job
    (and None removes the bound again)."""
    streamer = _Streamer()
    flow = chain(("src", streamer), ("sink", Collector()))
    flow.queue_bound = 3
    flow.on_full = "raise"
    assert (flow.queue_bound, flow.on_full) == (3, "raise")
    job = flow.execute("src", {"count": 10})
    assert isinstance(streamer.failure, QueueFullError)
    assert received(job) == [0, 1, 2]
    streamer.failure = None
    flow.queue_bound = None
    flow.on_full = "wait"
    job = flow.execute("src", {"count": 10})
    assert streamer.failure is None
    assert received(job) == list(range(10))


@on_each_runtime
def test_one_runtime_serves_several_flows_at_once(engine_runtime: str) -> None:
    """9.2: one runtime object may serve several flows; their jobs run at once on it
    without mixing their data."""
    runtime: Runtime = RUNTIME_CLASSES[engine_runtime]()
    try:
        flows = []
        for offset in (0, 100):
            flow = Flow(execution_strategy="concurrent", max_workers=4, runtime=runtime)
            flow.add_routine(Source(), "src")
            flow.add_routine(Relay(functools.partial(operator.add, offset)), "relay")
            flow.add_routine(Collector(), "sink")
            flow.connect("src", "output", "relay", "input")
            flow.connect("relay", "output", "sink", "input")
            flows.append(flow)
        jobs = [flow.execute("src", {"count": 20}, wait=False) for flow in flows]
        assert all(job.wait_for_completion(10) for job in jobs)
    finally:
        runtime.shutdown(wait=False)
    for job, offset in zip(jobs, (0, 100), strict=True):
        assert job.status == "completed"
        assert sorted(received(job)) == [value + offset for value in range(20)]


# -- engine promises on each runtime --------------------------------------------------


def test_handlers_waiting_for_jobs_of_their_flow_do_not_starve_the_runtime(
    small_runtime: Runtime,
) -> None:
    """8.T/9.5: handlers that wait for another job of the same flow hold the
    runtime's threads for plain handlers; with two such threads and two waiting
    handlers, the inner jobs still run (a waiting thread does not count against the
    runtime's size). A small, fast form of test_pause_resume's 200-job test."""
    inner_done: list[bool] = []
    lock = threading.Lock()
    both_waiting = threading.Barrier(2)

    def outer_or_inner(ctx: Any, data: dict[str, Any]) -> None:
        if data["outer"]:
            # Both outer handlers hold a thread before either starts its inner job.
            both_waiting.wait(10)
            inner = ctx.flow.execute("w", {"outer": False}, wait=False)
            finished = inner.wait_for_completion(1.5)
            with lock:
                inner_done.append(finished)

    step = Step(outer_or_inner, forward=False)
    flow = Flow(runtime=small_runtime)
    flow.add_routine(step, "w")
    jobs = [flow.execute("w", {"outer": True}, wait=False) for _ in range(2)]
    assert all(job.wait_for_completion(10) for job in jobs)
    assert step.failures == []
    assert inner_done == [True, True]


class _SlowSettleStore(MemoryStore):
    """Holds the store's record of a job settling as ``status`` until the test lets
    it go."""

    def __init__(self, status: str = "paused") -> None:
        super().__init__()
        self.status = status
        self.recording = threading.Event()
        self.let_go = threading.Event()

    def job_settled(self, job_state: JobState) -> None:
        if job_state.status == self.status:
            self.recording.set()
            self.let_go.wait(10)
        super().job_settled(job_state)


class _Gate(Routine):
    """Holds the delivery of ``block_on`` until ``opened`` is set."""

    def __init__(self, block_on: Any = 1) -> None:
        super().__init__()
        self.block_on = block_on
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.define_slot("input", handler=self.work)
        self.define_event("output", ["value"])

    def work(self, value: Any) -> None:
        if value == self.block_on:
            self.entered.set()
            assert self.opened.wait(10)
        self.emit("output", value=value)


@on_each_runtime
def test_after_pause_returns_the_job_has_nothing_in_progress(engine_runtime: str) -> None:
    """U: once ``flow.pause`` (called from outside the job) has returned, no handler of
    the job runs and its pending work is in the JobState, while a slow store may still
    be recording the pause: ``pause`` does not wait for the store (as ``cancel``), and
    ``wait_for_completion`` does, returning True once the pause is recorded."""
    store = _SlowSettleStore()
    gate = _Gate()
    flow = Flow(store=store)
    flow.add_routine(Source(), "src")
    flow.add_routine(gate, "gate")
    flow.connect("src", "output", "gate", "input")
    job = flow.execute("src", {"count": 3}, wait=False)
    try:
        assert gate.entered.wait(10)
        pauser = threading.Thread(target=flow.pause, args=(job, "hold"))
        pauser.start()
        gate.opened.set()
        pauser.join(10)
        assert not pauser.is_alive()
        assert job.status == "paused"
        assert [task["data"] for task in job.pending_tasks] == [{"value": 2}]
        assert not job.wait_for_completion(0)  # the store is still recording the pause
    finally:
        store.let_go.set()
        gate.opened.set()
    assert job.wait_for_completion(10)


@on_each_runtime
def test_a_cancelled_error_out_of_an_async_handler_fails_and_settles_the_job(
    engine_runtime: str, request: pytest.FixtureRequest
) -> None:
    """9.5: an ``async def`` handler through which a CancelledError propagates (it
    awaited a future somebody cancelled) fails the job, and the job settles."""

    class AwaitsCancelled(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.work)

        async def work(self, **_: Any) -> None:
            future = asyncio.get_running_loop().create_future()
            future.cancel()
            await future

    flow = Flow()
    flow.add_routine(AwaitsCancelled(), "a")
    job = flow.execute("a", wait=False)
    settled = job.wait_for_completion(2.0)
    assert job.status == "failed"
    assert [error["error_type"] for error in job.errors] == ["CancelledError"]
    assert settled


class _HeldStart(threading.Thread):
    """A thread whose ``start`` waits until the test lets it go."""

    may_start = threading.Event()
    starting = threading.Event()

    def start(self) -> None:
        _HeldStart.starting.set()
        _HeldStart.may_start.wait(10)
        super().start()


class _ThreadingWithHeldStart:
    """The ``threading`` module as the pool sees it, with :class:`_HeldStart`."""

    Thread = _HeldStart

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


def test_a_pool_shut_down_while_it_starts_a_thread_does_not_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """9.2: ``shutdown(wait=True)`` of a runtime whose pool is starting a thread for
    work submitted at that moment (a job's last bookkeeping, say) waits or returns; it
    does not raise. Seen as a flaky teardown error of a test that shut its runtime
    down right after ``execute`` returned."""
    from routilux.runtimes import _pool

    _HeldStart.may_start.clear()
    _HeldStart.starting.clear()
    monkeypatch.setattr(_pool, "threading", _ThreadingWithHeldStart())
    pool = _pool.ThreadWorkerPool(2, "held")
    ran = threading.Event()
    submitter = threading.Thread(target=pool.submit, args=(ran.set,))
    submitter.start()
    failures: list[BaseException] = []

    def shut_down() -> None:
        try:
            pool.shutdown(wait=True)
        except BaseException as exc:
            failures.append(exc)

    try:
        assert _HeldStart.starting.wait(10)
        closer = threading.Thread(target=shut_down)
        closer.start()
        closer.join(0.5)  # a shutdown that waits for the starting thread is fine too
    finally:
        _HeldStart.may_start.set()
        submitter.join(10)
    closer.join(10)
    assert failures == []


class _Fork(Routine):
    """Emits ``value/<name>`` for each delivery; cancels its job on ``cancel_on``."""

    def __init__(self, name: str, cancel_on: Any = None) -> None:
        super().__init__()
        self.name = name
        self.cancel_on = cancel_on
        self.returned: list[Any] = []
        self.define_slot("input", handler=self.work)
        self.define_event("output", ["value"])

    def work(self, value: Any) -> None:
        self.emit("output", value=f"{value}/{self.name}")
        if value == self.cancel_on:
            ctx = self.require_execution_context()
            ctx.flow.cancel(ctx.job_state, "enough")
        self.returned.append(value)


@on_each_runtime
def test_a_cancel_keeps_the_emissions_of_activations_that_returned_before_it(
    engine_runtime: str, request: pytest.FixtureRequest
) -> None:
    """9.4: what an activation emitted is committed when its handler returns, so a
    cancel made later, by the next activation of a sequential job, drops only what
    comes after it: the earlier activation's emission stays in the history. (Found
    by test_machine_properties.)"""
    first, second = _Fork("a"), _Fork("b", cancel_on=1)
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(first, "a")
    flow.add_routine(second, "b")
    flow.connect("src", "output", "a", "input")
    flow.connect("src", "output", "b", "input")
    job = flow.execute("src", {"count": 2})
    assert job.status == "cancelled"
    # FIFO: a(0), b(0), a(1), b(1) -- a(1) returned before b(1) cancelled the job.
    assert (first.returned, second.returned) == ([0, 1], [0, 1])
    emitted = [
        (record.routine_id, record.data["value"])
        for record in job.get_execution_history()
        if record.event_name == "output" and record.routine_id != "src"
    ]
    assert emitted == [("a", "0/a"), ("b", "0/b"), ("a", "1/a")]


@on_each_runtime
def test_a_cancelled_paused_job_is_settled_only_once_its_end_is_recorded(
    engine_runtime: str,
) -> None:
    """9.2/3.6: ``flow.cancel`` of a paused job: ``wait_for_completion`` returns True
    only once the end is recorded (as after cancelling a running job), so a JobState
    saved after it no longer changes. test_job_document's cancelled round trip fails
    now and then on AsyncioRuntime for this reason (``updated_at`` moves after the
    wait); a store slow to record the end makes it deterministic."""
    store = _SlowSettleStore("cancelled")
    flow = Flow(store=store)
    flow.add_routine(Step(lambda ctx, _: ctx.flow.pause(ctx.job_state, "hold")), "p")
    job = flow.execute("p")
    assert job.status == "paused"
    try:
        flow.cancel(job, "no longer needed")
        assert job.status == "cancelled"
        assert store.recording.wait(10)
        assert not job.wait_for_completion(0), "settled before its end was recorded"
    finally:
        store.let_go.set()
    assert job.wait_for_completion(10)
