"""Recovering a job after its process died, with the Redis store.

Needs a Redis server: set ROUTILUX_REDIS_URL (default redis://localhost:6379/0) and
install the extra: pip install 'routilux[redis]'.
"""

import os
import subprocess
import sys
import uuid

import redis

from routilux import Flow, Routine
from routilux.stores import RedisStore

URL = os.environ.get("ROUTILUX_REDIS_URL", "redis://localhost:6379/0")


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
        store = RedisStore(URL, prefix=sys.argv[2], checkpoint_every=1)
        build(store).execute("feed", {"count": 5})
    else:
        prefix = f"tutorial-{uuid.uuid4().hex[:8]}"  # keys of this run only
        print("first process:")
        crashed = subprocess.run(
            [sys.executable, __file__, "run", prefix],
            env={**os.environ, "CRASH_AT_3": "1"},
            check=False,
        )
        print("exit code:", crashed.returncode)

        # Another process (here: this one) sees the job in Redis and continues it.
        store = RedisStore(URL, prefix=prefix, retention=3600)
        unfinished = store.unfinished_job_ids("loader")
        print("unfinished jobs:", len(unfinished))
        stored = store.load(unfinished[0])
        print("as stored:", stored.status, [task["data"] for task in stored.pending_tasks])
        print("recovering:")
        job = build(store).recover(unfinished[0], store, wait=True)
        print("status:", job.status, "| loaded:", job.get_channel().get("loaded"))
        print("unfinished jobs now:", store.unfinished_job_ids("loader"))

        client = redis.Redis.from_url(URL)
        keys = list(client.scan_iter(f"{prefix}:*"))
        minutes = max(client.pttl(key) for key in keys) // 60_000 + 1
        print(f"the finished job's keys expire within {minutes} minutes")
        client.delete(*keys)
        store.close()
