"""Issue 11 (item 2): lifecycle signals of jobs and activations (routilux.signals).

Every receiver here is connected strongly for the test and disconnected after it (the
``received`` fixture). Nothing sleeps to synchronise: handlers meet the test at
threading events.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine, signals
from routilux._engine.machine import JobMachine, unhooked
from routilux._observe import hooks
from routilux.log import current_context
from routilux.runtimes import AsyncioRuntime, ThreadRuntime
from routilux.runtimes._remote import activation_message, apply_reply, run_message

from helpers import Failing, Gate, Relay, Source

Runtime = ThreadRuntime | AsyncioRuntime
PATIENCE = 10.0

SIGNALS = {
    "job_started": signals.job_started,
    "job_settled": signals.job_settled,
    "activation_started": signals.activation_started,
    "activation_finished": signals.activation_finished,
    "activation_failed": signals.activation_failed,
    "activation_retried": signals.activation_retried,
    "event_emitted": signals.event_emitted,
}


class Received:
    """What the receivers connected to every signal got, in order (thread safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, JobState, dict[str, Any]]] = []
        self.receivers: dict[str, Any] = {}

    def receiver(self, name: str) -> Any:
        def receive(sender: JobState, **kwargs: Any) -> None:
            with self.lock:
                self.calls.append((name, sender, kwargs))

        return receive

    def connect(self) -> None:
        for name, signal in SIGNALS.items():
            self.receivers[name] = self.receiver(name)
            signal.connect(self.receivers[name], weak=False)

    def disconnect(self) -> None:
        for name, signal in SIGNALS.items():
            signal.disconnect(self.receivers[name])

    def brief(self) -> list[tuple[Any, ...]]:
        """Each signal as a tuple: name, then what identifies it."""
        rows: list[tuple[Any, ...]] = []
        for name, _, kw in list(self.calls):
            if name.startswith("job_"):
                rows.append((name, kw.get("status")))
            elif name == "event_emitted":
                rows.append((name, kw["routine_id"], kw["event"], kw["data"]))
            else:
                rows.append((name, kw["routine_id"], kw["slot"], kw["attempt"]))
        return rows

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kw for called, _, kw in list(self.calls) if called == name]


@pytest.fixture
def received() -> Iterator[Received]:
    made = Received()
    made.connect()
    yield made
    made.disconnect()


@pytest.fixture(params=["threads", "asyncio"])
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    made: Runtime = ThreadRuntime() if request.param == "threads" else AsyncioRuntime()
    yield made
    made.shutdown(wait=False)


class AsyncRelay(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.relay)
        self.define_event("output", ["value"])

    async def relay(self, value: Any) -> None:
        await asyncio.sleep(0)
        self.emit("output", value=value)


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, value: Any) -> None:
        return None


def line(runtime: Runtime | None, *middle: Routine, strategy: str = "sequential") -> Flow:
    """source -> middle... -> sink."""
    flow = Flow(execution_strategy=strategy, max_workers=4, runtime=runtime)
    flow.add_routine(Source(), "source")
    previous = "source"
    for index, routine in enumerate(middle):
        flow.add_routine(routine, f"m{index}")
        flow.connect(previous, "output", f"m{index}", "input")
        previous = f"m{index}"
    flow.add_routine(Sink(), "sink")
    flow.connect(previous, "output", "sink", "input")
    return flow


def sequential_expectation(values: list[int], stages: list[str]) -> list[tuple[Any, ...]]:
    """The signals of a sequential source -> stages... -> sink job, in order."""
    rows: list[tuple[Any, ...]] = [
        ("job_started", None),
        ("activation_started", "source", "trigger", 0),
    ]
    rows += [("event_emitted", "source", "output", {"value": v}) for v in values]
    rows.append(("activation_finished", "source", "trigger", 0))
    # First in, first out: every activation of a stage runs before the next stage's.
    for stage in stages:
        for value in values:
            rows.append(("activation_started", stage, "input", 0))
            rows.append(("event_emitted", stage, "output", {"value": value}))
            rows.append(("activation_finished", stage, "input", 0))
    for _ in values:
        rows.append(("activation_started", "sink", "input", 0))
        rows.append(("activation_finished", "sink", "input", 0))
    rows.append(("job_settled", "completed"))
    return rows


