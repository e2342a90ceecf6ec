"""issue 10 (item 1): RedisStore, against a real Redis server (see redis_server.py).

The kill -9 recovery scenarios with real processes run in ``test_recovery.py``,
parametrised over the stores, Redis included.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import start_server, stop_server, store_prefix

from routilux import ErrorHandler, Flow, JobState, Routine
from routilux.exceptions import (
    ConfigurationError,
    InvalidPayloadError,
    JobStateError,
    SerializationError,
    StoreError,
)
from routilux.stores import RedisStore

from helpers import Collector, Failing, Gate, Source

redis = pytest.importorskip("redis")


# -- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    made = redis.Redis.from_url(redis_url)
    yield made
    made.close()


@pytest.fixture
def prefix(tmp_path: Path, client: Any) -> Iterator[str]:
    name = store_prefix(tmp_path)
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def keys_of(client: Any, prefix: str) -> dict[str, int]:
    """The store's keys and the milliseconds each has left (-1: no expiry)."""
    return {key.decode(): client.pttl(key) for key in client.scan_iter(f"{prefix}:*")}


def job_key(prefix: str, job_id: str, name: str) -> str:
    return f"{prefix}:{{{job_id}}}:{name}"


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class Keeper(Routine):
    """Entry: stores values of many types in its job's shared data and channel, emits
    them, then pauses its job."""

    VALUES: dict[str, Any] = {
        "tuple": (1, "two", (3.5, None)),
        "when": datetime(2026, 12, 6, 9, 30, tzinfo=timezone.utc),
        "naive": datetime(2026, 1, 2, 3, 4, 5, 6),
        "set": frozenset({1, 2, 3}),
        "bytes": b"\x00\xffraw",
        "big": 2**80,
        "float": float("inf"),
        "nested": {"list": [1, (2, 3)], 7: "int key"},
    }

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.go)
        self.define_event("output", ["value"])

    def go(self) -> None:
        ctx = self.require_execution_context()
        for key, value in self.VALUES.items():
            ctx.job_state.update_shared_data(key, value)
        ctx.job_state.get_channel().set("channel_tuple", (9, 8))
        for value in self.VALUES.values():
            self.emit("output", value=value)
        ctx.flow.pause(ctx.job_state, reason="stored")


def keeper_flow(store: RedisStore) -> Flow:
    flow = Flow("keeper", store=store)
    flow.add_routine(Keeper(), "keeper")
    flow.add_routine(Collector("append"), "sink")
    flow.connect("keeper", "output", "sink", "input")
    return flow


def gated_flow(store: RedisStore, block_on: Any) -> tuple[Flow, Gate]:
    gate = Gate(block_on)
    flow = Flow("gated", store=store)
    flow.add_routine(Source(), "src")
    flow.add_routine(gate, "gate")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "gate", "input")
    flow.connect("gate", "output", "sink", "input")
    return flow, gate


# -- values, history, records --------------------------------------------------------


def test_values_round_trip_exactly(redis_url: str, prefix: str) -> None:
    """1: values keep their types through Redis (a tuple stays a tuple, a datetime a
    datetime, int keys stay ints), in shared data, channels, history and pending work."""
    store = RedisStore(redis_url, prefix=prefix, checkpoint_every=1)
    job = keeper_flow(store).execute("keeper")
    assert job.status == "paused"
    loaded = RedisStore(redis_url, prefix=prefix).load(job.job_id)
    assert loaded is not None and loaded.status == "paused"
    for key, value in Keeper.VALUES.items():
        assert loaded.shared_data[key] == value
        assert type(loaded.shared_data[key]) is type(value)
    assert loaded.get_channel().get("channel_tuple") == (9, 8)
    emitted = [r.data["value"] for r in loaded.execution_history if r.event_name == "output"]
    assert emitted == list(Keeper.VALUES.values())
    assert [type(v) for v in emitted] == [type(v) for v in Keeper.VALUES.values()]
    assert loaded.serialize() == job.serialize()


