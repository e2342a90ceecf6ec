"""RETRY: backoff delays, the retry records, and a retried append slot."""

import time

from routilux import ErrorHandler, Flow, Routine


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("chunk", ["size"])

    def send(self):
        self.emit("chunk", size=10)


class Uploader(Routine):
    """Fails twice (a flaky service), then succeeds."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.upload, merge_strategy="append")

    def upload(self, size):
        ctx = self.get_execution_context()
        attempts = ctx.get_channel().increment("attempts")
        print(f"  attempt {attempts} at {time.perf_counter() - STARTED:.1f} s, received {size}")
        if attempts < 3:
            raise ConnectionError("service unavailable")
        return "uploaded"


handler = ErrorHandler(
    "retry",
    max_retries=3,
    retry_delay=0.1,
    retry_backoff=2.0,
    retryable_exceptions=[ConnectionError, TimeoutError],
)
print("delays:", [handler.retry_delay_for(n) for n in (1, 2, 3)])

flow = Flow(flow_id="retries")
flow.add_routine(Source(), "source")
uploader = Uploader()
uploader.set_error_handler(handler)
flow.add_routine(uploader, "uploader")
flow.connect("source", "chunk", "uploader", "input")

STARTED = time.perf_counter()
job = flow.execute("source")
print("status:", job.status, "result:", job.get_result("uploader"))
for record in job.get_execution_history("uploader"):
    print(f"  {record.event_name}: attempt {record.data['attempt']}, delay {record.data['delay']}")
print("errors:", job.errors)
