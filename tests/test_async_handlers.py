"""``async def`` handlers under both runtimes, ``execute_async``, and backpressure.

Issue 9, parts 5 (async handlers) and 6 (backpressure). Every test runs on a
:class:`~routilux.runtimes.ThreadRuntime` and on an
:class:`~routilux.runtimes.AsyncioRuntime` (the ``runtime`` fixture) unless it says
why it needs only one. Nothing here sleeps to synchronise: handlers meet the test at
threading events, and a handler that must never be resumed awaits an event that is
never set.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine
from routilux.exceptions import JobStateError, QueueFullError
from routilux.execution_context import ExecutionContext
from routilux.runtimes import AsyncioRuntime, ThreadRuntime
from routilux.stores import SQLiteStore

from helpers import Failing, events

Runtime = ThreadRuntime | AsyncioRuntime

# How long a test waits for something that happens at once unless the engine is broken.
PATIENCE = 10.0


@pytest.fixture(params=["threads", "asyncio"])
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    made: Runtime = ThreadRuntime() if request.param == "threads" else AsyncioRuntime()
    yield made
    # Not waiting: ThreadWorkerPool.shutdown(wait=True) can race a thread being started
    # (see test_runtimes.py); tests that count threads count their own.
    made.shutdown(wait=False)


# -- routines -------------------------------------------------------------------------


class Source(Routine):
    """Entry routine: emits ``value=0..count-1`` on ``output`` (``emit_now`` if asked)."""

    def __init__(self, *, now: bool = False) -> None:
        super().__init__()
        self.now = now
        self.failure: BaseException | None = None
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 1, **_: Any) -> None:
        emit = self.emit_now if self.now else self.emit
        try:
            for value in range(count):
                emit("output", value=value)
        except QueueFullError as exc:
            self.failure = exc


class AwaitingAsyncSource(Routine):
    """An ``async def`` entry routine streaming with ``await emit_now_async``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    async def generate(self, count: int = 1, **_: Any) -> None:
        for value in range(count):
            await self.emit_now_async("output", value=value)


class StoppableSource(Routine):
    """Entry routine streaming ``value=0..count-1`` with ``emit_now`` (``await
    emit_now_async`` if ``awaiting``). Counts what it handed on, calls ``after(value)``
    after each item, and notes the JobStateError that stopped it (then lets it
    propagate, as a source that does not catch it would) -- or, for an ``async def``
    source, the CancelledError of the job's stop where it was suspended."""

    def __init__(
        self, after: Callable[[int], None] | None = None, *, awaiting: bool = False
    ) -> None:
        super().__init__()
        self.after = after
        self.sent = 0
        self.stopped_by: JobStateError | asyncio.CancelledError | None = None
        self.define_slot("trigger", handler=self.generate_async if awaiting else self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 1, **_: Any) -> None:
        try:
            for value in range(count):
                self.emit_now("output", value=value)
                self.sent += 1
                if self.after is not None:
                    self.after(value)
        except JobStateError as exc:
            self.stopped_by = exc
            raise

    async def generate_async(self, count: int = 1, **_: Any) -> None:
        try:
            for value in range(count):
                await self.emit_now_async("output", value=value)
                self.sent += 1
                if self.after is not None:
                    self.after(value)
        except (JobStateError, asyncio.CancelledError) as exc:
            self.stopped_by = exc
            raise


class AsyncSource(Routine):
    """An ``async def`` entry routine streaming ``value=0..count-1`` with ``emit_now``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    async def generate(self, count: int = 1, **_: Any) -> None:
        for value in range(count):
            self.emit_now("output", value=value)
            if value % 64 == 0:
                await asyncio.sleep(0)  # a real source awaits its I/O now and then


AsyncBody = Callable[["AsyncStep", ExecutionContext, dict[str, Any]], Awaitable[Any]]


class AsyncStep(Routine):
    """An ``async def`` handler on ``input`` (and ``trigger``): awaits ``body`` and,
    unless ``forward`` is False, emits what it received on ``output``."""

    def __init__(self, body: AsyncBody | None = None, *, forward: bool = True) -> None:
        super().__init__()
        self.body = body
        self.forward = forward
        self.lock = threading.Lock()
        self.calls = 0
        self.define_slot("trigger", handler=self.run)
        self.define_slot("input", handler=self.run)
        self.define_event("output")

    async def run(self, **data: Any) -> Any:
        ctx = self.require_execution_context()
        with self.lock:
            self.calls += 1
        result = None if self.body is None else await self.body(self, ctx, data)
        if self.forward:
            self.emit("output", **data)
        return result


class Recorder(Routine):
    """A plain handler that records the values it receives, in arrival order."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.values: list[Any] = []
        self.define_slot("input", handler=self.record)
        self.define_event("output", ["value"])

    def record(self, value: Any) -> None:
        with self.lock:
            self.values.append(value)
        self.emit("output", value=value)