def test_a_paused_job_is_recovered_by_another_store_object(redis_url: str, prefix: str) -> None:
    """1: a job paused with a RedisStore continues from Redis alone, in another store
    object (as another process would), and is then stored finished."""
    store = RedisStore(redis_url, prefix=prefix)
    job = keeper_flow(store).execute("keeper")
    assert store.unfinished_job_ids() == [job.job_id]
    other = RedisStore(redis_url, prefix=prefix)
    assert other.unfinished_job_ids("keeper") == [job.job_id]
    assert other.unfinished_job_ids("another flow") == []
    recovered = keeper_flow(other).recover(job.job_id, other, wait=True)
    assert recovered.status == "completed"
    received = (recovered.get_routine_state("sink") or {})["received"]
    assert received[-1]["value"] == list(Keeper.VALUES.values())
    assert other.unfinished_job_ids() == store.unfinished_job_ids() == []
    stored = store.load(job.job_id)
    assert stored is not None and stored.status == "completed"


def test_a_retry_waiting_at_a_crash_runs_after_recovery(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1: a retry waiting for its delay when the process dies is stored as pending work
    and runs (at once) after recovery, as from SQLite."""

    def build(target: RedisStore, flaky: Failing, gate: Gate) -> Flow:
        flaky.set_error_handler(ErrorHandler("retry", max_retries=1, retry_delay=60))
        flow = Flow("retrying", store=target)
        flow.add_routine(Source(), "src")
        flow.add_routine(flaky, "flaky")
        flow.add_routine(gate, "gate")
        flow.add_routine(Collector(), "sink")
        flow.connect("src", "output", "flaky", "input")
        flow.connect("src", "output", "gate", "input")
        flow.connect("flaky", "output", "sink", "input")
        return flow

    store = RedisStore(redis_url, prefix=prefix, checkpoint_every=1)
    gate = Gate(block_on=1)
    flow = build(store, Failing(fail_on={0}, times=1), gate)
    job = flow.execute("src", {"count": 2}, wait=False)
    assert gate.entered.wait(10)  # flaky(0) failed and waits a minute for its retry
    # A crash now: copy what Redis holds to another prefix, without the lease.
    crashed_prefix = prefix + "-crashed"
    for key in client.scan_iter(f"{prefix}:*"):
        copy = crashed_prefix + key.decode()[len(prefix) :]
        if not copy.endswith(":lease"):
            client.copy(key, copy)
    flow.cancel(job)
    gate.release.set()
    assert job.wait_for_completion(10)

    crashed = RedisStore(redis_url, prefix=crashed_prefix)
    try:
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
    finally:
        for key in client.scan_iter(f"{crashed_prefix}:*"):
            client.delete(key)


def test_the_history_limit_bounds_what_redis_keeps(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1 (and issue 8 F for this store): a job with ``history_limit`` keeps a bounded
    history in Redis too: at most the limit and one checkpoint's rows."""
    store = RedisStore(redis_url, prefix=prefix, checkpoint_every=50, retention=None)
    flow = Flow("bounded", store=store, history_limit=30)
    flow.add_routine(Source(), "src")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "sink", "input")
    job = flow.execute("src", {"count": 2000})
    assert job.status == "completed"
    stored_rows = 0
    for member in client.zrange(job_key(prefix, job.job_id, "history"), 0, -1):
        _first, count, _body = member.decode().split(":", 2)
        stored_rows += int(count)
    assert 30 <= stored_rows <= 30 + 50 + 2
    loaded = store.load(job.job_id)
    assert loaded is not None
    assert len(loaded.execution_history) == len(job.execution_history) == 30
    assert loaded.serialize()["execution_history"] == job.serialize()["execution_history"]


# -- retention and keys ----------------------------------------------------------------


