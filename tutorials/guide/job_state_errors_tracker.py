"""The errors list and the execution tracker of a job."""

import logging

from routilux import Flow, Routine

logging.getLogger("routilux").setLevel(logging.CRITICAL)


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("value", ["x"])

    def send(self, values):
        for x in values:
            self.emit("value", x=x)


class Root(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.root)
        self.define_event("result", ["y"])

    def root(self, x):
        if x < 0:
            raise ValueError(f"negative input {x}")
        self.emit("result", y=x**0.5)


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=lambda y: None)


flow = Flow(flow_id="tracked")
flow.add_routine(Source(), "source")
flow.add_routine(Root(), "root")
flow.add_routine(Sink(), "sink")
flow.connect("source", "value", "root", "input")
flow.connect("root", "result", "sink", "input")
job = flow.execute("source", {"values": [9, -1]})

print("status:", job.status)
for error in job.errors:
    print("error keys:", sorted(error))
    print("  ", error["routine_id"], error["slot"], error["error_type"], error["error"])
    print("  ", error["strategy"], "attempt", error["attempt"])
    print("   traceback ends:", error["traceback"].strip().splitlines()[-1])

tracker = job.execution_tracker
print("same tracker on the flow:", flow.execution_tracker is tracker)
print("runs recorded for:", list(tracker.routine_executions))
run = tracker.routine_executions["source"][0]
print("entry run:", run["status"], run["params"])
for event in tracker.event_flow:
    print(
        f"event_flow: {event['source_routine_id']}.{event['event_name']} -> "
        f"{event['target_routine_id']} {event['data']}"
    )
performance = tracker.get_routine_performance("source")
print("performance:", {key: performance[key] for key in ("total_executions", "completed")})
print("flow performance keys:", sorted(tracker.get_flow_performance()))
