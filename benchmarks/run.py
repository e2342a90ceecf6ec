"""Routilux benchmarks: each workload next to a plain-Python floor measured in the same run.

Run ``python benchmarks/run.py`` (``--quick`` for smaller sizes, ``--only NAME`` for
some workloads, ``--legacy DIR`` to run them again on an older routilux installed in
DIR). Figures are printed, never asserted: targets live in the issues.

A *delivery* is one slot-handler call. The floor of the chain, fan-out and fan-in
workloads runs the same topology with one ``queue.Queue`` hop to a worker thread per
delivery, which is what a straightforward threaded engine costs.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import routilux
from routilux import Flow, Routine

# -- routines -------------------------------------------------------------------------


class Source(Routine):
    """Emits ``count`` items on ``output`` when triggered."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 0, **_: Any) -> None:
        emit = self.emit
        for value in range(count):
            emit("output", value=value)


class PassThrough(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.forward)
        self.define_event("output", ["value"])

    def forward(self, value: Any) -> None:
        self.emit("output", value=value)


class Sink(Routine):
    def __init__(self, merge_strategy: str = "override") -> None:
        super().__init__()
        self.define_slot("input", handler=self.take, merge_strategy=merge_strategy)

    def take(self, value: Any) -> None:
        return None


class Starter(Routine):
    """Entry routine that triggers the fan-in sources."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.start)
        self.define_event("go", ["count"])

    def start(self, count: int = 0, **_: Any) -> None:
        self.emit("go", count=count)


class Sleeper(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self._lock = threading.Lock()
        self.define_slot("input", handler=self.work)

    def work(self, value: Any) -> None:
        time.sleep(0.01)  # the simulated I/O of the workload, not synchronisation
        with self._lock:
            self.calls += 1


class StatefulStep(Routine):
    """Updates its routine state and the shared log for every item."""

    def __init__(self, forward: bool) -> None:
        super().__init__()
        self.forward = forward
        self.define_slot("input", handler=self.step)
        self.define_event("output", ["value"])

    def step(self, value: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        job = ctx.job_state
        state = job.get_routine_state(ctx.routine_id) or {}
        job.update_routine_state(ctx.routine_id, {"count": state.get("count", 0) + 1})
        job.append_to_shared_log({"routine": ctx.routine_id, "value": value})
        if self.forward:
            self.emit("output", value=value)


class StatefulSource(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 0, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_routine_state(ctx.routine_id, {"count": count})
        ctx.job_state.append_to_shared_log({"routine": ctx.routine_id, "value": count})
        for value in range(count):
            self.emit("output", value=value)


# -- flows ----------------------------------------------------------------------------


def chain_flow(stages: int = 10) -> Flow:
    flow = Flow("chain")
    flow.add_routine(Source(), "source")
    previous = "source"
    for index in range(stages):
        name = f"stage{index}"
        flow.add_routine(PassThrough(), name)
        flow.connect(previous, "output", name, "input")
        previous = name
    return flow


def fanout_flow(sinks: int = 10) -> Flow:
    flow = Flow("fanout")
    flow.add_routine(Source(), "source")
    for index in range(sinks):
        flow.add_routine(Sink(), f"sink{index}")
        flow.connect("source", "output", f"sink{index}", "input")
    return flow


def fanin_flow(sources: int = 10) -> Flow:
    flow = Flow("fanin")
    flow.add_routine(Starter(), "start")
    flow.add_routine(Sink("append"), "sink")
    for index in range(sources):

        class FanSource(Source):
            def __init__(self) -> None:
                Routine.__init__(self)
                self.define_slot("input", handler=self.generate)
                self.define_event("output", ["value"])

        flow.add_routine(FanSource(), f"source{index}")
        flow.connect("start", "go", f"source{index}", "input")
        flow.connect(f"source{index}", "output", "sink", "input")
    return flow


def three_routine_flow() -> Flow:
    flow = Flow("small")
    flow.add_routine(Source(), "source")
    flow.add_routine(PassThrough(), "middle")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "middle", "input")
    flow.connect("middle", "output", "sink", "input")
    return flow


def state_flow() -> Flow:
    flow = Flow("state")
    flow.add_routine(StatefulSource(), "source")
    flow.add_routine(StatefulStep(forward=True), "middle")
    flow.add_routine(StatefulStep(forward=False), "sink")
    flow.connect("source", "output", "middle", "input")
    flow.connect("middle", "output", "sink", "input")
    return flow


# -- floors ---------------------------------------------------------------------------


def queue_floor(emits: list[int], routes: list[list[int]], deliveries: int) -> float:
    """Seconds for a worker thread to make ``deliveries`` handler calls, each one
    ``queue.Queue`` hop away from the call that produced it.

    The main thread hands the worker one trigger; the worker plays the source's
    handler, putting one ``(stage, value)`` item per entry of ``emits``, then takes
    items, calls a pass-through handler and puts one item per stage in
    ``routes[stage]``. Every hop goes through the same uncontended queue, as every
    delivery of the engine starts from a handler's emit.
    """
    work: queue.Queue[tuple[int, int]] = queue.Queue()
    finished = threading.Event()

    def handler(value: int) -> int:
        return value

    def worker() -> None:
        get, put = work.get, work.put
        get()  # the trigger
        for value, stage in enumerate(emits):
            put((stage, value))
        for _ in range(deliveries):
            stage, value = get()
            value = handler(value)
            for nxt in routes[stage]:
                put((nxt, value))
        finished.set()

    thread = threading.Thread(target=worker)
    thread.start()
    start = time.perf_counter()
    work.put((-1, 0))
    finished.wait()
    elapsed = time.perf_counter() - start
    thread.join()
    return elapsed


def chain_floor(items: int, stages: int = 10) -> float:
    routes = [[stage + 1] for stage in range(stages - 1)] + [[]]
    return queue_floor([0] * items, routes, items * stages)


def fanout_floor(items: int, sinks: int = 10) -> float:
    return queue_floor([0] * (items * sinks), [[]], items * sinks)


def fanin_floor(per_source: int, sources: int = 10) -> float:
    return queue_floor([0] * (per_source * sources), [[]], per_source * sources)


# -- workloads ------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of(runs: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(runs))


def rate_line(name: str, deliveries: int, seconds: float, floor_seconds: float) -> None:
    rate = deliveries / seconds
    floor_rate = deliveries / floor_seconds
    print(
        f"{name:<14} {rate:>12,.0f} deliveries/s   floor {floor_rate:>12,.0f}/s   "
        f"ratio {rate / floor_rate:5.2f}   ({seconds * 1e6 / deliveries:.2f} us/delivery)"
    )


def run_to_end(flow: Flow, entry: str, params: dict[str, Any]) -> Any:
    """``execute`` and wait: ours returns finished jobs, some older versions did not."""
    job = flow.execute(entry, params)
    flow.wait_for_completion(timeout=60)
    return job


def best_job_seconds(flow: Flow, entry: str, params: dict[str, Any], runs: int) -> float:
    """The fastest of ``runs`` executions of ``flow`` (each checked to complete)."""

    def once() -> float:
        seconds, job = timed(lambda: run_to_end(flow, entry, params))
        assert job.status == "completed", job.status
        return seconds

    return best_of(runs, once)


def run_chain(items: int, runs: int) -> float:
    return best_job_seconds(chain_flow(), "source", {"count": items}, runs)


def bench_chain(items: int, runs: int) -> None:
    seconds = run_chain(items, runs)
    floor = best_of(runs, lambda: chain_floor(items))
    rate_line("chain", items * 10, seconds, floor)


def bench_fanout(items: int, runs: int) -> None:
    seconds = best_job_seconds(fanout_flow(), "source", {"count": items}, runs)
    floor = best_of(runs, lambda: fanout_floor(items))
    rate_line("fanout", items * 10, seconds, floor)


def bench_fanin(per_source: int, runs: int) -> None:
    seconds = best_job_seconds(fanin_flow(), "start", {"count": per_source}, runs)
    floor = best_of(runs, lambda: fanin_floor(per_source))
    rate_line("fanin", per_source * 10, seconds, floor)


def bench_durable_chain(items: int, runs: int) -> None:
    """The chain workload with an SQLiteStore (default checkpointing) vs in memory."""
    from routilux.stores import SQLiteStore

    memory = run_chain(items, runs)
    with tempfile.TemporaryDirectory() as directory:
        counter = itertools.count()

        def once() -> float:
            flow = chain_flow()
            flow.store = SQLiteStore(os.path.join(directory, f"chain-{next(counter)}.db"))
            return best_job_seconds(flow, "source", {"count": items}, 1)

        durable = best_of(runs, once)
    deliveries = items * 10
    print(
        f"{'durable_chain':<14} {deliveries / durable:>12,.0f} deliveries/s   in memory "
        f"{deliveries / memory:>10,.0f}/s   ratio {memory / durable:5.2f}   (SQLiteStore)"
    )


def bench_job_files(records: int) -> None:
    """Save and load a job holding ``records`` history records."""
    from routilux import JobState

    flow = Flow("files")
    flow.add_routine(Source(), "source")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "output", "sink", "input")
    job = run_to_end(flow, "source", {"count": records - 2})
    assert len(job.get_execution_history()) == records
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "job.json")
        save, _ = timed(lambda: job.save(path))
        size = os.path.getsize(path)
        load, loaded = timed(lambda: JobState.load(path))
    assert len(loaded.get_execution_history()) == records
    print(
        f"{'job_files':<14} save {save:6.2f} s   load {load:6.2f} s   "
        f"({records:,} history records, {size / 1e6:.1f} MB)"
    )


def bench_job_overhead(jobs: int, warmup: int) -> None:
    flow = three_routine_flow()
    for _ in range(warmup):
        run_to_end(flow, "source", {"count": 1})
    latencies = []
    gc.collect()
    start = time.perf_counter()
    for _ in range(jobs):
        t0 = time.perf_counter()
        job = run_to_end(flow, "source", {"count": 1})
        latencies.append(time.perf_counter() - t0)
        assert job.status == "completed"
    elapsed = time.perf_counter() - start
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1e3
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1e3
    # Floor: the same three handler calls, each one queue hop to a long-lived worker.
    floor_p50 = _queue_job_floor(jobs) * 1e3
    print(
        f"{'job_overhead':<14} {jobs / elapsed:>12,.0f} jobs/s         p50 {p50:.3f} ms   "
        f"p99 {p99:.3f} ms   (floor p50 {floor_p50:.3f} ms)"
    )


def _queue_job_floor(jobs: int) -> float:
    """p50 seconds of a 3-handler job run by a worker thread, one hop per handler."""
    work: queue.Queue[tuple[int, threading.Event] | None] = queue.Queue()

    def worker() -> None:
        while True:
            item = work.get()
            if item is None:
                return
            stage, done = item
            if stage < 2:
                work.put((stage + 1, done))
            else:
                done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    latencies = []
    for _ in range(jobs):
        t0 = time.perf_counter()
        done = threading.Event()
        work.put((0, done))
        done.wait()
        latencies.append(time.perf_counter() - t0)
    work.put(None)
    thread.join()
    latencies.sort()
    return latencies[len(latencies) // 2]


def bench_io(handlers: int, workers: int) -> None:
    flow = Flow("io", execution_strategy="concurrent", max_workers=workers)
    sleeper = Sleeper()
    flow.add_routine(Source(), "source")
    flow.add_routine(sleeper, "sleeper")
    flow.connect("source", "output", "sleeper", "input")
    run_to_end(flow, "source", {"count": workers})  # warm the pool
    sleeper.calls = 0
    seconds, job = timed(lambda: run_to_end(flow, "source", {"count": handlers}))
    assert job.status == "completed"
    assert sleeper.calls == handlers, f"only {sleeper.calls} of {handlers} handlers had run"
    ideal = handlers * 0.01 / workers
    print(
        f"{'io_concurrent':<14} wall {seconds * 1e3:8.1f} ms   ideal {ideal * 1e3:.1f} ms   "
        f"efficiency {ideal / seconds:.2f}"
    )
    flow.shutdown()


def bench_state(items: int, runs: int) -> None:
    flow = state_flow()
    deliveries = 1 + 2 * items
    seconds = best_job_seconds(flow, "source", {"count": items}, runs)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    job = run_to_end(flow, "source", {"count": items})
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(job.get_shared_log()) == deliveries
    print(
        f"{'state_heavy':<14} {deliveries / seconds:>12,.0f} deliveries/s   "
        f"{kept / deliveries:6.0f} bytes kept per delivery "
        f"({len(job.execution_history)} history records, {deliveries} log entries)"
    )


def bench_many_jobs(jobs: int, threads: int) -> None:
    flow = chain_flow(stages=3)
    results: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(offset: int) -> None:
        barrier.wait()
        for index in range(offset, jobs, threads):
            count = 50 + index
            job = run_to_end(flow, "source", {"count": count})
            with lock:
                results.append((count, job))

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    correct = (
        all(
            job.status == "completed"
            and len(job.get_execution_history("stage2")) == count
            and len(job.execution_history) == 2 + 3 * count + count
            for count, job in results
        )
        and len({job.job_id for _, job in results}) == jobs
    )
    print(
        f"{'many_jobs':<14} {jobs / elapsed:>12,.0f} jobs/s         {jobs} jobs from "
        f"{threads} threads: {'correct' if correct else 'WRONG'}"
    )


def bench_scaling(small: int, large: int) -> None:
    small_us = run_chain(small, 5) * 1e6 / (small * 10)
    large_us = run_chain(large, 3) * 1e6 / (large * 10)
    print(
        f"{'scaling':<14} {small_us:.2f} us/delivery at {small:,} items, {large_us:.2f} at "
        f"{large:,}: ratio {large_us / small_us:.2f}"
    )


WORKLOADS = [
    "chain",
    "fanout",
    "fanin",
    "job_overhead",
    "io_concurrent",
    "state_heavy",
    "many_jobs",
    "scaling",
    "durable_chain",
    "job_files",
]

# Workload sizes. "legacy" is for routilux 0.9, whose execute() costs 150 ms and gives
# up after 10 s, so the full sizes would run for minutes and strand work.
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "items": 20_000,
        "fanin": 2_000,
        "jobs": 2_000,
        "warmup": 200,
        "scaling": (2_000, 200_000),
        "runs": 5,
        "records": 100_000,
    },
    "quick": {
        "items": 2_000,
        "fanin": 200,
        "jobs": 200,
        "warmup": 20,
        "scaling": (2_000, 20_000),
        "runs": 1,
        "records": 10_000,
    },
    "legacy": {
        "items": 2_000,
        "fanin": 200,
        "jobs": 20,
        "warmup": 2,
        "scaling": None,
        "runs": 1,
        "records": 10_000,
    },
}


def run_legacy(path: str, selected: list[str]) -> None:
    """Run the workloads again in a subprocess that imports routilux from ``path``.

    Install the old library there with
    ``pip install --target DIR routilux==0.9.0 serilux==0.3.1``.
    """
    print(f"\n--- the same workloads on the routilux found in {path} (reduced sizes) ---")
    env = {**os.environ, "PYTHONPATH": path}
    command = [sys.executable, __file__, "--sizes", "legacy", "--only", *selected]
    try:
        subprocess.run(command, env=env, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        print("(gave up after 600 s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--sizes", choices=sorted(SIZES), help="workload sizes")
    parser.add_argument("--only", nargs="*", choices=WORKLOADS, help="run only these")
    parser.add_argument(
        "--legacy",
        metavar="DIR",
        help="also run the workloads on the routilux installed in DIR (e.g. 0.9)",
    )
    args = parser.parse_args(argv)
    sizes = SIZES[args.sizes or ("quick" if args.quick else "full")]
    runs = sizes["runs"]
    selected = args.only or WORKLOADS
    version = getattr(routilux, "__version__", "?")
    print(
        f"routilux {version} benchmarks, Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    benches: list[tuple[str, Callable[[], None]]] = [
        ("chain", lambda: bench_chain(sizes["items"], runs)),
        ("fanout", lambda: bench_fanout(sizes["items"], runs)),
        ("fanin", lambda: bench_fanin(sizes["fanin"], runs)),
        ("job_overhead", lambda: bench_job_overhead(sizes["jobs"], sizes["warmup"])),
        ("io_concurrent", lambda: bench_io(200, 20)),
        ("state_heavy", lambda: bench_state(sizes["items"], runs)),
        ("many_jobs", lambda: bench_many_jobs(50, 10)),
    ]
    if sizes["scaling"] is not None:
        benches.append(("scaling", lambda: bench_scaling(*sizes["scaling"])))
    benches.append(("durable_chain", lambda: bench_durable_chain(sizes["items"], runs)))
    benches.append(("job_files", lambda: bench_job_files(sizes["records"])))
    for name, bench in benches:
        if name not in selected:
            continue
        try:
            bench()
        except Exception as exc:  # an older library may lack an API or fail the check
            print(f"{name:<14} could not run: {type(exc).__name__}: {exc}")
    if args.legacy:
        run_legacy(args.legacy, selected)


if __name__ == "__main__":
    main()
