"""Concurrent execution, step 3: many jobs on one flow, started from several threads.

Run it with ``python tutorials/concurrency/step3_many_jobs.py``.
"""

import time
from concurrent.futures import ThreadPoolExecutor

from routilux import Flow, Routine

CARTS = {
    "ada": [("book", 12.5), ("pen", 1.5)],
    "bob": [("lamp", 30.0)],
    "cy": [("cup", 4.0), ("tea", 6.0), ("honey", 8.0)],
    "dee": [],
}


class Cart(Routine):
    """Entry routine: emits each line of a customer's cart."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.checkout)
        self.define_event("line", ["product", "price"])

    def checkout(self, customer, lines):
        ctx = self.get_execution_context()
        ctx.get_channel().set("customer", customer)
        for product, price in lines:
            self.emit("line", product=product, price=price)


class Pricer(Routine):
    """Adds each line to the job's totals (atomic channel operations)."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add)

    def add(self, product, price):
        time.sleep(0.02)  # some work, so that jobs overlap
        channel = self.get_execution_context().get_channel()
        channel.increment("items")
        channel.increment("total", price)


flow = Flow(flow_id="checkout", execution_strategy="concurrent", max_workers=4)
flow.add_routine(Cart(), "cart")
flow.add_routine(Pricer(), "pricer")
flow.connect("cart", "line", "pricer", "input")


def checkout(customer):
    return flow.execute("cart", entry_params={"customer": customer, "lines": CARTS[customer]})


with ThreadPoolExecutor(max_workers=4) as pool:
    jobs = dict(zip(CARTS, pool.map(checkout, CARTS)))

for customer, job in sorted(jobs.items()):
    channel = job.get_channel()
    print(
        f"{customer}: {job.status}, job's customer={channel.get('customer')!r}, "
        f"items={channel.get('items', 0)}, total={channel.get('total', 0)}"
    )
print(f"Four different jobs: {len({job.job_id for job in jobs.values()}) == 4}")
