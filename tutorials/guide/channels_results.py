"""Results: what handlers return, read by later routines and after the job."""

from routilux import Flow, Routine


class Fetch(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.fetch)
        self.define_event("fetched", ["count"])

    def fetch(self, ids):
        self.emit("fetched", count=len(ids))
        return {"rows": [{"id": i, "price": 10 * i} for i in ids]}


class Price(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.total)
        self.define_slot("log", handler=self.log)

    def total(self, count):
        ctx = self.get_execution_context()
        rows = ctx.get_result("fetch")["rows"]  # what fetch's handler returned
        return sum(row["price"] for row in rows)

    def log(self, count):
        print(f"  log: {count} rows")  # returns None: the result is not changed


flow = Flow(flow_id="results")
flow.add_routine(Fetch(), "fetch")
flow.add_routine(Price(), "price")
flow.connect("fetch", "fetched", "price", "input")
flow.connect("fetch", "fetched", "price", "log")

job = flow.execute("fetch", {"ids": [1, 2, 3]})
print("price:", job.get_result("price"))
print("fetch:", job.get_result("fetch"))
print("missing:", job.get_result("nobody", "n/a"))
print("all:", sorted(job.results))
