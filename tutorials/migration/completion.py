"""execute() returns when the job's last activation has run, however long that takes."""

import time

from routilux import Flow, Routine


class SlowStart(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["value"])

    def run(self, **kwargs):
        time.sleep(0.3)  # real work before the first emit
        self.emit("output", value="late but delivered")


class Printer(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=lambda value: print("received:", value))


flow = Flow("completion")
flow.add_routine(SlowStart(), "start")
flow.add_routine(Printer(), "printer")
flow.connect("start", "output", "printer", "input")

job = flow.execute("start")
print("status:", job.status)


class Noop(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=lambda **kwargs: None)


quick = Flow("quick")
quick.add_routine(Noop(), "noop")
started = time.perf_counter()
for _ in range(100):
    quick.execute("noop")
per_job = (time.perf_counter() - started) / 100
print("a small job takes well under a millisecond:", per_job < 0.001)
