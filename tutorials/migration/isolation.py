"""Each execute() is an isolated job: merge buffers and retry counts start afresh."""

from routilux import ErrorHandler, Flow, Routine


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["value"])

    def run(self, count=3, **kwargs):
        for value in range(count):
            self.emit("output", value=value)


class Collect(Routine):
    """Its slot appends: the handler sees every value received so far."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.collect, merge_strategy="append")

    def collect(self, value):
        ctx = self.get_execution_context()
        ctx.job_state.update_routine_state(ctx.routine_id, {"values": list(value)})


class Flaky(Routine):
    """Fails the first time it sees each job, then succeeds."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.work)

    def work(self, value):
        ctx = self.get_execution_context()
        if not ctx.job_state.get_shared_data("failed_once"):
            ctx.job_state.update_shared_data("failed_once", True)
            raise RuntimeError("first attempt fails")


flow = Flow("isolation")
flow.add_routine(Numbers(), "numbers")
flow.add_routine(Collect(), "collect")
flaky = Flaky()
flaky.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=0.01))
flow.add_routine(flaky, "flaky")
flow.connect("numbers", "output", "collect", "input")
flow.connect("numbers", "output", "flaky", "input")

first = flow.execute("numbers", {"count": 3})
second = flow.execute("numbers", {"count": 2})
print("first job collected: ", first.get_routine_state("collect")["values"])
print("second job collected:", second.get_routine_state("collect")["values"])
print("both retried and completed:", first.status, second.status)
