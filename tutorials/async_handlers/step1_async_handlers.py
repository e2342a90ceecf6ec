"""Async handlers, step 1: ``async def`` handlers under the default runtime.

Run it with ``python tutorials/async_handlers/step1_async_handlers.py``.
"""

import asyncio
import threading
import time

from routilux import Flow, Routine


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
        for url in urls:
            self.emit("url", url=url)


class Fetcher(Routine):
    """An ``async def`` handler: awaits the download, then hands the page on."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.fetch)
        self.define_event("page", ["url", "size"])

    async def fetch(self, url):
        ctx = self.require_execution_context()  # works in async handlers too
        channel = ctx.get_channel()
        channel.append("threads", threading.current_thread().name)
        start = time.monotonic()
        size = await download(url)
        channel.append("spans", (start, time.monotonic()))
        self.emit("page", url=url, size=size)


class Index(Routine):
    """A plain handler downstream of the async one."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.add)

    def add(self, url, size):
        channel = self.require_execution_context().get_channel()
        channel.append("plain threads", threading.current_thread().name)
        channel.append("index", f"{url}={size}")


def most_at_once(spans):
    """The largest number of spans that overlap."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


flow = Flow(flow_id="crawler", max_workers=4)
flow.add_routine(Source(), "source")
flow.add_routine(Fetcher(), "fetcher")
flow.add_routine(Index(), "index")
flow.connect("source", "url", "fetcher", "input")
flow.connect("fetcher", "page", "index", "input")

urls = ["example.org/a", "example.org/bb", "example.org/ccc", "example.org/dddd"]
for strategy in ["sequential", "concurrent"]:
    start = time.monotonic()
    job = flow.execute("source", {"urls": urls}, execution_strategy=strategy)
    elapsed = time.monotonic() - start
    channel = job.get_channel()
    spans = channel.get("spans")
    peak = most_at_once(spans)
    print(f"{strategy}: {job.status}, {len(spans)} downloads, at most {peak} at once")
    print(f"  took {elapsed:.1f} s")
    print(f"  async handlers ran in: {sorted(set(channel.get('threads')))}")
    if strategy == "sequential":
        print(f"  plain handlers ran in: {sorted(set(channel.get('plain threads')))}")
    print(f"  indexed: {sorted(channel.get('index'))}")
