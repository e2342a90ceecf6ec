"""The sequential and concurrent strategies on the same flow."""

import threading
import time

from routilux import Flow, Routine


class Fanout(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.start)
        self.define_event("task", ["name"])

    def start(self, names):
        for name in names:
            self.emit("task", name=name)


class Worker(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.work)

    def work(self, name):
        time.sleep(0.2)  # waiting on I/O, say
        ctx = self.get_execution_context()
        ctx.get_channel().append("finished", (name, threading.current_thread().name))


flow = Flow(flow_id="work", max_workers=4)
flow.add_routine(Fanout(), "fanout")
flow.add_routine(Worker(), "worker")
flow.connect("fanout", "task", "worker", "input")

for strategy in ["sequential", "concurrent"]:
    started = time.perf_counter()
    job = flow.execute("fanout", {"names": ["a", "b", "c", "d"]}, execution_strategy=strategy)
    elapsed = time.perf_counter() - started
    finished = job.get_shared_data("finished")
    print(f"{strategy}: {job.status} in {elapsed:.1f} s")
    if strategy == "sequential":
        print("  order:", [name for name, _ in finished])
        print("  threads:", {thread for _, thread in finished})
    else:
        print("  finished:", sorted(name for name, _ in finished))
