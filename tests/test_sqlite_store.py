"""SQLiteStore: jobs in one file, checkpointed as they run."""

from __future__ import annotations

import importlib
import json
import re
import sqlite3
import tempfile
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_third_party_store import private_uses

import routilux.stores.sqlite
from routilux import ErrorHandler, Flow, JobState, Routine
from routilux.documents import expand_activations, expand_history
from routilux.exceptions import (
    ConfigurationError,
    InvalidPayloadError,
    JobStateError,
    SerializationError,
    StoreError,
)
from routilux.stores import JobStore, SQLiteStore

from helpers import Collector, Failing, Gate, Relay, Source, Step, chain, events


def store_at(tmp_path: Path, **options: Any) -> SQLiteStore:
    return SQLiteStore(tmp_path / "jobs.db", **options)


def copy_of(store: SQLiteStore, tmp_path: Path, name: str) -> SQLiteStore:
    """A consistent copy of the store's file, as a crash would leave it: the leases of
    the store that wrote it are gone with it."""
    target = tmp_path / name
    with closing(sqlite3.connect(store.path)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
        copy.execute("DELETE FROM leases")
        copy.commit()
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
    assert job.wait_for_completion(10)  # pause() does not wait for the store's write
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
    received = (recovered.get_routine_state("sink") or {})["received"]
    assert sorted(r["value"] for r in received) == [0, 1]


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
        final = (stored.get_routine_state("join") or {})["received"][-1]["value"]
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


# -- F: a bounded history stays bounded in the file -----------------------------------


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, value: Any) -> None:
        pass


def history_rows(path: str) -> int:
    with sqlite3.connect(path) as db:
        (rows,) = db.execute("SELECT COALESCE(SUM(count), 0) FROM history").fetchone()
    return int(rows)


def records_of(job: JobState) -> list[tuple[str, str, Any, Any]]:
    return [(r.routine_id, r.event_name, r.data, r.timestamp) for r in job.get_execution_history()]


def test_history_limit_bounds_the_history_rows_in_the_file(tmp_path: Path) -> None:
    """F: history_limit was ignored by SQLiteStore: 100 records in memory, 20,093 rows
    in the file. Now each checkpoint deletes the batches that fell out of the limit,
    the file holds O(limit) rows while the job runs and after, and the loaded job's
    history is exactly the in-memory one, with the same history_dropped."""
    store = store_at(tmp_path, checkpoint_every=10)
    gate = Gate(block_on=7000)
    flow = Flow("bounded", history_limit=100, store=store)
    flow.add_routine(Source(), "src")
    flow.add_routine(gate, "relay")
    flow.add_routine(Sink(), "sink")
    flow.connect("src", "output", "relay", "input")
    flow.connect("relay", "output", "sink", "input")
    job = flow.execute("src", {"count": 10_000}, wait=False)  # 20,000 emissions
    assert gate.entered.wait(30)
    assert history_rows(store.path) <= 2 * 100  # while it runs, too
    crashed = copy_of(store, tmp_path, "crashed.db")
    gate.release.set()
    assert job.wait_for_completion(30) and job.status == "completed"

    assert history_rows(store.path) <= 2 * 100
    stored = store.load(job.job_id)
    assert stored is not None
    assert records_of(stored) == records_of(job)
    assert len(records_of(stored)) == 100
    assert (stored.history_limit, stored.history_dropped) == (100, job.history_dropped)
    assert job.history_dropped == 20_002 - 100  # start, 20,000 emissions, completed
    document = store.document(job.job_id)
    assert document is not None and len(document["execution_history"]) == 100

    # A checkpoint taken mid-run loads with the newest 100 rows, and recovers bounded.
    mid = crashed.load(job.job_id)
    assert mid is not None and mid.status == "running"
    assert len(mid.get_execution_history()) == 100
    assert mid.history_dropped > 10_000 - 100
    again = Flow("bounded", history_limit=100, store=crashed)
    again.add_routine(Source(), "src")
    again.add_routine(Gate(block_on=None), "relay")
    again.add_routine(Sink(), "sink")
    again.connect("src", "output", "relay", "input")
    again.connect("relay", "output", "sink", "input")
    recovered = again.recover(job.job_id, crashed, wait=True)
    assert recovered.status == "completed"
    assert history_rows(crashed.path) <= 2 * 100
    assert [(r[0], r[1], r[2]) for r in records_of(recovered)][:-1] == [
        (r[0], r[1], r[2]) for r in records_of(job)
    ][:-1]


