"""Parameter mapping: renaming keys between an event and a slot."""

from routilux import Flow, Routine
from routilux.connection import apply_param_mapping

print("The mapping rules:")
for mapping, data in [
    ({"a": "x"}, {"a": 1, "b": 2}),  # mapped keys are also passed through
    ({"a": "b"}, {"a": 1, "b": 2}),  # a target name hides the original key
    ({"a": "b", "b": "a"}, {"a": 1, "b": 2}),  # a swap
    ({"z": "y"}, {"a": 1}),  # a missing source key is ignored
]:
    print(f"  {mapping} on {data} -> {apply_param_mapping(mapping, data)}")


class Sensor(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.read)
        self.define_event("reading", ["value", "unit"])

    def read(self):
        self.emit("reading", value=21.5, unit="C")


class Display(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, temperature, unit):
        print(f"  display: {temperature} {unit}")


flow = Flow(flow_id="mapping")
flow.add_routine(Sensor(), "sensor")
flow.add_routine(Display(), "display")
first = flow.connect("sensor", "reading", "display", "input", {"value": "temperature"})
flow.execute("sensor")

again = flow.connect("sensor", "reading", "display", "input", {"value": "temp"})
print("Connecting again returns the same connection:", again is first, again.param_mapping)
for issue in flow.validate("sensor"):
    print(" ", issue)
