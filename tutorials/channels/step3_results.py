"""Channels and results, step 3: what handlers return.

Run it with ``python tutorials/channels/step3_results.py``.
"""

from routilux import Flow, Routine


class Fetch(Routine):
    """Entry routine: 'fetches' some orders, emits each, returns a description."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.fetch)
        self.define_event("order", ["order_id", "amount"])

    def fetch(self, source):
        orders = [("A-1", 30), ("A-2", 45), ("A-3", 25)]
        for order_id, amount in orders:
            self.emit("order", order_id=order_id, amount=amount)
        return {"source": source, "count": len(orders)}


class Price(Routine):
    """Returns a result for every order; the job keeps the last one."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.price)
        self.define_event("priced", ["order_id", "total"])

    def price(self, order_id, amount):
        total = amount + 5  # shipping
        self.emit("priced", order_id=order_id, total=total)
        return {"order_id": order_id, "total": total}


class Report(Routine):
    """Collects the priced orders; when all have arrived, returns a report built from
    its own input and the result of ``fetch``."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.report, merge_strategy="append")

    def report(self, order_id, total):
        fetched = self.get_execution_context().get_result("fetch")
        if len(order_id) < fetched["count"]:
            return None  # not all orders yet: None is no result
        return f"{fetched['count']} orders from {fetched['source']}: {sum(total)}"


flow = Flow(flow_id="orders")
flow.add_routine(Fetch(), "fetch")
flow.add_routine(Price(), "price")
flow.add_routine(Report(), "report")
flow.connect("fetch", "order", "price", "input")
flow.connect("price", "priced", "report", "input")

job = flow.execute("fetch", entry_params={"source": "shop-eu"})
print(f"Status: {job.status}")
print("fetch: ", job.get_result("fetch"))
print("price: ", job.get_result("price"))
print("report:", job.get_result("report"))
print("unknown:", job.get_result("audit", "no result"))
print("All results:", sorted(job.results))
