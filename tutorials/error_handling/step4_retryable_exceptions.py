"""Error handling, step 4: which exceptions RETRY retries, and running out of retries.

Run it with ``python tutorials/error_handling/step4_retryable_exceptions.py``.
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
    """The gateway is down for order B; order X has an invalid card."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.charge)

    def charge(self, order_id):
        ctx = self.get_execution_context()
        attempt = ctx.get_channel().increment(f"attempts {order_id}")
        if order_id == "B":
            print(f"  {order_id}: attempt {attempt} failed (gateway down)")
            raise ConnectionError("gateway down")
        if order_id == "X":
            print(f"  {order_id}: attempt {attempt} failed (invalid card)")
            raise ValueError("invalid card")
        ctx.get_channel().append("charged", order_id)


payment = Payment()
payment.set_error_handler(
    ErrorHandler(
        strategy=ErrorStrategy.RETRY,
        max_retries=2,
        retry_delay=0.05,
        retryable_exceptions=(ConnectionError, TimeoutError),
    )
)

flow = Flow(flow_id="retryable_exceptions")
flow.add_routine(Orders(), "orders")
flow.add_routine(payment, "payment")
flow.connect("orders", "order", "payment", "input")

for orders in [["A", "B", "C"], ["A", "X", "C"]]:
    print(f"Orders {orders}:")
    job = flow.execute("orders", entry_params={"orders": orders})
    print(f"  job status:     {job.status}")
    print(f"  charged:        {job.get_channel().get('charged')}")
    print(f"  payment status: {job.get_routine_state('payment')['status']}")
    for error in job.errors:
        print(f"  error:          {error['error_type']} after {error['attempt']} retries")
