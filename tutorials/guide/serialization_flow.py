"""Saving a flow's structure and loading it back."""

import json
import tempfile
from pathlib import Path

from routilux import ErrorHandler, Flow, Routine


class Scale(Routine):
    def __init__(self, factor=1):
        super().__init__()
        self.factor = factor  # an attribute: NOT saved
        self.set_config(offset=0)  # config: saved
        self.define_slot("trigger", handler=self.scale)
        self.define_event("scaled", ["value"])

    def scale(self, value):
        result = value * self.factor + self.get_config("offset")
        self.emit("scaled", value=result)
        return result


flow = Flow(flow_id="scaling", execution_strategy="concurrent", max_workers=3, history_limit=100)
flow.set_error_handler(ErrorHandler("continue"))
scale = Scale(factor=10)
scale.set_config(offset=1)
flow.add_routine(scale, "scale")
flow.add_routine(Scale(), "again")
flow.connect("scale", "scaled", "again", "trigger")

document = flow.serialize()
print("document keys:", list(document))
print("routine:", json.dumps(document["routines"][0]["class"]), document["routines"][0]["config"])
print("slot:", document["routines"][0]["slots"][0])
print("connection:", document["connections"][0])

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "scaling.json"
    flow.save(path)
    loaded = Flow.load(path)

print(
    "loaded:", loaded.flow_id, loaded.execution_strategy, loaded.max_workers, loaded.history_limit
)
print("error handler:", loaded.get_error_handler().strategy)
print("original run:", flow.execute("scale", {"value": 2}).get_result("scale"))
print("loaded run:  ", loaded.execute("scale", {"value": 2}).get_result("scale"))

empty = Flow()
print("filling an empty flow:", empty.deserialize(document) is empty, list(empty.routines))
