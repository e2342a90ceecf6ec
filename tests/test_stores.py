"""Unit tests for routilux/stores.py."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from routilux.exceptions import InvalidPayloadError
from routilux.job_state import JobState
from routilux.stores import JobStore, MemoryStore


def test_job_store_is_abstract() -> None:
    with pytest.raises(TypeError):
        JobStore()  # type: ignore[abstract]


def test_job_store_subclass_missing_a_method_is_abstract() -> None:
    class Partial(JobStore):
        def job_started(self, job_state: JobState) -> None:
            pass

        def job_settled(self, job_state: JobState) -> None:
            pass

        def get(self, job_id: str) -> JobState | None:
            return None

    with pytest.raises(TypeError):
        Partial()  # type: ignore[abstract]


def test_job_store_subclass_implementing_everything_can_be_instantiated() -> None:
    class Complete(JobStore):
        def job_started(self, job_state: JobState) -> None:
            pass

        def job_settled(self, job_state: JobState) -> None:
            pass

        def load(self, job_id: str) -> JobState | None:
            return None

        def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
            return []

    store = Complete()
    assert isinstance(store, JobStore)
    assert store.unfinished_jobs() == []
    assert store.checkpointer(None) is None  # type: ignore[arg-type]
    assert issubclass(MemoryStore, JobStore)


def test_memory_store_starts_empty() -> None:
    store = MemoryStore()
    assert store.get("nope") is None
    assert store.unfinished_jobs() == []


def test_job_started_then_get() -> None:
    store = MemoryStore()
    job = JobState("f")
    store.job_started(job)
    assert store.get(job.job_id) is job
    assert store.get("other") is None
    assert store.unfinished_jobs() == [job]


def test_job_started_twice_keeps_one_entry() -> None:
    store = MemoryStore()
    job = JobState("f")
    store.job_started(job)
    store.job_started(job)
    assert store.unfinished_jobs() == [job]


def test_unfinished_jobs_filters_by_flow_id() -> None:
    store = MemoryStore()
    a1, a2, b1 = JobState("a"), JobState("a"), JobState("b")
    for job in (a1, b1, a2):
        store.job_started(job)
    assert {j.job_id for j in store.unfinished_jobs()} == {a1.job_id, a2.job_id, b1.job_id}
    assert {j.job_id for j in store.unfinished_jobs("a")} == {a1.job_id, a2.job_id}
    assert store.unfinished_jobs("b") == [b1]
    assert store.unfinished_jobs("c") == []
    assert len(store.unfinished_jobs(None)) == 3


def test_unfinished_jobs_returns_a_new_list() -> None:
    store = MemoryStore()
    job = JobState("f")
    store.job_started(job)
    jobs = store.unfinished_jobs()
    jobs.clear()
    assert store.unfinished_jobs() == [job]


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_job_settled_forgets_finished_jobs(status: str) -> None:
    store = MemoryStore()
    job, other = JobState("f"), JobState("f")
    store.job_started(job)
    store.job_started(other)
    job.status = status
    store.job_settled(job)
    assert store.get(job.job_id) is None
    assert store.unfinished_jobs() == [other]
    assert store.unfinished_jobs("f") == [other]


@pytest.mark.parametrize("status", ["paused", "running", "pending"])
def test_job_settled_keeps_unfinished_jobs(status: str) -> None:
    store = MemoryStore()
    job = JobState("f")
    store.job_started(job)
    job.status = status
    store.job_settled(job)
    assert store.get(job.job_id) is job
    assert store.unfinished_jobs() == [job]


def test_paused_job_is_forgotten_once_it_finishes() -> None:
    store = MemoryStore()
    job = JobState("f")
    store.job_started(job)
    job.status = "paused"
    store.job_settled(job)
    store.job_started(job)  # resumed
    job.status = "completed"
    store.job_settled(job)
    assert store.get(job.job_id) is None
    assert store.unfinished_jobs() == []


def test_job_settled_for_unknown_finished_job_is_harmless() -> None:
    store = MemoryStore()
    job = JobState("f")
    job.status = "completed"
    store.job_settled(job)
    assert store.unfinished_jobs() == []


def test_memory_store_from_8_threads() -> None:
    store = MemoryStore()
    threads_n, per_thread = 8, 200
    barrier = threading.Barrier(threads_n)
    kept: list[list[JobState]] = [[] for _ in range(threads_n)]

    def work(index: int) -> None:
        barrier.wait(timeout=10)
        for i in range(per_thread):
            job = JobState(f"flow-{index}")
            store.job_started(job)
            if i % 2:
                job.status = "completed"
                store.job_settled(job)
            else:
                kept[index].append(job)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.unfinished_jobs()) == threads_n * per_thread // 2
    for index in range(threads_n):
        ids = {j.job_id for j in store.unfinished_jobs(f"flow-{index}")}
        assert ids == {j.job_id for j in kept[index]}


@pytest.mark.parametrize("value", [5, None, b"id", ["id"], 2**70])
@pytest.mark.parametrize("method", ["get", "load", "acquire", "release"])
def test_memory_store_refuses_a_job_id_that_is_not_a_str(method: str, value: Any) -> None:
    """Y: MemoryStore.load([...]) raised a raw TypeError (unhashable); every store
    method taking a job id now raises InvalidPayloadError naming the argument."""
    store = MemoryStore()
    with pytest.raises(InvalidPayloadError, match=f"MemoryStore.{method}: job_id must be a str"):
        getattr(store, method)(value)


@pytest.mark.parametrize("value", [5, b"flow", ["flow"], 2**70])
@pytest.mark.parametrize("method", ["unfinished_job_ids", "unfinished_jobs"])
def test_memory_store_refuses_a_flow_id_that_is_not_a_str(method: str, value: Any) -> None:
    """Y: the same for the flow id of the listings (None lists every flow)."""
    store = MemoryStore()
    assert getattr(store, method)(None) == []
    with pytest.raises(InvalidPayloadError, match=f"MemoryStore.{method}: flow_id"):
        getattr(store, method)(value)


def test_a_third_party_store_inherits_the_checks_of_acquire_release_and_listings() -> None:
    """Y: JobStore's default acquire, release and unfinished_jobs check their ids."""

    class Minimal(JobStore):
        def job_started(self, job_state: JobState) -> None:
            pass

        def job_settled(self, job_state: JobState) -> None:
            pass

        def load(self, job_id: str) -> JobState | None:
            return None

        def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
            return []

    store = Minimal()
    store.acquire("job")
    store.release("job")
    assert store.unfinished_jobs() == []
    calls: list[Any] = [store.acquire, store.release, store.unfinished_jobs]
    for call in calls:
        with pytest.raises(InvalidPayloadError, match="Minimal"):
            call(7)


def test_check_id_is_public_for_third_party_stores() -> None:
    """issue 9: a third-party store checks its ids with the built-in stores' message
    through ``routilux.stores.check_id`` (exported, no private module needed)."""
    import routilux.stores
    from routilux.stores import check_id

    assert "check_id" in routilux.stores.__all__

    class Mine:
        pass

    check_id(Mine(), "load", "job_id", "job", optional=False)
    check_id(Mine(), "unfinished_job_ids", "flow_id", None, optional=True)
    with pytest.raises(InvalidPayloadError, match=r"Mine\.load: job_id must be a str, not int"):
        check_id(Mine(), "load", "job_id", 7, optional=False)
    with pytest.raises(InvalidPayloadError, match="flow_id must be a str or None, not bytes"):
        check_id(Mine(), "unfinished_job_ids", "flow_id", b"f", optional=True)
