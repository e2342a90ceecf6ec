"""Connecting routines, step 3: the "override" and "append" merge strategies.

Run it with ``python tutorials/connecting/step3_override_and_append.py``.
"""

from routilux import Flow, Routine

DELIVERIES = [
    {"city": "Paris", "temp": 21},
    {"city": "Oslo", "temp": 12},
    {"note": "rain in Oslo"},
]


class Weather(Routine):
    """Entry routine: emits each delivery of DELIVERIES on its own."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("update")

    def send(self):
        for delivery in DELIVERIES:
            self.emit("update", **delivery)


class Show(Routine):
    """Prints what its handler receives; the slot's merge strategy is a parameter."""

    def __init__(self, merge_strategy):
        super().__init__()
        self.define_slot("input", handler=self.show, merge_strategy=merge_strategy)

    def show(self, **kwargs):
        print(f"  {self.get_execution_context().routine_id:>8} sees {kwargs}")


flow = Flow(flow_id="merge_strategies")
flow.add_routine(Weather(), "weather")
flow.add_routine(Show("override"), "override")
flow.add_routine(Show("append"), "append")
flow.connect("weather", "update", "override", "input")
flow.connect("weather", "update", "append", "input")

job = flow.execute("weather")
print(f"Status: {job.status}")
