"""Concurrent execution, step 2: the concurrent strategy, and choosing it per call.

Run it with ``python tutorials/concurrency/step2_concurrent.py``.
"""

import time

from routilux import Flow, Routine


class Source(Routine):
    """Entry routine: emits one request per URL."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("url", ["url"])

    def send(self, urls):
        for url in urls:
            self.emit("url", url=url)


class Fetcher(Routine):
    """Pretends to fetch a URL: sleeps 0.1 s, as a handler waiting on I/O would."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.fetch)

    def fetch(self, url):
        start = time.monotonic()
        time.sleep(0.1)
        span = (start, time.monotonic())
        self.get_execution_context().get_channel().append("spans", span)


def most_at_once(spans):
    """The largest number of spans that overlap."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


flow = Flow(flow_id="fetch", max_workers=3)  # the strategy is "sequential" by default
flow.add_routine(Source(), "source")
flow.add_routine(Fetcher(), "fetcher")
flow.connect("source", "url", "fetcher", "input")

urls = [f"https://example.org/page/{n}" for n in range(6)]
elapsed = {}
for strategy in ["sequential", "concurrent"]:
    start = time.monotonic()
    job = flow.execute("source", entry_params={"urls": urls}, execution_strategy=strategy)
    elapsed[strategy] = time.monotonic() - start
    spans = job.get_channel().get("spans")
    print(f"{strategy}: {job.status}, {len(spans)} fetches, at most {most_at_once(spans)} at once")
    print(f"  took {elapsed[strategy]:.1f} s")

print(f"Concurrent was faster: {elapsed['concurrent'] < elapsed['sequential']}")
print(f"The flow's own strategy is still: {flow.execution_strategy}")
