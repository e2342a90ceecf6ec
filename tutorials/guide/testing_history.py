"""assert_history: a finished job's history checked in one line."""

from routilux import Flow, Routine
from routilux.testing import assert_history


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("output", ["value"])

    def send(self, values):
        for value in values:
            self.emit("output", value=value)


class Doubler(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.double)
        self.define_event("output", ["value"])

    def double(self, value):
        self.emit("output", value=value * 2)


def build(strategy):
    flow = Flow(flow_id="doubling", execution_strategy=strategy)
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(Doubler(), "doubler")
    flow.connect("numbers", "output", "doubler", "input")
    return flow


job = build("sequential").execute("numbers", {"values": [1, 2]})

# "exact" (the default): these records and no others, in this order. A dict is a
# partial match of the record's data ("completed" also has an execution_time).
assert_history(
    job,
    [
        ("numbers", "start", {"values": [1, 2]}),
        ("numbers", "output", {"value": 1}),
        ("numbers", "output", {"value": 2}),
        ("doubler", "output", {"value": 2}),
        ("doubler", "output", {"value": 4}),
        ("numbers", "completed"),
    ],
)
print("exact: ok")

# "subsequence": these in this order, anything else around them; routines= looks at
# the records of some routines only; data may be a function of the record's data.
assert_history(job, [("doubler", "output", lambda data: data["value"] > 3)], mode="subsequence")
matched = assert_history(job, [("doubler", "output"), ("doubler", "output")], routines="doubler")
print("matched:", [record.data for record in matched])

# "unordered": these records in any order (the concurrent strategy's order varies).
concurrent_job = build("concurrent").execute("numbers", {"values": [1, 2, 3]})
assert_history(
    concurrent_job,
    [("doubler", "output", {"value": v}) for v in (6, 2, 4)],
    mode="unordered",
    routines="doubler",
)
print("unordered: ok")

# A mismatch raises AssertionError showing both lists, the difference marked with >.
try:
    assert_history(
        job,
        [("doubler", "output", {"value": 2}), ("doubler", "output", {"value": 3})],
        routines="doubler",
    )
except AssertionError as error:
    print(error)
