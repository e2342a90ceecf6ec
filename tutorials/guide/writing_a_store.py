"""A store of your own: the public store protocol and routilux.documents.

RowStore keeps each job as JSON texts, the way a database would keep rows: a snapshot
that is replaced at each write, history rows and log entries that are only appended
(each write adds what is new since the previous one), and the pending work.
"""

import json
import threading

from routilux import Flow, JobState, Routine
from routilux.documents import (
    RECORD_KINDS,
    PayloadEncoder,
    encode_activations,
    history_since,
    job_document,
    job_snapshot,
    records_since,
)
from routilux.stores import JobStore, check_id


class RowStore(JobStore):
    def __init__(self, every=2):
        self.every = every
        self.lock = threading.Lock()
        self.jobs = {}  # job id -> {"snapshot": text, "history": [text], kind: [text]...}

    # -- the parts of a write (no I/O: the job waits while they are taken) --

    def take(self, job_state, pending, merge_buffers=None):
        with self.lock:
            stored = self.jobs.get(job_state.job_id, {})
            history_written = len(stored.get("history", []))
            lists_written = {kind: len(stored.get(kind, [])) for kind in RECORD_KINDS}
        encode = PayloadEncoder()  # a payload in the history and the queue: encoded once
        # (With a history_limit, rows before the first position returned are gone: a
        # real store keeps positions, as SQLiteStore does.)
        _, rows = history_since(job_state, history_written, encode=encode)
        parts = {
            "snapshot": json.dumps(job_snapshot(job_state, merge_buffers=merge_buffers)),
            "pending": json.dumps(encode_activations(pending, encode=encode)),
            "history": [json.dumps(row) for row in rows],
        }
        for kind in RECORD_KINDS:
            entries = records_since(job_state, kind, lists_written[kind])
            parts[kind] = [json.dumps(entry) for entry in entries]
        return parts

    def put(self, job_id, parts):
        with self.lock:
            stored = self.jobs.setdefault(job_id, {"history": [], **{k: [] for k in RECORD_KINDS}})
            stored["snapshot"] = parts["snapshot"]
            stored["pending"] = parts["pending"]
            for key in ("history", *RECORD_KINDS):
                stored[key] += parts[key]
        print(
            f"  wrote {json.loads(parts['snapshot'])['status']}: "
            f"+{len(parts['history'])} history rows, "
            f"{len(json.loads(parts['pending']))} pending"
        )

    # -- the JobStore protocol --

    def job_started(self, job_state):
        pass  # the first checkpoint, before any activation runs, records the job

    def checkpointer(self, job_state):
        return Checkpointer(self)

    def job_settled(self, job_state):
        # The job is quiet here: its pending work and merge buffers are its own.
        self.put(job_state.job_id, self.take(job_state, job_state.pending_tasks))

    def load(self, job_id):
        check_id(self, "load", "job_id", job_id, optional=False)
        with self.lock:
            stored = self.jobs.get(job_id)
        if stored is None:
            return None
        document = job_document(
            json.loads(stored["snapshot"]),
            [json.loads(row) for row in stored["history"]],
            {kind: [json.loads(entry) for entry in stored[kind]] for kind in RECORD_KINDS},
            json.loads(stored["pending"]),
        )
        return JobState.deserialize(document)

    def unfinished_job_ids(self, flow_id=None):
        check_id(self, "unfinished_job_ids", "flow_id", flow_id, optional=True)
        with self.lock:
            snapshots = [json.loads(stored["snapshot"]) for stored in self.jobs.values()]
        return [
            s["job_id"]
            for s in snapshots
            if s["status"] in ("running", "paused") and flow_id in (None, s["flow_id"])
        ]


class Checkpointer:
    incremental = False  # every checkpoint's pending holds all queued work
    interval = 60.0

    def __init__(self, store):
        self.store = store
        self.every = store.every

    def capture(self, checkpoint):
        job_state = checkpoint.job_state
        pending = [*checkpoint.pending, *checkpoint.delayed]
        parts = self.store.take(job_state, pending, checkpoint.merge_buffers)
        return lambda: self.store.put(job_state.job_id, parts)  # run while the job goes on


class Numbers(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.count)
        self.define_event("output", ["value"])

    def count(self, upto=0):
        for value in range(upto):
            self.emit("output", value=value)


class Collect(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.keep, merge_strategy="append")

    def keep(self, value):
        ctx = self.get_execution_context()
        if value == [0, 1, 2]:
            ctx.flow.pause(ctx.job_state, reason="look")


def build(store):
    flow = Flow(flow_id="rows", store=store)
    flow.add_routine(Numbers(), "numbers")
    flow.add_routine(Collect(), "collect")
    flow.connect("numbers", "output", "collect", "input")
    return flow


store = RowStore(every=2)
print("running:")
job = build(store).execute("numbers", {"upto": 5})
print("status:", job.status, "| unfinished:", store.unfinished_job_ids() == [job.job_id])
loaded = store.load(job.job_id)
print("loaded:", loaded.status, [task["data"] for task in loaded.pending_tasks])
print("same document as serialize():", loaded.serialize() == job.serialize())

print("resumed from the store in a new flow:")
resumed = build(store).resume(loaded, wait=True)
print("status:", resumed.status, "| unfinished:", store.unfinished_job_ids())
print("history rows stored:", len(store.jobs[job.job_id]["history"]))
