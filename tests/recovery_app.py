"""A deterministic flow used by the persistence tests, and a command line to run it.

The flow comes in two kinds of handlers that compute the same thing: ``sync`` (plain
methods) and ``async`` (``async def`` handlers that await between their steps), and
runs on either runtime (``threads``, ``asyncio``). Its jobs are kept in a store of
kind ``sqlite`` (:class:`~routilux.stores.SQLiteStore`) or ``dict`` (the tests'
third-party :class:`~dict_store.DictStore`), both at a file path DB, or ``redis``
(:class:`~routilux.stores.RedisStore` on the tests' server, see ``redis_server.py``,
with keys named after the path DB).

Every line the command line prints starts with a tag naming what it is
(``job``, ``progress``, ``finished``, ``paused``, ``outcome``), so a reader never
mistakes one kind of line for another.

``python tests/recovery_app.py run STORE DB COUNT HANDLERS RUNTIME`` starts a job
and prints ``job <id>`` before anything else. Then, for each item the collector
receives, it prints ``progress <n>`` and waits, inside that handler, for a line
``next`` on its standard input (end of input also lets it go on); after the last
item it prints ``finished <status>`` (once the store has recorded it). Pacing the job
by the reader this way means the job cannot finish before the reader has seen every
progress line: a test that kills the process right after answering ``progress <n>``
(n < COUNT) always kills it in the middle of the job, at whatever point the engine
has reached by then.

``python tests/recovery_app.py pause JOBFILE FLOWFILE COUNT PAUSE_AT`` runs a job
that pauses itself after PAUSE_AT items, saves the flow to FLOWFILE and the job to
JOBFILE and prints ``paused <id> <pending>``; ``resume JOBFILE FLOWFILE`` loads the
job (and the flow from FLOWFILE) in a fresh process, resumes it and prints
``outcome <json>``.

``pause-in-store STORE DB COUNT PAUSE_AT`` runs the same pausing job with the store
and prints ``paused <id> <pending>`` once the store has recorded the pause;
``recover STORE DB JOB_ID`` continues that job in a fresh process from the store
alone (``Flow.recover``) and prints ``outcome <json>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from dict_store import DictStore
from redis_server import server_url, store_prefix

from routilux import Flow, JobState, Routine
from routilux.runtimes import AsyncioRuntime
from routilux.stores import JobStore, RedisStore, SQLiteStore

STORES = ("sqlite", "dict", "redis")
HANDLERS = ("sync", "async")
RUNTIMES = ("threads", "asyncio")


def open_store(kind: str, path: str | os.PathLike[str]) -> JobStore:
    """The store of ``kind`` at ``path``, checkpointing often (every 7 activations)."""
    if kind == "sqlite":
        return SQLiteStore(path, checkpoint_every=7, checkpoint_interval=0.01)
    if kind == "dict":
        return DictStore(path, every=7, interval=0.01)
    if kind == "redis":
        url = server_url()
        if url is None:
            raise RuntimeError("no Redis server for the redis store kind")
        return RedisStore(
            url, prefix=store_prefix(path), checkpoint_every=7, checkpoint_interval=0.01
        )
    raise ValueError(f"unknown store kind {kind!r} (one of {', '.join(STORES)})")


# -- what each routine does, whichever kind of handler runs it ------------------------


def do_generate(routine: Routine, count: int, pause_at: int | None) -> None:
    ctx = routine.require_execution_context()
    ctx.job_state.update_shared_data("pause_at", pause_at)
    for value in range(count):
        routine.emit("output", value=value)
    ctx.job_state.update_routine_state(ctx.routine_id, {"emitted": count})


def do_square(routine: Routine, value: int) -> None:
    ctx = routine.require_execution_context()
    job = ctx.job_state
    state = job.get_routine_state(ctx.routine_id) or {}
    job.update_routine_state(
        ctx.routine_id,
        {"seen": state.get("seen", 0) + 1, "total": state.get("total", 0) + value},
    )
    job.append_to_shared_log({"square_of": value})
    routine.emit("output", value=value, square=value * value)
    pause_at = job.get_shared_data("pause_at")
    if pause_at is not None and value == pause_at:
        ctx.flow.pause(job, reason=f"after {value}")


def do_collect(routine: Routine, value: list[int], squares: list[int]) -> int:
    """Returns how many items the collector has received so far."""
    job = routine.require_execution_context().job_state
    job.update_shared_data("squares", sum(squares))
    job.update_shared_data("pairs", (len(value), len(squares)))
    routine.send_output("progress", received=len(value))
    return len(value)


class Numbers(Routine):
    """Entry: emits ``value=0..count-1``; counts what it emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 0, pause_at: int | None = None, **_: Any) -> None:
        do_generate(self, count, pause_at)


class Square(Routine):
    """Squares values; keeps a running count and sum in its routine state."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.square)
        self.define_event("output", ["value", "square"])

    def square(self, value: int) -> None:
        do_square(self, value)


class Collect(Routine):
    """Collects squares with the append strategy; records results in shared data."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.collect, merge_strategy="append")
        self.define_event("done", ["count"])

    def collect(self, value: list[int], square: list[int]) -> None:
        received = do_collect(self, value, square)
        if progress_hook is not None:
            progress_hook(received)


