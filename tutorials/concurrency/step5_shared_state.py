"""Concurrent execution, step 5: handlers that share job state.

Run it with ``python tutorials/concurrency/step5_shared_state.py``.
"""

import threading

from routilux import Flow, Routine

WORKERS = 5
# For this demonstration only: makes the five handlers of a job reach the same line
# together, so that the unsafe version loses updates on every run, not just sometimes.
together = threading.Barrier(WORKERS)
state_lock = threading.Lock()


class Source(Routine):
    """Entry routine: emits five items."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("item", ["n"])

    def send(self):
        for n in range(WORKERS):
            self.emit("item", n=n)


class UnsafeCounter(Routine):
    """Read, then write: two handlers may read the same count and both write it + 1."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.count)

    def count(self, n):
        ctx = self.get_execution_context()
        state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
        seen = state.get("count", 0)
        together.wait(timeout=10)
        ctx.job_state.update_routine_state(ctx.routine_id, {"count": seen + 1})


class ChannelCounter(Routine):
    """An atomic read-modify-write: the channel's increment."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.count)

    def count(self, n):
        together.wait(timeout=10)
        self.get_execution_context().get_channel().increment("count")


class LockedCounter(Routine):
    """Read and write the routine's state under a lock."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.count)

    def count(self, n):
        together.wait(timeout=10)
        ctx = self.get_execution_context()
        with state_lock:
            state = ctx.job_state.get_routine_state(ctx.routine_id) or {}
            seen = state.get("count", 0)
            ctx.job_state.update_routine_state(ctx.routine_id, {"count": seen + 1})


def run(counter):
    flow = Flow(flow_id="shared_state", execution_strategy="concurrent", max_workers=WORKERS)
    flow.add_routine(Source(), "source")
    flow.add_routine(counter, "counter")
    flow.connect("source", "item", "counter", "input")
    return flow.execute("source")


job = run(UnsafeCounter())
print(f"Unsafe read-then-write: count={job.get_routine_state('counter')['count']}")
job = run(ChannelCounter())
print(f"Channel increment:      count={job.get_channel().get('count')}")
job = run(LockedCounter())
print(f"Lock:                   count={job.get_routine_state('counter')['count']}")
