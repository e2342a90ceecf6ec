"""Persistence, step 5: loading never imports or runs what a document names.

Run it with ``python tutorials/persistence/step5_safe_loading.py``.
"""

import copy

from routilux import Flow, Routine, register_serializable
from routilux.exceptions import SerializationError


class Greeter(Routine):
    """Entry routine: returns a greeting."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.greet)

    def greet(self, name):
        return f"hello, {name}"


flow = Flow(flow_id="greeting")
flow.add_routine(Greeter(), "greeter")
document = flow.serialize()
print("Stored class:", document["routines"][0]["class"])
loaded = Flow.deserialize(document)
job = loaded.execute("greeter", entry_params={"name": "Ada"})
print("Loaded and run:", job.get_result("greeter"))


def try_to_load(label, changed_class):
    tampered = copy.deepcopy(document)
    tampered["routines"][0]["class"] = changed_class
    try:
        Flow.deserialize(tampered)
    except SerializationError as error:
        print(f"{label}:\n  {error}\n  path: {error.path}")


try_to_load("A function, not a routine class", "os:system")
try_to_load("A module nobody imported", "billing.routines:Charge")


def make_flow():
    class Local(Routine):  # defined inside a function: a loader cannot find it by name
        def __init__(self):
            super().__init__()
            self.define_slot("trigger", handler=self.run)

        def run(self):
            return "local"

    local_flow = Flow(flow_id="local")
    local_flow.add_routine(Local(), "local")
    return local_flow, Local


local_flow, Local = make_flow()
try:
    local_flow.serialize()
except SerializationError as error:
    print(f"Saving a class defined in a function:\n  {error}")

register_serializable(Local, name="tutorial.Local")
saved = local_flow.serialize()
print("Registered, it is stored as:", saved["routines"][0]["class"])
print("Loaded and run:", Flow.deserialize(saved).execute("local").get_result("local"))
