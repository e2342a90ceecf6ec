"""Many jobs on one flow from many threads, fan-out and fan-in, identical histories."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from routilux import ErrorHandler, Flow, Routine

from helpers import Collector, Relay, Source, events


class Counter(Routine):
    """Counts deliveries in its routine state and the shared data of the job."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.count)
        self.define_event("output", ["value"])

    def count(self, value: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        job = ctx.job_state
        with job._lock:  # read-modify-write across concurrent handlers of one job
            state = job.get_routine_state(ctx.routine_id) or {}
            job.update_routine_state(
                ctx.routine_id,
                {"n": state.get("n", 0) + 1, "sum": state.get("sum", 0) + value},
            )
            job.update_shared_data("total", job.get_shared_data("total", 0) + 1)
        job.append_to_shared_log({"routine": ctx.routine_id, "value": value})
        self.emit("output", value=value)


def diamond(strategy: str) -> Flow:
    """src -> (left, right) -> join (append)."""
    flow = Flow(f"diamond-{strategy}", strategy, max_workers=4)
    flow.add_routine(Source(), "src")
    flow.add_routine(Counter(), "left")
    flow.add_routine(Counter(), "right")
    flow.add_routine(Collector("append"), "join")
    flow.connect("src", "output", "left", "input")
    flow.connect("src", "output", "right", "input")
    flow.connect("left", "output", "join", "input")
    flow.connect("right", "output", "join", "input")
    return flow


def check_diamond_job(job: Any, count: int) -> None:
    assert job.status == "completed", (job.status, job.errors)
    expected_sum = sum(range(count))
    for side in ("left", "right"):
        assert job.get_routine_state(side) == {"n": count, "sum": expected_sum}
    assert job.shared_data == {"total": 2 * count}
    assert len(job.get_shared_log()) == 2 * count
    received = job.get_routine_state("join")["received"]
    assert len(received) == 2 * count
    # Every delivery to the append slot saw the whole list collected so far.
    assert sorted(received[-1]["value"]) == sorted(list(range(count)) * 2)
    history = events(job)
    assert history.count(("src", "output")) == count
    assert history.count(("left", "output")) == count
    assert history.count(("right", "output")) == count
    assert history[0] == ("src", "start") and history[-1] == ("src", "completed")


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_200_executions_from_10_threads(strategy: str) -> None:
    flow = diamond(strategy)
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(10, timeout=10)

    def worker(thread_index: int) -> None:
        barrier.wait()
        for run in range(20):
            count = 1 + (thread_index * 20 + run) % 37
            job = flow.execute("src", {"count": count})
            with lock:
                results.append((count, job))

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 200
    assert len({job.job_id for _, job in results}) == 200
    for count, job in results:
        check_diamond_job(job, count)
    assert flow.store.unfinished_jobs() == []


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_many_background_jobs_then_wait_for_the_flow(strategy: str) -> None:
    flow = diamond(strategy)
    jobs = [(n % 13 + 1, flow.execute("src", {"count": n % 13 + 1}, wait=False)) for n in range(60)]
    assert flow.wait_for_completion(timeout=30)
    for count, job in jobs:
        check_diamond_job(job, count)


def test_fan_in_from_many_sources_with_append() -> None:
    class Starter(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.go)
            self.define_event("go", ["count"])

        def go(self, count: int = 0, **_: Any) -> None:
            self.emit("go", count=count)

    class Emitter(Routine):
        def __init__(self, tag: int) -> None:
            super().__init__()
            self.tag = tag
            self.define_slot("input", handler=self.run)
            self.define_event("output", ["value", "tag"])

        def run(self, count: int) -> None:
            for value in range(count):
                self.emit("output", value=value, tag=self.tag)

    for strategy in ("sequential", "concurrent"):
        flow = Flow("fanin", strategy, max_workers=4)
        flow.add_routine(Starter(), "start")
        flow.add_routine(Collector("append"), "sink")
        for tag in range(8):
            flow.add_routine(Emitter(tag), f"e{tag}")
            flow.connect("start", "go", f"e{tag}", "input")
            flow.connect(f"e{tag}", "output", "sink", "input")
        job = flow.execute("start", {"count": 50})
        received = job.get_routine_state("sink")["received"]
        assert len(received) == 400
        last = received[-1]
        assert len(last["value"]) == 400 and len(last["tag"]) == 400
        pairs = sorted(zip(last["tag"], last["value"], strict=True))
        assert pairs == [(tag, value) for tag in range(8) for value in range(50)]


def test_sequential_history_is_identical_across_runs() -> None:
    flow = diamond("sequential")
    flow.add_routine(Relay(lambda v: v * 10), "extra")
    flow.connect("left", "output", "extra", "input")
    flow.connect("extra", "output", "join", "input")
    reference = None
    for _ in range(20):
        job = flow.execute("src", {"count": 7})
        history = [
            (r.routine_id, r.event_name, r.data if r.event_name != "completed" else None)
            for r in job.get_execution_history()
        ]  # the "completed" record carries the run's timing
        log = [(entry["routine"], entry["value"]) for entry in job.get_shared_log()]
        if reference is None:
            reference = (history, log)
        assert (history, log) == reference


def test_failures_in_the_middle_of_many_concurrent_jobs() -> None:
    class FailOnOddJobs(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.work)
            self.define_event("output", ["value"])

        def work(self, value: int) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            if ctx.job_state.shared_data["odd"] and value == 3:
                raise ValueError("odd job")
            self.emit("output", value=value)

    class Entry(Source):
        def generate(self, count: int = 1, odd: bool = False, **_: Any) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.job_state.update_shared_data("odd", odd)
            super().generate(count)

    flow = Flow("mixed", "concurrent", max_workers=3)
    flow.add_routine(Entry(), "src")
    worker = FailOnOddJobs()
    worker.set_error_handler(ErrorHandler("stop"))
    flow.add_routine(worker, "worker")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "worker", "input")
    flow.connect("worker", "output", "sink", "input")
    results: list[tuple[bool, Any]] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        odd = index % 2 == 1
        job = flow.execute("src", {"count": 10, "odd": odd})
        with lock:
            results.append((odd, job))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 40
    for odd, job in results:
        if odd:
            assert job.status == "failed"
            assert [e["error"] for e in job.errors] == ["odd job"]
            assert job.get_routine_state("worker")["status"] == "failed"
        else:
            assert job.status == "completed"
            assert job.errors == []
            assert len(job.get_routine_state("sink")["received"]) == 10