class AsyncRecorder(Routine):
    """An ``async def`` :class:`Recorder`."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.values: list[Any] = []
        self.define_slot("input", handler=self.record)
        self.define_event("output", ["value"])

    async def record(self, value: Any) -> None:
        await asyncio.sleep(0)
        with self.lock:
            self.values.append(value)
        self.emit("output", value=value)


class QueueWatcher(Routine):
    """Counts deliveries and the longest queue of its job it saw (private state: the
    engine's queue of activations, read on purpose)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.longest = 0
        self.lock = threading.Lock()
        self.define_slot("input", handler=self.watch)

    def watch(self, value: Any) -> None:
        ctx = self.require_execution_context()
        queued = len(ctx.job_state._machine.queue)
        with self.lock:
            self.count += 1
            self.longest = max(self.longest, queued)


def wire(flow: Flow, *steps: tuple[str, Routine]) -> Flow:
    """Add ``steps`` to ``flow`` connected ``output`` -> ``input`` in a line."""
    previous = None
    for routine_id, routine in steps:
        flow.add_routine(routine, routine_id)
        if previous is not None:
            flow.connect(previous, "output", routine_id, "input")
        previous = routine_id
    return flow


def emitted_values(job: JobState, routine_id: str) -> list[Any]:
    """The ``value`` of each ``output`` emission of ``routine_id`` in the history."""
    return [
        record.data.get("value")
        for record in job.get_execution_history(routine_id)
        if record.event_name == "output"
    ]


# -- many handlers at once ------------------------------------------------------------


def test_ten_thousand_sleeping_handlers_run_concurrently(
    runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    """9.5: 10,000 concurrent handlers that each ``await asyncio.sleep(0.05)`` finish
    in a small multiple of 0.05 s (500 s one after another; the bound is generous, it
    is not a benchmark), and they need no thousand threads: the handlers await on an
    event loop, not in a thread each (ThreadRuntime's own promise)."""
    lock = threading.Lock()
    threads_before = threading.active_count()
    active = [0, 0, threads_before]  # now, most at once, most threads alive

    async def nap(_: AsyncStep, __: ExecutionContext, ___: dict[str, Any]) -> None:
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
            active[2] = max(active[2], threading.active_count())
        await asyncio.sleep(0.05)
        with lock:
            active[0] -= 1

    napper = AsyncStep(nap, forward=False)
    flow = wire(
        Flow(execution_strategy="concurrent", max_workers=10_000, runtime=runtime),
        ("src", Source()),
        ("nap", napper),
    )
    started = time.monotonic()
    job = flow.execute("src", {"count": 10_000})
    elapsed = time.monotonic() - started
    assert job.status == "completed"
    assert napper.calls == 10_000
    assert active[1] > 1_000, "the handlers did not overlap"
    added = active[2] - threads_before
    assert added < 1_000, f"{added} threads started for handlers that only await"
    assert elapsed < 2.0


def test_concurrent_async_handlers_are_held_to_max_workers(runtime: Runtime) -> None:
    """9.5: under the concurrent strategy with ``max_workers=100``, 300 ``async def``
    activations queued at once run at most 100 at a time, and 100 at once when that
    much work is queued. Each handler counts itself in and waits until 100 are
    running (or the last one has started): an event of the loop they all run on
    releases them, wave after wave; none sleeps. A runtime that ran fewer than 100 at
    once would leave them waiting (the wait has a timeout, after which every handler
    is let through and the test fails), one that ran more would show a peak above
    100."""
    limit, total = 100, 300
    counts = {"running": 0, "peak": 0, "started": 0, "ran": 0, "timed_out": 0}
    loops: set[asyncio.AbstractEventLoop] = set()
    waves: list[asyncio.Event] = []  # the last one is the wave now filling

    async def hold(_: AsyncStep, __: ExecutionContext, ___: dict[str, Any]) -> None:
        # Handlers of the job all run on one loop: nothing between two awaits races.
        loops.add(asyncio.get_running_loop())
        if not waves:
            waves.append(asyncio.Event())
        wave = waves[-1]
        counts["running"] += 1
        counts["started"] += 1
        counts["peak"] = max(counts["peak"], counts["running"])
        if counts["running"] == limit or counts["started"] == total or counts["timed_out"]:
            wave.set()
            waves.append(asyncio.Event())
        try:
            await asyncio.wait_for(wave.wait(), PATIENCE)
        except asyncio.TimeoutError:
            counts["timed_out"] += 1
            for waiting in waves:
                waiting.set()
        finally:
            counts["running"] -= 1
            counts["ran"] += 1

    holder = AsyncStep(hold, forward=False)
    flow = wire(
        Flow(execution_strategy="concurrent", max_workers=limit, runtime=runtime),
        ("src", Source()),
        ("hold", holder),
    )
    job = flow.execute("src", {"count": total})
    assert job.status == "completed", job.errors
    assert counts["timed_out"] == 0, f"fewer than {limit} ran at once (peak {counts['peak']})"
    assert len(loops) == 1
    assert holder.calls == counts["ran"] == total
    assert counts["running"] == 0
    assert counts["peak"] == limit


# -- retries --------------------------------------------------------------------------


def test_a_retry_of_an_async_handler_is_awaited_and_drops_the_failed_attempts_emissions(
    runtime: Runtime,
) -> None:
    """9.5/9.4: an ``async def`` handler that emits, awaits, then raises is retried
    (RETRY): the retry is awaited to its end, the failed attempt's emission is never
    delivered nor recorded, and while the retry waits for its delay the sequential
    job's next activation runs (the delay holds no driver)."""
    attempts: list[int] = []
    other_ran = threading.Event()

    async def flaky(step: AsyncStep, _: ExecutionContext, data: dict[str, Any]) -> str:
        attempts.append(data["value"])
        step.emit("output", value=f"attempt {len(attempts)}")
        await asyncio.sleep(0)
        if not other_ran.is_set():
            raise ConnectionError("transient")
        await asyncio.sleep(0)  # the retry really is awaited past its first await
        return "recovered"

    async def other(_: AsyncStep, __: ExecutionContext, ___: dict[str, Any]) -> None:
        other_ran.set()

    flaky_step = AsyncStep(flaky, forward=False)
    flaky_step.set_error_handler(
        ErrorHandler(strategy=ErrorStrategy.RETRY, max_retries=3, retry_delay=0.01)
    )
    sink = Recorder()
    flow = Flow(runtime=runtime)
    flow.add_routine(Source(), "src")
    flow.add_routine(flaky_step, "flaky")
    flow.add_routine(AsyncStep(other, forward=False), "other")
    flow.add_routine(sink, "sink")
    flow.connect("src", "output", "flaky", "input")
    flow.connect("src", "output", "other", "input")
    flow.connect("flaky", "output", "sink", "input")
    job = flow.execute("src", {"count": 1})
    assert job.status == "completed", job.errors
    assert attempts == [0, 0]
    assert sink.values == ["attempt 2"]
    assert emitted_values(job, "flaky") == ["attempt 2"]
    assert job.get_result("flaky") == "recovered"
    assert [r.event_name for r in job.get_execution_history("flaky")] == ["retry", "output"]


# -- cancel ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "suspension"), [("sequential", "never-set event"), ("concurrent", "long sleep")]
)
def test_cancel_while_coroutines_are_suspended_leaves_none_running(
    runtime: Runtime, strategy: str, suspension: str
) -> None:
    """9.5: cancelling a job whose async handlers are suspended (awaiting an event
    that is never set, or a very long sleep) ends every one of them before the job
    settles as cancelled; none continues past its await afterwards."""
    lock = threading.Lock()
    counts = {"started": 0, "continued": 0, "ended": 0}
    all_started = threading.Event()
    expected = 1 if strategy == "sequential" else 8
    # Strong references to the handlers' tasks: if the engine loses them, the test
    # cancels them itself at the end rather than leave them to the garbage collector.
    tasks: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []

    async def hang(_: AsyncStep, __: ExecutionContext, ___: dict[str, Any]) -> None:
        task = asyncio.current_task()
        assert task is not None
        with lock:
            tasks.append((asyncio.get_running_loop(), task))
            counts["started"] += 1
            if counts["started"] == expected:
                all_started.set()
        try:
            if suspension == "long sleep":
                await asyncio.sleep(3600)
            else:
                await asyncio.Event().wait()
            with lock:
                counts["continued"] += 1
        finally:
            with lock:
                counts["ended"] += 1

    flow = wire(
        Flow(execution_strategy=strategy, max_workers=8, runtime=runtime),
        ("src", Source()),
        ("hang", AsyncStep(hang, forward=False)),
    )
    job = flow.execute("src", {"count": 8}, wait=False)
    try:
        assert all_started.wait(PATIENCE)
        flow.cancel(job, "enough")
        # Settling takes as long as cancelling the coroutines: a second is generous.
        assert job.wait_for_completion(1.0), "the cancelled job never settled"
        assert job.status == "cancelled"
        with lock:
            settled = dict(counts)
        assert settled == {"started": expected, "continued": 0, "ended": expected}
        assert flow.wait_for_completion(PATIENCE)
        assert counts == settled  # nothing of the job ran after it settled
    finally:
        for loop, task in tasks:
            if not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)
        job.wait_for_completion(1.0)


