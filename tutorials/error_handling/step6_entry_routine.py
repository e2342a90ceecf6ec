"""Error handling, step 6: error strategies on the entry routine.

Run it with ``python tutorials/error_handling/step6_entry_routine.py``.
"""

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine


class Orders(Routine):
    """Entry routine: loads the orders from a database that fails the first
    ``failures`` times it is asked."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.load)
        self.define_event("order", ["order_id"])

    def load(self, failures):
        ctx = self.get_execution_context()
        attempt = ctx.get_channel().increment("attempts")
        if attempt <= failures:
            raise ConnectionError(f"database unavailable (attempt {attempt})")
        for order_id in ["A", "B"]:
            self.emit("order", order_id=order_id)


class Payment(Routine):
    """Charges each order."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.charge)

    def charge(self, order_id):
        self.get_execution_context().get_channel().append("charged", order_id)


orders = Orders()
flow = Flow(flow_id="entry_routine")
flow.add_routine(orders, "orders")
flow.add_routine(Payment(), "payment")
flow.connect("orders", "order", "payment", "input")

cases = [
    ("no handler", None, 1),
    ("STOP", ErrorHandler(ErrorStrategy.STOP), 1),
    ("CONTINUE", ErrorHandler(ErrorStrategy.CONTINUE), 1),
    ("SKIP", ErrorHandler(ErrorStrategy.SKIP), 1),
    ("RETRY, fails once", ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=0.05), 1),
    ("RETRY, fails 3 times", ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=0.05), 3),
]
for label, handler, failures in cases:
    orders.set_error_handler(handler)
    job = flow.execute("orders", entry_params={"failures": failures})
    channel = job.get_channel()
    print(f"{label}:")
    print(f"  job status:    {job.status}")
    print(f"  orders status: {job.get_routine_state('orders')['status']}")
    print(f"  attempts:      {channel.get('attempts')}, charged: {channel.get('charged')}")
