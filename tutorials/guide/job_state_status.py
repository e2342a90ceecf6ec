"""A job's status through completion, failure, pause and resume, and cancellation."""

import logging

from routilux import Flow, JobState, Routine

logging.getLogger("routilux").setLevel(logging.ERROR)  # keep failure warnings off stderr


class Task(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_slot("input", handler=self.step)
        self.define_event("next", ["n"])

    def run(self, mode="ok"):
        if mode == "fail":
            raise RuntimeError("cannot start")
        ctx = self.get_execution_context()
        self.emit("next", n=1)
        if mode == "pause":
            ctx.flow.pause(ctx.job_state, reason="waiting for approval")
        if mode == "cancel":
            ctx.flow.cancel(ctx.job_state, reason="not needed")

    def step(self, n):
        return n


flow = Flow(flow_id="lifecycle")
flow.add_routine(Task(), "task")
flow.add_routine(Task(), "follow")
flow.connect("task", "next", "follow", "input")

print("a new JobState:", JobState("lifecycle").status)
for mode in ["ok", "fail", "cancel", "pause"]:
    job = flow.execute("task", {"mode": mode})
    print(f"{mode:<7} -> {job.status:<10} finished={job.is_finished}")

print("pending while paused:", [task["data"] for task in job.pending_tasks])
flow.resume(job)  # returns at once; the job runs in the background
job.wait_for_completion()
print(f"resumed -> {job.status:<10} finished={job.is_finished}")
