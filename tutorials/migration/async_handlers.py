"""An ``async def`` handler is awaited (0.9 called it and never awaited the coroutine,
so it never ran)."""

import asyncio

from routilux import Flow, Routine


class Fetcher(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.fetch)
        self.define_event("page", ["url", "size"])

    async def fetch(self, urls=()):
        for url in urls:
            await asyncio.sleep(0)  # stands for real I/O
            self.emit("page", url=url, size=len(url))
        ctx = self.require_execution_context()
        return f"{len(urls)} pages for job of flow {ctx.flow.flow_id!r}"


class Printer(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.show)

    def show(self, url, size):
        print(f"  {url}: {size}")


flow = Flow("fetching")
flow.add_routine(Fetcher(), "fetcher")
flow.add_routine(Printer(), "printer")
flow.connect("fetcher", "page", "printer", "input")
job = flow.execute("fetcher", {"urls": ["a.example/1", "b.example/22"]})
print(job.status, "|", job.get_result("fetcher"))
