"""Pausing a running job from outside, inspecting it, and resuming it."""

import threading

from routilux import Flow, Routine

started, release = threading.Event(), threading.Event()


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("item", ["n"])

    def send(self, count):
        for n in range(count):
            self.emit("item", n=n)


class Worker(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.work)
        self.define_event("done", ["n"])

    def work(self, n):
        if n == 0:  # the first item takes a while
            started.set()
            release.wait()
        print(f"  worked on {n}")
        self.emit("done", n=n)


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=lambda n: print(f"  sink got {n}"))


flow = Flow(flow_id="pausable")
flow.add_routine(Source(), "source")
flow.add_routine(Worker(), "worker")
flow.add_routine(Sink(), "sink")
flow.connect("source", "item", "worker", "input")
flow.connect("worker", "done", "sink", "input")

job = flow.execute("source", {"count": 3}, wait=False)
started.wait()
threading.Timer(0.1, release.set).start()  # let the running handler finish soon
print("pausing...")
flow.pause(job, reason="maintenance", checkpoint={"batch": 7})  # waits for running handlers
print("status:", job.status)
print("pause point:", {k: v for k, v in job.pause_points[0].items() if k != "timestamp"})
for task in job.pending_tasks:
    print("pending:", task["slot_routine_id"], task["slot_name"], task["data"])
print("settled:", job.wait_for_completion(timeout=1), "| flow idle:", flow.wait_for_completion(1))

print("resuming...")
flow.resume(job, wait=True)
print("status:", job.status, "| pending:", job.pending_tasks)
