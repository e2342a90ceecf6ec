"""Connecting routines, step 1: fan-out, one event to several slots.

Run it with ``python tutorials/connecting/step1_fan_out.py``.
"""

from routilux import Flow, Routine


class Reading(Routine):
    """Entry routine: emits one temperature reading."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.read)
        self.define_event("reading", ["celsius"])

    def read(self, celsius):
        self.emit("reading", celsius=celsius)


class Display(Routine):
    """Prints the reading in the unit set in its config."""

    def __init__(self, unit):
        super().__init__()
        self.set_config(unit=unit)
        self.define_slot("input", handler=self.show)

    def show(self, celsius):
        unit = self.get_config("unit")
        value = celsius if unit == "C" else celsius * 9 / 5 + 32
        print(f"  {self.get_execution_context().routine_id}: {value:.1f} {unit}")


class Alarm(Routine):
    """Prints a warning above a threshold."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.check)

    def check(self, celsius):
        state = "too hot!" if celsius > 30 else "ok"
        print(f"  alarm: {state}")


flow = Flow(flow_id="fan_out")
flow.add_routine(Reading(), "sensor")
flow.add_routine(Display("C"), "celsius")
flow.add_routine(Display("F"), "fahrenheit")
flow.add_routine(Alarm(), "alarm")

# One event, three connections: each slot receives every emission, in connect order.
flow.connect("sensor", "reading", "celsius", "input")
flow.connect("sensor", "reading", "fahrenheit", "input")
flow.connect("sensor", "reading", "alarm", "input")

print("Reading 31.5:")
job = flow.execute("sensor", entry_params={"celsius": 31.5})
print(f"Status: {job.status}")

for connection in flow.connections:
    print(
        f"{connection.source_routine_id}.{connection.source_event.name} -> "
        f"{connection.target_routine_id}.{connection.target_slot.name}"
    )