# -- S: damaged, foreign and unwritable files ------------------------------------------


def crash_file(tmp_path: Path, name: str = "crashed.db") -> tuple[str, str]:
    """A closed store file holding one job as a crash left it: running, with history,
    log entries and pending activations. Returns (path, job id)."""
    store = store_at(tmp_path, checkpoint_every=1)
    gate = Gate(block_on=2)
    flow = damage_flow(store, gate)
    job = flow.execute("src", {"count": 4}, wait=False)
    assert gate.entered.wait(10)
    crashed = copy_of(store, tmp_path, name)
    gate.release.set()
    assert job.wait_for_completion(10)
    store.close()
    crashed.close()  # the last connection: the file holds everything, no -wal file
    return crashed.path, job.job_id


def log(ctx: Any, data: dict[str, Any]) -> None:
    ctx.job_state.append_to_shared_log(data)


def damage_flow(store: SQLiteStore, gate: Gate | None = None) -> Flow:
    """src -> logger (logs what it gets) -> gate: the flow of ``crash_file``."""
    flow = Flow("damage", store=store)
    flow.add_routine(Source(), "src")
    flow.add_routine(Step(log), "logger")
    flow.add_routine(gate or Gate(block_on=None), "gate")
    flow.connect("src", "output", "logger", "input")
    flow.connect("logger", "output", "gate", "input")
    return flow


