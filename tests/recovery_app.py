"""A deterministic flow used by the persistence tests, and a command line to run it.

Every line the command line prints starts with a tag naming what it is
(``job``, ``progress``, ``finished``, ``paused``, ``outcome``), so a reader never
mistakes one kind of line for another.

``python tests/recovery_app.py run DB COUNT`` starts a job with an SQLite store at
DB and prints ``job <id>`` before anything else. Then, for each item the collector
receives, it prints ``progress <n>`` and waits, inside that handler, for a line
``next`` on its standard input (end of input also lets it go on); after the last
item it prints ``finished <status>``. Pacing the job by the reader this way means
the job cannot finish before the reader has seen every progress line: a test that
kills the process right after answering ``progress <n>`` (n < COUNT) always kills it
in the middle of the job, at whatever point the engine has reached by then.

``python tests/recovery_app.py pause JOBFILE FLOWFILE COUNT PAUSE_AT`` runs a job
that pauses itself after PAUSE_AT items, saves the flow to FLOWFILE and the job to
JOBFILE and prints ``paused <id> <pending>``; ``resume JOBFILE FLOWFILE`` loads the
job (and the flow from FLOWFILE) in a fresh process, resumes it and prints
``outcome <json>``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from routilux import Flow, JobState, Routine
from routilux.stores import SQLiteStore


class Numbers(Routine):
    """Entry: emits ``value=0..count-1``; counts what it emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 0, pause_at: int | None = None, **_: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.update_shared_data("pause_at", pause_at)
        for value in range(count):
            self.emit("output", value=value)
        ctx.job_state.update_routine_state(ctx.routine_id, {"emitted": count})


class Square(Routine):
    """Squares values; keeps a running count and sum in its routine state."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.square)
        self.define_event("output", ["value", "square"])

    def square(self, value: int) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        job = ctx.job_state
        state = job.get_routine_state(ctx.routine_id) or {}
        job.update_routine_state(
            ctx.routine_id,
            {"seen": state.get("seen", 0) + 1, "total": state.get("total", 0) + value},
        )
        job.append_to_shared_log({"square_of": value})
        self.emit("output", value=value, square=value * value)
        pause_at = job.get_shared_data("pause_at")
        if pause_at is not None and value == pause_at:
            ctx.flow.pause(job, reason=f"after {value}")


class Collect(Routine):
    """Collects squares with the append strategy; records results in shared data."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.collect, merge_strategy="append")
        self.define_event("done", ["count"])

    def collect(self, value: list[int], square: list[int]) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        job = ctx.job_state
        job.update_shared_data("squares", sum(square))
        job.update_shared_data("pairs", (len(value), len(square)))
        self.send_output("progress", received=len(value))
        if progress_hook is not None:
            progress_hook(len(value))


#: Called by the collector with the number of items received so far; set only by
#: the ``run`` command (the tests' own runs of the flow print nothing).
progress_hook: Callable[[int], None] | None = None


def build_flow(store: Any = None) -> Flow:
    flow = Flow("recovery_app", store=store)
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(Square(), "square")
    flow.add_routine(Collect(), "collect")
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
    command = argv[0]
    if command == "run":
        database, count = argv[1], int(argv[2])
        flow = build_flow(SQLiteStore(database, checkpoint_every=7, checkpoint_interval=0.01))
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
        job = flow.execute("numbers", {"count": count}, wait=False)
        print(f"job {job.job_id}", flush=True)
        announced.set()
        job.wait_for_completion()
        print(f"finished {job.status}", flush=True)
    elif command == "pause":
        job_file, flow_file, count, pause_at = argv[1], argv[2], int(argv[3]), int(argv[4])
        flow = build_flow()
        flow.save(flow_file)
        job = flow.execute("numbers", {"count": count, "pause_at": pause_at})
        assert job.status == "paused", job.status
        job.save(job_file)
        print(f"paused {job.job_id} {len(job.pending_tasks)}", flush=True)
    elif command == "resume":
        job_file, flow_file = argv[1], argv[2]
        flow = Flow.load(flow_file)
        job = JobState.load(job_file)
        flow.resume(job, wait=True)
        print("outcome " + json.dumps(outcome(job), sort_keys=True), flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    # Run under the module's own name, so that saved flows name "recovery_app:..." and
    # any process that imports recovery_app can load them.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import recovery_app

    recovery_app.main(sys.argv[1:])
