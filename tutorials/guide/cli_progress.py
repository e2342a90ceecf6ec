"""Progress from Python: flow.execute(..., progress=True).

On a terminal, the job's live view is drawn on standard error while execute waits;
here the output is not a terminal, so nothing is drawn and the script prints the same
with or without it.
"""

from routilux import Flow, Routine
from routilux.exceptions import ConfigurationError


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("number", ["n"])

    def send(self, count):
        for n in range(count):
            self.emit("number", n=n)


class Total(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add)

    def add(self, n):
        self.get_execution_context().get_channel().increment("total", n)


flow = Flow("numbers")
flow.add_routine(Numbers(), "numbers")
flow.add_routine(Total(), "total")
flow.connect("numbers", "number", "total", "input")

job = flow.execute("numbers", {"count": 100_000}, progress=True)
print("status:", job.status, "| total:", job.get_channel().get("total"))

try:
    flow.execute("numbers", {"count": 3}, wait=False, progress=True)
except ConfigurationError as exc:
    print("ConfigurationError:", exc)
