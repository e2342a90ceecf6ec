"""Channels and results, step 2: typed channels check values against a TypedDict.

Run it with ``python tutorials/channels/step2_typed_channel.py``.
"""

from typing import Literal, NotRequired, TypedDict

from routilux import Flow, Routine
from routilux.exceptions import ChannelTypeError


class Metrics(TypedDict):
    count: int
    status: Literal["ok", "failed"]
    durations: list[float]
    note: NotRequired[str]


class Collect(Routine):
    """Entry routine: stores metrics through a typed channel, then emits."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.collect)
        self.define_event("done")

    def collect(self, durations):
        metrics = self.get_execution_context().get_typed_channel(Metrics)
        metrics.set("metrics", {"count": len(durations), "status": "ok", "durations": durations})
        self.emit("done")


class Check(Routine):
    """Reads the metrics back, then tries to store values that do not fit."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.check)

    def check(self):
        ctx = self.get_execution_context()
        metrics = ctx.get_typed_channel(Metrics)
        stored = metrics.get("metrics")
        print(f"Read back: {stored['count']} durations, status {stored['status']}")

        wrong_values = [
            {"count": 2, "status": "ok", "durations": [0.5, "fast"]},
            {"count": 2, "status": "done", "durations": []},
            {"status": "ok", "durations": []},
            {"count": 2, "status": "ok", "durations": [], "owner": "me"},
        ]
        for value in wrong_values:
            try:
                metrics.set("metrics", value)
            except ChannelTypeError as error:
                print(f"  ChannelTypeError: {error}")

        # The plain channel does not check; the typed one checks what it reads, too.
        ctx.get_channel().set("metrics", {"count": "two", "status": "ok", "durations": []})
        try:
            metrics.get("metrics")
        except ChannelTypeError as error:
            print(f"  On reading: {error}")


flow = Flow(flow_id="typed_metrics")
flow.add_routine(Collect(), "collect")
flow.add_routine(Check(), "check")
flow.connect("collect", "done", "check", "input")

job = flow.execute("collect", entry_params={"durations": [0.25, 1.5]})
print(f"Status: {job.status}")
