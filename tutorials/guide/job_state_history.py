"""The execution history: records, per-routine views, and history_limit."""

from routilux import Flow, Routine


class Counter(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.count)
        self.define_event("number", ["n"])

    def count(self, upto):
        for n in range(upto):
            self.emit("number", n=n)
        ctx = self.get_execution_context()
        ctx.job_state.record_execution(ctx.routine_id, "note", {"message": "counted"})


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=lambda n: None)


def build(history_limit=None):
    flow = Flow(flow_id="history", history_limit=history_limit)
    flow.add_routine(Counter(), "counter")
    flow.add_routine(Sink(), "sink")
    flow.connect("counter", "number", "sink", "input")
    return flow


job = build().execute("counter", {"upto": 3})
for record in job.get_execution_history():
    print(f"{record.routine_id}.{record.event_name:<9} {record.data}")
first = job.execution_history[0]
print("a record:", type(first.timestamp).__name__, type(first.time).__name__)
print("records of 'sink':", len(job.get_execution_history("sink")))

job = build(history_limit=3).execute("counter", {"upto": 1000})
print("with history_limit=3:", job.history_limit, "kept,", job.history_dropped, "dropped")
for record in job.execution_history:
    print(f"  {record.routine_id}.{record.event_name} {record.data}")
