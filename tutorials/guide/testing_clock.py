"""ManualClock: retries with backoff, without waiting for their delays."""

from routilux import ErrorHandler, Flow, Routine
from routilux.testing import ManualClock, run_routine


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("output", ["value"])

    def send(self):
        self.emit("output", value=1)


class Flaky(Routine):
    """Fails the first ``failures`` times (a service that is down), then succeeds."""

    def __init__(self, failures=3):
        super().__init__()
        self.failures = failures
        self.define_slot("input", handler=self.call)
        self.define_event("output", ["value"])
        # Waits of 10, 20, 40 seconds: a real run would take 70 s.
        self.set_error_handler(
            ErrorHandler("retry", max_retries=3, retry_delay=10, retry_backoff=2)
        )

    def call(self, value):
        attempt = self.require_execution_context().get_channel().increment("attempts")
        if attempt <= self.failures:
            raise ConnectionError(f"down (attempt {attempt})")
        self.emit("output", value=value)


def build(clock):
    flow = Flow(flow_id="flaky", runtime=clock)
    flow.add_routine(Source(), "source")
    flow.add_routine(Flaky(), "flaky")
    flow.connect("source", "output", "flaky", "input")
    return flow


# auto_advance: every delay passes at once; the clock tells what was asked for.
clock = ManualClock(auto_advance=True)
job = build(clock).execute("source")
print("auto:", job.status, "delays:", clock.delays, "clock:", clock.now)
clock.shutdown()

# Step by step: start the job without waiting, and advance the clock yourself.
clock = ManualClock()
job = build(clock).execute("source", wait=False)
for _ in range(3):
    clock.wait_for_pending()  # the retry is scheduled (the job runs in its own threads)
    print(f"  at {clock.now}: retry due at {clock.pending}")
    clock.advance(5)
    print(f"  at {clock.now}: still pending {clock.pending}")
    clock.advance(clock.pending[0] - clock.now)  # to the due time: the retry runs
job.wait_for_completion(timeout=10)
print("manual:", job.status, "attempts:", job.get_channel().get("attempts"), "clock:", clock.now)
clock.shutdown()

# run_routine takes a runtime too.
clock = ManualClock(auto_advance=True)
run = run_routine(Flaky(failures=2), "input", {"value": 7}, runtime=clock)
print("run_routine:", run.status, run.emitted("output"), "delays:", clock.delays)
clock.shutdown()
