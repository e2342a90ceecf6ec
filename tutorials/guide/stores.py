"""The default MemoryStore, a SQLiteStore's view of a job, and a custom store."""

import tempfile
from pathlib import Path

from routilux import Flow, Routine
from routilux.stores import JobStore, MemoryStore, SQLiteStore


class Step(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.step)

    def step(self, pause=False):
        ctx = self.get_execution_context()
        ctx.job_state.update_shared_data("stepped", True)
        if pause:
            ctx.flow.pause(ctx.job_state, reason="later")


def build(store=None):
    flow = Flow(flow_id="stored", store=store)
    flow.add_routine(Step(), "step")
    return flow


flow = build()
print("default store:", type(flow.store).__name__)
paused = flow.execute("step", {"pause": True})
done = flow.execute("step")
print("unfinished:", flow.store.unfinished_job_ids("stored") == [paused.job_id])
print(
    "live object:",
    flow.store.get(paused.job_id) is paused,
    "| finished one:",
    flow.store.get(done.job_id),
)


class PrintingStore(JobStore):
    """A store that only reports what the engine tells it (not durable)."""

    def __init__(self):
        self.memory = MemoryStore()

    def job_started(self, job_state):
        print(f"  job_started: {job_state.status}")
        self.memory.job_started(job_state)

    def job_settled(self, job_state):
        print(f"  job_settled: {job_state.status}")
        self.memory.job_settled(job_state)

    def load(self, job_id):
        return self.memory.load(job_id)

    def unfinished_job_ids(self, flow_id=None):
        return self.memory.unfinished_job_ids(flow_id)


print("custom store:")
flow = build(PrintingStore())
job = flow.execute("step", {"pause": True})
flow.resume(job, wait=True)

with tempfile.TemporaryDirectory() as folder:
    store = SQLiteStore(Path(folder) / "jobs.db", checkpoint_every=100, checkpoint_interval=1.0)
    job = build(store).execute("step", {"pause": True})
    document = store.document(job.job_id)
    print("sqlite document:", document["format"], document["status"], document["shared_data"])
    loaded = store.load(job.job_id)
    print("sqlite load:", loaded is job, loaded.status, store.unfinished_job_ids())
    store.close()