# -- order ------------------------------------------------------------------------------


def test_sequential_signals_arrive_in_execution_order(runtime: Runtime, received: Received) -> None:
    flow = line(runtime, Relay(), Relay())
    job = flow.execute("source", {"count": 3})
    assert job.status == "completed"
    assert received.brief() == sequential_expectation([0, 1, 2], ["m0", "m1"])


def test_sequential_order_with_async_handlers(runtime: Runtime, received: Received) -> None:
    flow = line(runtime, AsyncRelay(), Relay(), AsyncRelay())
    job = flow.execute("source", {"count": 3})
    assert job.status == "completed"
    assert received.brief() == sequential_expectation([0, 1, 2], ["m0", "m1", "m2"])


def test_execute_async_sends_the_same_signals(runtime: Runtime, received: Received) -> None:
    flow = line(runtime, AsyncRelay())
    job = asyncio.run(flow.execute_async("source", {"count": 2}))
    assert job.status == "completed"
    assert received.brief() == sequential_expectation([0, 1], ["m0"])


@pytest.mark.parametrize("asynchronous", [False, True])
def test_concurrent_signals_keep_each_activations_order(
    runtime: Runtime, received: Received, asynchronous: bool
) -> None:
    middle = [AsyncRelay() if asynchronous else Relay() for _ in range(2)]
    flow = line(runtime, *middle, strategy="concurrent")
    job = flow.execute("source", {"count": 20})
    assert job.status == "completed"
    calls = received.brief()
    assert calls[0] == ("job_started", None)
    assert calls[-1] == ("job_settled", "completed")
    started = received.named("activation_started")
    finished = received.named("activation_finished")
    assert len(started) == len(finished) == 1 + 20 * 3
    # Per activation: started before finished, from the same attempt.
    positions: dict[str, list[str]] = {}
    for name, _, kw in received.calls:
        if name.startswith("activation_"):
            positions.setdefault(kw["activation_id"], []).append(name)
    assert len(positions) == 61
    assert all(
        names == ["activation_started", "activation_finished"] for names in positions.values()
    )
    emitted = received.named("event_emitted")
    assert sorted(kw["data"]["value"] for kw in emitted if kw["routine_id"] == "m1") == list(
        range(20)
    )


# -- keywords and timing ------------------------------------------------------------------


def test_receivers_get_ids_attempt_and_timing(received: Received) -> None:
    flow = line(None, Relay())
    job = flow.execute("source", {"count": 1})
    started = received.named("job_started")[0]
    assert started["job_id"] == job.job_id
    assert started["flow_id"] == flow.flow_id
    assert started["routine_id"] == "source"
    assert started["resumed"] is False
    for name in ("activation_started", "activation_finished"):
        for kw in received.named(name):
            assert kw["job_id"] == job.job_id
            assert isinstance(kw["start"], float)
            assert kw["start"] >= started["start"]
            assert kw["attempt"] == 0
            assert isinstance(kw["activation_id"], str)
    for kw in received.named("activation_finished"):
        assert kw["duration"] >= 0
    settled = received.named("job_settled")[0]
    assert settled["status"] == "completed"
    assert settled["start"] == started["start"]
    assert settled["duration"] >= 0
    # Every signal's sender is the job.
    assert all(sender is job for _, sender, _ in received.calls)
    emitted = received.named("event_emitted")[0]
    assert emitted["routine_id"] == "source"
    assert emitted["event"] == "output"
    assert emitted["data"] == {"value": 0}
    assert isinstance(emitted["time"], float)


# -- failures and retries ------------------------------------------------------------------


