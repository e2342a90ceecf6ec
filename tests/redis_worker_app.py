"""Flows for the Redis runtime tests, found by import path by worker processes
(``python -m routilux worker redis_worker_app:chain_flow ...``) and built the same way
by the tests' drivers.

Handlers that must be stopped at a known point (``Gate``) talk to the test through
Redis lists named after the test's prefix (``ROUTILUX_TEST_PREFIX``): the worker pushes
``started`` lines and waits for a token on ``gate:PID``.
"""

from __future__ import annotations

import os
import time
from typing import Any, TypedDict

from routilux import ErrorHandler, Flow, Routine


class FlakyError(Exception):
    """Raised by Flaky on a value's first attempt."""


class PoisonError(Exception):
    """Raised by AlwaysFails, always."""


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["ROUTILUX_TEST_REDIS_URL"], socket_timeout=None)


def _prefix() -> str:
    return os.environ.get("ROUTILUX_TEST_PREFIX", "routilux")


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value", "spin"])

    def go(self, count: int = 1, spin: float = 0.0, **_: Any) -> None:
        for value in range(count):
            self.emit("output", value=value, spin=spin)


class Work(Routine):
    """Counts its runs in the job's channel (effects once: the count must be exact),
    spins ``spin`` seconds of CPU (work a kill may interrupt), passes ``value * 10``
    on."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, value: int, spin: float = 0.0) -> int:
        channel = self.require_execution_context().job_state.get_channel()
        channel.increment("runs")
        channel.append("seen", value)
        deadline = time.perf_counter() + spin
        while time.perf_counter() < deadline:
            pass
        self.emit("output", value=value * 10)
        return value * 10


class Collect(Routine):
    """An ``append`` slot: each activation gets the values so far, the newest last; it
    appends that one and the list's length to the channel (concurrent activations'
    appends all count, where writing a whole list would race)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go, merge_strategy="append")

    def go(self, value: list[int]) -> None:
        channel = self.require_execution_context().job_state.get_channel()
        channel.append("collected", value[-1])
        channel.append("lengths", len(value))


class Gate(Routine):
    """Says it started (``PID:VALUE`` on the list ``PREFIX:started``) and waits for a
    token on ``PREFIX:gate:PID`` (a list of its process's own: a frozen worker's
    blocked read would take a token meant for another)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, value: int, spin: float = 0.0) -> None:
        client = _redis()
        client.rpush(f"{_prefix()}:started", f"{os.getpid()}:{value}")
        token = client.blpop([f"{_prefix()}:gate:{os.getpid()}"], timeout=60)
        if token is None:
            raise TimeoutError("no gate token within 60 s")
        channel = self.require_execution_context().job_state.get_channel()
        channel.increment("passed")
        self.emit("output", value=value)


class Flaky(Routine):
    """Fails each value's first attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, value: int, spin: float = 0.0) -> None:
        tries = self.require_execution_context().job_state.get_channel()
        if tries.increment(f"tries-{value}") == 1:
            raise FlakyError(f"first attempt of {value}")
        self.emit("output", value=value)


class AlwaysFails(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, value: int, spin: float = 0.0) -> None:
        raise PoisonError(f"cannot handle {value}")


def chain_flow() -> Flow:
    """source -> work -> collect (append)."""
    flow = Flow("rt-chain", execution_strategy="concurrent", max_workers=8)
    flow.add_routine(Source(), "source")
    flow.add_routine(Work(), "work")
    flow.add_routine(Collect(), "collect")
    flow.connect("source", "output", "work", "input")
    flow.connect("work", "output", "collect", "input")
    return flow


def gate_flow() -> Flow:
    """source -> gate -> work -> collect."""
    flow = Flow("rt-gate", execution_strategy="concurrent", max_workers=8)
    flow.add_routine(Source(), "source")
    flow.add_routine(Gate(), "gate")
    flow.add_routine(Work(), "work")
    flow.add_routine(Collect(), "collect")
    flow.connect("source", "output", "gate", "input")
    flow.connect("gate", "output", "work", "input")
    flow.connect("work", "output", "collect", "input")
    return flow


