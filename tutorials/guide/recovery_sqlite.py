"""Recovering a job after its process died, with the SQLite store."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from routilux import Flow, Routine
from routilux.stores import SQLiteStore


class Feed(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("record", ["n"])

    def feed(self, count):
        for n in range(count):
            self.emit("record", n=n)


class Loader(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.load)

    def load(self, n):
        if n == 3 and os.environ.get("CRASH_AT_3"):
            print(f"  loading {n}... the process dies", flush=True)
            os._exit(1)  # no cleanup, no final save: like a kill -9
        print(f"  loaded {n}", flush=True)
        self.get_execution_context().get_channel().append("loaded", n)


def build(store):
    flow = Flow(flow_id="loader", store=store)
    flow.add_routine(Feed(), "feed")
    flow.add_routine(Loader(), "loader")
    flow.connect("feed", "record", "loader", "input")
    return flow


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        store = SQLiteStore(sys.argv[2], checkpoint_every=1)
        build(store).execute("feed", {"count": 5})
    else:
        with tempfile.TemporaryDirectory() as folder:
            database = str(Path(folder) / "jobs.db")
            print("first process:")
            crashed = subprocess.run(
                [sys.executable, __file__, "run", database],
                env={**os.environ, "CRASH_AT_3": "1"},
                check=False,
            )
            print("exit code:", crashed.returncode)

            store = SQLiteStore(database)
            flow = build(store)
            job_ids = store.unfinished_job_ids("loader")
            print("unfinished jobs:", len(job_ids))
            stored = store.load(job_ids[0])
            print("as stored:", stored.status, [task["data"] for task in stored.pending_tasks])
            print("recovering:")
            job = flow.recover(job_ids[0], wait=True)
            print("status:", job.status, "| loaded:", job.get_shared_data("loaded"))
            print("unfinished jobs now:", store.unfinished_job_ids("loader"))
            store.close()
