"""run_routine: one routine fed on one slot, without a flow of your own."""

import asyncio

from routilux import Routine
from routilux.exceptions import SlotNotFoundError
from routilux.testing import run_routine


class Scaler(Routine):
    """Multiplies each value by the job's "factor" (2 if unset); passes on negative
    values unchanged, and counts what it scaled."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.scale)
        self.define_event("scaled", ["value"])
        self.define_event("skipped", ["value"])

    def scale(self, value):
        ctx = self.require_execution_context()
        if value < 0:
            self.emit("skipped", value=value)
            return None
        factor = ctx.job_state.get_shared_data("factor", 2)
        ctx.get_channel().increment("scaled")
        self.emit("scaled", value=value * factor)
        return value * factor


class Numbers(Routine):
    """An entry routine: emits each of the values it is started with."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("output", ["value"])

    def send(self, values):
        for value in values:
            self.emit("output", value=value)


class Fetcher(Routine):
    """An async def handler."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.fetch)
        self.define_event("page", ["url", "size"])

    async def fetch(self, url):
        await asyncio.sleep(0)  # stands for a request
        self.emit("page", url=url, size=len(url))


# One delivery: what the routine emitted, returned and stored.
run = run_routine(Scaler(), "input", {"value": 3})
print("status:", run.status)
print("scaled:", run.emitted("scaled"), "skipped:", run.emitted("skipped"))
print("result:", run.result, "shared data:", run.shared_data)

# Several deliveries to the slot in one job, and shared data the job starts with.
run = run_routine(
    Scaler(),
    "input",
    deliveries=[{"value": 1}, {"value": -1}, {"value": 4}],
    shared_data={"factor": 10},
)
for emission in run.emissions:
    print(" ", emission)
print("shared data:", run.shared_data)

# Fed on "trigger", the routine is the job's entry routine, as with flow.execute.
run = run_routine(Numbers(), "trigger", {"values": [1, 2]})
print("history:", [(r.routine_id, r.event_name) for r in run.job.get_execution_history()])

# A failure is recorded in the run, not raised.
run = run_routine(Scaler(), "input", {"value": "three"})
print("status:", run.status, "errors:", [(e["slot"], e["error_type"]) for e in run.errors])
try:
    run.assert_completed()
except AssertionError as error:
    print("assert_completed() raised:")
    for line in str(error).splitlines()[:2]:  # then the traceback the job recorded
        print("  " + line)

# async def handlers run as in a flow.
print("page:", run_routine(Fetcher(), "input", {"url": "example.org"}).emitted("page"))

# Mistakes raise at the call.
try:
    run_routine(Scaler(), "inptu", {"value": 1})
except SlotNotFoundError as error:
    print("SlotNotFoundError:", error)
