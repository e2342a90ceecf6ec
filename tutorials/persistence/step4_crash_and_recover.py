"""Persistence, step 4: checkpoint a job into SQLite, kill its process, recover it.

Run it with ``python tutorials/persistence/step4_crash_and_recover.py``. The script
runs the job in a second process (itself, with the arguments ``child DB OUTBOX``),
kills that process with SIGKILL when it reaches item 5, and recovers the job here.
"""

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from routilux import Flow, Routine
from routilux.stores import SQLiteStore

CRASH_AT = None  # set in the child process only


class Numbers(Routine):
    """Entry routine: emits the numbers 1 to ``count``."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count=0):
        for value in range(1, count + 1):
            self.emit("output", value=value)


class Square(Routine):
    """Squares each value and also writes it to an outbox file: an effect outside
    the job, like sending an e-mail."""

    def __init__(self):
        super().__init__()
        self.set_config(outbox=None)
        self.define_slot("input", handler=self.square)
        self.define_event("output", ["value"])

    def square(self, value):
        with open(self.get_config("outbox"), "a") as outbox:
            outbox.write(f"{value * value}\n")
        if value == CRASH_AT:
            print("crash point", flush=True)
            time.sleep(60)  # the parent kills us here
        self.emit("output", value=value * value)


class Total(Routine):
    """Collects every square (append strategy) and returns their sum."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add, merge_strategy="append")

    def add(self, value):
        return sum(value)


def build_flow(outbox, store=None):
    flow = Flow(flow_id="squares", store=store)
    square = Square()
    square.set_config(outbox=str(outbox))
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(square, "square")
    flow.add_routine(Total(), "total")
    flow.connect("numbers", "output", "square", "input")
    flow.connect("square", "output", "total", "input")
    return flow


def open_store(database):
    # A checkpoint after every third activation, and never because of time, so that
    # this example checkpoints at the same moments on every run.
    return SQLiteStore(database, checkpoint_every=3, checkpoint_interval=3600)


def outcome(job):
    """What an interrupted and an uninterrupted run must agree on."""
    history = [
        (record.routine_id, record.event_name, record.data)
        for record in job.get_execution_history()
        if record.event_name != "completed"  # its data holds timings
    ]
    return job.status, job.results, history


def child(database, outbox):
    global CRASH_AT
    CRASH_AT = 5
    build_flow(outbox, open_store(database)).execute("numbers", entry_params={"count": 8})


def parent():
    with tempfile.TemporaryDirectory() as folder:
        database, outbox = Path(folder) / "jobs.db", Path(folder) / "outbox.txt"

        command = [sys.executable, __file__, "child", str(database), str(outbox)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        for line in process.stdout:
            if line.strip() == "crash point":
                process.send_signal(signal.SIGKILL)
                break
        process.wait()
        process.stdout.close()
        print(f"Child killed by SIGKILL: {process.returncode == -signal.SIGKILL}")
        print("Outbox before recovery:", outbox.read_text().split())

        store = open_store(database)
        flow = build_flow(outbox, store)
        (job_id,) = store.unfinished_job_ids(flow.flow_id)
        stored = store.load(job_id)
        print(f"Stored job {job_id}: {stored.status}")
        print("  still to run at its last checkpoint:")
        for task in stored.pending_tasks:
            print(f"    {task['slot_routine_id']}.{task['slot_name']} {task['data']}")

        job = flow.recover(job_id, wait=True)
        print(f"Recovered: {job.status}, total {job.get_result('total')}")
        print("Unfinished jobs now:", store.unfinished_job_ids(flow.flow_id))
        print("Outbox after recovery:", outbox.read_text().split())
        store.close()

        reference = build_flow(Path(folder) / "reference.txt").execute(
            "numbers", entry_params={"count": 8}
        )
        print(f"Uninterrupted run: total {reference.get_result('total')}")
        print("Same outcome as the uninterrupted run:", outcome(job) == outcome(reference))


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(*sys.argv[2:])
    else:
        parent()
