"""issue 9: a store written by a third party against the public store protocol only.

``tests/dict_store.py`` holds :class:`DictStore`, written as somebody outside the
project would write a store: JobStore's methods, a Checkpointer, ``Checkpoint.document``
and ``JobState.serialize``/``deserialize``. These tests check that it uses no private
name, that it sees the calls of a job's life, and that the SQLite store's recovery
scenarios hold for it as for SQLiteStore, on both runtimes: a retry waiting at a crash
runs after recovery; a finished job is never listed as unfinished. The scenarios with
real processes (kill -9, pause in one process and continue in another) are in
``test_recovery.py``, parametrised over both stores.
"""

from __future__ import annotations

import ast
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import redis
from dict_store import DictStore
from redis_server import server_url, store_prefix

from routilux import ErrorHandler, Flow, JobState, Routine
from routilux.exceptions import InvalidPayloadError, JobStateError, SerializationError
from routilux.runtimes import AsyncioRuntime, ThreadRuntime
from routilux.stores import JobStore, RedisStore, SQLiteStore

from helpers import Collector, Failing, Gate, Source

DICT_STORE_SOURCE = Path(__file__).resolve().parent / "dict_store.py"

Store = SQLiteStore | DictStore | RedisStore


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "dict", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    """The store the scenarios run on (issue 10: the Redis store too, on the tests'
    server; skipped without one)."""
    name: str = request.param
    if name == "redis":
        request.getfixturevalue("redis_url")
    return name


@pytest.fixture(params=["threads", "asyncio"])
def runtime(request: pytest.FixtureRequest) -> Iterator[ThreadRuntime | AsyncioRuntime]:
    made = ThreadRuntime() if request.param == "threads" else AsyncioRuntime()
    yield made
    made.shutdown(wait=False)


def open_store(kind: str, path: Path, every: int) -> Store:
    if kind == "sqlite":
        return SQLiteStore(path, checkpoint_every=every)
    if kind == "redis":
        url = server_url()
        assert url is not None
        return RedisStore(url, prefix=store_prefix(path), checkpoint_every=every)
    return DictStore(path, every=every)


