"""Property tests of the job machine's invariants on random flows (Hypothesis).

Issue 9, "Tests": random small flows (a tree of 2-6 routines: chains and fan-outs),
plain and ``async def`` handlers mixed, some failing under a random error strategy
(CONTINUE, SKIP, RETRY with no delay, STOP), some pausing or cancelling their own job
at a random delivery, under the sequential or the concurrent strategy, on both
runtimes. Each job is driven to its end (resumed while paused). What must hold:

- every activation runs, or is pending while the job is paused, or was dropped by a
  STOP or a cancel, exactly as the final status says;
- the final status is true (completed only if nothing stopped the job; failed only
  after a STOP-like failure; cancelled only after a cancel), and once finished it
  never changes;
- the history holds exactly the committed emissions: every ``output`` record is the
  emission of a successful attempt, once; a failed attempt's emission never appears
  and is never delivered; in a completed job every successful attempt's emission is
  there;
- a finished job has no pending work, and in a completed job every failure is
  recorded once.

The handlers keep their own log (under a lock) of what they ran, emitted, raised and
asked for; the checks compare it with what the engine recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine
from routilux.exceptions import JobStateError
from routilux.runtimes import AsyncioRuntime, ThreadRuntime

Runtime = ThreadRuntime | AsyncioRuntime

NO_FAILURES = "none"
STRATEGIES = (NO_FAILURES, "continue", "skip", "retry", "stop")
ACTIONS = ("none", "none", "pause", "cancel")  # "cancel" last (see scenarios())


# -- what a random flow is ------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One routine of a random flow."""

    parent: int  # index of the routine whose output feeds this one (-1: the entry)
    is_async: bool
    strategy: str  # one of STRATEGIES
    fail_items: frozenset[int]  # entry items whose activations of this routine fail
    fail_attempts: int  # RETRY: how many first attempts of such an activation fail
    max_retries: int
    critical: bool
    action: str  # "none", "pause" or "cancel": done once, at the first attempt...
    action_item: int  # ...of the activation for this entry item


@dataclass(frozen=True)
class Scenario:
    items: int
    specs: tuple[Spec, ...]
    strategy: str
    workers: int

    def children(self, index: int) -> list[int]:
        return [i for i, spec in enumerate(self.specs) if spec.parent == index]


@st.composite
def scenarios(draw: st.DrawFn, cancels: bool = True) -> Scenario:
    items = draw(st.integers(1, 3))
    count = draw(st.integers(2, 6))
    specs = []
    for index in range(count):
        entry = index == 0
        strategy = NO_FAILURES if entry else draw(st.sampled_from(STRATEGIES))
        failing = strategy != NO_FAILURES
        specs.append(
            Spec(
                parent=-1 if entry else draw(st.integers(0, index - 1)),
                is_async=draw(st.booleans()),
                strategy=strategy,
                fail_items=frozenset(draw(st.sets(st.integers(0, items - 1))) if failing else ()),
                fail_attempts=draw(st.integers(1, 3)),
                max_retries=draw(st.integers(0, 2)),
                critical=draw(st.booleans()),
                action=draw(st.sampled_from(ACTIONS if cancels else ACTIONS[:-1])),
                action_item=draw(st.integers(0, items - 1)),
            )
        )
    return Scenario(
        items=items,
        specs=tuple(specs),
        strategy=draw(st.sampled_from(["sequential", "concurrent"])),
        workers=draw(st.integers(1, 4)),
    )


# -- the handlers' own log ------------------------------------------------------------

Key = tuple[str, str]  # (routine id, the value its activation received)


@dataclass
class Log:
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: Counter[Key] = field(default_factory=Counter)
    # Emissions of attempts that returned, except those that cancelled their own job.
    succeeded: list[Key] = field(default_factory=list)
    # Emissions of attempts that cancelled their own job (committed after the cancel).
    dropped: list[Key] = field(default_factory=list)
    raised: int = 0
    # What stopped the job, in the order the handlers did it: "stop" or "cancel".
    stoppers: list[str] = field(default_factory=list)
    acted: set[str] = field(default_factory=set)


def rid(index: int) -> str:
    return f"r{index}"


