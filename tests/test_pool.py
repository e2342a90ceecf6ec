"""Unit tests for routilux.runtimes._pool.py (ThreadWorkerPool)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from routilux.runtimes._pool import ThreadWorkerPool

WAIT = 5.0  # generous upper bound for things that must happen
QUIET = 0.2  # how long we watch for something that must NOT happen

_names = itertools.count()


@pytest.fixture
def pool_name() -> str:
    return f"test-pool-{next(_names)}-"


@pytest.fixture
def make_pool() -> Iterator[Any]:
    pools: list[ThreadWorkerPool] = []

    def make(size: int, name: str) -> ThreadWorkerPool:
        pool = ThreadWorkerPool(size, name)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown(wait=True)


class Gauge:
    """Counts callables running at once; each blocks until released."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.active = 0
        self.peak = 0
        self.started = 0
        self.finished = 0
        self.release = threading.Event()
        self.threads: set[str] = set()

    def task(self) -> None:
        with self.cond:
            self.active += 1
            self.started += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.current_thread().name)
            self.cond.notify_all()
        self.release.wait(WAIT)
        with self.cond:
            self.active -= 1
            self.finished += 1
            self.cond.notify_all()

    def wait_for(self, predicate: Any) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), WAIT)


def _pool_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_size_property(make_pool: Any, pool_name: str) -> None:
    assert make_pool(3, pool_name).size == 3


def test_submit_runs_callable_with_args_on_named_thread(make_pool: Any, pool_name: str) -> None:
    pool = make_pool(2, pool_name)
    done = threading.Event()
    seen: list[tuple[Any, ...]] = []

    def job(a: int, b: str) -> None:
        seen.append((a, b, threading.current_thread().name, threading.get_ident()))
        done.set()

    pool.submit(job, 1, "x")
    assert done.wait(WAIT)
    [(a, b, name, ident)] = seen
    assert (a, b) == (1, "x")
    assert name.startswith(pool_name)
    assert ident != threading.get_ident()


def test_submit_runs_every_callable(make_pool: Any, pool_name: str) -> None:
    pool = make_pool(3, pool_name)
    lock = threading.Lock()
    results: list[int] = []
    all_done = threading.Event()
    total = 50

    def job(i: int) -> None:
        with lock:
            results.append(i)
            if len(results) == total:
                all_done.set()

    for i in range(total):
        pool.submit(job, i)
    assert all_done.wait(WAIT)
    assert sorted(results) == list(range(total))


def test_size_callables_run_at_once(make_pool: Any, pool_name: str) -> None:
    size = 3
    pool = make_pool(size, pool_name)
    barrier = threading.Barrier(size, timeout=WAIT)
    passed: list[int] = []
    lock = threading.Lock()
    done = threading.Event()

    def job() -> None:
        # Passes only when `size` callables are running at the same time.
        barrier.wait()
        with lock:
            passed.append(1)
            if len(passed) == size:
                done.set()

    for _ in range(size):
        pool.submit(job)
    assert done.wait(WAIT)
    assert not barrier.broken


def test_at_most_size_callables_run_at_once(make_pool: Any, pool_name: str) -> None:
    size = 2
    pool = make_pool(size, pool_name)
    gauge = Gauge()
    for _ in range(size + 3):
        pool.submit(gauge.task)
    assert gauge.wait_for(lambda g: g.active == size)
    # With `size` callables blocked, no further one may start.
    with gauge.cond:
        assert not gauge.cond.wait_for(lambda: gauge.started > size, QUIET)
    assert len(_pool_threads(pool_name)) == size
    gauge.release.set()
    assert gauge.wait_for(lambda g: g.finished == size + 3)
    assert gauge.peak == size
    assert len(gauge.threads) <= size


def test_shutdown_waits_for_running_work(make_pool: Any, pool_name: str) -> None:
    pool = make_pool(1, pool_name)
    gauge = Gauge()
    pool.submit(gauge.task)
    assert gauge.wait_for(lambda g: g.active == 1)
    returned = threading.Event()

    def shut() -> None:
        pool.shutdown(wait=True)
        returned.set()

    closer = threading.Thread(target=shut)
    closer.start()
    assert not returned.wait(QUIET)  # still waiting for the running callable
    gauge.release.set()
    assert returned.wait(WAIT)
    closer.join(WAIT)
    assert gauge.finished == 1


def test_submit_after_shutdown_uses_a_new_executor(make_pool: Any, pool_name: str) -> None:
    pool = make_pool(2, pool_name)
    first = threading.Event()
    pool.submit(first.set)
    assert first.wait(WAIT)
    pool.shutdown(wait=True)
    assert _pool_threads(pool_name) == []

    second = threading.Event()
    names: list[str] = []
    pool.submit(lambda: (names.append(threading.current_thread().name), second.set()))
    assert second.wait(WAIT)
    assert names[0].startswith(pool_name)
    assert pool.size == 2


def test_shutdown_without_executor_is_harmless(make_pool: Any, pool_name: str) -> None:
    pool = make_pool(2, pool_name)
    pool.shutdown(wait=True)
    pool.shutdown(wait=False)
    done = threading.Event()
    pool.submit(done.set)
    assert done.wait(WAIT)


def test_resize_changes_concurrency(make_pool: Any, pool_name: str) -> None:
    pool = make_pool(1, pool_name)
    warm = threading.Event()
    pool.submit(warm.set)
    assert warm.wait(WAIT)

    pool.resize(3)
    assert pool.size == 3
    gauge = Gauge()
    for _ in range(5):
        pool.submit(gauge.task)
    assert gauge.wait_for(lambda g: g.active == 3)
    with gauge.cond:
        assert not gauge.cond.wait_for(lambda: gauge.started > 3, QUIET)
    gauge.release.set()
    assert gauge.wait_for(lambda g: g.finished == 5)
    assert gauge.peak == 3


def test_resize_down_limits_new_work(make_pool: Any, pool_name: str) -> None:
    pool = make_pool(4, pool_name)
    pool.resize(1)
    assert pool.size == 1
    gauge = Gauge()
    for _ in range(3):
        pool.submit(gauge.task)
    assert gauge.wait_for(lambda g: g.active == 1)
    with gauge.cond:
        assert not gauge.cond.wait_for(lambda: gauge.started > 1, QUIET)
    gauge.release.set()
    assert gauge.wait_for(lambda g: g.finished == 3)
    assert gauge.peak == 1


def test_resize_does_not_interrupt_running_work(make_pool: Any, pool_name: str) -> None:
    pool = make_pool(1, pool_name)
    gauge = Gauge()
    pool.submit(gauge.task)
    assert gauge.wait_for(lambda g: g.active == 1)
    pool.resize(2)
    after = threading.Event()
    pool.submit(after.set)
    # The new executor runs new work while the old callable is still blocked.
    assert after.wait(WAIT)
    assert gauge.active == 1
    gauge.release.set()
    assert gauge.wait_for(lambda g: g.finished == 1)