def crashed_copy(kind: str, store: Store, tmp_path: Path) -> Store:
    """A copy of what the store's file holds now, as a crash would leave it: the
    leases of the store that wrote it are gone with it."""
    target = tmp_path / f"crashed.{kind}"
    if isinstance(store, RedisStore):
        client = redis.Redis.from_url(server_url() or "")
        copy = store_prefix(target)
        for key in client.scan_iter(f"{store.prefix}:*"):
            name = key.decode()
            if not name.endswith(":lease"):
                client.copy(key, copy + name[len(store.prefix) :])
        return RedisStore(server_url() or "", prefix=copy)
    if isinstance(store, SQLiteStore):
        with (
            closing(sqlite3.connect(store.path)) as source,
            closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
            copy.execute("DELETE FROM leases")
            copy.commit()
        return SQLiteStore(target)
    assert store.path is not None
    body = json.loads(Path(store.path).read_text(encoding="utf-8"))
    body["leases"] = {}
    target.write_text(json.dumps(body), encoding="utf-8")
    return DictStore(target)


class Pausing(Routine):
    """Entry: emits ``value=0..2`` and pauses its job."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self) -> None:
        for value in range(3):
            self.emit("output", value=value)
        ctx = self.require_execution_context()
        ctx.flow.pause(ctx.job_state, reason="halfway")


# -- the store uses the public protocol only ----------------------------------------


def private_uses(source: str) -> list[str]:
    """Where ``source`` reaches into something private: an import of a module or name
    starting with ``_``, or an attribute ``_x`` of anything but ``self`` (dunders
    aside), or ``getattr``-style access by such a name."""
    found: list[str] = []

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if any(private(part) for part in module.split(".")):
                found.append(f"line {node.lineno}: from {module} import ...")
            found.extend(
                f"line {node.lineno}: imports {alias.name} from {module}"
                for alias in node.names
                if private(alias.name)
            )
        elif isinstance(node, ast.Import):
            found.extend(
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if any(private(part) for part in alias.name.split("."))
            )
        elif isinstance(node, ast.Attribute) and private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_checker_finds_private_uses() -> None:
    """issue 9: the check below is not vacuous."""
    source = (
        "from routilux._job_document import job_to_document\n"
        "import routilux._engine.machine\n"
        "from routilux.stores.sqlite import _JobWriter\n"
        "def f(job_state):\n"
        "    self = job_state\n"
        "    return job_state._merge_buffers, getattr(job_state, '_lock'), self._x\n"
    )
    assert len(private_uses(source)) == 5  # self._x is the object's own


def test_the_dict_store_uses_no_private_name() -> None:
    """issue 9: the public store protocol suffices to write a durable store: DictStore
    (checkpoints, recovery, leases) reaches into nothing private of routilux."""
    assert private_uses(DICT_STORE_SOURCE.read_text(encoding="utf-8")) == []
    assert issubclass(DictStore, JobStore)
    overridden = {"job_started", "job_settled", "load", "unfinished_job_ids"}
    overridden |= {"acquire", "release", "job_released", "checkpointer", "unfinished_jobs"}
    assert all(name in vars(DictStore) for name in overridden)


# -- what the store sees of a job's life ----------------------------------------------


def test_the_dict_store_sees_each_call_of_a_job_s_life(
    runtime: ThreadRuntime | AsyncioRuntime,
) -> None:
    """issue 9: start, checkpoints, pause, a resume on another flow object with another
    store, and a recovery from the first store reach a third-party store through its
    public methods (counted)."""
    store = DictStore(every=2)
    flow = Flow("counted", store=store, runtime=runtime)
    flow.add_routine(Pausing(), "first")
    flow.add_routine(Collector("append"), "sink")
    flow.connect("first", "output", "sink", "input")
    job = flow.execute("first")
    assert job.status == "paused"
    assert store.unfinished_job_ids() == [job.job_id]
    calls = dict(store.calls)
    # The job is recorded before its first activation runs, then after each two.
    assert calls.pop("capture") == calls.pop("write") >= 1
    assert calls == {
        "job_started": 1,
        "acquire": 1,
        "checkpointer": 1,
        "job_settled": 1,
        "settle_write": 1,
        "unfinished_job_ids": 1,
    }
    stored = store.load(job.job_id)
    assert stored is not None and stored.status == "paused"
    assert [task["data"] for task in stored.pending_tasks] == [{"value": v} for v in range(3)]

    # Resumed on another flow object with its own store: the first is told the job left.
    other_store = DictStore()
    other = Flow("counted", store=other_store, runtime=runtime)
    other.add_routine(Pausing(), "first")
    other.add_routine(Collector("append"), "sink")
    other.connect("first", "output", "sink", "input")
    other.resume(job, wait=True)
    assert job.status == "completed"
    assert store.calls["job_released"] == 1
    assert other_store.calls["job_started"] == other_store.calls["job_settled"] == 1
    assert other_store.unfinished_job_ids() == []

    # The first store still holds the paused job: recovering it from there runs the rest.
    recovered = flow.recover(job.job_id, store, wait=True)
    assert recovered.status == "completed"
    received = (recovered.get_routine_state("sink") or {})["received"]
    assert received[-1] == {"value": [0, 1, 2]}
    assert store.calls["job_started"] == store.calls["job_settled"] == 2
    assert store.calls["checkpointer"] == 2
    assert store.unfinished_job_ids() == []
    assert store.calls["acquire"] == 3  # the start, and the recovery: recover and start


# -- the SQLite store's recovery scenarios, for both stores ---------------------------


def test_a_retry_waiting_at_a_crash_runs_after_recovery(
    tmp_path: Path, kind: str, runtime: ThreadRuntime | AsyncioRuntime
) -> None:
    """issue 9: a retry waiting for its delay when the process dies is stored as
    pending work and runs (at once) after recovery, from SQLite and from a third-party
    store alike."""
    store = open_store(kind, tmp_path / f"jobs.{kind}", every=1)

    def build(target: Store, flaky: Failing, gate: Gate) -> Flow:
        flaky.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=60))
        flow = Flow("retrying", store=target, runtime=runtime)
        flow.add_routine(Source(), "src")
        flow.add_routine(flaky, "flaky")
        flow.add_routine(gate, "gate")
        flow.add_routine(Collector(), "sink")
        flow.connect("src", "output", "flaky", "input")
        flow.connect("src", "output", "gate", "input")
        flow.connect("flaky", "output", "sink", "input")
        return flow

    gate = Gate(block_on=1)
    flow = build(store, Failing(fail_on={0}, times=1), gate)
    job = flow.execute("src", {"count": 2}, wait=False)
    assert gate.entered.wait(10)  # flaky(0) failed and waits a minute for its retry
    crashed = crashed_copy(kind, store, tmp_path)
    flow.cancel(job)
    gate.release.set()
    assert job.wait_for_completion(10)

    stored = crashed.load(job.job_id)
    assert stored is not None and stored.status == "running"
    retry = [p for p in stored.pending_tasks if p["retry_count"] == 1]
    assert [(p["slot_routine_id"], p["data"]) for p in retry] == [("flaky", {"value": 0})]

    rebuilt = build(crashed, Failing(fail_on=set()), Gate(block_on=None))
    recovered = rebuilt.recover(job.job_id, crashed, wait=True)
    assert recovered.status == "completed"
    received = (recovered.get_routine_state("sink") or {})["received"]
    assert sorted(r["value"] for r in received) == [0, 1]
    assert crashed.unfinished_job_ids() == []


class Boom(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)

    def go(self) -> None:
        raise RuntimeError("boom")


class Opaque:
    """Data no store can write."""


class LateHoarder(Routine):
    """Stores something unsaveable after the job's first (and only) checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.keep)

    def keep(self, value: Any) -> None:
        self.require_execution_context().job_state.update_shared_data("lock", Opaque())


def finish_completed(flow: Flow) -> JobState:
    flow.add_routine(Source(), "src")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "sink", "input")
    return flow.execute("src", {"count": 3})


