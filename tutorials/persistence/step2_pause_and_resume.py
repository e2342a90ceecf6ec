"""Persistence, step 2: pause a job, save it, and resume it with a loaded flow.

Run it with ``python tutorials/persistence/step2_pause_and_resume.py``.
"""

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


with tempfile.TemporaryDirectory() as folder:
    flow_file = Path(folder) / "flow.json"
    job_file = Path(folder) / "job.json"

    flow = build_flow()
    flow.save(flow_file)
    job = flow.execute("numbers", entry_params={"count": 4})
    print(f"Status: {job.status} ({job.pause_points[-1]['reason']})")
    print("Pending activations:")
    for task in job.pending_tasks:
        print(f"  {task['slot_routine_id']}.{task['slot_name']} {task['data']}")
    job.save(job_file)

    # Later, with nothing but the two files: load the flow and the job, resume.
    loaded_flow = Flow.load(flow_file)
    loaded_job = JobState.load(job_file)

print(f"Loaded job: {loaded_job.status}, same id: {loaded_job.job_id == job.job_id}")
loaded_flow.resume(loaded_job, wait=True)
print(f"Status: {loaded_job.status}, total {loaded_job.get_result('total')}")
print("scale emitted:", [r.data["value"] for r in loaded_job.get_execution_history("scale")])
