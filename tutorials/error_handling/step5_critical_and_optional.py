"""Error handling, step 5: critical and optional routines.

Run it with ``python tutorials/error_handling/step5_critical_and_optional.py``.
"""

from routilux import Flow, Routine


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


payment = Payment()
receipt = Receipt()
# Payment must succeed: retry it, and fail the job when the retries run out.
payment.set_as_critical(max_retries=2, retry_delay=0.05)
# A receipt is nice to have: record its failures and go on.
receipt.set_as_optional()
print(f"payment: {payment.get_error_handler()}")
print(f"receipt: {receipt.get_error_handler()}")

flow = Flow(flow_id="critical_and_optional")
flow.add_routine(Orders(), "orders")
flow.add_routine(payment, "payment")
flow.add_routine(receipt, "receipt")
flow.connect("orders", "order", "payment", "input")
flow.connect("payment", "paid", "receipt", "input")

for orders in [["A", "C"], ["A", "B", "C"]]:
    print(f"Orders {orders}:")
    job = flow.execute("orders", entry_params={"orders": orders})
    print(f"  job status:     {job.status}")
    print(f"  charged:        {job.get_channel().get('charged')}")
    for routine_id in ["payment", "receipt"]:
        state = job.get_routine_state(routine_id) or {}
        print(f"  {routine_id + ' status:':15} {state.get('status', '-')}")
    for error in job.errors:
        print(
            f"  error:          {error['routine_id']} {error['error_type']} ({error['strategy']})"
        )
