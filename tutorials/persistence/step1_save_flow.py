"""Persistence, step 1: save a flow's structure to a file and load it again.

Run it with ``python tutorials/persistence/step1_save_flow.py``.
"""

import json
import tempfile
from pathlib import Path

from routilux import Flow, Routine


class Numbers(Routine):
    """Entry routine: emits the numbers 1 to ``count``."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.generate)
        self.define_event("output", ["value"])

    def generate(self, count=0):
        for value in range(1, count + 1):
            self.emit("output", value=value)


class Scale(Routine):
    """Multiplies each value by the ``factor`` in its config."""

    def __init__(self):
        super().__init__()
        self.set_config(factor=1)
        self.define_slot("input", handler=self.scale)
        self.define_event("output", ["value"])

    def scale(self, value):
        self.emit("output", value=value * self.get_config("factor"))


class Total(Routine):
    """Collects every value (append strategy) and returns their sum."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add, merge_strategy="append")

    def add(self, value):
        return sum(value)


def build_flow():
    flow = Flow(flow_id="scaled_total")
    scale = Scale()
    scale.set_config(factor=10)
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(scale, "scale")
    flow.add_routine(Total(), "total")
    flow.connect("numbers", "output", "scale", "input")
    flow.connect("scale", "output", "total", "input")
    return flow


with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "flow.json"
    build_flow().save(path)

    document = json.loads(path.read_text())
    print("format:", document["format"], "version:", document["version"])
    print("routine ids:", [routine["id"] for routine in document["routines"]])
    print(json.dumps(document["routines"][1], indent=2))
    print("connection:", json.dumps(document["connections"][0]))

    flow = Flow.load(path)

job = flow.execute("numbers", entry_params={"count": 4})
print(f"Loaded flow: {flow.flow_id}, status {job.status}, total {job.get_result('total')}")
