"""Async handlers, step 2: the AsyncioRuntime, and ``await flow.execute_async(...)``.

Run it with ``python tutorials/async_handlers/step2_execute_async.py``.
"""

import asyncio
import threading
import time

from routilux import Flow, Routine
from routilux.runtimes import AsyncioRuntime


async def download(url):
    """Stands for an HTTP request: waits 0.2 s without holding a thread."""
    await asyncio.sleep(0.2)
    return len(url)


class Source(Routine):
    """Entry routine (a plain handler): one request per URL."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("url", ["url"])

    def send(self, urls):
        channel = self.require_execution_context().get_channel()
        channel.append("plain threads", threading.current_thread().name)
        for url in urls:
            self.emit("url", url=url)


class Fetcher(Routine):
    """An ``async def`` handler: returns the page's size."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.fetch)

    async def fetch(self, url):
        channel = self.require_execution_context().get_channel()
        channel.append("async threads", threading.current_thread().name)
        channel.append("sizes", await download(url))


def build(runtime):
    flow = Flow(flow_id="crawler", execution_strategy="concurrent", max_workers=4, runtime=runtime)
    flow.add_routine(Source(), "source")
    flow.add_routine(Fetcher(), "fetcher")
    flow.connect("source", "url", "fetcher", "input")
    return flow


urls = ["example.org/a", "example.org/bb", "example.org/ccc", "example.org/dddd"]


async def main():
    flow = build(AsyncioRuntime())
    here = threading.current_thread().name

    ticks = 0

    async def heartbeat():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beating = asyncio.create_task(heartbeat())
    job = await flow.execute_async("source", {"urls": urls})
    beating.cancel()
    channel = job.get_channel()
    print(f"one job: {job.status}, sizes {sorted(channel.get('sizes'))}")
    print(f"  the loop went on meanwhile: {ticks > 0}")
    on_this_thread = set(channel.get("async threads")) == {here}
    print(f"  async handlers ran on this loop's thread: {on_this_thread}")
    plain = channel.get("plain threads")
    print(f"  plain handlers ran in the runtime's threads: {plain[0].startswith('routilux-aio')}")

    # Three jobs side by side, each awaited like any coroutine.
    start = time.monotonic()
    jobs = await asyncio.gather(
        *(flow.execute_async("source", {"urls": urls[:count]}) for count in [1, 2, 3])
    )
    print(f"three jobs: {[job.status for job in jobs]} in {time.monotonic() - start:.1f} s")
    print(f"  pages per job: {[len(job.get_channel().get('sizes')) for job in jobs]}")


asyncio.run(main())

# Outside any event loop, execute() works with the same runtime: it runs the job on an
# event loop of its own, in a thread, and blocks until the job is done.
job = build(AsyncioRuntime()).execute("source", {"urls": urls})
print(f"execute() from plain code: {job.status}, {len(job.get_channel().get('sizes'))} pages")
