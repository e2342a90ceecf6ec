"""Persistence, step 3: resume a paused job in another process.

Run it with ``python tutorials/persistence/step3_another_process.py``. The script
pauses a job and saves it, then runs itself again as a second process
(``... step3_another_process.py resume FLOW_FILE JOB_FILE PARENT_PID``), which loads
the files and finishes the job.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from routilux import Flow, JobState, Routine


class Numbers(Routine):
    """Entry routine: emits the numbers 1 to ``count``."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count=0):
        for value in range(1, count + 1):
            self.emit("output", value=value)


class Scale(Routine):
    """Multiplies each value by ``factor``; pauses the job after ``pause_after``."""

    def __init__(self):
        super().__init__()
        self.set_config(factor=1, pause_after=None)
        self.define_slot("input", handler=self.scale)
        self.define_event("output", ["value"])

    def scale(self, value):
        self.emit("output", value=value * self.get_config("factor"))
        if value == self.get_config("pause_after"):
            ctx = self.get_execution_context()
            ctx.flow.pause(ctx.job_state, reason=f"paused after {value}")


class Total(Routine):
    """Collects every value (append strategy) and returns their sum."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add, merge_strategy="append")

    def add(self, value):
        return sum(value)


def build_flow():
    flow = Flow(flow_id="scaled_total")
    scale = Scale()
    scale.set_config(factor=10, pause_after=2)
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(scale, "scale")
    flow.add_routine(Total(), "total")
    flow.connect("numbers", "output", "scale", "input")
    flow.connect("scale", "output", "total", "input")
    return flow


def first_process():
    with tempfile.TemporaryDirectory() as folder:
        flow_file = Path(folder) / "flow.json"
        job_file = Path(folder) / "job.json"

        flow = build_flow()
        flow.save(flow_file)
        job = flow.execute("numbers", entry_params={"count": 4})
        job.save(job_file)
        print(f"First process: {job.status} with {len(job.pending_tasks)} pending activations")

        command = [sys.executable, __file__, "resume", str(flow_file), str(job_file)]
        second = subprocess.run(
            [*command, str(os.getpid())], capture_output=True, text=True, check=True
        )
        print(second.stdout, end="")

        finished = JobState.load(job_file)
    print(
        f"Back in the first process, the file holds: {finished.status}, "
        f"total {finished.get_result('total')}"
    )


def second_process(flow_file, job_file, parent_pid):
    flow = Flow.load(flow_file)
    job = JobState.load(job_file)
    print(
        f"Second process (another process: {os.getpid() != int(parent_pid)}): "
        f"loaded job {job.status}"
    )
    flow.resume(job, wait=True)
    print(f"Second process: {job.status}, total {job.get_result('total')}")
    job.save(job_file)


if __name__ == "__main__":
    if sys.argv[1:2] == ["resume"]:
        second_process(*sys.argv[2:])
    else:
        first_process()
