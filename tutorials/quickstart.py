"""Quickstart: double some numbers and collect them."""

from routilux import Flow, Routine


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("output", ["value"])

    def send(self, values=(), **kwargs):
        for value in values:
            self.emit("output", value=value)


class Doubler(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.double)
        self.define_event("output", ["value"])

    def double(self, value):
        self.emit("output", value=value * 2)


class Collector(Routine):
    def __init__(self):
        super().__init__()
        # "append": each delivery adds to a list the handler sees whole.
        self.define_slot("input", handler=self.collect, merge_strategy="append")

    def collect(self, value):
        ctx = self.get_execution_context()
        ctx.job_state.update_routine_state(ctx.routine_id, {"values": list(value)})


flow = Flow(flow_id="quickstart")
flow.add_routine(Numbers(), "numbers")
flow.add_routine(Doubler(), "doubler")
flow.add_routine(Collector(), "collector")
flow.connect("numbers", "output", "doubler", "input")
flow.connect("doubler", "output", "collector", "input")

job = flow.execute("numbers", entry_params={"values": [1, 2, 3]})
print("status:", job.status)
print("doubled:", job.get_routine_state("collector")["values"])
print("history:", [record.event_name for record in job.get_execution_history()])