def test_opening_a_foreign_sqlite_file_refuses_and_changes_nothing(tmp_path: Path) -> None:
    """S: a SQLite file of another application (other tables, no routilux_meta) is
    refused with SerializationError naming it, and is not modified at all."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users VALUES (1, 'ada')")
    db.close()
    before = path.read_bytes()
    with pytest.raises(SerializationError, match="not a routilux SQLite store") as error:
        SQLiteStore(path)
    assert str(path) in str(error.value) and "users" in str(error.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


@pytest.mark.parametrize("damage", ["text", "truncated", "zeroed pages", "flipped header"])
def test_a_corrupt_file_is_a_serialization_error_naming_it(tmp_path: Path, damage: str) -> None:
    """S: a file that is not SQLite, or whose pages are damaged, raised raw
    sqlite3.DatabaseError; now SerializationError naming the file, whether it shows
    when the store opens or when it reads."""
    path, job_id = crash_file(tmp_path)
    data = Path(path).read_bytes()
    if damage == "text":
        data = b'{"format": "routilux.job", "version": 1}\n' * 200
    elif damage == "truncated":
        data = data[: len(data) // 2 + 100]
    elif damage == "zeroed pages":
        page = int.from_bytes(data[16:18], "big")
        data = data[: 2 * page] + bytes(len(data) - 2 * page)
    else:
        data = data[:16] + bytes([0x7F, 0x7F]) + data[18:]  # an impossible page size
    Path(path).write_bytes(data)
    with pytest.raises(SerializationError) as error:
        store = SQLiteStore(path)
        store.unfinished_job_ids()
        store.load(job_id)
    assert path in str(error.value)


def rewrite(path: str, statement: str, *arguments: Any) -> None:
    with sqlite3.connect(path) as db:
        db.execute(statement, arguments)
    db.close()


def edit_snapshot(path: str, change: Any) -> None:
    with sqlite3.connect(path) as db:
        (text,) = db.execute("SELECT snapshot FROM jobs").fetchone()
        snapshot = json.loads(text)
        change(snapshot)
        db.execute("UPDATE jobs SET snapshot = ?", (json.dumps(snapshot),))
    db.close()


# The primary key of each table (they are WITHOUT ROWID tables).
KEYS = {
    "jobs": ("job_id",),
    "history": ("job_id", "first_seq"),
    "records": ("job_id", "kind", "first_seq"),
    "pending": ("job_id", "first_seq"),
}
BODIES = {"jobs": "snapshot", "history": "body", "records": "body", "pending": "body"}


def where(table: str) -> str:
    return " AND ".join(f"{column} = ?" for column in KEYS[table])


def select(table: str) -> str:
    return f"SELECT {', '.join(KEYS[table])}, {BODIES[table]} FROM {table}"


def edit_first(path: str, table: str, change: Any) -> None:
    """Change the JSON body of the first row of ``table``."""
    with sqlite3.connect(path) as db:
        *key, body = db.execute(select(table) + " LIMIT 1").fetchone()
        db.execute(
            f"UPDATE {table} SET body = ? WHERE {where(table)}", (change(json.loads(body)), *key)
        )
    db.close()


DAMAGES: dict[str, tuple[Any, str]] = {
    # name: (damage(path), what the message names)
    "snapshot not JSON": (
        lambda p: rewrite(p, "UPDATE jobs SET snapshot = '{\"job_id\": '"),
        "table jobs: the snapshot is not valid JSON",
    ),
    "snapshot key missing": (
        lambda p: edit_snapshot(p, lambda s: s.pop("pending_to")),
        "pending_to",
    ),
    "snapshot a list": (lambda p: rewrite(p, "UPDATE jobs SET snapshot = '[1, 2]'"), "jobs"),
    "history body a number": (
        lambda p: rewrite(p, "UPDATE history SET body = 5"),
        "table history",
    ),
    "history time a word": (
        lambda p: edit_first(
            p, "history", lambda c: json.dumps({**c, "times": ["noon"] * c["count"]})
        ),
        "table history",
    ),
    "history time out of range": (
        lambda p: edit_first(
            p, "history", lambda c: json.dumps({**c, "times": [1e300] * c["count"]})
        ),
        "table history",
    ),
    "history times not base64": (
        lambda p: edit_first(p, "history", lambda c: json.dumps({**c, "times": {"doubles": "!"}})),
        "not valid base64",
    ),
    "history times cut short": (
        lambda p: edit_first(
            p, "history", lambda c: json.dumps({**c, "times": {"doubles": "AAAA"}})
        ),
        "holds 3 bytes",
    ),
    "history name outside its table": (
        lambda p: edit_first(
            p,
            "history",
            lambda c: json.dumps({**c, "names": {"table": [], "index": c["names"]["index"]}}),
        ),
        "outside its table",
    ),
    "history count too high": (
        lambda p: edit_first(p, "history", lambda c: json.dumps({**c, "count": c["count"] + 1})),
        "table history",
    ),
    "history of an unknown version": (
        lambda p: edit_first(p, "history", lambda c: json.dumps({**c, "version": 99})),
        "version 99",
    ),
    "pending kind short": (
        lambda p: edit_first(
            p,
            "pending",
            lambda c: json.dumps(
                {**c, "kinds": {**c["kinds"], "table": [k[:2] for k in c["kinds"]["table"]]}}
            ),
        ),
        "table pending",
    ),
    "pending retry count negative": (
        lambda p: edit_first(
            p,
            "pending",
            lambda c: json.dumps(
                {
                    **c,
                    "kinds": {
                        **c["kinds"],
                        "table": [[*k[:2], -1, *k[3:]] for k in c["kinds"]["table"]],
                    },
                }
            ),
        ),
        "retry_count",
    ),
    "pending ids damaged": (
        lambda p: edit_first(
            p, "pending", lambda c: json.dumps({**c, "ids": {"prefix": 5, "start": 0}})
        ),
        "id scheme",
    ),
    "records body an object": (
        lambda p: rewrite(p, "UPDATE records SET body = '{}'"),
        "table records",
    ),
    "status column disagrees": (
        lambda p: rewrite(p, "UPDATE jobs SET status = 'completed'"),
        "disagree",
    ),
    "tracker record an int": (  # /work/shared/repros/tracker_hang.py, through SQLite
        lambda p: edit_snapshot(
            p, lambda s: s["execution_tracker"].update(routine_executions={"src": [5]})
        ),
        "execution_tracker",
    ),
    "pending rows deleted": (
        lambda p: rewrite(p, "DELETE FROM pending"),
        "activations 7 to 8 are missing",
    ),
    "history rows deleted": (
        lambda p: rewrite(p, "DELETE FROM history WHERE first_seq > 0"),
        "history rows",
    ),
    "log rows deleted": (
        lambda p: rewrite(p, "DELETE FROM records WHERE first_seq = 0"),
        "shared_log entries 0 to",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_rows_are_serialization_errors_naming_file_job_and_what(
    tmp_path: Path, damage: str
) -> None:
    """S: damaged SQLite rows raised JSONDecodeError, KeyError, TypeError or
    ValueError; now load, document and recover raise SerializationError naming the
    file, the job and what is wrong. Rows deleted from the file are noticed too:
    each checkpoint counts what it wrote, so a store whose pending rows are gone
    cannot "complete" a job that never ran its work."""
    path, job_id = crash_file(tmp_path)
    change, named = DAMAGES[damage]
    change(path)
    store = SQLiteStore(path)
    assert store.unfinished_job_ids() == ([] if damage == "status column disagrees" else [job_id])
    for read in (store.load, store.document):
        with pytest.raises(SerializationError) as error:
            read(job_id)
        message = str(error.value)
        assert path in message and job_id in message and named in message, message
    flow = damage_flow(store)
    with pytest.raises(SerializationError):
        flow.recover(job_id, store, wait=True)
    with sqlite3.connect(path) as db:
        (status,) = db.execute("SELECT status FROM jobs").fetchone()
    assert status != "completed" or damage == "status column disagrees"


def test_a_job_id_that_is_not_text_in_the_file_is_a_serialization_error(tmp_path: Path) -> None:
    """S: unfinished_job_ids returned whatever the jobs table held."""
    path, _ = crash_file(tmp_path)
    rewrite(path, "UPDATE jobs SET job_id = x'3132'")  # a blob, b"12"
    with pytest.raises(SerializationError, match="b'12'") as error:
        SQLiteStore(path).unfinished_job_ids()
    assert path in str(error.value)


def test_a_store_that_cannot_write_raises_store_error_and_fails_the_job(tmp_path: Path) -> None:
    """S: a read-only database raised raw sqlite3.OperationalError; now StoreError
    naming the file and the operation, recorded as the failure of a job that runs.
    Reading still works."""
    path, job_id = crash_file(tmp_path)
    store = SQLiteStore(path)
    store._db.execute("PRAGMA query_only = 1")  # as a read-only file (we run as root)
    assert store.load(job_id) is not None
    with pytest.raises(StoreError, match="claim the lease") as error:
        store.acquire(job_id)
    assert path in str(error.value) and "readonly" in str(error.value)
    flow = chain(("src", Source()), ("sink", Collector()))
    flow.store = store
    job = flow.execute("src", {"count": 3})
    assert job.status == "failed"
    assert job.errors[0]["error_type"] == "StoreError"
    assert path in job.errors[0]["error"]
    assert flow.wait_for_completion(10)


def test_a_full_disk_raises_store_error(tmp_path: Path) -> None:
    """S: a write that does not fit raised raw sqlite3.OperationalError."""
    store = store_at(tmp_path)
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count = {pages + 1}")
    flow = chain(
        ("src", Source()),
        ("big", Step(lambda ctx, data: ctx.get_channel().set("big", "x" * 200_000))),
    )
    flow.store = store
    job = flow.execute("src", {"count": 1})
    errors = [e for e in job.errors if e["error_type"] == "StoreError"]
    assert errors and "full" in errors[-1]["error"] and store.path in errors[-1]["error"]


def test_a_database_locked_past_the_timeout_raises_store_error(tmp_path: Path) -> None:
    """S: another process holding the write lock past the busy timeout raised raw
    sqlite3.OperationalError."""
    store = store_at(tmp_path)
    store._db.execute("PRAGMA busy_timeout = 10")
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked") as error:
            store.acquire("job")
        assert store.path in str(error.value) and "'job'" in str(error.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.acquire("job")


def test_a_closed_store_raises_store_error(tmp_path: Path) -> None:
    """S: using a closed store raised raw sqlite3.ProgrammingError."""
    store = store_at(tmp_path)
    store.close()
    for call in (
        lambda: store.load("x"),
        lambda: store.document("x"),
        store.unfinished_job_ids,
        lambda: store.acquire("x"),
    ):
        with pytest.raises(StoreError, match="closed"):
            call()
    store.release("x")  # giving up after closing is harmless
    store.close()


# -- S: fuzzing a real job file ------------------------------------------------------


@pytest.fixture(scope="module")
def job_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A template file (copied by each example) and its job's id."""
    path, job_id = crash_file(tmp_path_factory.mktemp("template"))
    return Path(path), job_id


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
COLUMNS = {
    "jobs": ("job_id", "flow_id", "status", "updated_at"),
    "history": ("first_seq", "count"),
    "records": ("kind", "first_seq", "count"),
    "pending": ("first_seq", "last_seq"),
}


