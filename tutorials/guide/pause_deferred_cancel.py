"""Deferred events run first on resume; cancel drops a paused job's work."""

from routilux import Flow, Routine


class Approval(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.request)
        self.define_event("approved", ["order"])
        self.define_event("queued", ["order"])

    def request(self, orders):
        ctx = self.get_execution_context()
        for order in orders:
            self.emit("queued", order=order)
        # Emitted only when somebody resumes the job:
        self.emit_deferred_event("approved", order=orders[0])
        ctx.flow.pause(ctx.job_state, reason="needs approval")  # returns at once
        print("  request() goes on after asking for the pause")


class Log(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.log)

    def log(self, order):
        print(f"  {self.get_execution_context().routine_id}: {order}")


def build():
    flow = Flow(flow_id="approvals")
    flow.add_routine(Approval(), "approval")
    flow.add_routine(Log(), "shipping")
    flow.add_routine(Log(), "queue_log")
    flow.connect("approval", "approved", "shipping", "input")
    flow.connect("approval", "queued", "queue_log", "input")
    return flow


flow = build()
job = flow.execute("approval", {"orders": ["A-1", "A-2"]})
print(
    "paused:",
    job.status,
    "| deferred:",
    [(e["event_name"], e["data"]) for e in job.deferred_events],
)
print("pending:", [task["data"] for task in job.pending_tasks])
print("resume:")
flow.resume(job, wait=True)
print("status:", job.status)

job = flow.execute("approval", {"orders": ["B-1"]})
flow.cancel(job, reason="customer withdrew")
print("cancelled:", job.status, job.pending_tasks, job.deferred_events)
print("reason:", job.routine_states["_cancellation"])