def test_a_finished_job_expires_and_nothing_else_is_left(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1: once a job finishes, its lease is gone, it leaves the unfinished list, and
    every key it has expires after the retention."""
    store = RedisStore(redis_url, prefix=prefix, checkpoint_every=2, retention=60)
    flow, _ = gated_flow(store, block_on=None)
    job = flow.execute("src", {"count": 5})
    assert job.status == "completed"
    left = keys_of(client, prefix)
    assert left, "the finished job is kept for the retention"
    assert all(key.startswith(f"{prefix}:{{{job.job_id}}}:") for key in left)
    assert not any(key.endswith(":lease") for key in left)
    assert all(0 < ttl <= 60_000 for ttl in left.values()), left
    assert client.zcard(f"{prefix}:unfinished") == 0


def test_a_listed_job_that_was_never_written_is_dropped_once_stale(
    redis_url: str, prefix: str, client: Any
) -> None:
    """A process that died between listing a job as started and its first checkpoint
    leaves an entry with nothing behind it: it is dropped once older than a lease and
    without a lease holder; a younger one (a job that is starting) stays listed, and
    a job written later is listed again by its write."""
    store = RedisStore(redis_url, prefix=prefix, lease_duration=5)
    unfinished = f"{prefix}:unfinished"
    now = time.time()
    client.zadd(unfinished, {"died-early": now - 60, "starting": now, "leased": now - 60})
    client.set(job_key(prefix, "leased", "lease"), "someone", px=60_000)
    assert store.unfinished_job_ids() == []
    assert {member.decode() for member in client.zrange(unfinished, 0, -1)} == {
        "starting",
        "leased",
    }
    flow, gate = gated_flow(store, block_on=1)
    job = flow.execute("src", {"count": 3}, wait=False)
    try:
        assert gate.entered.wait(10)
        assert store.unfinished_job_ids() == [job.job_id]
    finally:
        flow.cancel(job)
        gate.release.set()
        assert job.wait_for_completion(10)


def test_a_job_written_while_stale_entries_are_dropped_stays_listed(
    redis_url: str, prefix: str, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first checkpoint of a slow starter lands between the listing's read and its
    removal of the entry (the write's own ``ZADD NX`` then found it still there): the
    entry is listed again."""
    store = RedisStore(redis_url, prefix=prefix, lease_duration=5)
    unfinished = f"{prefix}:unfinished"
    client.zadd(unfinished, {"slow": time.time() - 60})
    real_zrem = store._client.zrem

    def written_meanwhile(name: str, *members: Any) -> Any:
        client.hset(job_key(prefix, "slow", "job"), mapping={"status": "running", "flow_id": "f"})
        return real_zrem(name, *members)

    monkeypatch.setattr(store._client, "zrem", written_meanwhile)
    assert store.unfinished_job_ids() == []
    monkeypatch.undo()
    assert store.unfinished_job_ids() == ["slow"]


def test_without_retention_a_finished_job_is_kept(redis_url: str, prefix: str, client: Any) -> None:
    store = RedisStore(redis_url, prefix=prefix, retention=None)
    flow, _ = gated_flow(store, block_on=None)
    job = flow.execute("src", {"count": 2})
    assert job.status == "completed"
    assert set(keys_of(client, prefix).values()) == {-1}
    assert (store.load(job.job_id) or JobState()).status == "completed"


def test_a_running_job_is_listed_and_holds_its_lease(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1: while a job runs its keys never expire, its lease names the store, and it is
    listed as unfinished; all of one job's keys share one hash slot (Redis Cluster)."""
    store = RedisStore(redis_url, prefix=prefix, checkpoint_every=1)
    flow, gate = gated_flow(store, block_on=1)
    job = flow.execute("src", {"count": 3}, wait=False)
    try:
        assert gate.entered.wait(10)
        assert store.unfinished_job_ids() == [job.job_id]
        lease = job_key(prefix, job.job_id, "lease")
        assert client.get(lease).decode() == store.owner
        assert 0 < client.pttl(lease) <= 30_000
        keys = [key for key in keys_of(client, prefix) if job.job_id in key]
        assert {redis.crc.key_slot(key.encode()) for key in keys} == {
            redis.crc.key_slot(job.job_id.encode())
        }
        assert all(client.pttl(key) == -1 for key in keys if not key.endswith(":lease"))
    finally:
        gate.release.set()
    assert job.wait_for_completion(10)
    assert client.exists(job_key(prefix, job.job_id, "lease")) == 0


# -- leases ----------------------------------------------------------------------------


def test_a_live_foreign_lease_refuses_recovery_and_an_expired_one_is_taken(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1 (issue 8 N for this store): a second owner gets a clear error naming the first;
    once the lease expires (Redis deletes it), it can take the job."""
    first = RedisStore(redis_url, prefix=prefix)
    second = RedisStore(redis_url, prefix=prefix)
    first.acquire("job")
    first.acquire("job")  # again: idempotent
    with pytest.raises(JobStateError, match="being run by") as refused:
        second.acquire("job")
    assert first.owner in str(refused.value)
    client.delete(job_key(prefix, "job", "lease"))  # what expiry does
    second.acquire("job")
    assert client.get(job_key(prefix, "job", "lease")).decode() == second.owner
    assert first.renew_leases() == ["job"]
    second.release("job")
    assert client.exists(job_key(prefix, "job", "lease")) == 0


def test_a_thread_renews_the_leases_while_any_is_held(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1: the store's daemon thread extends its leases every lease_duration / 3 while it
    holds any, and stops when it holds none."""
    store = RedisStore(redis_url, prefix=prefix, lease_duration=0.3)
    renewals = [0]
    changed = threading.Condition()
    renew = store.renew_leases

    def spy() -> list[str]:
        result = renew()
        with changed:
            renewals[0] += 1
            changed.notify_all()
        return result

    store.renew_leases = spy  # type: ignore[method-assign]
    store.acquire("job")
    lease = job_key(prefix, "job", "lease")
    client.pexpire(lease, 100_000)  # renewal sets it back to lease_duration
    with changed:
        # Two more renewals: the second one surely started after the pexpire.
        target = renewals[0] + 2
        assert changed.wait_for(lambda: renewals[0] >= target, 10)
    assert 0 < client.pttl(lease) <= 300
    store.release("job")
    assert client.exists(lease) == 0
    store.close()


def test_a_dead_process_lease_on_this_host_is_taken_over_at_once(
    redis_url: str, prefix: str, client: Any
) -> None:
    store = RedisStore(redis_url, prefix=prefix)
    host = store.owner.rsplit(":", 2)[0]
    client.set(job_key(prefix, "orphan", "lease"), f"{host}:{dead_pid()}:0123456789abcdef")
    store.acquire("orphan")
    assert client.get(job_key(prefix, "orphan", "lease")).decode() == store.owner
    client.set(job_key(prefix, "alive", "lease"), "elsewhere:4242:feedface", px=3_600_000)
    with pytest.raises(JobStateError, match="elsewhere:4242:feedface"):
        store.acquire("alive")


def test_a_write_after_the_lease_was_taken_over_is_refused_and_the_job_fails(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1: a frozen process whose job somebody else took over cannot overwrite it: its
    next checkpoint is refused ("lease lost") and the job fails; Redis keeps what the
    new owner's claim left."""
    store = RedisStore(redis_url, prefix=prefix, checkpoint_every=1)
    flow, gate = gated_flow(store, block_on=1)
    job = flow.execute("src", {"count": 3}, wait=False)
    assert gate.entered.wait(10)
    client.delete(job_key(prefix, job.job_id, "lease"))  # expired while the handler hung
    thief = RedisStore(redis_url, prefix=prefix)
    thief.acquire(job.job_id)
    before = client.hgetall(job_key(prefix, job.job_id, "job"))
    gate.release.set()
    assert job.wait_for_completion(10)
    assert job.status == "failed"
    assert "lease lost" in job.errors[0]["error"]
    assert thief.owner in job.errors[0]["error"]
    assert client.hgetall(job_key(prefix, job.job_id, "job")) == before
    assert client.get(job_key(prefix, job.job_id, "lease")).decode() == thief.owner


# -- bad input ---------------------------------------------------------------------------


DAMAGES: dict[str, tuple[str, Any]] = {
    "snapshot not JSON": ("job", {"snapshot": "{"}),
    "snapshot of another job": ("job", {"snapshot": json.dumps({"job_id": "x"})}),
    "status disagrees": ("job", {"status": "completed"}),
    "history member without numbers": ("history", "garbage"),
    "history batch not JSON": ("history", "0:2:[1,"),
    "history batch of the wrong length": ("history", "0:5:[]"),
    "history rows missing": ("history", None),
    "a value that does not decode": ("value", None),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_data_is_a_serialization_error_naming_the_job(
    redis_url: str, prefix: str, client: Any, damage: str
) -> None:
    """1: what this store did not write raises SerializationError naming the job (and
    the key where it can tell), never another exception or a wrong job."""
    store = RedisStore(redis_url, prefix=prefix)
    job = keeper_flow(store).execute("keeper")
    part, change = DAMAGES[damage]
    key = job_key(prefix, job.job_id, "job" if part in ("job", "value") else part)
    if part == "job":
        client.hset(key, mapping=change)
    elif part == "value":
        snapshot = json.loads(client.hget(key, "snapshot"))
        snapshot["shared_data"]["when"] = {"$datetime": "not a date"}
        client.hset(key, "snapshot", json.dumps(snapshot))
    elif change is None:
        client.delete(key)
    else:
        client.zadd(key, {change: 1})
    with pytest.raises(SerializationError, match=job.job_id):
        store.load(job.job_id)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    part=st.sampled_from(["history", "pending", "records:errors"]),
    member=st.one_of(
        st.text(max_size=40),
        st.builds(
            lambda first, count, body: f"{first}:{count}:{body}",
            st.integers(0, 30),
            st.integers(0, 30),
            st.one_of(st.text(max_size=20), st.just("[]"), st.just('[["a","b",{},1.5]]')),
        ),
    ),
)
def test_fuzzed_members_load_or_raise_serialization_error(
    redis_url: str, prefix: str, client: Any, part: str, member: str
) -> None:
    """1: any member added to a stored job's sorted sets either loads or raises
    SerializationError; the store never hands out another exception."""
    store = RedisStore(redis_url, prefix=prefix)
    job = keeper_flow(store).execute("keeper")
    client.zadd(job_key(prefix, job.job_id, part), {member: 0})
    try:
        loaded = store.load(job.job_id)
    except SerializationError as exc:
        assert job.job_id in str(exc)
    else:
        assert loaded is not None


def test_an_unreachable_server_is_a_store_error_naming_it() -> None:
    store = RedisStore(
        redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=2), prefix="nowhere"
    )
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1"):
        store.load("job")
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1"):
        store.unfinished_job_ids()


def test_the_password_of_a_url_is_never_shown() -> None:
    store = RedisStore("redis://user:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in repr(store)
    assert "127.0.0.1:1" in repr(store)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"url_or_client": 5}, "Redis URL or a redis.Redis client"),
        ({"url_or_client": "http://x"}, "not a Redis URL"),
        ({"prefix": "a{b"}, "prefix"),
        ({"prefix": ""}, "prefix"),
        ({"retention": 0}, "retention"),
        ({"lease_duration": float("nan")}, "lease_duration"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"checkpoint_every": True}, "checkpoint_every"),
    ],
)
def test_bad_settings_are_configuration_errors(arguments: dict[str, Any], message: str) -> None:
    settings_: dict[str, Any] = {"url_or_client": "redis://127.0.0.1:1/0", **arguments}
    with pytest.raises(ConfigurationError, match=message):
        RedisStore(**settings_)


