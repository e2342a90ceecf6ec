"""Which handler applies: the routine's own, else the flow's, else the default."""

import logging

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine
from routilux.exceptions import InvalidStrategyError

logging.getLogger("routilux").setLevel(logging.CRITICAL)


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("go", [])

    def send(self):
        self.emit("go")


class Failing(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.fail)

    def fail(self):
        raise KeyError(self.get_config("what", "missing"))


flow = Flow(flow_id="resolution")
flow.add_routine(Source(), "source")
for routine_id in ["plain", "optional", "picky"]:
    flow.add_routine(Failing(), routine_id)
    flow.connect("source", "go", routine_id, "input")

flow.set_error_handler(ErrorHandler(ErrorStrategy.SKIP))  # for routines without their own
flow.routines["optional"].set_as_optional()  # CONTINUE, not critical
flow.routines["picky"].set_error_handler(ErrorHandler("retry", retryable_exceptions=[OSError]))

job = flow.execute("source")
print("job:", job.status)
for error in job.errors:
    print(f"  {error['routine_id']:<8} handled by {error['strategy']}")
print("picky's KeyError is not retryable, so the job failed at once.")

flow.routines["picky"].set_as_critical()
print("set_as_critical():", flow.routines["picky"].get_error_handler())
print("set_as_optional():", flow.routines["optional"].get_error_handler())
print("equal settings compare equal:", ErrorHandler("SKIP") == ErrorHandler(ErrorStrategy.SKIP))
try:
    ErrorHandler("retry", retry_delay=-1)
except InvalidStrategyError as exc:
    print("InvalidStrategyError:", exc)