def test_a_retried_activation_fails_is_retried_and_finishes(
    runtime: Runtime, received: Received
) -> None:
    flaky = Failing(fail_on={1}, times=3)  # the calls for 1 fail while 3 calls or fewer
    flaky.set_error_handler(
        ErrorHandler(strategy=ErrorStrategy.RETRY, max_retries=3, retry_delay=0.0)
    )
    flow = line(runtime, flaky)
    job = flow.execute("source", {"count": 2})
    assert job.status == "completed"
    about_m0 = [row for row in received.brief() if row[0].startswith("activation_")]
    about_m0 = [row for row in about_m0 if row[1] == "m0"]
    assert about_m0 == [
        ("activation_started", "m0", "input", 0),
        ("activation_finished", "m0", "input", 0),  # value 0
        ("activation_started", "m0", "input", 0),  # value 1: fails twice
        ("activation_failed", "m0", "input", 0),
        ("activation_retried", "m0", "input", 0),
        ("activation_started", "m0", "input", 1),
        ("activation_failed", "m0", "input", 1),
        ("activation_retried", "m0", "input", 1),
        ("activation_started", "m0", "input", 2),
        ("activation_finished", "m0", "input", 2),
    ]
    failed = received.named("activation_failed")
    assert [type(kw["error"]) for kw in failed] == [RuntimeError, RuntimeError]
    assert all(kw["duration"] >= 0 for kw in failed)
    retried = received.named("activation_retried")
    assert [kw["delay"] for kw in retried] == [0.0, 0.0]
    # Every attempt of one activation has its id.
    ids = {kw["activation_id"] for kw in received.named("activation_started") if kw["attempt"]}
    ids |= {kw["activation_id"] for kw in failed + retried}
    assert len(ids) == 1


@pytest.mark.parametrize(
    ("strategy", "status"), [(ErrorStrategy.STOP, "failed"), (ErrorStrategy.CONTINUE, "completed")]
)
def test_a_failure_sends_failed_and_the_job_settles(
    received: Received, strategy: ErrorStrategy, status: str
) -> None:
    failing = Failing(fail_on={0})
    failing.set_error_handler(ErrorHandler(strategy=strategy))
    flow = line(None, failing)
    job = flow.execute("source", {"count": 2})
    assert job.status == status
    assert received.named("activation_retried") == []
    [failed] = received.named("activation_failed")
    assert failed["routine_id"] == "m0"
    assert str(failed["error"]) == "failing on 0"
    assert received.brief()[-1] == ("job_settled", status)
    # The failed attempt's emissions are dropped, and were never signalled.
    assert {"value": 0} not in [kw["data"] for kw in received.named("event_emitted")[2:]]


def test_a_cancelled_job_settles_cancelled(received: Received) -> None:
    gate = Gate(block_on=0)
    flow = line(None, gate)
    job = flow.execute("source", {"count": 1}, wait=False)
    assert gate.entered.wait(PATIENCE)
    flow.cancel(job, "enough")
    gate.release.set()
    assert job.wait_for_completion(PATIENCE)
    assert job.status == "cancelled"
    assert received.brief()[-1] == ("job_settled", "cancelled")


def test_emissions_dropped_by_a_cancel_are_not_signalled(
    runtime: Runtime, received: Received
) -> None:
    """The gate returns after its job was cancelled: it finishes, but what it emitted
    is dropped (never delivered, not in the history), so no event_emitted is sent."""
    gate = Gate(block_on=0)
    flow = line(runtime, gate)
    job = flow.execute("source", {"count": 1}, wait=False)
    assert gate.entered.wait(PATIENCE)
    flow.cancel(job, "enough")
    gate.release.set()
    assert job.wait_for_completion(PATIENCE)
    assert job.status == "cancelled"
    assert ("m0", "output") not in [
        (r.routine_id, r.event_name) for r in job.get_execution_history()
    ]
    assert received.brief()[-3:] == [
        ("activation_started", "m0", "input", 0),
        ("activation_finished", "m0", "input", 0),
        ("job_settled", "cancelled"),
    ]


# -- receivers' errors, locks, threads -----------------------------------------------------


