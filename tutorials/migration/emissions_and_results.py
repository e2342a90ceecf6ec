"""An activation's emissions take effect when its handler returns: after its result
is recorded, and not at all if the handler raises."""

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine


class Split(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.split)
        self.define_event("part", ["text"])

    def split(self, text=""):
        words = text.split()
        for word in words:
            self.emit("part", text=word)
        return {"words": len(words)}  # the result, recorded before the parts go out


class Part(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, text):
        ctx = self.require_execution_context()
        total = ctx.get_result("split")["words"]
        ctx.get_channel().append("seen", f"{text} (one of {total})")


flow = Flow("results", execution_strategy="concurrent", max_workers=4)
flow.add_routine(Split(), "split")
flow.add_routine(Part(), "part")
flow.connect("split", "part", "part", "input")
for _ in range(50):  # the same every time
    job = flow.execute("split", {"text": "every part knows the total"})
    seen = job.get_shared_data("seen")
    assert job.status == "completed" and len(seen) == 5, (job.status, job.errors)
print(job.status, sorted(seen))


class Flaky(Routine):
    """Emits its attempt number, then fails on the first attempt."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("output", ["attempt"])

    def send(self):
        ctx = self.require_execution_context()
        attempt = ctx.get_channel().increment("attempts")
        self.emit("output", attempt=attempt)
        if attempt == 1:
            raise ConnectionError("lost the connection")


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, attempt):
        self.require_execution_context().get_channel().append("received", attempt)


flaky = Flaky()
flaky.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=0))
flow = Flow("retrying")
flow.add_routine(flaky, "flaky")
flow.add_routine(Sink(), "sink")
flow.connect("flaky", "output", "sink", "input")
job = flow.execute("flaky")
print(f"retried: {job.status}, sink received {job.get_shared_data('received')}")
