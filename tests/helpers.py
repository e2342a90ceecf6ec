"""Small routines shared by the engine tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from routilux import Flow, JobState, Routine
from routilux.execution_context import ExecutionContext


class Source(Routine):
    """Entry routine: emits ``value=0..count-1`` on ``output``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 1, **_: Any) -> None:
        for value in range(count):
            self.emit("output", value=value)


class Relay(Routine):
    """Passes ``value`` on, optionally through ``transform``."""

    def __init__(self, transform: Callable[[Any], Any] | None = None) -> None:
        super().__init__()
        self.transform = transform
        self.define_slot("input", handler=self.relay)
        self.define_event("output", ["value"])

    def relay(self, value: Any) -> None:
        if self.transform is not None:
            value = self.transform(value)
        self.emit("output", value=value)


class Gate(Routine):
    """Relays values; blocks on ``release`` when it receives ``block_on``, after setting
    ``entered``."""

    def __init__(self, block_on: Any) -> None:
        super().__init__()
        self.block_on = block_on
        self.entered = threading.Event()
        self.release = threading.Event()
        self.define_slot("input", handler=self.work)
        self.define_event("output", ["value"])

    def work(self, value: Any) -> None:
        if value == self.block_on:
            self.entered.set()
            assert self.release.wait(10)
        self.emit("output", value=value)


class Collector(Routine):
    """Keeps what it receives in its routine state, under ``"received"``.

    The read-modify-write of the state is locked: under the concurrent strategy two
    deliveries may run at once.
    """

    def __init__(self, merge_strategy: Any = "override") -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.define_slot("input", handler=self.collect, merge_strategy=merge_strategy)

    def collect(self, **data: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        with self._lock:
            state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
            received = list(state.get("received", []))
            received.append(data)
            ctx.job_state.update_routine_state(ctx.routine_id, {**state, "received": received})


class Failing(Routine):
    """Raises for the values in ``fail_on`` (all values when None), else relays."""

    def __init__(self, fail_on: set[Any] | None = None, times: int | None = None) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.times = times
        self._lock = threading.Lock()
        self.calls: list[Any] = []
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["value"])

    def handle(self, value: Any) -> None:
        with self._lock:
            self.calls.append(value)
            failures_so_far = len(self.calls)
        should_fail = self.fail_on is None or value in self.fail_on
        if should_fail and (self.times is None or failures_so_far <= self.times):
            raise RuntimeError(f"failing on {value}")
        self.emit("output", value=value)


def chain(*routines: tuple[str, Routine], strategy: str = "sequential", workers: int = 5) -> Flow:
    """A flow of ``(id, routine)`` pairs connected output -> input in a line."""
    flow = Flow(execution_strategy=strategy, max_workers=workers)
    previous = None
    for routine_id, routine in routines:
        flow.add_routine(routine, routine_id)
        if previous is not None:
            event = "output"
            flow.connect(previous, event, routine_id, "input")
        previous = routine_id
    return flow


def events(job_state: Any) -> list[tuple[str, str]]:
    """The history as ``(routine_id, event_name)`` pairs."""
    return [(r.routine_id, r.event_name) for r in job_state.get_execution_history()]


# -- running checks inside handlers ---------------------------------------------------

Body = Callable[[ExecutionContext, dict[str, Any]], Any]


class Step(Routine):
    """Runs ``body(ctx, data)`` in its handler, passes the data on through ``output``
    and returns what ``body`` returned. What ``body`` raises is kept in ``failures``."""

    def __init__(self, body: Body | None = None, *, forward: bool = True) -> None:
        super().__init__()
        self.body = body
        self.forward = forward
        self.calls = 0
        self.failures: list[BaseException] = []
        self.define_slot("trigger", handler=self.run)
        self.define_slot("input", handler=self.run)
        self.define_event("output")

    def run(self, **data: Any) -> Any:
        ctx = self.get_execution_context()
        assert ctx is not None
        self.calls += 1
        try:
            result = None if self.body is None else self.body(ctx, data)
        except BaseException as exc:  # reported by finish()
            self.failures.append(exc)
            return None
        if self.forward:
            self.emit("output", **data)
        return result


class Emit(Routine):
    """Entry routine: emits ``value=0..count-1`` on ``output``; returns ``count``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 1, **_: Any) -> int:
        for value in range(count):
            self.emit("output", value=value)
        return count


def finish(flow: Flow, job: JobState) -> JobState:
    """Raise what a Step's body raised; check the job completed without errors."""
    for routine in flow.routines.values():
        if isinstance(routine, Step) and routine.failures:
            raise routine.failures[0]
    assert job.errors == []
    assert job.status == "completed"
    return job
