"""The execution context: which flow, job and routine id a handler serves."""

import contextvars
import threading

from routilux import Flow, Routine


class Counter(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.count)

    def count(self, items):
        flow, job_state, routine_id = self.get_execution_context()
        # Per-run state lives in the job, not on the routine object.
        job_state.update_routine_state(routine_id, {"count": len(items)})

        # A thread started with a copy of the context still sees the job.
        seen = []
        context = contextvars.copy_context()
        worker = threading.Thread(
            target=context.run, args=(lambda: seen.append(self.get_execution_context()),)
        )
        worker.start()
        worker.join()
        print(f"  in a thread: routine_id={seen[0].routine_id!r}, flow={seen[0].flow.flow_id!r}")
        return len(items)


counter = Counter()
flow = Flow(flow_id="counting")
flow.add_routine(counter, "counter")

first = flow.execute("counter", {"items": [1, 2, 3]})
second = flow.execute("counter", {"items": ["a"]})
print("first job: ", first.get_routine_state("counter")["count"], first.get_result("counter"))
print("second job:", second.get_routine_state("counter")["count"], second.get_result("counter"))
print("outside a job:", counter.get_execution_context())