def flaky_flow() -> Flow:
    """source -> flaky (retried) -> collect."""
    flow = Flow("rt-flaky")
    flow.add_routine(Source(), "source")
    flaky = Flaky()
    flaky.set_error_handler(ErrorHandler("retry", max_retries=2, retry_delay=0.01))
    flow.add_routine(flaky, "flaky")
    flow.add_routine(Collect(), "collect")
    flow.connect("source", "output", "flaky", "input")
    flow.connect("flaky", "output", "collect", "input")
    return flow


def poison_flow() -> Flow:
    """source -> always-fails (its failures are skipped)."""
    flow = Flow("rt-poison")
    flow.add_routine(Source(), "source")
    fails = AlwaysFails()
    fails.set_error_handler(ErrorHandler("continue"))
    flow.add_routine(fails, "fails")
    flow.connect("source", "output", "fails", "input")
    return flow


# -- the Graflow seed's data-flow patterns, across workers --------------------------------


class MetricsMessage(TypedDict):
    count: int
    status: str


class Setup(Routine):
    """Shared configuration, a typed message, and a result others depend on."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("ready")

    def go(self, batch_size: int = 4, **_: Any) -> dict[str, Any]:
        ctx = self.require_execution_context()
        ctx.get_channel().set("config", {"batch_size": batch_size})
        ctx.get_typed_channel(MetricsMessage).set("metrics", {"count": 3, "status": "ok"})
        self.emit("ready")
        return {"data": [1, 2, 3]}


class Batcher(Routine):
    """Reads the configuration and the setup's result; one ``batch`` per batch."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("batch", ["index"])

    def go(self) -> dict[str, Any]:
        ctx = self.require_execution_context()
        size = ctx.get_channel().get("config")["batch_size"]
        items = list(range(10))
        batches = [items[i : i + size] for i in range(0, len(items), size)]
        for index in range(len(batches)):
            self.emit("batch", index=index)
        return {"batches": batches, "processed": len(ctx.get_result("setup")["data"])}


class Accumulate(Routine):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.define_slot("input", handler=self.go)

    def go(self, index: int) -> None:
        self.require_execution_context().get_channel().increment("total", self.size)


class ReadMetrics(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self) -> MetricsMessage | None:
        return self.require_execution_context().get_typed_channel(MetricsMessage).get("metrics")


def patterns_flow() -> Flow:
    flow = Flow("rt-patterns", execution_strategy="concurrent", max_workers=8)
    flow.add_routine(Setup(), "setup")
    flow.add_routine(Batcher(), "batcher")
    flow.add_routine(ReadMetrics(), "metrics")
    flow.connect("setup", "ready", "batcher", "input")
    flow.connect("setup", "ready", "metrics", "input")
    for routine_id, size in (("small", 1), ("medium", 100), ("large", 1000)):
        flow.add_routine(Accumulate(size), routine_id)
        flow.connect("batcher", "batch", routine_id, "input")
    return flow


def resume_main() -> None:
    """``python -c 'import redis_worker_app as a; a.resume_main()' JOB_ID``: resume a
    paused job of ``gate_flow`` kept in a RedisStore, in this new process; print what
    it did."""
    import sys

    from routilux.runtimes.redis import RedisRuntime
    from routilux.stores import RedisStore

    url, prefix = os.environ["ROUTILUX_TEST_REDIS_URL"], _prefix()
    flow = gate_flow()
    flow.runtime = RedisRuntime(url, prefix=prefix)
    flow.store = RedisStore(url, prefix=prefix)
    job = flow.store.load(sys.argv[1])
    assert job is not None, "no such job"
    print(f"loaded {job.status} with {len(job.pending_tasks)} pending", flush=True)
    flow.resume(job, wait=True)
    print(
        f"resumed: {job.status} passed={job.shared_data.get('passed')} "
        f"collected={sorted(job.shared_data.get('collected', []))}",
        flush=True,
    )
    flow.runtime.shutdown()
