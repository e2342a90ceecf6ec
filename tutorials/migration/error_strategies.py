"""Error handlers govern every routine, not only the entry routine."""

from routilux import ErrorHandler, Flow, Routine


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("output", ["value"])

    def run(self, **kwargs):
        for value in range(3):
            self.emit("output", value=value)


class Picky(Routine):
    """Fails on 1 the first time it sees it."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.work)
        self.seen = set()

    def work(self, value):
        ctx = self.get_execution_context()
        key = (ctx.job_state.job_id, value)
        if value == 1 and key not in self.seen:
            self.seen.add(key)
            raise ValueError("not yet")
        ctx.job_state.append_to_shared_log({"done": value})


def run(handler):
    flow = Flow("strategies")
    flow.add_routine(Numbers(), "numbers")
    picky = Picky()
    picky.set_error_handler(handler)
    flow.add_routine(picky, "picky")
    flow.connect("numbers", "output", "picky", "input")
    job = flow.execute("numbers")
    done = [entry["done"] for entry in job.get_shared_log()]
    return job.status, done


print("RETRY:", *run(ErrorHandler("retry", max_retries=2, retry_delay=0.01)))
print("STOP: ", *run(ErrorHandler("stop")))
print("SKIP: ", *run(ErrorHandler("skip")))
print("none: ", *run(None))