@pytest.mark.parametrize("method", ["load", "document", "acquire", "release"])
@pytest.mark.parametrize("value", [5, None, b"id"])
def test_a_job_id_that_is_not_a_str_is_invalid_payload(
    redis_url: str, method: str, value: Any
) -> None:
    store = RedisStore(redis_url, prefix="never-written")
    with pytest.raises(InvalidPayloadError, match=f"RedisStore.{method}: job_id must be a str"):
        getattr(store, method)(value)


@pytest.mark.parametrize("method", ["load", "document", "acquire", "release"])
def test_a_job_id_that_cannot_be_stored_is_invalid_payload(redis_url: str, method: str) -> None:
    """1: an id with a lone surrogate is refused with the store's message, not a raw
    UnicodeEncodeError from redis-py."""
    store = RedisStore(redis_url, prefix="never-written")
    with pytest.raises(InvalidPayloadError, match="not valid Unicode"):
        getattr(store, method)("job\udc80")
    with pytest.raises(InvalidPayloadError, match="not valid Unicode"):
        store.unfinished_job_ids("flow\udc80")


def test_a_flow_id_that_is_not_a_str_is_invalid_payload(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis_url, prefix=prefix)
    assert store.unfinished_job_ids(None) == []
    with pytest.raises(InvalidPayloadError, match=r"RedisStore\.unfinished_jobs: flow_id"):
        store.unfinished_jobs(7)  # type: ignore[arg-type]


