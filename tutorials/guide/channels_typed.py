"""Typed channels: values checked against a TypedDict, deeply."""

from typing import Literal, TypedDict

from routilux import Flow, Routine
from routilux.exceptions import ChannelTypeError


class Line(TypedDict):
    sku: str
    quantity: int


class _Required(TypedDict):
    id: str
    status: Literal["new", "paid"]
    lines: list[Line]


class Order(_Required, total=False):
    note: str  # optional (NotRequired[str] works too on Python 3.11+)


class Checkout(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.checkout)

    def checkout(self, order_id):
        ctx = self.get_execution_context()
        orders = ctx.get_typed_channel(Order)
        orders.set(
            "current", {"id": order_id, "status": "new", "lines": [{"sku": "A", "quantity": 2}]}
        )
        print("stored:", orders.get("current"))
        for bad in [
            {"id": order_id, "status": "shipped", "lines": []},
            {"id": order_id, "status": "new", "lines": [{"sku": "B", "quantity": "two"}]},
            {"id": order_id, "status": "new"},
            {"id": order_id, "status": "new", "lines": [], "discount": 5},
        ]:
            try:
                orders.set("current", bad)
            except ChannelTypeError as exc:
                print("refused:", exc)
        ctx.get_channel().set("current", {"id": 7})  # the plain channel does not check
        try:
            orders.get("current")
        except ChannelTypeError as exc:
            print("get refused:", exc)
        print("missing key:", orders.get("other", None))


flow = Flow(flow_id="typed")
flow.add_routine(Checkout(), "checkout")
flow.execute("checkout", {"order_id": "O-1"})
