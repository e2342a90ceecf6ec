"""SQLiteStore: jobs in one file, checkpointed as they run."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from routilux import ErrorHandler, Flow, Routine
from routilux.exceptions import ConfigurationError
from routilux.stores import JobStore, SQLiteStore

from helpers import Collector, Failing, Relay, Source, chain, events


class Gate(Routine):
    """Relays values; blocks on ``release`` when it receives ``block_on``."""

    def __init__(self, block_on: Any) -> None:
        super().__init__()
        self.block_on = block_on
        self.entered = threading.Event()
        self.release = threading.Event()
        self.define_slot("input", handler=self.work)
        self.define_event("output", ["value"])

    def work(self, value: Any) -> None:
        if value == self.block_on:
            self.entered.set()
            assert self.release.wait(10)
        self.emit("output", value=value)


def store_at(tmp_path: Path, **options: Any) -> SQLiteStore:
    return SQLiteStore(tmp_path / "jobs.db", **options)


def copy_of(store: SQLiteStore, tmp_path: Path, name: str) -> SQLiteStore:
    """A consistent copy of the store's file, as a crash would leave it."""
    target = tmp_path / name
    with sqlite3.connect(store.path) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return SQLiteStore(target)


def test_is_a_job_store_and_validates_its_options(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    assert isinstance(store, JobStore)
    assert repr(store) == f"SQLiteStore({store.path!r})"
    with pytest.raises(ConfigurationError):
        SQLiteStore(tmp_path / "x.db", checkpoint_every=0)
    with pytest.raises(ConfigurationError):
        SQLiteStore(tmp_path / "x.db", checkpoint_interval=-1)
    with pytest.raises(ConfigurationError):
        SQLiteStore(tmp_path / "x.db", checkpoint_every=2.5)  # type: ignore[arg-type]


def test_refuses_a_file_of_another_schema_version(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store._db.execute("UPDATE routilux_meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        store_at(tmp_path)


def test_a_finished_job_is_stored_whole(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    flow = chain(("src", Source()), ("relay", Relay()), ("sink", Collector("append")))
    flow.store = store
    job = flow.execute("src", {"count": 25})
    loaded = store.load(job.job_id)
    assert loaded is not None and loaded is not job
    assert loaded.status == "completed"
    assert events(loaded) == events(job)
    assert [r.data for r in loaded.get_execution_history()][:-1] == [
        r.data for r in job.get_execution_history()
    ][:-1]
    assert loaded.get_routine_state("sink") == job.get_routine_state("sink")
    assert loaded.pending_tasks == []
    assert store.unfinished_job_ids() == []
    assert store.load("nope") is None


def test_checkpoints_are_written_while_the_job_runs(tmp_path: Path) -> None:
    store = store_at(tmp_path, checkpoint_every=1)
    gate = Gate(block_on=3)
    flow = chain(("src", Source()), ("gate", gate), ("sink", Collector()))
    flow.store = store
    job = flow.execute("src", {"count": 6}, wait=False)
    assert gate.entered.wait(10)
    # Another connection to the file sees the job as of its last checkpoint: the
    # activation that is running now is still pending there.
    reader = SQLiteStore(store.path)
    assert reader.unfinished_job_ids(flow.flow_id) == [job.job_id]
    seen = reader.load(job.job_id)
    assert seen is not None and seen.status == "running"
    pending = [(p["slot_routine_id"], p["data"]["value"]) for p in seen.pending_tasks]
    assert pending == [("gate", 3), ("gate", 4), ("gate", 5), ("sink", 0), ("sink", 1), ("sink", 2)]
    assert events(seen).count(("gate", "output")) == 3
    gate.release.set()
    assert job.wait_for_completion(10)
    final = reader.load(job.job_id)
    assert final is not None and final.status == "completed"
    assert len(final.get_routine_state("sink") or {}) == 1


def test_a_paused_job_is_stored_with_its_pending_work(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    gate = Gate(block_on=1)
    flow = chain(("src", Source()), ("gate", gate), ("sink", Collector()))
    flow.store = store
    job = flow.execute("src", {"count": 3}, wait=False)
    assert gate.entered.wait(10)
    pauser = threading.Thread(target=flow.pause, args=(job, "stop here"))
    pauser.start()
    gate.release.set()
    pauser.join(10)
    loaded = store.load(job.job_id)
    assert loaded is not None and loaded.status == "paused"
    assert loaded.pending_tasks == job.pending_tasks
    assert loaded.pause_points[-1]["reason"] == "stop here"
    assert store.unfinished_job_ids() == [job.job_id]
    flow.resume(job, wait=True)
    assert (store.load(job.job_id) or job).status == "completed"


def test_a_retry_waiting_at_a_crash_runs_after_recovery(tmp_path: Path) -> None:
    store = store_at(tmp_path, checkpoint_every=1)
    flaky = Failing(fail_on={0}, times=1)
    flaky.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=60))
    gate = Gate(block_on=1)
    flow = Flow("retrying", store=store)
    flow.add_routine(Source(), "src")
    flow.add_routine(flaky, "flaky")
    flow.add_routine(gate, "gate")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "flaky", "input")
    flow.connect("src", "output", "gate", "input")
    flow.connect("flaky", "output", "sink", "input")
    job = flow.execute("src", {"count": 2}, wait=False)
    assert gate.entered.wait(10)  # flaky(0) failed and waits a minute for its retry
    crashed = copy_of(store, tmp_path, "crashed.db")
    flow.cancel(job)
    gate.release.set()
    assert job.wait_for_completion(10)

    stored = crashed.load(job.job_id)
    assert stored is not None and stored.status == "running"
    retry = [p for p in stored.pending_tasks if p["retry_count"] == 1]
    assert [(p["slot_routine_id"], p["data"]) for p in retry] == [("flaky", {"value": 0})]

    flaky2 = Failing(fail_on=set())
    flaky2.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=60))
    rebuilt = Flow("retrying", store=crashed)
    rebuilt.add_routine(Source(), "src")
    rebuilt.add_routine(flaky2, "flaky")
    rebuilt.add_routine(Gate(block_on=None), "gate")
    rebuilt.add_routine(Collector(), "sink")
    rebuilt.connect("src", "output", "flaky", "input")
    rebuilt.connect("src", "output", "gate", "input")
    rebuilt.connect("flaky", "output", "sink", "input")
    recovered = rebuilt.recover(job.job_id, crashed, wait=True)
    assert recovered.status == "completed"
    assert sorted(r["value"] for r in recovered.get_routine_state("sink")["received"]) == [0, 1]


