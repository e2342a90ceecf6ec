"""What Flow.validate() says about handlers, judged from the keys events declare."""

from routilux import Flow, Routine


class Reading(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.read)
        self.define_event("reading", ["city", "temp", "unit"])

    def read(self, **kwargs):
        self.emit("reading", city="Oslo", temp=21, unit="C")


class Report(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.report)

    def report(self, city, temp, wind):  # no 'unit', and 'wind' is never delivered
        print(city, temp, wind)


class Typo(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, tmp):  # meant "temp": it would receive the whole dict
        print(tmp)


flow = Flow("checked")
flow.add_routine(Reading(), "reading")
flow.add_routine(Report(), "report")
flow.add_routine(Typo(), "typo")
flow.connect("reading", "reading", "report", "input")
flow.connect("reading", "reading", "typo", "input", param_mapping={"temp": "temperature"})
for issue in flow.validate("reading"):
    print(f"{issue.severity}: [{issue.routine_id}] {issue.message}")
