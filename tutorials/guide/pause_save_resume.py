"""Pause a job, save it with its flow, and resume it in another process."""

import subprocess
import sys
import tempfile
from pathlib import Path

from routilux import Flow, JobState, Routine


class Batch(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.split)
        self.define_event("item", ["value"])

    def split(self, values):
        for value in values:
            self.emit("item", value=value)
        ctx = self.get_execution_context()
        ctx.flow.pause(ctx.job_state, reason="end of shift")


class Square(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.square, merge_strategy="append")

    def square(self, value):
        squares = [v * v for v in value]
        print(f"  squares so far: {squares}")
        return squares


def first_process(folder):
    flow = Flow(flow_id="squares")
    flow.add_routine(Batch(), "batch")
    flow.add_routine(Square(), "square")
    flow.connect("batch", "item", "square", "input")
    job = flow.execute("batch", {"values": [2, 3, 4]})
    print("first process:", job.status, len(job.pending_tasks), "pending")
    flow.save(folder / "flow.json")
    job.save(folder / "job.json")


def second_process(folder):
    flow = Flow.load(folder / "flow.json")  # the classes are imported: they are in this file
    job = JobState.load(folder / "job.json")
    print("second process:", job.status, [task["data"] for task in job.pending_tasks])
    flow.resume(job, wait=True)
    print("second process:", job.status, job.get_result("square"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "resume":
        second_process(Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            first_process(Path(folder))
            sys.stdout.flush()
            subprocess.run([sys.executable, __file__, "resume", folder], check=True)