def mutate_json(value: Any, data: st.DataObject) -> Any:
    """``value`` with one place in it changed, deleted or given another type."""
    if isinstance(value, (list, dict)) and value and data.draw(st.booleans()):
        keys = list(range(len(value))) if isinstance(value, list) else list(value)
        key = data.draw(st.sampled_from(keys))
        action = data.draw(st.sampled_from(["descend", "delete"]))
        copy: Any = list(value) if isinstance(value, list) else dict(value)
        if action == "delete":
            del copy[key]
        else:
            copy[key] = mutate_json(value[key], data)
        return copy
    return data.draw(
        st.one_of(JSON_VALUES, st.just([value]), st.just(str(value)), st.just({"v": value}))
    )


def check_only_serialization_errors(path: str, job_id: str, expect_error: bool) -> None:
    """Every way of reading the file gives a correct result or SerializationError."""
    try:
        store = SQLiteStore(path)
    except SerializationError:
        return
    try:
        try:
            ids = store.unfinished_job_ids()
            assert all(isinstance(i, str) for i in ids)
        except SerializationError:
            pass
        for read in (store.document, store.load):
            try:
                result = read(job_id)
            except SerializationError:
                continue
            assert not expect_error, f"{read.__name__} accepted a file with rows missing"
            assert result is None or isinstance(result, (dict, JobState))
        try:
            job = damage_flow(store).recover(job_id, store, wait=True)
        except (SerializationError, ConfigurationError):
            pass  # a flow mismatch, or pending work this flow lacks: documented
        except JobStateError as exc:
            assert "no such job" in str(exc)
        else:
            assert not expect_error
            assert job.is_finished or job.status == "paused"
    finally:
        store.close()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzzed_rows_give_only_serialization_errors(
    job_file: tuple[Path, str], data: st.DataObject
) -> None:
    """S: mutated JSON bodies and columns of a real job file (values changed, keys
    deleted, types changed, rows deleted) give a correct load or SerializationError
    from load, document, unfinished_job_ids and Flow.recover; never a raw error, never
    a job completed without the work whose rows were deleted."""
    template, job_id = job_file[0].read_bytes(), job_file[1]
    table = data.draw(st.sampled_from(sorted(BODIES)))
    action = data.draw(st.sampled_from(["body", "column", "delete row"]))
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "jobs.db")
        Path(path).write_bytes(template)
        with sqlite3.connect(path) as db:
            rows = db.execute(select(table)).fetchall()
            if not rows:
                return
            *key, body = data.draw(st.sampled_from(rows))
            try:
                if action == "body":
                    changed = mutate_json(json.loads(body), data)
                    text = json.dumps(changed) if data.draw(st.booleans()) else str(changed)
                    db.execute(
                        f"UPDATE {table} SET {BODIES[table]} = ? WHERE {where(table)}",
                        (text, *key),
                    )
                elif action == "column":
                    column = data.draw(st.sampled_from(COLUMNS[table]))
                    value = data.draw(
                        st.one_of(
                            st.integers(-5, 2**40), st.text(max_size=5), st.floats(), st.binary()
                        )
                    )
                    db.execute(
                        f"UPDATE {table} SET {column} = ? WHERE {where(table)}", (value, *key)
                    )
                else:
                    db.execute(f"DELETE FROM {table} WHERE {where(table)}", key)
            except sqlite3.IntegrityError:
                return  # the mutation itself broke a constraint: nothing to read
        db.close()
        # Every history, log and pending row of the template is counted by its
        # checkpoint: deleting one must be noticed.
        expect_error = action == "delete row" and table != "jobs"
        check_only_serialization_errors(path, job_id, expect_error)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.one_of(st.none(), st.integers(0, 70_000)),
    flips=st.lists(st.tuples(st.integers(0, 70_000), st.integers(1, 255)), max_size=6),
)
def test_fuzzed_bytes_give_only_serialization_errors(
    job_file: tuple[Path, str], cut: int | None, flips: list[tuple[int, int]]
) -> None:
    """S: a truncated file or flipped bytes give a correct load or SerializationError
    (an error of SQLite's own included), never a raw sqlite3 error."""
    template, job_id = job_file[0].read_bytes(), job_file[1]
    data = bytearray(template if cut is None else template[:cut])
    for offset, mask in flips:
        if offset < len(data):
            data[offset] ^= mask
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "jobs.db")
        Path(path).write_bytes(bytes(data))
        check_only_serialization_errors(path, job_id, False)


