"""Connecting routines, step 4: a custom merge function.

Run it with ``python tutorials/connecting/step4_custom_merge.py``.
"""

from routilux import Flow, Routine

DELIVERIES = [
    {"city": "Paris", "temp": 21},
    {"city": "Oslo", "temp": 12},
    {"note": "rain in Oslo"},
]


def keep_latest(old, new):
    """Every key seen so far, each with its latest value."""
    return {**old, **new}


def count_cities(old, new):
    """How many deliveries named each city (deliveries without one don't count)."""
    counts = dict(old)
    if "city" in new:
        counts[new["city"]] = counts.get(new["city"], 0) + 1
    return counts


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
        print(f"  {self.get_execution_context().routine_id:>6} sees {kwargs}")


flow = Flow(flow_id="custom_merge")
flow.add_routine(Weather(), "weather")
flow.add_routine(Show(keep_latest), "latest")
flow.add_routine(Show(count_cities), "counts")
flow.connect("weather", "update", "latest", "input")
flow.connect("weather", "update", "counts", "input")

job = flow.execute("weather")
print(f"Status: {job.status}")
