"""Routine states: what handlers store, and what the framework adds."""

import logging

from routilux import Flow, Routine

logging.getLogger("routilux").setLevel(logging.ERROR)


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("item", ["value"])

    def send(self, values):
        ctx = self.get_execution_context()
        ctx.job_state.update_routine_state(ctx.routine_id, {"sent": len(values)})
        for value in values:
            self.emit("item", value=value)


class Inverter(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.invert)

    def invert(self, value):
        ctx = self.get_execution_context()
        state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
        state["inverted"] = state.get("inverted", 0) + 1
        ctx.job_state.update_routine_state(ctx.routine_id, state)
        return 1 / value


flow = Flow(flow_id="states")
flow.add_routine(Source(), "source")
flow.add_routine(Inverter(), "inverter")
flow.connect("source", "item", "inverter", "input")

job = flow.execute("source", {"values": [4, 0, 2]})
print("status:", job.status)
for routine_id, state in job.routine_states.items():
    print(f"{routine_id}:")
    for key, value in state.items():
        if key == "execution_time":
            value = f"{value:.3f} s"
        print(f"  {key}: {value}")
