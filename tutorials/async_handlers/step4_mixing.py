"""Async handlers, step 4: plain and ``async def`` handlers in one flow, on both runtimes.

Run it with ``python tutorials/async_handlers/step4_mixing.py``.
"""

import asyncio
import threading
import time
from collections import Counter

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine
from routilux.runtimes import AsyncioRuntime, ThreadRuntime


class PriceService:
    """Stands for a remote service; its first answer of each job is lost."""

    async def quote(self, ctx, item):
        await asyncio.sleep(0.01)
        if ctx.get_channel().increment("calls") == 1:
            raise ConnectionError("price service unreachable")
        return {"apple": 0.5, "pear": 0.75, "plum": 0.25}[item]


class Orders(Routine):
    """Entry routine (plain): one order per line."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.split)
        self.define_event("order", ["item", "quantity"])

    def split(self, lines):
        for line in lines:
            quantity, item = line.split()
            self.emit("order", item=item, quantity=int(quantity))


class Price(Routine):
    """Async: asks the price service, which may fail (then the attempt is retried)."""

    def __init__(self, service):
        super().__init__()
        self.service = service
        self.define_slot("input", handler=self.price)
        self.define_event("priced", ["item", "total"])

    async def price(self, item, quantity):
        ctx = self.require_execution_context()
        ctx.get_channel().append("async threads", threading.current_thread().name)
        unit = await self.service.quote(ctx, item)
        self.emit("priced", item=item, total=unit * quantity)


class Invoice(Routine):
    """Plain and blocking (as writing a file is): runs off the event loop."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.write)

    def write(self, item, total):
        time.sleep(0.01)
        channel = self.require_execution_context().get_channel()
        channel.append("plain threads", threading.current_thread().name)
        channel.append("invoices", f"{item}: {total:.2f}")


def build(runtime):
    price = Price(PriceService())
    price.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=0.05))
    flow = Flow(flow_id="orders", runtime=runtime)
    flow.add_routine(Orders(), "orders")
    flow.add_routine(price, "price")
    flow.add_routine(Invoice(), "invoice")
    flow.connect("orders", "order", "price", "input")
    flow.connect("price", "priced", "invoice", "input")
    return flow


lines = ["4 apple", "2 pear", "8 plum"]
seen = []
for runtime in [ThreadRuntime(), AsyncioRuntime()]:
    job = build(runtime).execute("orders", {"lines": lines})
    channel = job.get_channel()
    history = Counter(record.event_name for record in job.get_execution_history())
    loop_threads = set(channel.get("async threads"))
    print(f"{type(runtime).__name__}: {job.status}")
    print(f"  invoices: {sorted(channel.get('invoices'))}")
    print(f"  service calls: {channel.get('calls')}, history: {sorted(history.items())}")
    on_loop = bool(loop_threads & set(channel.get("plain threads")))
    print(f"  plain handlers ran on the loop's thread: {on_loop}")
    seen.append(sorted(channel.get("invoices")))
print(f"Same invoices on both runtimes: {seen[0] == seen[1]}")
