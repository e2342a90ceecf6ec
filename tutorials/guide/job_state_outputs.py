"""Outputs: send_output, the output log and output handlers."""

import logging
import queue
import warnings

from routilux import CallbackOutputHandler, Flow, OutputHandler, QueueOutputHandler, Routine
from routilux.exceptions import NoExecutionContextError

logging.getLogger("routilux").setLevel(logging.CRITICAL)


class Reporter(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.report)

    def report(self, items):
        for item in items:
            self.send_output("progress", item=item)
        self.send_output("summary", count=len(items))


flow = Flow(flow_id="outputs")
reporter = Reporter()
flow.add_routine(reporter, "reporter")

outputs = queue.Queue()
job = flow.execute("reporter", {"items": ["a", "b"]}, output_handler=QueueOutputHandler(outputs))
while not outputs.empty():
    entry = outputs.get()
    print("queue:", entry["routine_id"], entry["output_type"], entry["data"])
print("output_log:", [(entry["output_type"], entry["data"]) for entry in job.output_log])


def callback(job_id, routine_id, output_type, data, timestamp):
    print("callback:", output_type, data, type(timestamp).__name__)


flow.execute("reporter", {"items": ["c"]}, output_handler=CallbackOutputHandler(callback))


class Broken(OutputHandler):
    def handle(self, job_id, routine_id, output_type, data, timestamp=None):
        raise OSError("disk full")


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    job = flow.execute("reporter", {"items": ["d"]}, output_handler=Broken())
print("with a failing handler:", job.status, len(job.output_log), "outputs logged")
print("warning:", caught[0].category.__name__, caught[0].message)

try:
    reporter.send_output("progress", item="outside")
except NoExecutionContextError as exc:
    print("outside a job:", type(exc).__name__)
