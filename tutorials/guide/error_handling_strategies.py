"""Each strategy, on a downstream routine and on the entry routine."""

import logging

from routilux import ErrorHandler, Flow, Routine

logging.getLogger("routilux").setLevel(logging.CRITICAL)


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.send)
        self.define_event("item", ["n"])

    def send(self, fail=False):
        self.emit("item", n=1)  # n=1 makes the parser fail
        if fail:
            raise RuntimeError("source broke")
        self.emit("item", n=2)


class Parser(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.parse)
        self.define_event("parsed", ["n"])

    def parse(self, n):
        if n == 1:
            raise ValueError("cannot parse 1")
        self.emit("parsed", n=n)


class Sink(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=lambda n: n)


def run(label, where):
    flow = Flow(flow_id="strategies")
    routines = {"source": Source(), "parser": Parser(), "sink": Sink()}
    for routine_id, routine in routines.items():
        flow.add_routine(routine, routine_id)
    flow.connect("source", "item", "parser", "input")
    flow.connect("parser", "parsed", "sink", "input")
    failing = "source" if where == "entry" else "parser"
    if label != "none":
        strategy, _, critical = label.partition("+")
        handler = ErrorHandler(strategy, max_retries=1, retry_delay=0, is_critical=bool(critical))
        routines[failing].set_error_handler(handler)
    job = flow.execute("source", {"fail": where == "entry"})
    records = [r.event_name for r in job.get_execution_history(failing)]
    failures = [name for name in records if name in ("error", "error_continued", "retry")]
    state = job.get_routine_state(failing)["status"]
    print(
        f"{label:<14} {where:<10} {job.status:<10} {state:<16} "
        f"{str(failures):<20} {job.get_result('sink')}"
    )


print(f"{'handler':<14} {'failing':<10} {'job':<10} {'routine status':<16} {'records':<20} sink")
for where in ["downstream", "entry"]:
    for label in ["none", "stop", "continue", "skip", "retry", "retry+critical"]:
        run(label, where)
