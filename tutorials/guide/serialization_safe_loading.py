"""Loading refuses what the application has not imported or registered."""

import copy

from routilux import Flow, Routine
from routilux.exceptions import SerializationError


class Echo(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.echo)

    def echo(self, **data):
        return data


flow = Flow(flow_id="safe")
flow.add_routine(Echo(), "echo")
good = flow.serialize()


def tampered(change):
    document = copy.deepcopy(good)
    change(document)
    return document


attempts = {
    "a class that is not a Routine": tampered(
        lambda d: d["routines"][0].update({"class": "threading:Thread"})
    ),
    "a module nobody imported": tampered(
        lambda d: d["routines"][0].update({"class": "plugins.evil:Payload"})
    ),
    "an unregistered merge function": tampered(
        lambda d: d["routines"][0]["slots"][0].update(
            {"merge_strategy": "function", "merge_function": "os:remove"}
        )
    ),
    "a handler that is not a method": tampered(
        lambda d: d["routines"][0]["slots"][0].update({"handler": "__init__"})
    ),
    "a newer format version": tampered(lambda d: d.update({"version": 99})),
    "a wrong type": tampered(lambda d: d.update({"max_workers": "5"})),
}
target = Flow(flow_id="untouched")
for what, document in attempts.items():
    try:
        target.deserialize(document)
    except SerializationError as exc:
        print(f"{what}:\n  {exc}")
print("the target flow is unchanged:", target.flow_id, target.routines)