# -- Y: ids of the wrong type ----------------------------------------------------------


@pytest.mark.parametrize("value", [5, 2**70, None, b"id", ["id"], "\ud800"])
@pytest.mark.parametrize("method", ["load", "document", "acquire", "release"])
def test_a_job_id_of_the_wrong_type_is_invalid_payload(
    tmp_path: Path, method: str, value: Any
) -> None:
    """Y: a non-str job id raised raw sqlite3.ProgrammingError or OverflowError; now
    InvalidPayloadError naming the method and the argument."""
    store = store_at(tmp_path)
    with pytest.raises(InvalidPayloadError, match=f"SQLiteStore.{method}: job_id"):
        getattr(store, method)(value)


@pytest.mark.parametrize("value", [5, 2**70, b"flow", ["flow"], "\udfff"])
@pytest.mark.parametrize("method", ["unfinished_job_ids", "unfinished_jobs"])
def test_a_flow_id_of_the_wrong_type_is_invalid_payload(
    tmp_path: Path, method: str, value: Any
) -> None:
    """Y: the same for the flow id of the listings (None means every flow)."""
    store = store_at(tmp_path)
    assert getattr(store, method)(None) == []
    with pytest.raises(InvalidPayloadError, match=f"SQLiteStore.{method}: flow_id"):
        getattr(store, method)(value)


