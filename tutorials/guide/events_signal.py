"""Observing an event's emissions through its blinker signal."""

from routilux import Flow, Routine


class Ticker(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.tick)
        self.define_event("tick", ["n"])

    def tick(self, times):
        for n in range(times):
            self.emit("tick", n=n)


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, n):
        print(f"  sink ran for n={n}")


def observe(sender, *, data, job_state):
    where = "outside a job" if job_state is None else f"job status {job_state.status}"
    print(f"  observer: {type(sender).__name__} emitted {data} ({where})")


ticker = Ticker()
flow = Flow(flow_id="ticks")
flow.add_routine(ticker, "ticker")
flow.add_routine(Sink(), "sink")
flow.connect("ticker", "tick", "sink", "input")

signal = ticker.get_event("tick").signal
signal.connect(observe, weak=False)  # after the flow's connection: called after it
signal.connect(lambda sender, **kwargs: print("  never printed"))  # weak: collected at once

print("In a job:")
flow.execute("ticker", {"times": 2})
print("Outside a job (connected slots run synchronously):")
ticker.emit("tick", n=9)