def test_data_that_cannot_be_stored_fails_the_job_clearly(tmp_path: Path) -> None:
    class Opaque:
        pass

    class Hoarder(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.keep)

        def keep(self, value: Any) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.job_state.update_shared_data("thing", Opaque())

    flow = chain(("src", Source()), ("hoarder", Hoarder()))
    flow.store = store_at(tmp_path, checkpoint_every=1)
    job = flow.execute("src", {"count": 3})
    assert job.status == "failed"
    checkpoint, final = job.errors  # the last write, when the job settled, failed too
    assert checkpoint["strategy"] == "checkpoint"
    assert checkpoint["error_type"] == "SerializationError"
    assert "$.shared_data.thing" in checkpoint["error"]
    assert final["strategy"] == "store"


def test_a_finished_job_whose_last_write_fails_is_not_listed_as_unfinished(
    tmp_path: Path,
) -> None:
    class Opaque:
        pass

    class LateHoarder(Routine):
        """Stores something unsaveable after the job's first (and only) checkpoint."""

        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.keep)

        def keep(self, value: Any) -> None:
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.job_state.update_shared_data("lock", Opaque())

    flow = chain(("src", Source()), ("hoarder", LateHoarder()))
    store = store_at(tmp_path, checkpoint_every=1000)
    flow.store = store
    job = flow.execute("src", {"count": 2})
    assert job.status == "completed"
    assert [error["strategy"] for error in job.errors] == ["store"]
    assert store.unfinished_job_ids() == []
    stored = store.load(job.job_id)
    assert stored is not None
    assert stored.status == "completed"
    assert stored.pending_tasks == []


def test_concurrent_jobs_and_concurrent_strategy_with_one_store(tmp_path: Path) -> None:
    store = store_at(tmp_path, checkpoint_every=3)
    flow = Flow("busy", "concurrent", max_workers=3, store=store)
    flow.add_routine(Source(), "src")
    flow.add_routine(Relay(), "left")
    flow.add_routine(Relay(), "right")
    flow.add_routine(Collector("append"), "join")
    for side in ("left", "right"):
        flow.connect("src", "output", side, "input")
        flow.connect(side, "output", "join", "input")
    jobs: list[Any] = []
    lock = threading.Lock()

    def run(count: int) -> None:
        job = flow.execute("src", {"count": count})
        with lock:
            jobs.append((count, job))

    threads = [threading.Thread(target=run, args=(5 + n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for count, job in jobs:
        assert job.status == "completed"
        stored = store.load(job.job_id)
        assert stored is not None and stored.status == "completed"
        final = stored.get_routine_state("join")["received"][-1]["value"]
        assert sorted(final) == sorted(list(range(count)) * 2)
        assert len(stored.get_execution_history()) == len(job.get_execution_history())


def test_a_bounded_history_is_stored_bounded(tmp_path: Path) -> None:
    flow = Flow("bounded", history_limit=5, store=store_at(tmp_path))
    flow.add_routine(Source(), "src")
    flow.add_routine(Relay(), "relay")
    flow.connect("src", "output", "relay", "input")
    job = flow.execute("src", {"count": 20})
    stored = flow.store.load(job.job_id)
    assert stored is not None
    assert [r.event_name for r in stored.get_execution_history()] == [
        r.event_name for r in job.get_execution_history()
    ]
    assert stored.history_limit == 5
    assert stored.history_dropped == job.history_dropped