class Node(Routine):
    """A routine of a random flow (see :class:`Spec`): emits ``<value>/<id>`` on
    ``output`` for each delivery (the entry: ``"0"``, ``"1"``, ...), then acts and
    fails as its spec says. Values name their path, so an activation is identified by
    (routine id, value)."""

    def __init__(self, spec: Spec, routine_id: str, log: Log, *, entry: bool, items: int) -> None:
        super().__init__()
        self.spec = spec
        self.routine_id = routine_id
        self.log = log
        self.items = items
        self.define_event("output", ["value"])
        if entry:
            trigger: Any = self.generate_async if spec.is_async else self.generate
            self.define_slot("trigger", handler=trigger)
        else:
            handler: Any = self.handle_async if spec.is_async else self.handle
            self.define_slot("input", handler=handler)
        if spec.strategy == "retry":
            self.set_error_handler(
                ErrorHandler(
                    strategy=ErrorStrategy.RETRY,
                    max_retries=spec.max_retries,
                    retry_delay=0,
                    is_critical=spec.critical,
                )
            )
        elif spec.strategy != NO_FAILURES:
            self.set_error_handler(ErrorHandler(strategy=spec.strategy))

    def generate(self, **_: Any) -> None:
        outs = [(self.routine_id, str(item)) for item in range(self.items)]
        for _routine_id, out in outs:
            self.emit("output", value=out)
        self.returned(outs, self.act(0))

    async def generate_async(self, **_: Any) -> None:
        await asyncio.sleep(0)
        self.generate()

    def handle(self, value: str) -> None:
        spec, log = self.spec, self.log
        item = int(value.split("/")[0])
        with log.lock:
            attempt = log.attempts[(self.routine_id, value)]
            log.attempts[(self.routine_id, value)] += 1
        out = f"{value}/{self.routine_id}"
        self.emit("output", value=out)
        cancelled = self.act(attempt) if item == spec.action_item else False
        if item in spec.fail_items and self.fails(attempt):
            raise RuntimeError(f"{self.routine_id} fails on {value} (attempt {attempt})")
        self.returned([(self.routine_id, out)], cancelled)

    async def handle_async(self, value: str) -> None:
        await asyncio.sleep(0)
        self.handle(value)
        await asyncio.sleep(0)

    def returned(self, outs: list[Key], cancelled: bool) -> None:
        with self.log.lock:
            (self.log.dropped if cancelled else self.log.succeeded).extend(outs)

    def fails(self, attempt: int) -> bool:
        """Whether this attempt raises; logs it (and whether that stops the job)."""
        spec, log = self.spec, self.log
        if spec.strategy == "retry" and attempt >= spec.fail_attempts:
            return False
        stops = spec.strategy == "stop" or (
            spec.strategy == "retry" and attempt >= spec.max_retries and spec.critical
        )
        with log.lock:
            log.raised += 1
            if stops:
                log.stoppers.append("stop")
        return True

    def act(self, attempt: int) -> bool:
        """Pause or cancel the job as the spec says (once, at a first attempt);
        returns whether this attempt cancelled it."""
        spec, log = self.spec, self.log
        if spec.action == "none" or attempt:
            return False
        with log.lock:
            if self.routine_id in log.acted:
                return False
            log.acted.add(self.routine_id)
        ctx = self.require_execution_context()
        if spec.action == "pause":
            # A job that is already stopping has nothing to pause (JobStateError).
            with contextlib.suppress(JobStateError):
                ctx.flow.pause(ctx.job_state, f"{self.routine_id} pauses")
            return False
        ctx.flow.cancel(ctx.job_state, f"{self.routine_id} cancels")
        with log.lock:
            log.stoppers.append("cancel")
        return True


def build(scenario: Scenario, runtime: Runtime, log: Log) -> Flow:
    flow = Flow(execution_strategy=scenario.strategy, max_workers=scenario.workers, runtime=runtime)
    for index, spec in enumerate(scenario.specs):
        flow.add_routine(
            Node(spec, rid(index), log, entry=index == 0, items=scenario.items), rid(index)
        )
    for index, spec in enumerate(scenario.specs):
        if spec.parent >= 0:
            flow.connect(rid(spec.parent), "output", rid(index), "input")
    return flow


# -- the invariants -------------------------------------------------------------------


def emissions(job: JobState) -> list[Key]:
    return [
        (record.routine_id, record.data["value"])
        for record in job.get_execution_history()
        if record.event_name == "output"
    ]


def deliveries_of(scenario: Scenario, committed: list[Key]) -> set[Key]:
    """The activations the committed emissions make: (child id, value)."""
    index_of = {rid(i): i for i in range(len(scenario.specs))}
    made = set()
    for routine_id, value in committed:
        for child in scenario.children(index_of[routine_id]):
            made.add((rid(child), value))
    return made


def check_paused(scenario: Scenario, job: JobState, log: Log) -> None:
    """A paused job: every delivery of a committed emission ran or is pending, and
    every pending activation is such a delivery."""
    with log.lock:
        ran = set(log.attempts)
    pending = {(task.routine_id, task.data["value"]) for task in job.pending_tasks}
    expected = deliveries_of(scenario, emissions(job))
    assert expected <= ran | pending, f"lost: {sorted(expected - ran - pending)}"
    assert pending <= expected, f"pending work nobody emitted: {sorted(pending - expected)}"


#: Under the sequential strategy, what must have stopped a job first, by final status.
FIRST_STOPPER = {"completed": [], "failed": ["stop"], "cancelled": ["cancel"]}


