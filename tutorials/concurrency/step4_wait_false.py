"""Concurrent execution, step 4: starting jobs without waiting for them.

Run it with ``python tutorials/concurrency/step4_wait_false.py``.
"""

import time

from routilux import Flow, Routine


class Report(Routine):
    """Entry routine: "builds" a report (sleeps 0.2 s) and stores its title."""

    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.build)

    def build(self, title):
        time.sleep(0.2)
        self.get_execution_context().get_channel().set("report", f"Report: {title}")


flow = Flow(flow_id="reports")
flow.add_routine(Report(), "report")

# wait=False returns at once, with the job running in the flow's worker threads.
job = flow.execute("report", entry_params={"title": "Q1"}, wait=False)
print(f"Right after execute: {job.status}")
print(f"Finished within 5 s: {job.wait_for_completion(timeout=5)}")
print(f"After waiting: {job.status}, {job.get_channel().get('report')!r}")

# Several jobs at once; flow.wait_for_completion() waits until none is in progress.
start = time.monotonic()
jobs = [
    flow.execute("report", entry_params={"title": title}, wait=False)
    for title in ["Q2", "Q3", "Q4"]
]
print(f"Statuses after starting: {[j.status for j in jobs]}")
print(f"All finished within 5 s: {flow.wait_for_completion(timeout=5)}")
print(f"Built side by side (under 0.5 s, not 3 x 0.2 s): {time.monotonic() - start < 0.5}")
print(f"Statuses after waiting: {[j.status for j in jobs]}")
print(f"Reports: {[j.get_channel().get('report') for j in jobs]}")
