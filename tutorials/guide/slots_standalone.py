"""Slots used outside any job: receive() runs the handler at once."""

import logging

from routilux import Routine

logging.getLogger("routilux").setLevel(logging.CRITICAL)  # silence call_handler's log


class Totals(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add, merge_strategy="append")

    def add(self, amount):
        if any(value < 0 for value in amount):
            raise ValueError(f"negative amount in {amount}")
        print(f"  running total {sum(amount)} from {amount}")


totals = Totals()
slot = totals.get_slot("input")
slot.receive({"amount": 5})
slot.receive({"amount": 7})
print("standalone buffer:", slot._data)

try:
    slot.receive({"amount": -1})
except ValueError as exc:
    print("receive() raised:", exc)

slot.call_handler({"amount": 3})  # 0.9's call: the exception is logged, not raised
print("after call_handler:", slot._data)

try:
    slot.receive(["not", "a", "dict"])
except TypeError as exc:
    print(f"{type(exc).__name__}: {exc}")