def finish_failed(flow: Flow) -> JobState:
    flow.add_routine(Boom(), "boom")
    return flow.execute("boom")


def finish_cancelled(flow: Flow) -> JobState:
    gate = Gate(block_on=0)
    flow.add_routine(Source(), "src")
    flow.add_routine(gate, "gate")
    flow.connect("src", "output", "gate", "input")
    job = flow.execute("src", {"count": 3}, wait=False)
    assert gate.entered.wait(10)
    flow.cancel(job)
    gate.release.set()
    assert job.wait_for_completion(10)
    return job


def finish_unwritable(flow: Flow) -> JobState:
    flow.add_routine(Source(), "src")
    flow.add_routine(LateHoarder(), "hoarder")
    flow.connect("src", "output", "hoarder", "input")
    return flow.execute("src", {"count": 2})


FINISHES: dict[str, tuple[Callable[[Flow], JobState], str]] = {
    "completed": (finish_completed, "completed"),
    "failed": (finish_failed, "failed"),
    "cancelled": (finish_cancelled, "cancelled"),
    "last write fails": (finish_unwritable, "completed"),
}


@pytest.mark.parametrize("finish", sorted(FINISHES))
def test_a_finished_job_is_not_listed_as_unfinished(
    tmp_path: Path, kind: str, runtime: ThreadRuntime | AsyncioRuntime, finish: str
) -> None:
    """issue 9: a job that completed, failed or was cancelled -- or whose final state
    cannot be written -- is stored finished with no pending work, and neither this
    store object nor a new one on the same file (a new process) lists it as
    unfinished, so no recovery runs its work again."""
    run, status = FINISHES[finish]
    path = tmp_path / f"jobs.{kind}"
    store = open_store(kind, path, every=1000)  # one checkpoint, when the job starts
    job = run(Flow("finishing", store=store, runtime=runtime))
    assert job.status == status
    assert store.unfinished_job_ids() == []
    if finish == "last write fails":
        if isinstance(store, DictStore):
            # The engine cannot be told any more (see dict_store's docstring).
            assert [failed for failed, _ in store.failures] == [job.job_id]
            assert isinstance(store.failures[0][1], SerializationError)
        else:
            assert [error["strategy"] for error in job.errors] == ["store"]
    for reader in (store, None):
        if reader is None:
            store.close()
            reader = open_store(kind, path, every=1000)
        assert reader.unfinished_job_ids("finishing") == []
        stored = reader.load(job.job_id)
        assert stored is not None
        assert stored.status == status
        assert stored.pending_tasks == []
        if finish == "completed":
            assert [r["value"] for r in (stored.get_routine_state("sink") or {})["received"]] == [
                0,
                1,
                2,
            ]


