"""TimeProvider: the current time, in the format a request asks for."""

from datetime import datetime

from routilux import Flow, Routine, TimeProvider


class Ask(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.ask)
        self.define_event("request")

    def ask(self, **request):
        self.emit("request", **request)


class Show(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, **data):
        for key, value in data.items():
            print(f"  {key}: {value!r}")


flow = Flow(flow_id="clock")
flow.add_routine(Ask(), "ask")
flow.add_routine(TimeProvider(), "clock")
flow.add_routine(Show(), "show")
flow.connect("ask", "request", "clock", "request")
flow.connect("clock", "output", "show", "input")
print("output for a request {'format': 'custom'}:")
flow.execute("ask", {"format": "custom"})

clock = TimeProvider()
moment = datetime(2024, 1, 1, 12, 0, 0)
for form in ["iso", "timestamp", "formatted", "custom"]:
    print(f"{form:<9} {clock.time_string(moment, form)}")
clock.set_config(locale="en_US")
print(f"{'formatted':<9} {clock.time_string(moment, 'formatted')} (locale en_US)")
clock.set_config(include_weekday=False)
print(f"{'formatted':<9} {clock.time_string(moment, 'formatted')} (no weekday)")
