"""register_serializable: classes and functions a saved flow refers to by name."""

from routilux import Flow, Routine, register_serializable
from routilux.exceptions import SerializationError


def make_flow():
    class Local(Routine):  # defined inside a function: a loader could not find it
        def __init__(self):
            super().__init__()
            self.define_slot("trigger", handler=self.run)

        def run(self, **data):
            return data

    flow = Flow(flow_id="registered")
    flow.add_routine(Local(), "local")
    return flow, Local


flow, Local = make_flow()
try:
    flow.serialize()
except SerializationError as exc:
    print("SerializationError:", exc)

register_serializable(Local, name="demo.Local")


@register_serializable(name="demo.keep_last_two")
def keep_last_two(old, new):
    kept = (old.get("values") or [])[-1:] + [new["value"]]
    return {"values": kept}


@register_serializable
def shout(text):
    print("  shout:", text.upper())


class Tail(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show, merge_strategy=keep_last_two)
        self.define_slot("say", handler=shout)  # a plain function as a handler

    def show(self, values):
        print("  last two:", values)


flow.add_routine(Tail(), "tail")
document = flow.serialize()
print("classes:", [routine["class"] for routine in document["routines"]])
for slot in document["routines"][1]["slots"]:
    print("slot:", {key: value for key, value in slot.items() if value is not None})

loaded = Flow.deserialize(document)
tail = loaded.routines["tail"]
for value in [1, 2, 3]:
    tail.get_slot("input").receive({"value": value})
tail.get_slot("say").receive({"text": "loaded"})
