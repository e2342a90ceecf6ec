"""Concurrent execution, step 1: the sequential strategy.

Run it with ``python tutorials/concurrency/step1_sequential.py``.
"""

from routilux import Flow, Routine


def log(routine, text):
    """Append "<routine id>: <text>" to the job's log (a list in its channel)."""
    ctx = routine.get_execution_context()
    ctx.get_channel().append("log", f"{ctx.routine_id}: {text}")


class Source(Routine):
    """Entry routine: emits each value it is given."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("item", ["value"])

    def send(self, values):
        log(self, "starts")
        for value in values:
            self.emit("item", value=value)
        log(self, "ends")


class Step(Routine):
    """Passes each value on."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("done", ["value"])

    def handle(self, value):
        log(self, f"handles {value}")
        self.emit("done", value=value)


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, value):
        log(self, f"receives {value}")


flow = Flow(flow_id="sequential")  # "sequential" is the default strategy
flow.add_routine(Source(), "source")
flow.add_routine(Step(), "left")
flow.add_routine(Step(), "right")
flow.add_routine(Sink(), "sink")
flow.connect("source", "item", "left", "input")
flow.connect("source", "item", "right", "input")
flow.connect("left", "done", "sink", "input")
flow.connect("right", "done", "sink", "input")


def run():
    job = flow.execute("source", entry_params={"values": [1, 2]})
    history = [(r.routine_id, r.event_name) for r in job.get_execution_history()]
    return job.get_channel().get("log"), history


log_lines, history = run()
for line in log_lines:
    print(line)
print(f"History: {history}")

repeats = [run() for _ in range(20)]
print(f"Same log and history in 20 more jobs: {all(r == (log_lines, history) for r in repeats)}")
