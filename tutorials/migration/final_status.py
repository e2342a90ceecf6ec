"""A paused, cancelled or failed job is never reported "completed"."""

from routilux import Flow, Routine


class Work(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["value"])

    def run(self, action="none", **kwargs):
        ctx = self.get_execution_context()
        self.emit("output", value=1)
        if action == "pause":
            ctx.flow.pause(ctx.job_state, reason="waiting for approval")
        elif action == "cancel":
            ctx.flow.cancel(ctx.job_state, reason="not needed")
        elif action == "fail":
            raise RuntimeError("broken")


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=lambda value: None)


flow = Flow("statuses")
flow.add_routine(Work(), "work")
flow.add_routine(Sink(), "sink")
flow.connect("work", "output", "sink", "input")

for action in ("none", "pause", "cancel", "fail"):
    job = flow.execute("work", {"action": action})
    print(f"{action:>6}: {job.status}")
