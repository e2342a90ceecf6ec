"""The framework's bookkeeping is merged into the entry routine's state; every routine
that ran gets a run record in the job's tracker."""

from routilux import Flow, Routine


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["value"])

    def run(self, count=5, **kwargs):
        ctx = self.get_execution_context()
        ctx.job_state.update_routine_state(ctx.routine_id, {"generated_count": count})
        for value in range(count):
            self.emit("output", value=value)


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, value):
        ctx = self.get_execution_context()
        ctx.job_state.update_routine_state(ctx.routine_id, {"last": value})


flow = Flow("bookkeeping")
flow.add_routine(Source(), "source")
flow.add_routine(Sink(), "sink")
flow.connect("source", "output", "sink", "input")
job = flow.execute("source", {"count": 5})
state = job.get_routine_state("source")
print("generated_count:", state["generated_count"])
print("status:", state["status"])
print("keys:", sorted(state))
print("sink state:", job.get_routine_state("sink"))
(run,) = job.execution_tracker.routine_executions["sink"]
print("sink run record:", run["status"], run["activations"], "activations")
