"""SQLiteStore leases: one store object runs a job at a time (issue 8, N)."""

from __future__ import annotations

import math
import os
import queue
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from routilux import Flow, JobState
from routilux.exceptions import ConfigurationError, JobStateError, SerializationError
from routilux.stores import JobStore, MemoryStore, SQLiteStore

from helpers import Collector, Gate, Source

APP = Path(__file__).resolve().parent / "lease_app.py"


def lease_of(path: str, job_id: str) -> tuple[str, float] | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT owner, expires FROM leases WHERE job_id = ?", (job_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def set_lease(path: str, job_id: str, owner: str, expires: float) -> None:
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)", (job_id, owner, expires))


def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def gated_flow(store: SQLiteStore, block_on: Any) -> tuple[Flow, Gate]:
    """src -> gate -> sink, as flow "gated" (a rebuilt one recovers the same jobs)."""
    gate = Gate(block_on)
    flow = Flow("gated", store=store)
    flow.add_routine(Source(), "src")
    flow.add_routine(gate, "gate")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "gate", "input")
    flow.connect("gate", "output", "sink", "input")
    return flow, gate


def crashed_job(tmp_path: Path) -> tuple[str, str]:
    """A file holding a job that was running when its (simulated) process died; its
    lease has been removed, as a dead owner's would be. Returns (path, job id)."""
    store = SQLiteStore(tmp_path / "source.db", checkpoint_every=1)
    flow, gate = gated_flow(store, block_on=2)
    job = flow.execute("src", {"count": 4}, wait=False)
    assert gate.entered.wait(10)
    target = str(tmp_path / "crashed.db")
    with sqlite3.connect(store.path) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
        copy.execute("DELETE FROM leases")
    gate.release.set()
    assert job.wait_for_completion(10)
    store.close()
    return target, job.job_id


def rebuilt_flow(store: SQLiteStore) -> Flow:
    return gated_flow(store, block_on=None)[0]


# -- the interface ----------------------------------------------------------------------


def test_stores_that_share_nothing_accept_acquire_and_release() -> None:
    """N: acquire and release are part of JobStore, no-ops by default."""
    store = MemoryStore()
    assert isinstance(store, JobStore)
    store.acquire("job")
    store.acquire("job")  # nobody else could hold it
    store.release("job")
    store.release("never-acquired")


@pytest.mark.parametrize("duration", [0, -1.0, math.nan, math.inf, True, "30"])
def test_lease_duration_is_validated(tmp_path: Path, duration: Any) -> None:
    """N: lease_duration must be a positive, finite number of seconds."""
    with pytest.raises(ConfigurationError, match="lease_duration"):
        SQLiteStore(tmp_path / "x.db", lease_duration=duration)


def test_each_store_object_is_its_own_owner(tmp_path: Path) -> None:
    """N: the owner is host:pid:token, one per SQLiteStore object."""
    first = SQLiteStore(tmp_path / "jobs.db")
    second = SQLiteStore(tmp_path / "jobs.db")
    host, pid, token = first.owner.rsplit(":", 2)
    assert host.startswith(socket.gethostname()) and int(pid) == os.getpid() and token
    assert first.owner != second.owner


# -- claiming ---------------------------------------------------------------------------


def test_a_live_foreign_lease_refuses_and_acquire_is_idempotent(tmp_path: Path) -> None:
    """N: two stores (two owners, even in one process) cannot both claim a job; the
    refusal names the owner and when its lease expires; the owner may claim again."""
    first = SQLiteStore(tmp_path / "jobs.db", lease_duration=60)
    second = SQLiteStore(tmp_path / "jobs.db")
    before = time.time()
    first.acquire("job-1")
    first.acquire("job-1")  # the same owner: extended, not refused
    owner, expires = lease_of(first.path, "job-1") or ("", 0.0)
    assert owner == first.owner and expires >= before + 60
    with pytest.raises(JobStateError, match="being run by") as refused:
        second.acquire("job-1")
    assert first.owner in str(refused.value) and "expires at" in str(refused.value)
    second.release("job-1")  # not its lease: nothing happens
    assert lease_of(first.path, "job-1") == (owner, expires)
    first.release("job-1")
    assert lease_of(first.path, "job-1") is None
    second.acquire("job-1")
    assert (lease_of(first.path, "job-1") or ("",))[0] == second.owner


def test_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    """N: a lease whose expiry has passed (its owner froze or died elsewhere) can be
    taken over; one of another host that has not expired cannot."""
    store = SQLiteStore(tmp_path / "jobs.db", lease_duration=0.05)
    set_lease(store.path, "old", "elsewhere:4242:feedface", time.time() - 1)
    store.acquire("old")
    assert (lease_of(store.path, "old") or ("",))[0] == store.owner

    set_lease(store.path, "fresh", "elsewhere:4242:feedface", time.time() + 3600)
    with pytest.raises(JobStateError, match="elsewhere:4242:feedface"):
        store.acquire("fresh")