# -- issue 9: written against the public store protocol --------------------------------


def test_the_sqlite_store_uses_no_private_name() -> None:
    """issue 9 (item 2): SQLiteStore is written against the public store protocol and
    routilux.documents only: it imports no private module of routilux and reads no
    private attribute of a job, its tracker or anything else but itself (the check of
    the third-party DictStore, applied to sqlite.py). It may use the helpers the
    durable stores share (routilux.stores._incremental and _leases), which are held to
    the same rule."""
    shared = ("routilux.stores._incremental", "routilux.stores._leases")
    source = Path(routilux.stores.sqlite.__file__).read_text(encoding="utf-8")
    assert [use for use in private_uses(source) if not any(n in use for n in shared)] == []
    assert "routilux.documents" in source  # the check reads the right file
    for name in shared:
        helper = Path(importlib.import_module(name).__file__ or "").read_text(encoding="utf-8")
        assert [use for use in private_uses(helper) if not any(n in use for n in shared)] == [], (
            name
        )


# The rows SQLiteStore wrote before it was rewritten against the public store protocol
# (issue 9), as a crash left them: job src -> flaky -> gate -> sink and src -> sink
# (sink merging with append), flaky(0) waiting for a retry, gate(2) running.
OLD_ROWS: dict[str, list[list[Any]]] = {
    "jobs": [
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            "pinned",
            "running",
            1796540792.8847375,
            (
                '{"job_id":"e382f853-b2a2-4de2-bb5b-2cdeb657ff54","flow_id":"pinned","status"'
                ':"running","current_routine_id":"src","created_at":"2026-12-06T07:06:32.8820'
                '33","updated_at":"2026-12-06T07:06:32.884598","routine_states":{"sink":{"rec'
                'eived":[{"value":[0,1,2]},{"value":[0,1,2]},{"value":[0,1,2]}]}},"shared_dat'
                'a":{},"deferred_events":[],"merge_buffers":{"sink":{"input":{"value":[0,1,2]'
                '}}},"results":{},"history_limit":null,"history_dropped":0,"execution_tracker'
                '":{"routine_executions":{"src":[{"routine_id":"src","start_time":"2026-12-06'
                'T07:06:32.882441","params":{"count":3},"status":"running"}]},"performance_me'
                'trics":{},"recorded_events":[]},"delayed":[{"slot_routine_id":"flaky","slot_'
                'name":"input","data":{"value":0},"retry_count":1,"merged":true,"is_entry":fa'
                'lse,"activation_id":"b4f577cb1.1"}],"pending_from":8,"pending_to":10,"histor'
                'y_end":8,"records_end":{"shared_log":1,"output_log":1,"errors":0,"pause_poin'
                'ts":0}}'
            ),
        ],
    ],
    "history": [
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            0,
            1,
            '[["src","start",{"count":3},1796540792.8824315,"record"]]',
        ],
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            1,
            3,
            (
                '[["src","output",{"value":0},1796540792.8831778],["src","output",{"value":1}'
                ',1796540792.883179],["src","output",{"value":2},1796540792.8831794]]'
            ),
        ],
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            4,
            1,
            (
                '[["flaky","retry",{"slot":"input","error":"failing on 0","error_type":"Runti'
                'meError","attempt":0,"delay":60.0},1796540792.8836844,"record"]]'
            ),
        ],
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            5,
            1,
            '[["flaky","output",{"value":1},1796540792.8839335]]',
        ],
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            6,
            1,
            '[["flaky","output",{"value":2},1796540792.8842754]]',
        ],
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            7,
            1,
            '[["gate","output",{"value":1},1796540792.8845983]]',
        ],
    ],
    "records": [
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            "output_log",
            0,
            1,
            (
                '[{"routine_id":"gate","output_type":"seen","data":{"value":1},"timestamp":"2'
                '026-12-06T07:06:32.884592"}]'
            ),
        ],
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            "shared_log",
            0,
            1,
            '[{"gate":1,"timestamp":"2026-12-06T07:06:32.884587"}]',
        ],
    ],
    "pending": [
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            8,
            8,
            '[["gate","input",{"value":2},0,false,false,"b4f577cb1.8"]]',
        ],
        [
            "e382f853-b2a2-4de2-bb5b-2cdeb657ff54",
            9,
            9,
            '[["sink","input",{"value":1},0,false,false,"b4f577cb1.9"]]',
        ],
    ],
}


