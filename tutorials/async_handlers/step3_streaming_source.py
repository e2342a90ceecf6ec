"""Async handlers, step 3: a streaming source with ``emit_now`` and a queue bound.

Run it with ``python tutorials/async_handlers/step3_streaming_source.py``.
"""

from routilux import Flow, Routine
from routilux.exceptions import QueueFullError


def read_lines(count):
    """Stands for reading a large file, one line at a time."""
    for number in range(count):
        yield f"line {number}"


class Reader(Routine):
    """Entry routine: hands on each line of the file (``emit`` or ``emit_now``)."""

    def __init__(self, streaming):
        super().__init__()
        self.streaming = streaming
        self.define_slot("trigger", handler=self.read)
        self.define_event("line", ["text"])

    def read(self, count):
        channel = self.require_execution_context().get_channel()
        emit = self.emit_now if self.streaming else self.emit
        try:
            for text in read_lines(count):
                emit("line", text=text)
                channel.increment("read")
        except QueueFullError as exc:
            print(f"  the reader stopped: {type(exc).__name__}: {exc}")
        return {"lines": channel.get("read")}


class AsyncReader(Routine):
    """The same reader as an ``async def`` handler: it awaits ``emit_now_async``."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.read)
        self.define_event("line", ["text"])

    async def read(self, count):
        channel = self.require_execution_context().get_channel()
        for text in read_lines(count):
            await self.emit_now_async("line", text=text)  # waits for room, if bounded
            channel.increment("read")
        return {"lines": channel.get("read")}


class Counter(Routine):
    """Counts the lines, noting how many were still waiting and what it could read."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.count)

    def count(self, text):
        ctx = self.require_execution_context()
        channel = ctx.get_channel()
        counted = channel.increment("counted")
        waiting = channel.get("read") - counted  # handed on, not counted yet
        channel.set("most waiting", max(waiting, channel.get("most waiting", 0)))
        if counted == 1:
            channel.set("first saw a result", ctx.get_result("reader") is not None)


def run(title, reader, **options):
    print(f"{title}:")
    # Each handed-on line is a history record: keep only the newest 100.
    flow = Flow(flow_id="lines", history_limit=100, **options)
    flow.add_routine(reader, "reader")
    flow.add_routine(Counter(), "counter")
    flow.connect("reader", "line", "counter", "input")
    job = flow.execute("reader", {"count": 5_000})
    channel = job.get_channel()
    print(f"  {job.status}: read {channel.get('read')}, counted {channel.get('counted')}")
    print(f"  most lines waiting at once: {channel.get('most waiting')}")
    print(f"  the first line could read the reader's result: {channel.get('first saw a result')}")


run("emit", Reader(streaming=False))
run("emit_now", Reader(streaming=True))
run("emit_now, queue_bound=100", Reader(streaming=True), queue_bound=100)
run("emit, queue_bound=100", Reader(streaming=False), queue_bound=100)
run(
    'emit_now, queue_bound=100, on_full="raise"',
    Reader(streaming=True),
    queue_bound=100,
    on_full="raise",
)
run("async reader, emit_now_async, queue_bound=100", AsyncReader(), queue_bound=100)