def test_a_dead_process_lease_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    """N: the lease of a process of this host that no longer exists (kill -9) is
    taken over at once, long before it expires."""
    store = SQLiteStore(tmp_path / "jobs.db")
    host = store.owner.rsplit(":", 2)[0]
    dead = f"{host}:{dead_pid()}:0123456789abcdef"
    set_lease(store.path, "orphan", dead, time.time() + 3600)
    store.acquire("orphan")
    assert (lease_of(store.path, "orphan") or ("",))[0] == store.owner


def test_a_damaged_lease_row_is_a_serialization_error(tmp_path: Path) -> None:
    """N, S: a lease row that is not (owner, expiry) names the file and the job."""
    store = SQLiteStore(tmp_path / "jobs.db")
    set_lease(store.path, "job", "someone", "tomorrow")  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match=r"leases.*'job'") as error:
        store.acquire("job")
    assert store.path in str(error.value)


# -- jobs and leases --------------------------------------------------------------------


def test_a_running_job_holds_its_lease_and_gives_it_up_when_it_settles(tmp_path: Path) -> None:
    """N: job_started claims the job, job_settled gives the lease up (finished or
    paused: no run holds it then)."""
    store = SQLiteStore(tmp_path / "jobs.db", checkpoint_every=1)
    flow, gate = gated_flow(store, block_on=1)
    job = flow.execute("src", {"count": 3}, wait=False)
    assert gate.entered.wait(10)
    assert (lease_of(store.path, job.job_id) or ("",))[0] == store.owner
    pauser = threading.Thread(target=flow.pause, args=(job, "later"))
    pauser.start()
    gate.release.set()
    pauser.join(10)
    assert job.status == "paused"
    assert job.wait_for_completion(10)  # pause() does not wait for the store's write
    assert lease_of(store.path, job.job_id) is None
    other = SQLiteStore(store.path)
    other.acquire(job.job_id)  # a paused job is free to take
    other.release(job.job_id)
    flow.resume(job, wait=True)
    assert job.status == "completed"
    assert lease_of(store.path, job.job_id) is None


def test_recover_refuses_a_job_another_store_runs(tmp_path: Path) -> None:
    """N: a second recover gets a clear error naming the owner, and changes nothing."""
    path, job_id = crashed_job(tmp_path)
    first = SQLiteStore(path)
    first.acquire(job_id)  # as Flow.recover in another process would
    with sqlite3.connect(path) as db:
        before = db.execute("SELECT * FROM jobs").fetchall()
    second = SQLiteStore(path)
    with pytest.raises(JobStateError, match="being run by") as refused:
        rebuilt_flow(second).recover(job_id, second, wait=True)
    assert first.owner in str(refused.value)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM jobs").fetchall() == before
    assert (lease_of(path, job_id) or ("",))[0] == first.owner
    first.release(job_id)
    recovered = rebuilt_flow(second).recover(job_id, second, wait=True)
    assert recovered.status == "completed"
    assert lease_of(path, job_id) is None


