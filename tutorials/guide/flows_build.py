"""Building a flow, the errors wiring and execute raise, and Flow.validate."""

from routilux import Flow, Routine
from routilux.exceptions import RoutiluxError


class Step(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_slot("input", handler=self.run)
        self.define_event("done", ["value"])

    def run(self, value=0):
        self.emit("done", value=value + 1)


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.keep)
        self.define_slot("extra", handler=self.keep)

    def keep(self, value):
        return value


flow = Flow(flow_id="pipeline")
print(flow, flow.execution_strategy, flow.max_workers, flow.history_limit)
first = flow.add_routine(Step(), "first")
anonymous = flow.add_routine(Step())  # no id given: the routine's own id
flow.add_routine(Sink(), "sink")
flow.connect("first", "done", "sink", "input")
print("ids:", [first, anonymous.startswith("0x")], "connections:", len(flow.connections))

for call in [
    lambda: flow.add_routine(Sink(), "sink"),
    lambda: flow.connect("first", "finished", "sink", "input"),
    lambda: flow.execute("sink"),
    lambda: flow.execute("first", [1, 2]),
    lambda: flow.execute("first", execution_strategy="parallel"),
]:
    try:
        call()
    except RoutiluxError as exc:
        print(f"{type(exc).__name__}: {exc}")

print("validate('first'):")
for issue in flow.validate("first"):
    print(f"  {issue.severity:<7} {issue.routine_id}: {issue.message}")
print("job:", flow.execute("first", {"value": 41}).get_result("sink"))
