"""A flow whose handlers run on two worker processes, through Redis.

Needs the extra (pip install 'routilux[redis]') and a Redis server: set
ROUTILUX_REDIS_URL, or have redis-server on the PATH and this script starts one.
Workers find the flow by import path: this file is the module ``redis_workers``.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid

import redis

from routilux import Flow, Routine
from routilux.runtimes.redis import RedisRuntime, stream_stats


class Orders(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("order", ["order_id", "amount"])

    def feed(self, amounts):
        for order_id, amount in enumerate(amounts):
            self.emit("order", order_id=order_id, amount=amount)


class Price(Routine):
    """Runs on a worker: adds tax, counts the orders in the job's channel."""

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.price)
        self.define_event("priced", ["order_id", "total"])

    def price(self, order_id, amount):
        ctx = self.require_execution_context()
        ctx.get_channel().increment("orders")  # atomic, whichever worker runs it
        self.emit("priced", order_id=order_id, total=round(amount * 1.2, 2))


class Ledger(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.book)

    def book(self, order_id, total):
        self.require_execution_context().get_channel().append("ledger", [order_id, total])


def make_flow():
    """The flow, built the same way by the driver and by every worker."""
    flow = Flow("orders", execution_strategy="concurrent", max_workers=8)
    flow.add_routine(Orders(), "orders")
    flow.add_routine(Price(), "price")
    flow.add_routine(Ledger(), "ledger")
    flow.connect("orders", "order", "price", "input")
    flow.connect("price", "priced", "ledger", "input")
    return flow


def start_redis():
    """A throwaway redis-server on a free port (for trying this out)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            tempfile.mkdtemp(),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in server.stdout:
        if "Ready to accept connections" in line:
            return server, f"redis://127.0.0.1:{port}/0"
    raise RuntimeError("redis-server did not start")


def main():
    server = None
    url = os.environ.get("ROUTILUX_REDIS_URL")
    if not url:
        if shutil.which("redis-server") is None:
            sys.exit("set ROUTILUX_REDIS_URL or install redis-server")
        server, url = start_redis()
    prefix = f"tutorial-{uuid.uuid4().hex[:8]}"  # keys of this run only

    here = os.path.dirname(os.path.abspath(__file__))
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "routilux",
                "worker",
                "redis_workers:make_flow",
                "--redis",
                url,
                "--prefix",
                prefix,
                "--concurrency",
                "4",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": here},
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert "serving" in worker.stdout.readline()  # the worker is ready
    print("2 workers serving")

    flow = make_flow()
    flow.runtime = RedisRuntime(url, prefix=prefix)
    job = flow.execute("orders", {"amounts": [10.0, 25.5, 4.0, 99.9]})
    print("status:", job.status)
    print("orders priced:", job.get_channel().get("orders"))
    print("ledger:", sorted(job.get_channel().get("ledger")))
    stats = stream_stats(url, "orders", prefix=prefix)
    print("left in the stream:", stats["length"], "| dead letters:", stats["dead"])

    flow.runtime.shutdown()
    for worker in workers:
        worker.terminate()  # running handlers finish and commit first
        worker.wait()
    print("workers stopped")
    client = redis.Redis.from_url(url)
    client.delete(*client.keys(f"{{{prefix}}}:*"))  # this run's (empty) stream and group
    if server is not None:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
