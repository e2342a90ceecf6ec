"""Handler signatures: defaults survive an empty delivery, and validate() points out
a lone parameter named after no delivered key."""

from routilux import Flow, Routine


class Countdown(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("tick", ["value"])

    def go(self, n=3):  # 0.9 called go({}) when nothing was delivered
        print("n =", repr(n))
        for value in range(n, 0, -1):
            self.emit("tick", value=value)


class Typo(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, valu):  # meant "value": receives the whole dict instead
        print("  take received", valu)


flow = Flow("signatures")
flow.add_routine(Countdown(), "countdown")
flow.add_routine(Typo(), "typo")
flow.connect("countdown", "tick", "typo", "input")

for issue in flow.validate("countdown"):
    print(issue)
flow.execute("countdown")  # no entry_params: an empty delivery
flow.execute("countdown", {"n": 1})