def check_finished(scenario: Scenario, job: JobState, log: Log, flow: Flow) -> None:
    status = job.status
    assert job.is_finished, status
    assert job.pending_tasks == []
    committed = emissions(job)
    with log.lock:
        succeeded = list(log.succeeded)
        ran = set(log.attempts)
        stoppers = list(log.stoppers)
        raised = log.raised
        dropped = set(log.dropped)
    # Committed emissions: each once, each from an attempt that returned before any
    # cancel it made (a failed attempt's emissions and a canceller's are dropped).
    assert [key for key, n in Counter(committed).items() if n > 1] == []
    assert not set(committed) & dropped, "committed after its own handler cancelled the job"
    assert set(committed) <= set(succeeded), "an emission of a failed attempt was committed"
    # Nothing ran that no committed emission asked for.
    delivered = deliveries_of(scenario, committed)
    assert ran <= delivered, f"ran without a committed emission: {sorted(ran - delivered)}"
    # The final status says exactly what happened.
    if status == "completed":
        assert stoppers == [], f"completed although {stoppers} happened"
        assert Counter(committed) == Counter(succeeded)
        assert delivered <= ran, f"never ran: {sorted(delivered - ran)}"
        records = Counter(record.event_name for record in job.get_execution_history())
        assert records["retry"] + records["error"] + records["error_continued"] == raised
    elif status == "failed":
        assert "stop" in stoppers, "failed without a STOP-like failure"
    else:
        assert status == "cancelled", status
        assert "cancel" in stoppers, "cancelled without a cancel"
    if scenario.strategy == "sequential":
        # One activation at a time: the first stopper decides, and every attempt that
        # returned before it was committed.
        assert stoppers[:1] == FIRST_STOPPER[status]
        assert Counter(committed) == Counter(succeeded)
    # A finished status never changes, nor does the record.
    before = (status, committed, len(job.errors))
    assert flow.wait_for_completion(10)
    assert job.wait_for_completion(0)
    assert (job.status, emissions(job), len(job.errors)) == before


def drive(scenario: Scenario, runtime: Runtime) -> None:
    log = Log()
    flow = build(scenario, runtime, log)
    job = flow.execute(rid(0))
    pauses = 0
    for _ in range(len(scenario.specs) + 1):
        if job.status != "paused":
            break
        pauses += 1
        check_paused(scenario, job, log)
        flow.resume(job, wait=True)
    event(f"{scenario.strategy}, {job.status}, paused {min(pauses, 2)}x")
    check_finished(scenario, job, log, flow)


# -- the tests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runtimes() -> Iterator[dict[str, Runtime]]:
    made: dict[str, Runtime] = {"threads": ThreadRuntime(), "asyncio": AsyncioRuntime()}
    yield made
    for runtime in made.values():
        runtime.shutdown(wait=False)


EXAMPLES = int(os.environ.get("ROUTILUX_PROPERTY_EXAMPLES", "100"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@pytest.mark.parametrize(
    ("runtime_name", "cancels"),
    [
        pytest.param("threads", True, id="threads"),
        pytest.param("threads", False, id="threads-without-cancels"),
        pytest.param("asyncio", True, id="asyncio"),
    ],
)
def test_random_flows_keep_the_machines_invariants(
    runtimes: dict[str, Runtime], runtime_name: str, cancels: bool, data: st.DataObject
) -> None:
    """9 (property tests): on random flows with random failures, strategies, pauses
    and cancels, every activation runs, is pending, or was dropped exactly as the
    final status says; the status is true and final; the history holds exactly the
    committed emissions (see the module documentation)."""
    drive(data.draw(scenarios(cancels), label="scenario"), runtimes[runtime_name])


def test_a_handler_that_cancels_its_job_and_raises_keeps_earlier_emissions_recorded() -> None:
    """Found by the property test above: under ThreadRuntime's sequential batches, a
    handler (CONTINUE) that cancelled its own job and then raised made the engine drop
    from the history the emission of the activation that had returned just before it
    (it took that one for the activation that ran into the cancel)."""

    class Emitter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("output", ["value"])

        def go(self) -> None:
            for value in (0, 1):
                self.emit("output", value=value)

    class Relay(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.take)
            self.define_event("output", ["value"])

        def take(self, value: int) -> None:
            self.emit("output", value=value)

    class Canceller(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.take)

        def take(self, value: int) -> None:
            if value == 1:
                ctx = self.require_execution_context()
                ctx.flow.cancel(ctx.job_state, reason="enough")
                raise RuntimeError("after the cancel")

    runtime = ThreadRuntime()
    try:
        flow = Flow("batch", runtime=runtime)
        flow.add_routine(Emitter(), "r0")
        flow.add_routine(Relay(), "r1")
        canceller = Canceller()
        canceller.set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
        flow.add_routine(canceller, "r2")
        flow.connect("r0", "output", "r1", "input")
        flow.connect("r0", "output", "r2", "input")
        job = flow.execute("r0")
        assert job.status == "cancelled"
        relayed = [
            record.data["value"]
            for record in job.execution_history
            if record.routine_id == "r1" and record.event_name == "output"
        ]
        # r1(0), r2(0), r1(1) returned before r2(1) cancelled the job.
        assert relayed == [0, 1]
    finally:
        runtime.shutdown()
