"""pause, resume and cancel act on one job; its pending work stays in its JobState."""

from routilux import Flow, Routine


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["value"])

    def run(self, count=3, hold=False, **kwargs):
        ctx = self.get_execution_context()
        if hold:
            ctx.flow.pause(ctx.job_state, reason="hold")
        for value in range(count):
            self.emit("output", value=value)


class Total(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add)

    def add(self, value):
        channel = self.get_execution_context().get_channel()
        channel.increment("total", value)


flow = Flow("pausing")
flow.add_routine(Numbers(), "numbers")
flow.add_routine(Total(), "total")
flow.connect("numbers", "output", "total", "input")

held = flow.execute("numbers", {"count": 4, "hold": True})
other = flow.execute("numbers", {"count": 3})
print("held job:", held.status, "with", len(held.pending_tasks), "pending activations")
print("other job:", other.status, "total", other.shared_data["total"])
flow.resume(held, wait=True)
print("held job after resume:", held.status, "total", held.shared_data["total"])
