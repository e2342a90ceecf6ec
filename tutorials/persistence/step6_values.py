"""Persistence, step 6: which values a saved job can hold.

Run it with ``python tutorials/persistence/step6_values.py``.
"""

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from routilux import Flow, JobState, Routine, register_serializable
from routilux.exceptions import SerializationError


@register_serializable
@dataclass
class Reading:
    sensor: str
    celsius: float


class Cache:
    """An ordinary class, not registered: its objects cannot be saved."""


class Collector(Routine):
    """Entry routine: stores assorted values in the job, then pauses it."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.collect)

    def collect(self, with_cache=False):
        ctx = self.get_execution_context()
        channel = ctx.get_channel()
        channel.set("position", (48.85, 2.35))
        channel.set("rooms", {101, 102, 103})
        channel.set("seen_at", datetime(2026, 3, 1, 12, 30))
        channel.set("price", Decimal("19.99"))
        channel.set("reading", Reading("kitchen", 21.5))
        channel.set("by_id", {1: "one", 2: "two"})
        if with_cache:
            channel.set("cache", Cache())
        ctx.flow.pause(ctx.job_state, reason="save me")


flow = Flow(flow_id="values")
flow.add_routine(Collector(), "collector")

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "job.json"
    job = flow.execute("collector", entry_params={"with_cache": False})
    job.save(path)
    loaded = JobState.load(path)
    stored = json.loads(path.read_text())["shared_data"]

print("In the file:", json.dumps(stored["position"]), json.dumps(stored["reading"]))

for key, value in loaded.shared_data.items():
    same = value == job.shared_data[key]
    print(f"{key:>8}: {type(value).__name__:<9} {value!r}  equal: {same}")

job = flow.execute("collector", entry_params={"with_cache": True})
try:
    job.serialize()
except SerializationError as error:
    print(f"Saving an unregistered object:\n  {error}\n  path: {error.path}")