def old_file(tmp_path: Path) -> tuple[str, str]:
    """A store file holding :data:`OLD_ROWS` (tables made by today's store, which are
    the same). Returns (path, job id)."""
    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        for table, rows in OLD_ROWS.items():
            for row in rows:
                marks = ", ".join("?" * len(row))
                db.execute(f"INSERT INTO {table} VALUES ({marks})", row)
        db.commit()
    return str(path), OLD_ROWS["jobs"][0][0]


class LoggingGate(Routine):
    """Logs and outputs each value, relays it; blocks on ``release`` for ``block_on``."""

    def __init__(self, block_on: Any = None) -> None:
        super().__init__()
        self.block_on = block_on
        self.entered = threading.Event()
        self.release = threading.Event()
        self.define_slot("input", handler=self.work)
        self.define_event("output", ["value"])

    def work(self, value: Any) -> None:
        job_state = self.require_execution_context().job_state
        job_state.append_to_shared_log({"gate": value})
        job_state.send_output("gate", "seen", {"value": value})
        if value == self.block_on:
            self.entered.set()
            assert self.release.wait(10)
        self.emit("output", value=value)


def pinned_flow(store: SQLiteStore, flaky: Failing, gate: LoggingGate) -> Flow:
    """The flow of :data:`OLD_ROWS`."""
    flaky.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=60))
    flow = Flow("pinned", store=store)
    flow.add_routine(Source(), "src")
    flow.add_routine(flaky, "flaky")
    flow.add_routine(gate, "gate")
    flow.add_routine(Collector("append"), "sink")
    flow.connect("src", "output", "flaky", "input")
    flow.connect("src", "output", "sink", "input")
    flow.connect("flaky", "output", "gate", "input")
    flow.connect("gate", "output", "sink", "input")
    return flow