class AsyncNumbers(Routine):
    """:class:`Numbers` with an ``async def`` handler that yields to the loop first."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    async def generate(self, count: int = 0, pause_at: int | None = None, **_: Any) -> None:
        await asyncio.sleep(0)
        do_generate(self, count, pause_at)


class AsyncSquare(Routine):
    """:class:`Square` with an ``async def`` handler that waits for an event a callback
    sets on the loop (so every activation is suspended at least once)."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.square)
        self.define_event("output", ["value", "square"])

    async def square(self, value: int) -> None:
        ready = asyncio.Event()
        helper = asyncio.get_running_loop().call_soon(ready.set)
        try:
            await ready.wait()
        finally:
            helper.cancel()
        do_square(self, value)


class AsyncCollect(Routine):
    """:class:`Collect` with an ``async def`` handler: the pacing (a blocking read of
    standard input) runs in a thread, so the loop is never blocked."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.collect, merge_strategy="append")
        self.define_event("done", ["count"])

    async def collect(self, value: list[int], square: list[int]) -> None:
        await asyncio.sleep(0)
        received = do_collect(self, value, square)
        hook = progress_hook
        if hook is not None:
            await asyncio.to_thread(hook, received)


#: Called by the collector with the number of items received so far; set only by
#: the ``run`` command (the tests' own runs of the flow print nothing).
progress_hook: Callable[[int], None] | None = None

_ROUTINES: dict[str, tuple[type[Routine], type[Routine], type[Routine]]] = {
    "sync": (Numbers, Square, Collect),
    "async": (AsyncNumbers, AsyncSquare, AsyncCollect),
}


def build_flow(store: Any = None, handlers: str = "sync", runtime: str = "threads") -> Flow:
    """The flow, with ``handlers`` of kind ``sync`` or ``async``, on the ``threads``
    (default) or ``asyncio`` runtime."""
    if handlers not in _ROUTINES or runtime not in RUNTIMES:
        raise ValueError(f"unknown handlers {handlers!r} or runtime {runtime!r}")
    numbers, squares, collector = _ROUTINES[handlers]
    loop_runtime = AsyncioRuntime() if runtime == "asyncio" else None
    flow = Flow("recovery_app", store=store, runtime=loop_runtime)
    if loop_runtime is not None:
        # A flow nobody holds any more lets its loop thread and executor go.
        weakref.finalize(flow, loop_runtime.shutdown, False)
    flow.add_routine(numbers(), "numbers")
    flow.add_routine(squares(), "square")
    flow.add_routine(collector(), "collect")
    flow.connect("numbers", "output", "square", "input")
    flow.connect("square", "output", "collect", "input")
    return flow


def outcome(job: JobState) -> dict[str, Any]:
    """What must be the same for an interrupted and an uninterrupted run."""
    states = {
        routine_id: {k: v for k, v in state.items() if k not in _TIMING}
        for routine_id, state in job.routine_states.items()
    }
    history = sorted(
        (r.routine_id, r.event_name, json.dumps(r.data if r.event_name != "completed" else None))
        for r in job.get_execution_history()
    )
    log = sorted(
        json.dumps({k: v for k, v in e.items() if k != "timestamp"}) for e in job.shared_log
    )
    outputs = sorted(json.dumps(o["data"]) for o in job.output_log)
    return {
        "status": job.status,
        "routine_states": states,
        "shared_data": job.shared_data,
        "history": history,
        "shared_log": log,
        "outputs": outputs,
    }


_TIMING = {"execution_time", "start_time", "end_time"}


def main(argv: list[str]) -> None:
    command, arguments = argv[0], argv[1:]
    if command == "run":
        kind, database, count, handlers, runtime = arguments
        store = open_store(kind, database)
        flow = build_flow(store, handlers, runtime)
        announced = threading.Event()

        def paced(received: int) -> None:
            # The job id is only known once the job has started, and the collector
            # runs on a worker thread: hold its first line until the id is out.
            announced.wait()
            print(f"progress {received}", flush=True)
            answer = sys.stdin.readline()
            if answer not in ("next\n", ""):
                sys.stderr.write(f"recovery_app: expected 'next', got {answer!r}\n")
                sys.stderr.flush()
                os._exit(2)

        global progress_hook
        progress_hook = paced
        job = flow.execute("numbers", {"count": int(count)}, wait=False)
        print(f"job {job.job_id}", flush=True)
        announced.set()
        job.wait_for_completion()
        store.close()  # the store has recorded the finished job
        print(f"finished {job.status}", flush=True)
    elif command == "pause":
        job_file, flow_file, count, pause_at = arguments
        flow = build_flow()
        flow.save(flow_file)
        job = flow.execute("numbers", {"count": int(count), "pause_at": int(pause_at)})
        assert job.status == "paused", job.status
        job.save(job_file)
        print(f"paused {job.job_id} {len(job.pending_tasks)}", flush=True)
    elif command == "resume":
        job_file, flow_file = arguments
        flow = Flow.load(flow_file)
        job = JobState.load(job_file)
        flow.resume(job, wait=True)
        print("outcome " + json.dumps(outcome(job), sort_keys=True), flush=True)
    elif command == "pause-in-store":
        kind, database, count, pause_at = arguments
        store = open_store(kind, database)
        flow = build_flow(store)
        job = flow.execute("numbers", {"count": int(count), "pause_at": int(pause_at)})
        assert job.status == "paused", job.status
        store.close()  # the store has recorded the pause
        print(f"paused {job.job_id} {len(job.pending_tasks)}", flush=True)
    elif command == "recover":
        kind, database, job_id = arguments
        store = open_store(kind, database)
        job = build_flow(store).recover(job_id, store, wait=True)
        store.close()
        print("outcome " + json.dumps(outcome(job), sort_keys=True), flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    # Run under the module's own name, so that saved flows name "recovery_app:..." and
    # any process that imports recovery_app can load them.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import recovery_app

    recovery_app.main(sys.argv[1:])