def test_recover_gives_the_lease_up_when_it_fails_or_the_job_is_finished(tmp_path: Path) -> None:
    """N: Flow.recover claims before loading, and releases if loading fails or there
    is nothing to run."""
    path, job_id = crashed_job(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE jobs SET snapshot = '{' WHERE job_id = ?", (job_id,))
    store = SQLiteStore(path)
    with pytest.raises(SerializationError):
        rebuilt_flow(store).recover(job_id, store)
    assert lease_of(path, job_id) is None
    with pytest.raises(JobStateError, match="no such job"):
        rebuilt_flow(store).recover("missing", store)
    assert lease_of(path, "missing") is None

    done = SQLiteStore(tmp_path / "done.db")
    finished = rebuilt_flow(done).execute("src", {"count": 2})
    assert rebuilt_flow(done).recover(finished.job_id, done).status == "completed"
    assert lease_of(done.path, finished.job_id) is None


def test_a_write_after_the_lease_was_taken_over_is_refused_and_the_job_fails(
    tmp_path: Path,
) -> None:
    """N: a frozen process whose job somebody else took over cannot overwrite it: its
    next checkpoint is refused ("lease lost"), the job fails, and neither that
    failure nor its final status reaches the file."""
    store = SQLiteStore(tmp_path / "jobs.db", checkpoint_every=1)
    flow, gate = gated_flow(store, block_on=1)
    job = flow.execute("src", {"count": 3}, wait=False)
    assert gate.entered.wait(10)
    # The lease expires while the handler is stuck, and another store takes it over.
    set_lease(store.path, job.job_id, store.owner, time.time() - 1)
    thief = SQLiteStore(store.path)
    thief.acquire(job.job_id)
    with sqlite3.connect(store.path) as db:
        before = db.execute("SELECT * FROM jobs").fetchall()
    assert store.renew_leases() == [job.job_id]  # renewal notices, and takes nothing back
    gate.release.set()
    assert job.wait_for_completion(10)
    assert job.status == "failed"
    assert "lease lost" in job.errors[0]["error"]
    assert thief.owner in job.errors[0]["error"]
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT * FROM jobs").fetchall() == before
    assert (lease_of(store.path, job.job_id) or ("",))[0] == thief.owner
    assert store.renew_leases() == []  # the store has let go of the job


# -- renewal ----------------------------------------------------------------------------


def test_renew_leases_extends_what_the_store_holds(tmp_path: Path) -> None:
    """N: renewal pushes the expiry of held leases to lease_duration from now."""
    store = SQLiteStore(tmp_path / "jobs.db", lease_duration=120)
    assert store.renew_leases() == []
    store.acquire("job")
    set_lease(store.path, "job", store.owner, time.time() + 1)
    before = time.time()
    assert store.renew_leases() == []
    _, expires = lease_of(store.path, "job") or ("", 0.0)
    assert expires >= before + 120


def renewer_of(store: SQLiteStore) -> threading.Thread | None:
    return store._leases.renewer


def test_a_thread_renews_leases_while_any_is_held(tmp_path: Path) -> None:
    """N: one daemon thread per store renews every lease_duration / 3 while the store
    holds a lease, and ends when it holds none, or when the store is closed."""
    store = SQLiteStore(tmp_path / "jobs.db", lease_duration=0.06)
    renewed = threading.Event()
    renew = store.renew_leases

    def spy() -> list[str]:
        result = renew()
        renewed.set()
        return result

    store.renew_leases = spy  # type: ignore[method-assign]
    store.acquire("job")
    first = renewer_of(store)
    assert isinstance(first, threading.Thread) and first.daemon
    assert renewed.wait(10)
    store.release("job")
    first.join(10)
    assert not first.is_alive()
    assert renewer_of(store) is None

    store.acquire("again")
    second = renewer_of(store)
    assert isinstance(second, threading.Thread) and second.is_alive()
    store.close()
    assert not second.is_alive()


# -- two processes --------------------------------------------------------------------


class Child:
    """A ``lease_app`` process read line by line (a reader thread, so that a silent
    child fails the test instead of hanging it)."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(APP), *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read(self, *tags: str) -> tuple[str, str]:
        try:
            line = self.lines.get(timeout=30)
        except queue.Empty:
            line = "<silent for 30 s>"
        tag, _, value = (line or "<exited>").partition(" ")
        if tag not in tags:
            self.process.kill()
            assert self.process.stderr is not None
            pytest.fail(f"lease_app printed {line!r}; stderr:\n{self.process.stderr.read()}")
        return tag, value

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def end(self) -> int:
        self.process.kill()
        code = self.process.wait(30)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


def test_two_processes_racing_to_recover_a_killed_job(tmp_path: Path) -> None:
    """N: two processes recovering the same job from one SQLite file both ran it, so
    every activation ran twice. Now the process killed with -9 leaves a lease that is
    taken over at once (its pid is dead), exactly one recovering process runs the
    job, and the other gets JobStateError naming the winner."""
    database = str(tmp_path / "jobs.db")
    runner = Child("run", database, "5")
    try:
        _, job_id = runner.read("job")
        _, dead_owner = runner.read("owner")
        runner.read("blocked")
    finally:
        runner.end()  # kill -9, and wait for it: its pid is gone
    assert (lease_of(database, job_id) or ("",))[0] == dead_owner

    racers = [Child("recover", database, job_id) for _ in range(2)]
    try:
        for racer in racers:
            racer.read("ready")
        for racer in racers:
            racer.send("go")
        outcomes = [racer.read("running", "refused") for racer in racers]
        tags = sorted(tag for tag, _ in outcomes)
        assert tags == ["refused", "running"], outcomes
        winner = racers[[tag for tag, _ in outcomes].index("running")]
        winner_owner = dict(outcomes)["running"]
        refusal = dict(outcomes)["refused"]
        assert f"is being run by {winner_owner}" in refusal
        assert (lease_of(database, job_id) or ("",))[0] == winner_owner
        winner.send("finish")
        assert winner.read("finished") == ("finished", "completed")
        assert winner.process.wait(30) == 0
        loser = racers[1 - racers.index(winner)]
        assert loser.process.wait(30) == 0
    finally:
        for racer in racers:
            racer.end()

    store = SQLiteStore(database)
    job = store.load(job_id)
    assert isinstance(job, JobState) and job.status == "completed"
    assert sorted(job.shared_data["received"]) == [0, 1, 2, 3, 4]  # each exactly once
    assert lease_of(database, job_id) is None
