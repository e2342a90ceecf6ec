"""Bad input fails at the call that caused it, with an exception that names it."""

from routilux import Flow, Routine
from routilux.exceptions import InvalidPayloadError, MissingTriggerSlotError


class NoTrigger(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=lambda **kwargs: None)


flow = Flow("checks")
flow.add_routine(NoTrigger(), "worker")

try:
    flow.execute("worker")
except MissingTriggerSlotError as error:
    print(type(error).__name__, "(a ValueError):", error)

try:
    flow.execute("worker", ["not", "a", "dict"])
except InvalidPayloadError as error:
    print(type(error).__name__, "(a TypeError):", error)

try:
    flow.connect("worker", "output", "nowhere", "input")
except ValueError as error:
    print(type(error).__name__, ":", error)
