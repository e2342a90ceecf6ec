"""Saving a job: data values that JSON cannot hold, and values that cannot be saved."""

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from routilux import Flow, JobState, Routine, register_serializable
from routilux.exceptions import JobStateError, SerializationError


@register_serializable
@dataclass
class Point:
    x: int
    y: int


class Opaque:
    """An ordinary class: not registered, so it cannot be saved."""


gate = threading.Event()


class Store(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.store)

    def store(self, wait=False):
        job_state = self.get_execution_context().job_state
        job_state.update_shared_data("corner", (0, 0))
        job_state.update_shared_data("sizes", {3, 1, 2})
        job_state.update_shared_data("when", datetime(2024, 5, 1, 12, 30))
        job_state.update_shared_data("price", Decimal("9.99"))
        job_state.update_shared_data("points", {1: Point(1, 2)})
        if wait:
            gate.wait()


flow = Flow(flow_id="values")
flow.add_routine(Store(), "store")
job = flow.execute("store")

document = job.serialize()
print("tuple:", document["shared_data"]["corner"])
print("dict with int keys:", document["shared_data"]["points"])
copy = JobState.deserialize(document)
for key, value in copy.shared_data.items():
    print(f"  {key}: {value!r}")
print("equal after the round trip:", copy.shared_data == job.shared_data)

job.update_shared_data("handle", Opaque())
try:
    job.serialize()
except SerializationError as exc:
    print("SerializationError:", exc)
    print("  path:", exc.path)

running = flow.execute("store", {"wait": True}, wait=False)
try:
    running.serialize()
except JobStateError as exc:
    print("JobStateError:", exc)
gate.set()
running.wait_for_completion()
