"""Shared data and the shared log of a job."""

from routilux import Flow, Routine


class Collector(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.collect)

    def collect(self, words):
        job_state = self.get_execution_context().job_state
        for word in words:
            seen = job_state.get_shared_data("seen", [])
            job_state.update_shared_data("seen", [*seen, word])
            job_state.append_to_shared_log({"event": "collected", "word": word})
        job_state.append_to_shared_log({"event": "done", "timestamp": "kept as given"})


flow = Flow(flow_id="shared")
flow.add_routine(Collector(), "collector")
job = flow.execute("collector", {"words": ["alpha", "beta"]})

print("shared_data:", job.shared_data)
print("get_shared_data('missing', 0):", job.get_shared_data("missing", 0))
for entry in job.shared_log:
    print("log:", entry)
done = job.get_shared_log(lambda entry: entry["event"] == "done")
print("filtered:", done)
