"""The framework's bookkeeping is merged into the entry routine's state."""

from routilux import Flow, Routine


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)

    def run(self, count=5, **kwargs):
        ctx = self.get_execution_context()
        ctx.job_state.update_routine_state(ctx.routine_id, {"generated_count": count})


flow = Flow("bookkeeping")
flow.add_routine(Source(), "source")
job = flow.execute("source", {"count": 5})
state = job.get_routine_state("source")
print("generated_count:", state["generated_count"])
print("status:", state["status"])
print("keys:", sorted(state))