def test_a_client_with_decoded_responses_works(redis_url: str, prefix: str) -> None:
    store = RedisStore(redis.Redis.from_url(redis_url, decode_responses=True), prefix=prefix)
    job = keeper_flow(store).execute("keeper")
    loaded = store.load(job.job_id)
    assert loaded is not None and loaded.serialize() == job.serialize()


# -- a server that goes away, many jobs at once -----------------------------------------


def test_a_job_fails_when_redis_goes_away_and_the_store_reconnects_after_a_restart(
    redis_url: str, tmp_path: Path
) -> None:
    """1, 5: a checkpoint that cannot reach Redis fails its job with a StoreError naming
    the server (nothing hangs); once the server is back, the same store object works
    again (redis-py reconnects)."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server to restart a server of its own")
    process, url = start_server(str(tmp_path))
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    store = RedisStore(
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2),
        prefix="restart",
        checkpoint_every=1,
    )
    try:
        flow, gate = gated_flow(store, block_on=1)
        job = flow.execute("src", {"count": 3}, wait=False)
        assert gate.entered.wait(10)
        stop_server(process)
        gate.release.set()
        assert job.wait_for_completion(30)
        assert job.status == "failed"
        first = job.errors[0]
        assert (first["error_type"], first["strategy"]) == ("StoreError", "checkpoint")
        assert f"in Redis at redis://127.0.0.1:{port}" in first["error"]
        with pytest.raises(StoreError, match=rf"127\.0\.0\.1:{port}"):
            store.unfinished_job_ids()

        process, _ = start_server(str(tmp_path), port)
        again, _ = gated_flow(store, block_on=None)
        done = again.execute("src", {"count": 3})
        assert done.status == "completed"
        stored = store.load(done.job_id)
        assert stored is not None and stored.status == "completed"
    finally:
        gate.release.set()
        store.close()  # its lease keeper must not outlive the test (nor its server)
        stop_server(process)


def test_many_jobs_from_many_threads_are_each_stored_exactly(redis_url: str, prefix: str) -> None:
    """1: 40 jobs of one flow from 8 threads, checkpointed often into one store: each
    stored job equals its JobState, none is listed as unfinished."""
    store = RedisStore(redis_url, prefix=prefix, checkpoint_every=3)
    flow = Flow("many", store=store, execution_strategy="concurrent", max_workers=4)
    flow.add_routine(Source(), "src")
    flow.add_routine(Collector(), "sink")
    flow.connect("src", "output", "sink", "input")
    barrier = threading.Barrier(8)
    jobs: list[JobState] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        barrier.wait(10)
        for count in range(index, index + 5):
            job = flow.execute("src", {"count": count})
            with lock:
                jobs.append(job)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(jobs) == 40
    for job in jobs:
        assert job.status == "completed"
        stored = store.load(job.job_id)
        assert stored is not None
        assert stored.serialize() == job.serialize()
    assert store.unfinished_job_ids() == []


# -- attacks: contention, fuzzed job hashes, undecodable bytes, stale index entries ----


def test_store_objects_acquiring_at_the_same_moment_exactly_one_wins(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1: 8 threads, each with a store object of its own, claim the same job at once
    (several rounds): exactly one gets it; every other gets a JobStateError naming the
    winner's owner, and the lease in Redis is the winner's."""
    stores = [RedisStore(redis_url, prefix=prefix) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    outcomes: dict[tuple[int, int], BaseException | None] = {}
    lock = threading.Lock()
    rounds = 5

    def claim(index: int) -> None:
        for round_ in range(rounds):
            barrier.wait(30)
            outcome: BaseException | None = None
            try:
                stores[index].acquire(f"contested-{round_}")
            except BaseException as exc:  # anything else than JobStateError fails below
                outcome = exc
            with lock:
                outcomes[(round_, index)] = outcome

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(50)
        assert len(outcomes) == rounds * len(stores)
        for round_ in range(rounds):
            results = {i: outcomes[(round_, i)] for i in range(len(stores))}
            winners = [i for i, outcome in results.items() if outcome is None]
            assert len(winners) == 1, results
            owner = stores[winners[0]].owner
            for outcome in results.values():
                if outcome is not None:
                    assert type(outcome) is JobStateError, repr(outcome)
                    assert owner in str(outcome)
            lease = client.get(job_key(prefix, f"contested-{round_}", "lease"))
            assert lease.decode() == owner
    finally:
        barrier.abort()
        for store in stores:
            store.close()


_CLAIMANT = """
import sys
from routilux.exceptions import JobStateError
from routilux.stores import RedisStore

store = RedisStore(sys.argv[1], prefix=sys.argv[2])
print("ready", store.owner, flush=True)
if sys.stdin.readline().strip() != "go":
    sys.exit("no go line")
try:
    store.acquire("contested")
except JobStateError as exc:
    print("refused", " ".join(str(exc).split()), flush=True)
else:
    print("won", flush=True)
# Stay alive (a live owner) until the parent has both answers.
sys.stdin.readline()
store.close()
"""


def test_two_processes_acquiring_at_once_one_wins(
    redis_url: str, prefix: str, client: Any, tmp_path: Path
) -> None:
    """1: two processes claim the same job after the same "go": one prints "won", the
    other is refused with the winner's owner in the message."""
    children: list[subprocess.Popen[str]] = []
    try:
        for index in range(2):
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", _CLAIMANT, redis_url, prefix],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=(tmp_path / f"stderr-{index}").open("w"),
                    text=True,
                )
            )
        owners = []
        for index, child in enumerate(children):
            assert child.stdout is not None
            tag, _, owner = child.stdout.readline().strip().partition(" ")
            assert tag == "ready", (tmp_path / f"stderr-{index}").read_text()
            owners.append(owner)
        assert owners[0] != owners[1]
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        answers = []
        for index, child in enumerate(children):
            assert child.stdout is not None
            answer = child.stdout.readline().strip()
            assert answer, (tmp_path / f"stderr-{index}").read_text()
            answers.append(answer)
        won = [index for index, answer in enumerate(answers) if answer == "won"]
        assert len(won) == 1, answers
        winner, loser = won[0], 1 - won[0]
        assert answers[loser].startswith("refused "), answers
        assert owners[winner] in answers[loser]
        lease = client.get(job_key(prefix, "contested", "lease"))
        assert lease.decode() == owners[winner]
        for child in children:
            assert child.stdin is not None
            child.stdin.write("exit\n")
            child.stdin.close()
        for index, child in enumerate(children):
            assert child.wait(30) == 0, (tmp_path / f"stderr-{index}").read_text()
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def _clear(client: Any, prefix: str) -> None:
    """Delete the test's keys (a fuzz example starts from an empty prefix, so that
    one example's damage never reaches the next)."""
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def _paused_keeper(redis_url: str, prefix: str) -> tuple[RedisStore, JobState]:
    store = RedisStore(redis_url, prefix=prefix)
    job = keeper_flow(store).execute("keeper")
    assert job.status == "paused"
    return store, job


