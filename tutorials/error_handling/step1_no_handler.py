"""Error handling, step 1: failures without any error handler.

Run it with ``python tutorials/error_handling/step1_no_handler.py``.
"""

from routilux import Flow, Routine


class Orders(Routine):
    """Entry routine: emits each order it is given; fails when there is none."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.place)
        self.define_event("order", ["order_id"])

    def place(self, orders):
        if not orders:
            raise ValueError("no orders given")
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
        print(f"  charged {order_id}")


flow = Flow(flow_id="no_handler")
flow.add_routine(Orders(), "orders")
flow.add_routine(Payment(), "payment")
flow.connect("orders", "order", "payment", "input")

print("A downstream routine fails:")
job = flow.execute("orders", entry_params={"orders": ["A", "B", "C"]})
print(f"Status: {job.status}")
state = job.get_routine_state("payment")
print(f"Payment state: status={state['status']!r}, error={state['error']!r}")
for error in job.errors:
    print(
        f"Error: {error['routine_id']}.{error['slot']} {error['error_type']} ({error['strategy']})"
    )
for record in job.get_execution_history("payment"):
    print(f"History: {record.routine_id} {record.event_name} {record.data}")

print()
print("The entry routine fails:")
job = flow.execute("orders", entry_params={"orders": []})
print(f"Status: {job.status}")
state = job.get_routine_state("orders")
print(f"Orders state: status={state['status']!r}, error={state['error']!r}")
for error in job.errors:
    print(
        f"Error: {error['routine_id']}.{error['slot']} {error['error_type']} ({error['strategy']})"
    )
