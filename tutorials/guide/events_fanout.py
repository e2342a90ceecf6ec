"""Fan-out in connect order, parameter mapping, and what the history records."""

from routilux import Flow, Routine


class Orders(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("order", ["id", "total"])

    def send(self, orders):
        for order_id, total in orders:
            self.emit("order", id=order_id, total=total)
        print("  send() returned; nothing downstream has run yet")


class Printer(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, **data):
        print(f"  {self.get_execution_context().routine_id} got {data}")


flow = Flow(flow_id="orders")
flow.add_routine(Orders(), "orders")
flow.add_routine(Printer(), "billing")
flow.add_routine(Printer(), "audit")
flow.connect("orders", "order", "billing", "input", param_mapping={"total": "amount"})
flow.connect("orders", "order", "audit", "input")

job = flow.execute("orders", {"orders": [("A1", 30), ("A2", 12)]})
print("History (data as emitted, before any mapping):")
for record in job.get_execution_history():
    print(f"  {record.routine_id}.{record.event_name} {record.data}")
