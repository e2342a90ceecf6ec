"""A flow that processes of the lease tests run, and its command line.

Every line it prints starts with a tag (``job``, ``owner``, ``blocked``, ``ready``,
``running``, ``refused``, ``finished``).

``python tests/lease_app.py run DB COUNT`` starts a job on an SQLite store at DB
(a checkpoint after every activation) and prints ``job <id>`` and ``owner <owner>``;
when the ``work`` routine reaches the value 2 it prints ``blocked`` and waits for
ever (the test kills the process there).

``python tests/lease_app.py recover DB JOB_ID`` opens the store, prints ``ready`` and
waits for a line ``go``; then it recovers the job. If the store refuses, it prints
``refused <message>`` and exits. Otherwise the first activation of ``work`` in this
process prints ``running <owner>`` and waits for a line ``finish``; when the job has
settled the process prints ``finished <status>``.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from routilux import Flow, Routine
from routilux.exceptions import JobStateError
from routilux.stores import SQLiteStore


class Numbers(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count: int = 0, **_: Any) -> None:
        for value in range(count):
            self.emit("output", value=value)


class Work(Routine):
    """Relays values; ``hold`` is called before the first one this process handles
    (``run``: only at the value 2)."""

    def __init__(self, hold: Any) -> None:
        super().__init__()
        self.hold = hold
        self.define_slot("input", handler=self.work)
        self.define_event("output", ["value"])

    def work(self, value: int) -> None:
        self.hold(value)
        self.emit("output", value=value)


class Sink(Routine):
    """Keeps every value it received in the job's shared data."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, value: int) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.get_channel().append("received", value)


def build_flow(store: SQLiteStore, hold: Any) -> Flow:
    flow = Flow("leases", store=store)
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(Work(hold), "work")
    flow.add_routine(Sink(), "sink")
    flow.connect("numbers", "output", "work", "input")
    flow.connect("work", "output", "sink", "input")
    return flow


def say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "run":
        database, count = argv[1], int(argv[2])
        store = SQLiteStore(database, checkpoint_every=1)
        announced = threading.Event()

        def block_at_2(value: int) -> None:
            if value == 2:
                announced.wait()
                say("blocked")
                threading.Event().wait()  # until the test kills the process

        flow = build_flow(store, block_at_2)
        job = flow.execute("numbers", {"count": count}, wait=False)
        say(f"job {job.job_id}")
        say(f"owner {store.owner}")
        announced.set()
        job.wait_for_completion()
    elif command == "recover":
        database, job_id = argv[1], argv[2]
        store = SQLiteStore(database)
        first = threading.Lock()

        def hold_first(value: int) -> None:
            if first.acquire(blocking=False):
                say(f"running {store.owner}")
                answer = sys.stdin.readline()
                if answer != "finish\n":
                    sys.stderr.write(f"lease_app: expected 'finish', got {answer!r}\n")
                    os._exit(2)

        flow = build_flow(store, hold_first)
        say("ready")
        if sys.stdin.readline() != "go\n":
            os._exit(2)
        try:
            job = flow.recover(job_id, store)
        except JobStateError as exc:
            say(f"refused {exc}")
            return
        job.wait_for_completion()
        say(f"finished {job.status}")
        store.close()
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
