"""The three merge strategies, fed the same three deliveries in one job."""

from routilux import Flow, Routine


def keep_max(old, new):
    """A custom merge: keep the largest value seen for each key."""
    merged = dict(old)
    for key, value in new.items():
        merged[key] = max(value, merged.get(key, value))
    return merged


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("reading", ["temp", "wind"])

    def send(self):
        self.emit("reading", temp=12)
        self.emit("reading", temp=9, wind=30)
        self.emit("reading", wind=12)


class Watcher(Routine):
    def __init__(self, strategy="override"):
        super().__init__()
        self.define_slot("input", handler=self.watch, merge_strategy=strategy)

    def watch(self, **data):
        ctx = self.get_execution_context()
        print(f"  {ctx.routine_id:<9} received {data}")
        state = ctx.job_state.get_routine_state(ctx.routine_id) or {"received": []}
        state["received"].append(data)  # kept by reference
        ctx.job_state.update_routine_state(ctx.routine_id, state)


flow = Flow(flow_id="merging")
flow.add_routine(Source(), "source")
for name, strategy in [("override", "override"), ("append", "append"), ("keep_max", keep_max)]:
    flow.add_routine(Watcher(strategy), name)
    flow.connect("source", "reading", name, "input")

job = flow.execute("source")
print("What the append handler kept from its first delivery, after the job:")
print(" ", job.get_routine_state("append")["received"][0])