def _loads_or_names_the_job(store: RedisStore, job_id: str) -> None:
    """What load and document may do with damaged data: return the job, or raise
    SerializationError naming it; unfinished_job_ids lists, or raises the same."""
    try:
        loaded = store.load(job_id)
    except SerializationError as exc:
        assert job_id in str(exc)
    else:
        assert isinstance(loaded, JobState)
        assert loaded.job_id == job_id
    try:
        document = store.document(job_id)
    except SerializationError as exc:
        assert job_id in str(exc)
    else:
        assert isinstance(document, dict)
    try:
        listed = store.unfinished_job_ids()
    except SerializationError:
        pass
    else:
        assert isinstance(listed, list)


FIELD_VALUES = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=60),
    st.sampled_from(
        [b"\xff\xfe", b"\xc3", b"paused\xff", b'{"job_id": "\xff"}', "", "paused", "{}"]
    ),
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    field=st.sampled_from(["snapshot", "status", "flow_id", "updated_at"]),
    value=FIELD_VALUES,
)
def test_a_fuzzed_job_hash_field_loads_or_is_a_serialization_error(
    redis_url: str, prefix: str, client: Any, field: str, value: str | bytes
) -> None:
    """1: one field of a paused job's hash overwritten with any text or bytes (invalid
    UTF-8 included): load returns a JobState or raises SerializationError naming the
    job, never another exception."""
    _clear(client, prefix)
    store, job = _paused_keeper(redis_url, prefix)
    client.hset(job_key(prefix, job.job_id, "job"), field, value)
    _loads_or_names_the_job(store, job.job_id)
    if field == "updated_at":  # not read back: the job loads as it was
        loaded = store.load(job.job_id)
        assert loaded is not None and loaded.serialize() == job.serialize()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    mode=st.sampled_from(["whole", "replace", "drop"]),
    value=JSON_VALUES,
    data=st.data(),
)
def test_a_snapshot_of_the_wrong_shape_loads_or_is_a_serialization_error(
    redis_url: str, prefix: str, client: Any, mode: str, value: Any, data: Any
) -> None:
    """1: the snapshot as valid JSON of the wrong shape (a whole other value, or one of
    its keys replaced or dropped): load returns a JobState or raises SerializationError
    naming the job, never another exception."""
    _clear(client, prefix)
    store, job = _paused_keeper(redis_url, prefix)
    key = job_key(prefix, job.job_id, "job")
    snapshot = json.loads(client.hget(key, "snapshot"))
    if mode == "whole":
        snapshot = value
    else:
        name = data.draw(st.sampled_from(sorted(snapshot)), label="key")
        if mode == "replace":
            snapshot[name] = value
        else:
            del snapshot[name]
    client.hset(key, "snapshot", json.dumps(snapshot))
    _loads_or_names_the_job(store, job.job_id)