# -- the third-party store's own checks ----------------------------------------------


@pytest.mark.parametrize("value", [5, None, b"id", ["id"]])
@pytest.mark.parametrize("method", ["load", "acquire", "release"])
def test_a_job_id_that_is_not_a_str_is_invalid_payload(method: str, value: Any) -> None:
    """issue 9: the store checks ids with the built-in stores' message."""
    with pytest.raises(InvalidPayloadError, match=f"DictStore.{method}: job_id must be a str"):
        getattr(DictStore(), method)(value)


@pytest.mark.parametrize("method", ["unfinished_job_ids", "unfinished_jobs"])
def test_a_flow_id_that_is_not_a_str_is_invalid_payload(method: str) -> None:
    store = DictStore()
    assert getattr(store, method)(None) == []
    with pytest.raises(InvalidPayloadError, match=f"DictStore.{method}: flow_id"):
        getattr(store, method)(7)


DAMAGED_FILES = {
    "not JSON": ("{", "is not JSON"),
    "another format": (json.dumps({"format": "x"}), "is not a DictStore file"),
    "jobs not text": (
        json.dumps({"format": "routilux-tests.dict-store", "jobs": {"j": 1}, "leases": {}}),
        "'jobs' is not an object of strings",
    ),
    "a job not JSON": (
        json.dumps({"format": "routilux-tests.dict-store", "jobs": {"j": "{"}, "leases": {}}),
        "job 'j' is not JSON",
    ),
    "a job without status": (
        json.dumps({"format": "routilux-tests.dict-store", "jobs": {"j": "{}"}, "leases": {}}),
        "job 'j' has no flow_id or status",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_FILES))
def test_a_damaged_file_is_a_serialization_error_naming_it(tmp_path: Path, damage: str) -> None:
    text, message = DAMAGED_FILES[damage]
    path = tmp_path / "jobs.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SerializationError, match=message) as caught:
        DictStore(path)
    assert str(path) in str(caught.value)


def test_a_damaged_job_document_is_a_serialization_error_naming_the_job(tmp_path: Path) -> None:
    document = json.dumps({"format": "routilux.job", "flow_id": "f", "status": "running"})
    body = {"format": "routilux-tests.dict-store", "jobs": {"j": document}, "leases": {}}
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    store = DictStore(path)
    assert store.unfinished_job_ids() == ["j"]
    with pytest.raises(SerializationError, match="job 'j'"):
        store.load("j")


def test_a_lease_held_by_a_live_owner_refuses_recovery(tmp_path: Path) -> None:
    """issue 9: two store objects never run one job at once: a claim on a job another
    live owner runs is refused, naming the owner."""
    path = tmp_path / "jobs.json"
    store = DictStore(path, every=1)
    flow = Flow("leased", store=store)
    gate = Gate(block_on=0)
    flow.add_routine(Source(), "src")
    flow.add_routine(gate, "gate")
    flow.connect("src", "output", "gate", "input")
    job = flow.execute("src", {"count": 2}, wait=False)
    assert gate.entered.wait(10)
    other = DictStore(path)
    try:
        with pytest.raises(JobStateError, match=f"being run by {store.owner}"):
            other.acquire(job.job_id)
    finally:
        gate.release.set()
        assert job.wait_for_completion(10)


# -- serializing the job a store is told about -----------------------------------------


def test_job_settled_can_serialize_the_job_it_is_told_about() -> None:
    """issue 9: a third-party store's ``job_settled`` gets the document of the job that
    settled (paused here, so with its pending work and merge buffers) through public
    API: ``job_state.serialize()`` called there returns the document at once. While a
    store records a settle, the job counts as saveable, so serialize does not wait for
    the settle it is part of (a hang would be caught by the suite's timeout)."""
    documents: list[dict[str, Any]] = []

    class Writing(DictStore):
        def job_settled(self, job_state: JobState) -> None:
            documents.append(job_state.serialize())
            super().job_settled(job_state)

    flow = Flow("settling", store=Writing())
    flow.add_routine(Pausing(), "first")
    flow.add_routine(Collector("append"), "sink")
    flow.connect("first", "output", "sink", "input")
    job = flow.execute("first")
    assert job.status == "paused"
    assert [document["status"] for document in documents] == ["paused"]
    assert len(documents[0]["pending_tasks"]) == 3