# -- pause and resume -----------------------------------------------------------------


def test_pause_and_resume_with_async_handlers(runtime: Runtime) -> None:
    """9.5: an async handler pauses its own job; the job settles paused with the rest
    of its work pending, and a resume runs exactly that work to completion (every
    value once, in order under the sequential strategy)."""

    async def pause_at_two(_: AsyncStep, ctx: ExecutionContext, data: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        if data["value"] == 2 and ctx.job_state.get_shared_data("paused") is None:
            ctx.job_state.update_shared_data("paused", True)
            ctx.flow.pause(ctx.job_state, "halfway")

    relay = AsyncStep(pause_at_two)
    sink = AsyncRecorder()
    flow = wire(Flow(runtime=runtime), ("src", Source()), ("relay", relay), ("sink", sink))
    job = flow.execute("src", {"count": 6})
    assert job.status == "paused"
    assert job.wait_for_completion(PATIENCE)
    # FIFO: relay 0..5 were queued before any sink activation, so none has run yet.
    assert (relay.calls, sink.values) == (3, [])
    assert len(job.pending_tasks) == 3 + 3  # relay 3..5, sink 0..2
    flow.resume(job, wait=True)
    assert job.status == "completed", job.errors
    assert relay.calls == 6
    assert sink.values == [0, 1, 2, 3, 4, 5]
    assert job.pending_tasks == []
    assert emitted_values(job, "sink") == [0, 1, 2, 3, 4, 5]


def test_pause_from_outside_waits_for_a_suspended_async_handler(runtime: Runtime) -> None:
    """9.5: ``flow.pause`` from outside the job returns only once the async handler in
    flight has returned; what it emitted is kept as pending work and runs on resume."""
    entered = threading.Event()
    release = threading.Event()

    async def gate(_: AsyncStep, __: ExecutionContext, data: dict[str, Any]) -> None:
        if data["value"] == 1:
            entered.set()
            # Waits in a thread, so the loop stays free while this handler is suspended.
            assert await asyncio.to_thread(release.wait, PATIENCE)

    gate_step = AsyncStep(gate)
    sink = Recorder()
    flow = wire(Flow(runtime=runtime), ("src", Source()), ("gate", gate_step), ("sink", sink))
    job = flow.execute("src", {"count": 3}, wait=False)
    assert entered.wait(PATIENCE)
    pauser = threading.Thread(target=flow.pause, args=(job, "hold"))
    pauser.start()
    pauser.join(0.05)
    assert pauser.is_alive(), "pause returned while an async handler was suspended"
    release.set()
    pauser.join(PATIENCE)
    assert not pauser.is_alive()
    assert job.status == "paused"
    assert job.wait_for_completion(PATIENCE)
    assert (gate_step.calls, sink.values) == (2, [])
    assert len(job.pending_tasks) == 1 + 2  # gate 2, sink 0..1
    flow.resume(job, wait=True)
    assert job.status == "completed", job.errors
    assert sink.values == [0, 1, 2]


# -- mixing sync and async ------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_sync_and_async_routines_mix_in_one_flow(runtime: Runtime, strategy: str) -> None:
    """9.5: plain and ``async def`` handlers alternate along one flow; every value
    goes through all of them, and a routine reads the result of the one whose
    emission started it."""

    async def double(_: AsyncStep, ctx: ExecutionContext, data: dict[str, Any]) -> int:
        await asyncio.sleep(0)
        return int(data["value"]) * 2

    class Check(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[Any] = []
            self.lock = threading.Lock()
            self.define_slot("input", handler=self.check)
            self.define_event("output", ["value"])

        def check(self, value: Any) -> None:
            ctx = self.require_execution_context()
            with self.lock:
                self.seen.append(ctx.get_result("double") is not None)
            self.emit("output", value=value)

    check = Check()
    sink = AsyncRecorder()
    flow = wire(
        Flow(execution_strategy=strategy, max_workers=4, runtime=runtime),
        ("src", Source()),
        ("relay", Recorder()),
        ("double", AsyncStep(double)),
        ("check", check),
        ("sink", sink),
    )
    job = flow.execute("src", {"count": 20})
    assert job.status == "completed", job.errors
    assert sorted(sink.values) == list(range(20))
    assert check.seen == [True] * 20
    if strategy == "sequential":
        assert sink.values == list(range(20))


def test_a_blocked_sync_handler_does_not_block_async_handlers_of_its_job(
    runtime: Runtime,
) -> None:
    """9.5: a plain handler never blocks the loop: while one waits on a threading
    event, an ``async def`` handler of the same job runs to its end (the plain
    handler waits for exactly that)."""
    async_done = threading.Event()
    outcome: list[bool] = []

    class Blocker(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.block)

        def block(self, value: Any) -> None:
            outcome.append(async_done.wait(PATIENCE))

    async def finish(_: AsyncStep, __: ExecutionContext, ___: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        async_done.set()

    flow = Flow(execution_strategy="concurrent", max_workers=4, runtime=runtime)
    flow.add_routine(Source(), "src")
    flow.add_routine(Blocker(), "blocker")
    flow.add_routine(AsyncStep(finish, forward=False), "async")
    # The blocker is connected first, so it starts first.
    flow.connect("src", "output", "blocker", "input")
    flow.connect("src", "output", "async", "input")
    job = flow.execute("src", {"count": 1})
    assert job.status == "completed", job.errors
    assert outcome == [True]


# -- the execution context ------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_the_execution_context_follows_async_handlers_and_their_tasks(
    runtime: Runtime, strategy: str
) -> None:
    """9.5/3.10: in an async handler, across its awaits and in tasks it creates with
    ``asyncio.create_task``, ``get_execution_context()`` is that activation's job and
    routine, with two jobs and many activations interleaved on one loop."""
    wrong: list[str] = []
    lock = threading.Lock()

    async def look(step: AsyncStep, ctx: ExecutionContext, data: dict[str, Any]) -> None:
        async def in_task() -> tuple[str | None, str | None]:
            await asyncio.sleep(0)
            seen = step.get_execution_context()
            return (seen.job_state.job_id, seen.routine_id) if seen else (None, None)

        expected = (ctx.job_state.job_id, ctx.routine_id)
        task = asyncio.create_task(in_task())
        for _ in range(3):
            await asyncio.sleep(0)
            now = step.get_execution_context()
            if now is None or (now.job_state.job_id, now.routine_id) != expected:
                with lock:
                    wrong.append(f"after await: {now!r} != {expected!r}")
        seen_in_task = await task
        if seen_in_task != expected:
            with lock:
                wrong.append(f"in task: {seen_in_task!r} != {expected!r}")

    flow = wire(
        Flow(execution_strategy=strategy, max_workers=8, runtime=runtime),
        ("src", Source()),
        ("look", AsyncStep(look)),
        ("look2", AsyncStep(look, forward=False)),
    )
    jobs = [flow.execute("src", {"count": 25}, wait=False) for _ in range(2)]
    assert all(job.wait_for_completion(PATIENCE) for job in jobs)
    assert [job.status for job in jobs] == ["completed", "completed"]
    assert wrong == []


# -- execute_async --------------------------------------------------------------------


def test_execute_async_from_inside_asyncio_run(runtime: Runtime) -> None:
    """9.5: ``await flow.execute_async(...)`` inside ``asyncio.run`` returns the
    finished JobState without blocking the caller's loop: a task on that loop
    releases the job's handler while the job runs."""
    go = threading.Event()
    waited: list[bool] = []

    class Gate(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.wait)
            self.define_event("output", ["value"])

        def wait(self, **_: Any) -> int:
            waited.append(go.wait(PATIENCE))
            self.emit("output", value=7)
            return 7

    sink = AsyncRecorder()
    flow = wire(Flow(runtime=runtime), ("gate", Gate()), ("sink", sink))

    async def main() -> JobState:
        async def release() -> None:
            await asyncio.sleep(0)
            go.set()

        releaser = asyncio.create_task(release())
        job = await flow.execute_async("gate")
        await releaser
        return job

    job = asyncio.run(main())
    assert job.status == "completed", job.errors
    assert waited == [True]
    assert sink.values == [7]
    assert job.get_result("gate") == 7
    assert events(job) == [
        ("gate", "start"),
        ("gate", "output"),
        ("sink", "output"),
        ("gate", "completed"),
    ]


def test_execute_async_on_asyncio_runtime_runs_handlers_on_the_callers_loop() -> None:
    """9.5: with an AsyncioRuntime, ``execute_async`` runs the job's async handlers
    on the calling loop (ThreadRuntime runs them on its own loop thread by design)."""
    loops: list[asyncio.AbstractEventLoop] = []

    async def where(_: AsyncStep, __: ExecutionContext, ___: dict[str, Any]) -> None:
        loops.append(asyncio.get_running_loop())

    runtime = AsyncioRuntime()
    try:
        flow = wire(
            Flow(runtime=runtime), ("src", Source()), ("where", AsyncStep(where, forward=False))
        )

        async def main() -> tuple[JobState, asyncio.AbstractEventLoop]:
            return await flow.execute_async("src", {"count": 3}), asyncio.get_running_loop()

        job, caller_loop = asyncio.run(main())
    finally:
        runtime.shutdown(wait=False)
    assert job.status == "completed", job.errors
    assert loops == [caller_loop] * 3


# -- the sequential strategy ----------------------------------------------------------


def test_sequential_async_handlers_run_one_at_a_time_first_in_first_out(
    runtime: Runtime,
) -> None:
    """9.5/2: under the sequential strategy async handlers run one at a time, even
    across their awaits, in the order their activations were queued (fan-out in
    connect order)."""
    lock = threading.Lock()
    order: list[tuple[str, Any]] = []
    running = [0, 0]  # now, most at once

    async def log(step: AsyncStep, ctx: ExecutionContext, data: dict[str, Any]) -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
            order.append((ctx.routine_id, data["value"]))
        for _ in range(3):
            await asyncio.sleep(0)
        with lock:
            running[0] -= 1

    flow = Flow(runtime=runtime)
    flow.add_routine(Source(), "src")
    for routine_id in ("a", "b"):
        flow.add_routine(AsyncStep(log, forward=False), routine_id)
        flow.connect("src", "output", routine_id, "input")
    job = flow.execute("src", {"count": 15})
    assert job.status == "completed", job.errors
    assert running[1] == 1
    assert order == [(rid, value) for value in range(15) for rid in ("a", "b")]


# -- backpressure ---------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_a_bounded_queue_holds_a_streaming_source_to_its_bound(
    runtime: Runtime, strategy: str
) -> None:
    """9.6: a source that ``emit_now``s 200,000 items into a consumer with
    ``queue_bound=1000`` finishes, every item delivered once, and the job's queue
    never grows past the bound by more than a few activations."""
    count = 200_000 if strategy == "sequential" else 20_000
    watcher = QueueWatcher()
    flow = wire(
        Flow(execution_strategy=strategy, max_workers=4, runtime=runtime, queue_bound=1000),
        ("src", Source(now=True)),
        ("watch", watcher),
    )
    job = flow.execute("src", {"count": count})
    assert job.status == "completed", job.errors
    assert watcher.count == count
    assert watcher.longest <= 1000 + 4


@pytest.mark.parametrize("awaiting", [False, True], ids=["emit_now", "emit_now_async"])
def test_a_checkpointing_store_does_not_lift_the_bound(
    runtime: Runtime, tmp_path: Path, awaiting: bool
) -> None:
    """9.6: a checkpoint that falls due while a streaming source runs waits for the
    source's activation to return; meanwhile the source still makes room in the queue
    (it used to stop making room, and the queue grew to nearly every item)."""
    watcher = QueueWatcher()
    source: Routine = AwaitingAsyncSource() if awaiting else Source(now=True)
    flow = wire(
        Flow(
            runtime=runtime,
            queue_bound=10,
            store=SQLiteStore(tmp_path / "jobs.db", checkpoint_every=50),
        ),
        ("src", source),
        ("watch", watcher),
    )
    job = flow.execute("src", {"count": 5_000})
    assert job.status == "completed", job.errors
    assert watcher.count == 5_000
    assert watcher.longest <= 10 + 1


def test_a_checkpointing_store_does_not_stop_the_work_a_source_streams(
    runtime: Runtime, tmp_path: Path
) -> None:
    """9.4: while a streaming source runs, the items it handed on are processed, with
    a store that checkpoints every 20 activations too: the source waits for each item
    to arrive before it sends the next. (A checkpoint falling due used to stop the
    job's other work until the source returned: the source waited in vain.)"""
    arrived = threading.Semaphore(0)

    class Lockstep(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self, count: int) -> None:
            for value in range(count):
                self.emit_now("output", value=value)
                assert arrived.acquire(timeout=10), f"item {value} never arrived"

    class Arrivals(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.take)

        def take(self, value: int) -> None:
            arrived.release()

    flow = wire(
        Flow(
            execution_strategy="concurrent",
            max_workers=4,
            runtime=runtime,
            store=SQLiteStore(tmp_path / "jobs.db", checkpoint_every=20),
        ),
        ("src", Lockstep()),
        ("sink", Arrivals()),
    )
    job = flow.execute("src", {"count": 200})
    assert job.status == "completed", job.errors


def test_an_emit_now_of_a_thread_left_behind_does_not_put_checkpoints_off(
    runtime: Runtime, tmp_path: Path
) -> None:
    """9.4: only a running activation streams. An ``emit_now`` from a thread its
    handler started (with its context) after the handler returned used to count the
    finished activation as streaming forever, and no checkpoint of the job fell due
    again."""
    released = threading.Event()
    sent = threading.Event()
    streaming_seen: list[int] = []

    class Spawner(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self) -> None:
            def later() -> None:
                assert released.wait(10)
                self.emit_now("output", value=1)
                sent.set()

            context = contextvars.copy_context()
            threading.Thread(target=context.run, args=(later,), daemon=True).start()
            self.emit("output", value=0)

    class Sink(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.take)

        def take(self, value: int) -> None:
            if value == 0:
                released.set()  # the spawner has returned: its emission was released
                assert sent.wait(10)
                machine = self.require_execution_context().job_state._machine
                streaming_seen.append(machine.streaming)

    flow = wire(
        Flow(
            execution_strategy="concurrent",
            runtime=runtime,
            store=SQLiteStore(tmp_path / "jobs.db", checkpoint_every=1),
        ),
        ("src", Spawner()),
        ("sink", Sink()),
    )
    job = flow.execute("src")
    assert job.wait_for_completion(10)
    assert job.status == "completed", job.errors
    assert streaming_seen == [0]


def test_a_full_queue_raises_queue_full_error_naming_job_routine_and_event(
    runtime: Runtime,
) -> None:
    """9.6: with ``on_full="raise"`` an ``emit_now`` into a full queue raises
    QueueFullError naming the job, the routine and the event; what was handed on
    before stays delivered."""
    source = Source(now=True)
    sink = Recorder()
    flow = wire(
        Flow(runtime=runtime, queue_bound=3, on_full="raise"), ("src", source), ("sink", sink)
    )
    job = flow.execute("src", {"count": 10})
    assert isinstance(source.failure, QueueFullError)
    message = str(source.failure)
    assert job.job_id in message and "'src'" in message and "'output'" in message
    assert job.status == "completed", job.errors
    assert sink.values == [0, 1, 2]


@pytest.mark.parametrize("consumer", ["sync", "async"])
def test_a_bound_never_deadlocks_a_sequential_job_driven_by_its_caller(
    runtime: Runtime, consumer: str, request: pytest.FixtureRequest
) -> None:
    """9.6: a sequential job whose caller's thread is its only driver, with a small
    bound, finishes: the streaming source makes room itself instead of waiting for a
    driver that is its own thread (checked with a timeout)."""
    sink: Recorder | AsyncRecorder = Recorder() if consumer == "sync" else AsyncRecorder()
    flow = wire(Flow(runtime=runtime, queue_bound=4), ("src", Source(now=True)), ("sink", sink))
    finished: list[JobState] = []
    caller = threading.Thread(
        target=lambda: finished.append(flow.execute("src", {"count": 1000})), daemon=True
    )
    caller.start()
    caller.join(2.0)  # the job takes milliseconds
    if caller.is_alive():
        for job in list(flow._active):  # let the stuck job go, so the loop thread ends
            flow.cancel(job.job_state)
    assert finished, "execute() never returned: the bounded job deadlocked"
    assert finished[0].status == "completed"
    assert sink.values == list(range(1000))


def test_an_async_streaming_source_is_held_to_the_bound(runtime: Runtime) -> None:
    """9.6: an ``async def`` source that streams with ``await emit_now_async`` is held
    to the queue's bound as a plain one is, without blocking its loop."""
    watcher = QueueWatcher()
    flow = wire(
        Flow(runtime=runtime, queue_bound=100), ("src", AwaitingAsyncSource()), ("watch", watcher)
    )
    job = flow.execute("src", {"count": 5000})
    assert job.status == "completed", job.errors
    assert watcher.count == 5000
    assert watcher.longest <= 100 + 4


def assert_stopped_quietly(job: JobState, source: StoppableSource, status: str) -> None:
    """The source was stopped by a JobStateError naming the job, the routine and the
    event; letting it propagate recorded no failure of the source."""
    assert job.status == status
    assert source.stopped_by is not None, "emit_now did not stop the source"
    if not isinstance(source.stopped_by, asyncio.CancelledError):
        message = str(source.stopped_by)
        assert job.job_id in message and "'src'" in message and "'output'" in message
        assert ("was cancelled" if status == "cancelled" else "has failed") in message
    assert [error["routine_id"] for error in job.errors if error["routine_id"] == "src"] == []
    assert "error" not in [record.event_name for record in job.get_execution_history("src")]


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
@pytest.mark.parametrize("awaiting", [False, True], ids=["emit_now", "emit_now_async"])
def test_a_streaming_source_stops_when_a_stop_fails_its_job(
    runtime: Runtime, strategy: str, awaiting: bool
) -> None:
    """9.6: a consumer fails the job (STOP) while a source streams into a bounded
    queue with ``on_full="wait"`` (the failing activation may be one the source runs
    itself to make room): the source's next ``emit_now`` / ``emit_now_async`` raises
    JobStateError, so it stops early instead of streaming, silently dropped, to its end
    (an ``async def`` source suspended in ``emit_now_async`` may be cancelled there by
    the stop instead). The job's only recorded failure is the consumer's."""
    count = 100_000
    source = StoppableSource(awaiting=awaiting)
    sink = Failing(fail_on={3})
    sink.set_error_handler(ErrorHandler(strategy=ErrorStrategy.STOP))
    flow = wire(
        Flow(
            execution_strategy=strategy,
            max_workers=4,
            runtime=runtime,
            queue_bound=4,
            on_full="wait",
        ),
        ("src", source),
        ("sink", sink),
    )
    job = flow.execute("src", {"count": count})
    assert_stopped_quietly(job, source, "failed")
    assert [(error["routine_id"], error["strategy"]) for error in job.errors] == [("sink", "stop")]
    assert source.sent < count
    if strategy == "sequential":
        # The source ran sink(3) itself while making room, and stopped right there.
        assert source.sent < 10
        assert sink.calls == [0, 1, 2, 3]


@pytest.mark.parametrize("bound", [None, 4])
def test_a_streaming_source_stops_when_its_job_is_cancelled(
    runtime: Runtime, bound: int | None
) -> None:
    """9.6: a job cancelled from outside while its source streams: the source's next
    ``emit_now`` raises JobStateError, with a bound or without; letting it propagate
    records no failure, and the job ends cancelled."""
    streaming = threading.Event()
    cancelled = threading.Event()

    def after(value: int) -> None:
        if value == 1:
            streaming.set()
            assert cancelled.wait(PATIENCE)

    source = StoppableSource(after)
    sink = Recorder()
    flow = wire(
        Flow(execution_strategy="concurrent", runtime=runtime, queue_bound=bound),
        ("src", source),
        ("sink", sink),
    )
    job = flow.execute("src", {"count": 1000}, wait=False)
    try:
        assert streaming.wait(PATIENCE)
        flow.cancel(job, "enough")
    finally:
        cancelled.set()
    assert job.wait_for_completion(PATIENCE)
    assert_stopped_quietly(job, source, "cancelled")
    assert job.errors == []
    assert source.sent == 2


def test_an_async_source_stops_when_its_job_is_cancelled(runtime: Runtime) -> None:
    """9.6: an ``async def`` source whose job is cancelled between two items that need
    no await (the cancel of its task cannot reach it there): ``await
    emit_now_async`` raises JobStateError, and the job ends cancelled."""
    source = StoppableSource(awaiting=True)

    def cancel_own_job(value: int) -> None:
        if value == 1:
            ctx = source.require_execution_context()
            ctx.flow.cancel(ctx.job_state, "enough")

    source.after = cancel_own_job
    flow = wire(Flow(runtime=runtime), ("src", source), ("sink", Recorder()))
    job = flow.execute("src", {"count": 1000})
    assert job.wait_for_completion(PATIENCE)
    assert_stopped_quietly(job, source, "cancelled")
    assert job.errors == []
    assert source.sent == 2