@pytest.mark.parametrize("decoded", [False, True], ids=["bytes-client", "decoding-client"])
@pytest.mark.parametrize("part", ["history", "pending", "records:errors"])
@pytest.mark.parametrize("member", [b"\xff\xfe", b'0:1:["\xff"]', b"\xc3"])
def test_undecodable_bytes_in_a_member_are_a_serialization_error(
    redis_url: str, prefix: str, client: Any, part: str, member: bytes, decoded: bool
) -> None:
    """1: a sorted-set member that is not UTF-8 makes load raise SerializationError
    naming the job (and, where the store decodes it, the key), not UnicodeDecodeError;
    the store works on afterwards."""
    reader = redis.Redis.from_url(redis_url, decode_responses=decoded)
    try:
        _, job = _paused_keeper(redis_url, prefix)
        damaged = RedisStore(reader, prefix=prefix)
        client.zadd(job_key(prefix, job.job_id, part), {member: 0})
        for method in (damaged.load, damaged.document):
            with pytest.raises(SerializationError, match=job.job_id) as raised:
                method(job.job_id)
            if not decoded:
                assert f"{part}: " in str(raised.value)
                assert job_key(prefix, job.job_id, "job") not in str(raised.value)
        assert damaged.unfinished_job_ids() == [job.job_id]  # the client still works
    finally:
        reader.close()


