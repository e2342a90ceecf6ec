"""Where plain and ``async def`` handlers run, on each runtime and for each way of
starting a job."""

import asyncio
import threading

from routilux import Flow, Routine
from routilux.runtimes import AsyncioRuntime, ThreadRuntime


def where():
    """Which kind of thread this is (this script calls from its main thread)."""
    thread = threading.current_thread()
    if thread is threading.main_thread():
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return "the caller's thread"
        return "the caller's event loop"
    if thread.name in ("routilux-async", "routilux-aio-loop"):
        return "the runtime's loop thread"
    return "a pool thread"


class Plain(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("done")

    def run(self):
        self.require_execution_context().get_channel().set("plain", where())
        self.emit("done")


class Async(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.run)

    async def run(self):
        await asyncio.sleep(0)
        self.require_execution_context().get_channel().set("async", where())


def build(runtime):
    flow = Flow(runtime=runtime)  # the sequential strategy
    flow.add_routine(Plain(), "plain")
    flow.add_routine(Async(), "async")
    flow.connect("plain", "done", "async", "input")
    return flow


def show(label, job):
    channel = job.get_channel()
    print(f"{label}: {job.status}")
    print(f"  plain handler: {channel.get('plain')}")
    print(f"  async handler: {channel.get('async')}")


for runtime in [ThreadRuntime(), AsyncioRuntime()]:
    name = type(runtime).__name__
    flow = build(runtime)
    show(f"{name}, execute()", flow.execute("plain"))
    show(f"{name}, await execute_async()", asyncio.run(flow.execute_async("plain")))
