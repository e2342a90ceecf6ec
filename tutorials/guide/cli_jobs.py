"""The jobs of a SQLite store, from a shell: list, show, resume, recover, cancel.

The flow keeps its jobs in jobs.db (in the current directory), checkpointing after
every activation. Each command runs as `python -m routilux ...` in a new process, in
a fresh directory; the flow is found by import path: this file is the module
``cli_jobs``.
"""

import os
import shlex
import subprocess
import sys
import tempfile

from routilux import Flow, Routine
from routilux.stores import SQLiteStore


class Feed(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.feed)
        self.define_event("record", ["n"])

    def feed(self, count, pause_at=None):
        self.get_execution_context().job_state.update_shared_data("pause_at", pause_at)
        for n in range(count):
            self.emit("record", n=n)


class Loader(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.load)

    def load(self, n):
        ctx = self.get_execution_context()
        if str(n) == os.environ.get("CRASH_AT"):
            os._exit(1)  # the process dies: no cleanup, no final save
        ctx.get_channel().append("loaded", n)
        if n == ctx.job_state.get_shared_data("pause_at"):
            ctx.flow.pause(ctx.job_state, reason=f"check record {n}")


def build():
    """The flow, keeping its jobs in jobs.db (the --store of the jobs commands)."""
    flow = Flow("loader", store=SQLiteStore("jobs.db", checkpoint_every=1))
    flow.add_routine(Feed(), "feed")
    flow.add_routine(Loader(), "loader")
    flow.connect("feed", "record", "loader", "input")
    return flow


HERE = os.path.dirname(os.path.abspath(__file__))


def routilux(*arguments, folder, crash_at=None):
    """Run `python -m routilux ARGUMENTS` in ``folder``; print it, its output and its
    exit code, and return its output."""
    print("$ routilux", shlex.join(arguments))
    environment = {**os.environ, "PYTHONPATH": HERE}
    if crash_at is not None:
        environment["CRASH_AT"] = str(crash_at)
    done = subprocess.run(
        [sys.executable, "-m", "routilux", *arguments],
        capture_output=True,
        text=True,
        cwd=folder,
        env=environment,
    )
    for line in (done.stdout + done.stderr).splitlines():
        print(line)
    print("exit code:", done.returncode)
    print()
    return done.stdout


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        store = ["--store", "sqlite:jobs.db"]
        flow = ["--flow", "cli_jobs:build"]
        first = routilux(
            "run", "cli_jobs:build", "--params", '{"count": 4, "pause_at": 1}', folder=folder
        )
        paused = first.split()[1]
        routilux("run", "cli_jobs:build", "--params", '{"count": 5}', folder=folder, crash_at=3)
        third = routilux(
            "run", "cli_jobs:build", "--params", '{"count": 3, "pause_at": 0}', folder=folder
        )
        listed = routilux("jobs", "list", *store, folder=folder)
        crashed = [line.split()[0] for line in listed.splitlines() if " running " in line][0]
        routilux("jobs", "show", paused, *store, "--tail", "3", folder=folder)
        routilux("jobs", "resume", crashed, *store, *flow, folder=folder)
        routilux("jobs", "resume", paused, *store, *flow, folder=folder)
        routilux("jobs", "recover", crashed, *store, *flow, folder=folder)
        routilux(
            "jobs", "cancel", third.split()[1], *store, "--reason", "not needed", folder=folder
        )
        routilux("jobs", "list", *store, "--all", folder=folder)