def test_a_receivers_exception_is_logged_and_does_not_break_the_job(
    received: Received, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: JobState, **kwargs: Any) -> None:
        raise ValueError("receiver bug")

    later: list[str] = []

    def after(sender: JobState, **kwargs: Any) -> None:
        later.append(kwargs["routine_id"])

    for signal in SIGNALS.values():
        signal.connect(broken, weak=False)
    signals.activation_finished.connect(after, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="routilux"):
            job = line(None, Relay()).execute("source", {"count": 2})
    finally:
        for signal in SIGNALS.values():
            signal.disconnect(broken)
        signals.activation_finished.disconnect(after)
    assert job.status == "completed"
    assert job.errors == []
    assert received.brief() == sequential_expectation([0, 1], ["m0"])
    assert later == ["source", "m0", "m0", "sink", "sink"]
    failures = [r for r in caplog.records if "a receiver of signal" in r.getMessage()]
    assert len(failures) == len(received.calls)
    assert all(r.exc_info and r.exc_info[0] is ValueError for r in failures)
    assert {r.job_id for r in failures} == {job.job_id}  # type: ignore[attr-defined]


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
@pytest.mark.parametrize("name", sorted(set(SIGNALS) - {"activation_failed", "activation_retried"}))
def test_a_receiver_raising_keyboardinterrupt_or_systemexit_cannot_stop_the_bookkeeping(
    name: str, strategy: str, error: type[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    """Raised into the engine, these would lose an activation's work or leave a job
    that never settles: they are logged like any receiver's exception."""

    def interrupting(sender: JobState, **kwargs: Any) -> None:
        raise error()

    collected: list[Any] = []

    class Keeping(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.keep)

        def keep(self, value: Any) -> None:
            collected.append(value)

    flow = Flow(execution_strategy=strategy, max_workers=4)
    flow.add_routine(Source(), "source")
    flow.add_routine(Relay(), "relay")
    flow.add_routine(Keeping(), "sink")
    flow.connect("source", "output", "relay", "input")
    flow.connect("relay", "output", "sink", "input")
    SIGNALS[name].connect(interrupting, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="routilux"):
            job = flow.execute("source", {"count": 3}, wait=False)
            assert job.wait_for_completion(PATIENCE)
    finally:
        SIGNALS[name].disconnect(interrupting)
    assert job.status == "completed"
    assert sorted(collected) == [0, 1, 2]
    failures = [r for r in caplog.records if "a receiver of signal" in r.getMessage()]
    assert failures and all(r.exc_info and r.exc_info[0] is error for r in failures)


def test_receivers_never_run_under_the_machines_lock(runtime: Runtime) -> None:
    """Each receiver takes the job's machine lock (from its own thread): under it, it
    would deadlock (the lock is not reentrant); the acquire's timeout turns that into
    a failure."""
    acquired: list[bool] = []

    def take_lock(sender: JobState, **kwargs: Any) -> None:
        machine = sender._machine
        ok = machine.lock.acquire(timeout=PATIENCE)
        if ok:
            machine.lock.release()
        acquired.append(ok)

    for signal in SIGNALS.values():
        signal.connect(take_lock, weak=False)
    try:
        flaky = Failing(fail_on={0}, times=1)
        flaky.set_error_handler(ErrorHandler(strategy=ErrorStrategy.RETRY, retry_delay=0.0))
        job = line(runtime, flaky, AsyncRelay()).execute("source", {"count": 2})
    finally:
        for signal in SIGNALS.values():
            signal.disconnect(take_lock)
    assert job.status == "completed"
    assert len(acquired) > 10
    assert all(acquired)


def test_a_receiver_may_pause_the_job_and_read_it_from_another_thread(runtime: Runtime) -> None:
    """A receiver of activation_started pauses the job (as a handler may: it returns
    at once) and waits for another thread that reads the job's state."""
    flow = line(runtime, Relay())
    seen: list[str] = []

    def pause_at_m0(sender: JobState, **kwargs: Any) -> None:
        if kwargs["routine_id"] != "m0" or seen:
            return
        flow.pause(sender, "from a receiver")
        reader = threading.Thread(target=lambda: seen.append(sender.status))
        reader.start()
        reader.join(PATIENCE)

    settled: list[str] = []

    def on_settled(sender: JobState, **kwargs: Any) -> None:
        settled.append(kwargs["status"])

    signals.activation_started.connect(pause_at_m0, weak=False)
    signals.job_settled.connect(on_settled, weak=False)
    try:
        job = flow.execute("source", {"count": 2})
        assert job.status == "paused"
        assert seen == ["paused"]
        job = flow.resume(job, wait=True)
    finally:
        signals.activation_started.disconnect(pause_at_m0)
        signals.job_settled.disconnect(on_settled)
    assert job.status == "completed"
    assert settled == ["paused", "completed"]


def test_a_resumed_job_starts_again(received: Received) -> None:
    gate = Gate(block_on=0)
    flow = line(None, gate)
    job = flow.execute("source", {"count": 2}, wait=False)
    assert gate.entered.wait(PATIENCE)
    pauser = threading.Thread(target=flow.pause, args=(job,))
    pauser.start()
    gate.release.set()
    pauser.join(PATIENCE)
    assert job.wait_for_completion(PATIENCE)
    assert job.status == "paused"
    flow.resume(job, wait=True)
    assert job.status == "completed"
    started = received.named("job_started")
    assert [kw["resumed"] for kw in started] == [False, True]
    assert [kw["status"] for kw in received.named("job_settled")] == ["paused", "completed"]


def test_receivers_run_with_the_activation_as_context() -> None:
    contexts: list[dict[str, str]] = []

    def remember(sender: JobState, **kwargs: Any) -> None:
        contexts.append(current_context())

    signals.activation_finished.connect(remember, weak=False)
    signals.job_settled.connect(remember, weak=False)
    try:
        job = line(None).execute("source", {"count": 1})
    finally:
        signals.activation_finished.disconnect(remember)
        signals.job_settled.disconnect(remember)
    assert contexts == [
        {"job_id": job.job_id, "routine_id": "source", "slot": "trigger"},
        {"job_id": job.job_id, "routine_id": "sink", "slot": "input"},
        {},
    ]


def test_a_receiver_for_one_job_only() -> None:
    """Connected while the job runs: it gets the signals of the activations that start
    afterwards (those of the gate, running, are missed)."""
    gate = Gate(block_on=0)
    flow = line(None, gate, Relay())
    got: list[str] = []

    def receive(sender: JobState, **kwargs: Any) -> None:
        got.append(kwargs["routine_id"])

    first = flow.execute("source", {"count": 1}, wait=False)
    assert gate.entered.wait(PATIENCE)
    signals.activation_finished.connect(receive, sender=first, weak=False)
    try:
        gate.release.set()
        assert first.wait_for_completion(PATIENCE)
        flow.execute("source", {"count": 1})  # another job: not received
    finally:
        signals.activation_finished.disconnect(receive)
    assert got == ["m1", "sink"]


def test_a_muted_signal_calls_no_receiver(received: Received) -> None:
    """blinker's ``muted()``, as its ``send`` honours it."""
    with signals.activation_started.muted(), signals.job_settled.muted():
        job = line(None, Relay()).execute("source", {"count": 1})
    assert job.status == "completed"
    names = [name for name, _, _ in received.calls]
    assert "activation_started" not in names and "job_settled" not in names
    assert names.count("activation_finished") == 3


def test_a_coroutine_function_cannot_be_connected() -> None:
    """It would be called and never awaited: refused when connected, not dropped
    silently at each signal."""

    async def receive(sender: JobState, **kwargs: Any) -> None:
        return None

    with pytest.raises(TypeError, match="coroutine function"):
        signals.activation_started.connect(receive, weak=False)
    assert not signals.activation_started.receivers
    assert not hooks.activations


# -- cost: nothing is observed without receivers --------------------------------------------


def test_hooks_follow_the_receivers() -> None:
    assert not hooks.activations and not hooks.jobs

    def receive(sender: JobState, **kwargs: Any) -> None:
        return None

    signals.job_settled.connect(receive)  # weak: gone with the function
    assert hooks.jobs and not hooks.activations
    signals.activation_started.connect(receive)
    assert hooks.activations and hooks.receivers
    signals.job_settled.disconnect(receive)
    assert hooks.activations
    del receive
    gc.collect()
    assert not hooks.activations and not hooks.jobs


def test_without_receivers_no_job_is_watched() -> None:
    flow = line(None, Relay())
    job = flow.execute("source", {"count": 2})
    assert job._machine.watch is None


def test_unhooked_runs_the_bare_machine_and_puts_it_back() -> None:
    hooked = JobMachine.__dict__["run_sync"]
    with unhooked():
        assert JobMachine.__dict__["run_sync"] is JobMachine.__dict__["_run_sync"]
        job = line(None, Relay()).execute("source", {"count": 2})
        assert job.status == "completed"
    assert JobMachine.__dict__["run_sync"] is hooked


# -- emit_now, and activations run elsewhere -------------------------------------------------


class Streamer(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.stream)
        self.define_event("output", ["value"])

    def stream(self, count: int = 0, **_: Any) -> None:
        for value in range(count):
            self.emit_now("output", value=value)


def test_emit_now_emissions_are_signalled_as_they_are_handed_on(received: Received) -> None:
    flow = Flow()
    flow.add_routine(Streamer(), "source")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "sink", "input")
    job = flow.execute("source", {"count": 2})
    assert job.status == "completed"
    rows = received.brief()
    assert rows[:5] == [
        ("job_started", None),
        ("activation_started", "source", "trigger", 0),
        ("event_emitted", "source", "output", {"value": 0}),
        ("event_emitted", "source", "output", {"value": 1}),
        ("activation_finished", "source", "trigger", 0),
    ]


class Loopback(ThreadRuntime):
    """Runs every activation as a Redis worker would, in a thread of its own: its
    message and reply go through JSON (no Redis)."""

    runs_elsewhere = True

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []

    def _hand_off(
        self, machine: Any, meta: int, data: Any, seq: int, kept: str | None, *, here: bool = False
    ) -> None:
        message, sent = activation_message(machine, meta, data, seq, kept)
        self.messages.append(message)

        def work() -> None:
            reply = run_message(machine.flow, json.loads(json.dumps(message)))
            frame, result = apply_reply(sent, json.loads(json.dumps(reply)))
            self.completed_async(machine, frame, result)

        threading.Thread(target=work).start()


def test_activations_run_elsewhere_are_signalled_in_the_driver(received: Received) -> None:
    flaky = Failing(fail_on={1}, times=2)  # 1 fails once (the second call)
    flaky.set_error_handler(ErrorHandler(strategy=ErrorStrategy.RETRY, retry_delay=0.0))
    runtime = Loopback()
    flow = line(runtime, flaky)
    job = flow.execute("source", {"count": 2})
    assert job.status == "completed"
    assert received.brief() == [
        ("job_started", None),
        ("activation_started", "source", "trigger", 0),
        ("event_emitted", "source", "output", {"value": 0}),
        ("event_emitted", "source", "output", {"value": 1}),
        ("activation_finished", "source", "trigger", 0),
        ("activation_started", "m0", "input", 0),
        ("event_emitted", "m0", "output", {"value": 0}),
        ("activation_finished", "m0", "input", 0),
        ("activation_started", "m0", "input", 0),
        ("activation_failed", "m0", "input", 0),
        ("activation_retried", "m0", "input", 0),
        ("activation_started", "sink", "input", 0),
        ("activation_finished", "sink", "input", 0),
        ("activation_started", "m0", "input", 1),
        ("event_emitted", "m0", "output", {"value": 1}),
        ("activation_finished", "m0", "input", 1),
        ("activation_started", "sink", "input", 0),
        ("activation_finished", "sink", "input", 0),
        ("job_settled", "completed"),
    ]
    # Signals only: no trace context travels.
    assert all("traceparent" not in message for message in runtime.messages)
    runtime.shutdown(wait=False)
