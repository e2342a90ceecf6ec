"""Error handling, step 7: a flow-level handler, and routine handlers that override it.

Run it with ``python tutorials/error_handling/step7_flow_level.py``.
"""

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine


class Orders(Routine):
    """Entry routine: emits each order it is given."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.place)
        self.define_event("order", ["order_id"])

    def place(self, orders):
        for order_id in orders:
            self.emit("order", order_id=order_id)


class Payment(Routine):
    """Charges each order and passes it on; the gateway is down for order B."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.charge)
        self.define_event("paid", ["order_id"])

    def charge(self, order_id):
        if order_id == "B":
            raise ConnectionError("gateway down")
        self.get_execution_context().get_channel().append("charged", order_id)
        self.emit("paid", order_id=order_id)


class Receipt(Routine):
    """Mails a receipt; the mail server refuses everything."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.send)

    def send(self, order_id):
        raise OSError("mail server refused the connection")


receipt = Receipt()
flow = Flow(flow_id="flow_level")
flow.add_routine(Orders(), "orders")
flow.add_routine(Payment(), "payment")
flow.add_routine(receipt, "receipt")
flow.connect("orders", "order", "payment", "input")
flow.connect("payment", "paid", "receipt", "input")

# Every routine without a handler of its own stops the job when it fails ...
flow.set_error_handler(ErrorHandler(ErrorStrategy.STOP))
# ... but receipts have their own handler, which wins.
receipt.set_as_optional()

for orders in [["A", "C"], ["A", "B", "C"]]:
    print(f"Orders {orders}:")
    job = flow.execute("orders", entry_params={"orders": orders})
    print(f"  job status: {job.status}")
    print(f"  charged:    {job.get_channel().get('charged')}")
    for error in job.errors:
        print(f"  error:      {error['routine_id']} {error['error_type']} ({error['strategy']})")
