"""A finished job refuses pause, resume and cancel; a handler cannot wait for its own
job. Both raise JobStateError, which is a ValueError as 0.9's errors were."""

from routilux import Flow, Routine
from routilux.exceptions import JobStateError


class Step(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)

    def run(self, wait_for_self=False, **kwargs):
        if wait_for_self:
            ctx = self.require_execution_context()
            try:
                ctx.job_state.wait_for_completion()  # would wait for itself
            except JobStateError as exc:
                print("in the handler:", exc)


flow = Flow("finished")
flow.add_routine(Step(), "step")
job = flow.execute("step")
print("status:", job.status)
for name, action in (("pause", flow.pause), ("resume", flow.resume), ("cancel", flow.cancel)):
    try:
        action(job)
    except ValueError as exc:
        print(f"{name}: {type(exc).__name__} (a ValueError): {exc}")
print("status still:", job.status)

flow.execute("step", {"wait_for_self": True})
