"""Error handling, step 2: STOP, CONTINUE and SKIP on a downstream routine.

Run it with ``python tutorials/error_handling/step2_stop_continue_skip.py``.
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
    """Charges each order; the gateway fails for order B."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.charge)

    def charge(self, order_id):
        if order_id == "B":
            raise ConnectionError(f"gateway timed out for {order_id}")
        ctx = self.get_execution_context()
        ctx.get_channel().append("charged", order_id)


payment = Payment()
flow = Flow(flow_id="stop_continue_skip")
flow.add_routine(Orders(), "orders")
flow.add_routine(payment, "payment")
flow.connect("orders", "order", "payment", "input")

for strategy in [ErrorStrategy.STOP, ErrorStrategy.CONTINUE, ErrorStrategy.SKIP]:
    payment.set_error_handler(ErrorHandler(strategy=strategy))
    job = flow.execute("orders", entry_params={"orders": ["A", "B", "C"]})
    records = [r.event_name for r in job.get_execution_history("payment")]
    print(f"{strategy.name}:")
    print(f"  job status:     {job.status}")
    print(f"  charged:        {job.get_channel().get('charged')}")
    print(f"  payment status: {job.get_routine_state('payment')['status']}")
    print(f"  history:        {records}")
    print(f"  errors:         {[e['strategy'] for e in job.errors]}")
