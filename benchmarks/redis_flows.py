"""Flows of the Redis runtime benchmark, found by import path by its worker processes
(``python -m routilux worker redis_flows:hops_flow ...``)."""

from __future__ import annotations

import os
import time
from typing import Any

from routilux import Flow, Routine

HOPS = 10


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, count: int = 1, **_: Any) -> None:
        for value in range(count):
            self.emit("output", value=value)


class Pass(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)
        self.define_event("output", ["value"])

    def go(self, value: int) -> None:
        self.emit("output", value=value)


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, value: int) -> int:
        return value


class Sleeper(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, value: int) -> None:
        time.sleep(0.01)  # the workload: 10 ms of waiting for I/O


class Blocker(Routine):
    """In a worker started with ``BENCH_VICTIM=1``: says it took the activation (on the
    list ``BENCH_LIST``) and never returns (the benchmark kills it). Elsewhere: returns."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.go)

    def go(self, value: int) -> None:
        if os.environ.get("BENCH_VICTIM") == "1":
            import redis

            client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"], socket_timeout=None)
            client.rpush(os.environ["BENCH_LIST"], "taken")
            client.blpop(["never-pushed"], timeout=0)


def hops_flow() -> Flow:
    """source and HOPS pass-through routines in a line (sequential)."""
    flow = Flow("bench-hops")
    flow.add_routine(Source(), "source")
    previous = "source"
    for index in range(HOPS):
        flow.add_routine(Pass(), f"pass{index}")
        flow.connect(previous, "output", f"pass{index}", "input")
        previous = f"pass{index}"
    return flow


def fanout_flow() -> Flow:
    """source -> sink, many sinks' activations at once."""
    flow = Flow("bench-fanout", execution_strategy="concurrent", max_workers=64)
    flow.add_routine(Source(), "source")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "sink", "input")
    return flow


def pair_flow() -> Flow:
    """source -> two sinks (a group of two tasks)."""
    flow = Flow("bench-pair", execution_strategy="concurrent", max_workers=4)
    flow.add_routine(Source(), "source")
    flow.add_routine(Sink(), "left")
    flow.add_routine(Sink(), "right")
    flow.connect("source", "output", "left", "input")
    flow.connect("source", "output", "right", "input")
    return flow


def sleep_flow() -> Flow:
    """source -> sleeper (10 ms each)."""
    flow = Flow("bench-sleep", execution_strategy="concurrent", max_workers=128)
    flow.add_routine(Source(), "source")
    flow.add_routine(Sleeper(), "sleeper")
    flow.connect("source", "output", "sleeper", "input")
    return flow


def reclaim_flow() -> Flow:
    flow = Flow("bench-reclaim")
    flow.add_routine(Source(), "source")
    flow.add_routine(Blocker(), "blocker")
    flow.connect("source", "output", "blocker", "input")
    return flow
