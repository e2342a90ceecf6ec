"""Where background slot activations run: a pool of threads per flow.

A job's driver loop (see :class:`~routilux.runtimes.ThreadRuntime`) runs in the
thread that called ``Flow.execute`` when that call waits, and otherwise in a thread of
the flow's :class:`ThreadWorkerPool`.

The pool has a size, but a thread that waits for something of unknown length (a job,
the flow, a pause; see :mod:`routilux._blocking`) does not count against it while it
waits: the pool starts another thread for queued work. So jobs that wait for other jobs
of the same flow cannot starve the pool, however many there are. Threads beyond the
size leave as soon as they are idle.

Threads are daemon threads; at interpreter exit the pool finishes the work already
queued or running (as :class:`concurrent.futures.ThreadPoolExecutor` does), and a job
that is paused holds no thread.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from routilux._blocking import register_thread

__all__ = ["ThreadWorkerPool"]

logger = logging.getLogger("routilux")

Task = tuple[Callable[..., Any], tuple[Any, ...]]


class _Workers:
    """One set of threads and their queue (a pool replaces it on shutdown or resize)."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self.tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle_changed = threading.Condition(self.lock)
        # An idle thread releases it; a submit that acquires it leaves the task to one.
        self.idle = threading.Semaphore(0)
        self.threads = 0
        self.blocked = 0
        # Tasks queued or running: the exit hook waits for it to reach zero.
        self.unfinished = 0
        self.stopped = False
        self.started: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        """Queue ``fn(*args)``; False if these workers were stopped (use new ones)."""
        with self.lock:
            if self.stopped:
                return False
            self.unfinished += 1
            # Queued under the lock: every accepted task is ahead of stop()'s sentinels.
            self.tasks.put((fn, args))
        if not self.idle.acquire(blocking=False):
            self._spawn_if_short()
        return True

    def _spawn_if_short(self) -> None:
        with self.lock:
            if self.stopped or self.threads >= self.size + self.blocked:
                return
            self.threads += 1
            number = self.threads
        thread = threading.Thread(target=self._work, name=f"{self.name}-{number}", daemon=True)
        thread.start()
        with self.lock:
            self.started.add(thread)  # once started: join() may wait for it

    def _work(self) -> None:
        register_thread(self)
        tasks = self.tasks
        while True:
            task = tasks.get()
            if task is None:
                with self.lock:
                    self.threads -= 1
                return
            fn, args = task
            del task
            try:
                fn(*args)
            except BaseException:
                # Drivers record their own failures; anything else is a bug worth a log
                # line, but must not take the thread (and the queued work) down with it.
                logger.exception("worker task %r failed", fn)
            del fn, args  # hold nothing of a finished job while idle
            with self.lock:
                self.unfinished -= 1
                if not self.unfinished:
                    self.idle_changed.notify_all()
                if self.threads > self.size + self.blocked:
                    self.threads -= 1  # a thread started to stand in for a waiter
                    return
            self.idle.release()

    # -- the _blocking.Compensating protocol ------------------------------------------

    def thread_blocks(self) -> None:
        with self.lock:
            self.blocked += 1
        if not self.tasks.empty():
            self._spawn_if_short()

    def thread_unblocks(self) -> None:
        with self.lock:
            self.blocked -= 1

    # -- ending -------------------------------------------------------------------------

    def stop(self) -> None:
        """Let every thread leave once the work queued before now is done."""
        with self.lock:
            self.stopped = True
            for _ in range(self.threads):
                self.tasks.put(None)

    def join(self) -> None:
        """Wait for every thread to leave (after :meth:`stop`)."""
        with self.lock:
            threads = list(self.started)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join()

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until nothing queued or running is left."""
        with self.lock:
            return self.idle_changed.wait_for(lambda: not self.unfinished, timeout)


_all_workers: weakref.WeakSet[_Workers] = weakref.WeakSet()


@atexit.register
def _finish_queued_work() -> None:
    # Daemon threads would be stopped mid-job at exit; finish what was started first.
    for workers in list(_all_workers):
        workers.wait_finished()


class ThreadWorkerPool:
    """Threads for a flow's background drivers (see the module documentation).

    ``shutdown`` releases the threads; the next ``submit`` starts new ones, so the
    owner stays usable. Thread safe.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._lock = threading.Lock()
        self._workers: _Workers | None = None

    @property
    def size(self) -> int:
        return self._size

    def resize(self, size: int) -> None:
        """Use ``size`` threads from now on (running work is not interrupted)."""
        with self._lock:
            old, self._workers = self._workers, None
            self._size = size
        if old is not None:
            old.stop()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a pool thread; exceptions are logged."""
        while True:
            with self._lock:
                workers = self._workers
                if workers is None:
                    workers = self._workers = _Workers(self._size, self._name)
                    _all_workers.add(workers)
            if workers.submit(fn, args):
                return
            with self._lock:  # stopped by a concurrent shutdown or resize: start anew
                if self._workers is workers:
                    self._workers = None

    def shutdown(self, wait: bool = True) -> None:
        """Let the threads go once their queued work is done (waiting for that if
        ``wait``)."""
        with self._lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.stop()
            if wait:
                workers.join()