def test_a_file_written_before_the_rewrite_loads_and_recovers(tmp_path: Path) -> None:
    """issue 9: the rewrite against the public protocol keeps the file format: rows
    the earlier SQLiteStore wrote (history and log batches, pending rows, a retry
    waiting in the snapshot, merge buffers) load, and the job recovers from them."""
    path, job_id = old_file(tmp_path)
    store = SQLiteStore(path)
    assert store.unfinished_job_ids("pinned") == [job_id]
    document = store.document(job_id)
    assert document is not None
    assert [
        (p["slot_routine_id"], p["data"], p["retry_count"], p["merged"])
        for p in document["pending_tasks"]
    ] == [
        ("gate", {"value": 2}, 0, False),
        ("sink", {"value": 1}, 0, False),
        ("flaky", {"value": 0}, 1, True),  # the retry, from the snapshot
    ]
    assert document["merge_buffers"] == {"sink": {"input": {"value": [0, 1, 2]}}}
    assert [row[:2] for row in document["execution_history"]] == [
        ["src", "start"],
        *[["src", "output"]] * 3,
        ["flaky", "retry"],
        ["flaky", "output"],
        ["flaky", "output"],
        ["gate", "output"],
    ]
    assert document["execution_history"][0][4] == "record"
    assert [entry["gate"] for entry in document["shared_log"]] == [1]
    assert [entry["data"] for entry in document["output_log"]] == [{"value": 1}]

    flow = pinned_flow(store, Failing(fail_on=set()), LoggingGate())
    recovered = flow.recover(job_id, store, wait=True)
    assert recovered.status == "completed"
    received = (recovered.get_routine_state("sink") or {})["received"]
    # Appended after the three from src: sink(1) pending, gate(2), then the retried 0.
    assert received[-1] == {"value": [0, 1, 2, 1, 2, 0]}


def normalised_rows(path: str) -> dict[str, Any]:
    """The tables' JSON bodies flattened across batches, ids and times replaced."""
    with closing(sqlite3.connect(path)) as db:
        tables = {
            table: [list(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")]
            for table in ("jobs", "history", "records", "pending")
        }
    for table, expand in (("history", expand_history), ("pending", expand_pending_columns)):
        for row in tables[table]:
            body = json.loads(row[3])
            if type(body) is dict:
                row[3] = json.dumps(expand(body))
    return normalise_rows(tables)


def expand_pending_columns(columns: Any) -> list[list[Any]]:
    """Pending columns as the rows earlier stores wrote."""
    return [
        [
            task["slot_routine_id"],
            task["slot_name"],
            task["data"],
            task["retry_count"],
            task["merged"],
            task["is_entry"],
            task["activation_id"],
        ]
        for task in expand_activations(columns)
    ]


def normalise_rows(tables: dict[str, list[list[Any]]]) -> dict[str, Any]:
    def clean(text: str) -> Any:
        text = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<uuid>", text)
        text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+", "<time>", text)
        text = re.sub(r'"[0-9a-f]+\.(\d+)"', r'"<id>.\1"', text)
        return json.loads(re.sub(r"\b\d{10}\.\d+\b", "0.5", text))

    (job,) = tables["jobs"]
    return {
        "snapshot": clean(job[4]),
        "history": [entry for row in tables["history"] for entry in clean(row[3])],
        "records": [(row[1], entry) for row in tables["records"] for entry in clean(row[4])],
        "pending": [entry for row in tables["pending"] for entry in clean(row[3])],
    }


def test_the_rows_written_are_those_the_earlier_store_wrote(tmp_path: Path) -> None:
    """issue 9: the same run, checkpointed by today's store, writes what the earlier
    SQLiteStore wrote (ids and times aside; batches may be cut elsewhere): the
    snapshot's keys and values, history rows with times in seconds and "record" marks,
    log records, pending rows. History and pending batches are now kept by column
    (routilux.documents.compact_history), and expand to the very rows of before."""
    store = store_at(tmp_path, checkpoint_every=1)
    gate = LoggingGate(block_on=2)
    flow = pinned_flow(store, Failing(fail_on={0}, times=1), gate)
    job = flow.execute("src", {"count": 3}, wait=False)
    assert gate.entered.wait(10)
    crashed = copy_of(store, tmp_path, "crashed.db")
    flow.cancel(job)
    gate.release.set()
    assert job.wait_for_completion(10)
    assert normalised_rows(crashed.path) == normalise_rows(OLD_ROWS)
