"""Error handling, step 3: RETRY with backoff.

Run it with ``python tutorials/error_handling/step3_retry.py``.
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


class FlakyPayment(Routine):
    """The gateway times out on the first two attempts for order B."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.charge)

    def charge(self, order_id):
        ctx = self.get_execution_context()
        attempt = ctx.get_channel().increment(f"attempts {order_id}")
        if order_id == "B" and attempt <= 2:
            print(f"  {order_id}: attempt {attempt} failed")
            raise ConnectionError(f"gateway timed out for {order_id}")
        print(f"  {order_id}: attempt {attempt} charged")


payment = FlakyPayment()
payment.set_error_handler(
    ErrorHandler(
        strategy=ErrorStrategy.RETRY,
        max_retries=3,
        retry_delay=0.05,  # seconds before the first retry
        retry_backoff=2.0,  # each further retry waits twice as long
    )
)

flow = Flow(flow_id="retry")  # the sequential strategy: one activation at a time
flow.add_routine(Orders(), "orders")
flow.add_routine(payment, "payment")
flow.connect("orders", "order", "payment", "input")

job = flow.execute("orders", entry_params={"orders": ["A", "B", "C", "D"]})
print(f"Status: {job.status}")
print(f"Errors: {job.errors}")
for record in job.get_execution_history("payment"):
    data = record.data
    print(f"History: {record.event_name}, attempt={data['attempt']}, delay={data['delay']}")
