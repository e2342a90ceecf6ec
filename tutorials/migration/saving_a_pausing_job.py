"""A job is saved whole: a pause that has not settled is waited for, or refused from
the job's own handler; a JobState that no run holds is saved as it is."""

import tempfile
from pathlib import Path

from routilux import Flow, JobState, Routine
from routilux.exceptions import JobStateError


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["value"])

    def run(self, count=3, **kwargs):
        ctx = self.require_execution_context()
        for value in range(count):
            self.emit("output", value=value)
        ctx.flow.pause(ctx.job_state, reason="save me")  # returns at once
        try:
            ctx.job_state.save(self.get_config("path"))
        except JobStateError as exc:
            print("saving from the handler:", exc)


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, value):
        print("  sink got", value)


with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "job.json"
    numbers = Numbers()
    numbers.set_config(path=str(path))
    flow = Flow("saving")
    flow.add_routine(numbers, "numbers")
    flow.add_routine(Sink(), "sink")
    flow.connect("numbers", "output", "sink", "input")

    job = flow.execute("numbers")  # returns once the pause has settled
    job.save(path)
    loaded = JobState.load(path)
    print("saved:", loaded.status, len(loaded.pending_tasks), "pending activations")
    flow.resume(loaded, wait=True)
    print("resumed copy:", loaded.status)

    by_hand = JobState("saving")
    by_hand.status = "running"  # no run holds it: it is only a record
    by_hand.save(path)
    print("a JobState built by hand:", JobState.load(path).status)
