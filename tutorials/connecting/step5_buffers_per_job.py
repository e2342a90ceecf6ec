"""Connecting routines, step 5: merge buffers belong to the job.

Run it with ``python tutorials/connecting/step5_buffers_per_job.py``.
"""

from routilux import Flow, Routine


class Numbers(Routine):
    """Entry routine: emits each number it is given."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("number", ["value"])

    def send(self, values):
        for value in values:
            self.emit("number", value=value)


class Total(Routine):
    """Keeps every value (the "append" strategy) and stores their sum."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add, merge_strategy="append")

    def add(self, value):
        print(f"  total sees value={value}")
        ctx = self.get_execution_context()
        ctx.job_state.update_routine_state(ctx.routine_id, {"sum": sum(value)})


flow = Flow(flow_id="buffers_per_job")
flow.add_routine(Numbers(), "numbers")
flow.add_routine(Total(), "total")
flow.connect("numbers", "number", "total", "input")

print("First job:")
first = flow.execute("numbers", entry_params={"values": [1, 2, 3]})
print("Second job:")
second = flow.execute("numbers", entry_params={"values": [10, 20]})

print(f"First job's sum: {first.get_routine_state('total')['sum']}")
print(f"Second job's sum: {second.get_routine_state('total')['sum']}")