def test_stale_unfinished_entries_are_skipped_and_finished_ones_dropped(
    redis_url: str, prefix: str, client: Any
) -> None:
    """1: an id in the unfinished index whose job was never written is not listed (and
    nothing raises); one whose job is stored as completed is not listed and leaves the
    index; a paused job stays listed."""
    store = RedisStore(redis_url, prefix=prefix)
    flow, _ = gated_flow(store, block_on=None)
    done = flow.execute("src", {"count": 2})
    assert done.status == "completed"
    _, paused = _paused_keeper(redis_url, prefix)
    index = f"{prefix}:unfinished"
    assert client.zrange(index, 0, -1) == [paused.job_id.encode()]
    client.zadd(index, {"never-written": 0, done.job_id: 1})
    assert store.unfinished_job_ids() == [paused.job_id]
    assert store.unfinished_job_ids("keeper") == [paused.job_id]
    assert store.unfinished_job_ids("gated") == []
    listed = {member.decode() for member in client.zrange(index, 0, -1)}
    assert done.job_id not in listed
    assert paused.job_id in listed
    assert [job.job_id for job in store.unfinished_jobs()] == [paused.job_id]


@pytest.mark.parametrize("damage", ["status", "flow_id", "index member"])
def test_undecodable_bytes_in_the_unfinished_listing_are_a_serialization_error(
    redis_url: str, prefix: str, client: Any, damage: str
) -> None:
    """1: a job status, flow id or index member that is not UTF-8 makes
    unfinished_job_ids raise SerializationError (naming the store), not
    UnicodeDecodeError."""
    store, job = _paused_keeper(redis_url, prefix)
    if damage == "index member":
        client.zadd(f"{prefix}:unfinished", {b"\xff\xfe": 0})
    else:
        client.hset(job_key(prefix, job.job_id, "job"), damage, b"\xff\xfe")
    with pytest.raises(SerializationError, match=prefix):
        store.unfinished_job_ids("keeper")


def test_stores_on_decoding_clients_pause_and_recover_a_job(redis_url: str, prefix: str) -> None:
    """1: with redis.Redis clients made with decode_responses=True, a job paused by one
    store object is listed and recovered by another (its own client), and completes."""
    first_client = redis.Redis.from_url(redis_url, decode_responses=True)
    second_client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store = RedisStore(first_client, prefix=prefix, checkpoint_every=1)
        job = keeper_flow(store).execute("keeper")
        assert job.status == "paused"
        other = RedisStore(second_client, prefix=prefix)
        assert other.unfinished_job_ids("keeper") == [job.job_id]
        loaded = other.load(job.job_id)
        assert loaded is not None and loaded.serialize() == job.serialize()
        recovered = keeper_flow(other).recover(job.job_id, other, wait=True)
        assert recovered.status == "completed"
        received = (recovered.get_routine_state("sink") or {})["received"]
        assert received[-1]["value"] == list(Keeper.VALUES.values())
        assert other.unfinished_job_ids() == store.unfinished_job_ids() == []
        stored = store.load(job.job_id)
        assert stored is not None and stored.status == "completed"
        assert stored.serialize() == recovered.serialize()
        store.close()
        other.close()
    finally:
        first_client.close()
        second_client.close()
