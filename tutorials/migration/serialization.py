"""Flows save to our own JSON format, with both routine ids in every connection."""

import json

from routilux import Flow, Routine


class Step(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.step)
        self.define_slot("input", handler=self.step)
        self.define_event("output", ["path"])

    def step(self, path="", **kwargs):
        ctx = self.get_execution_context()
        self.emit("output", path=path + ctx.routine_id)


class End(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.end)

    def end(self, path):
        return path


# Three routines with the same event and slot names, chained a -> b -> c.
flow = Flow("chain")
for routine_id in ("a", "b"):
    flow.add_routine(Step(), routine_id)
flow.add_routine(End(), "c")
flow.connect("a", "output", "b", "input")
flow.connect("b", "output", "c", "input")

document = flow.serialize()
print(json.dumps(document["connections"][1]))
loaded = Flow.deserialize(document)  # a class-level call returns a new Flow
print("path after loading:", loaded.execute("a").get_result("c"))
