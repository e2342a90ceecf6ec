"""Marking a wait, so that a pool thread that blocks does not starve its pool.

A worker pool (see :mod:`routilux._workers`) registers each of its threads here. Code
that may block for a long time (waiting for a job, for a flow, for a pause to settle)
runs the wait inside :func:`blocking`; in a pool thread the pool then counts the thread
as blocked and may start another one for queued work. Elsewhere it costs one
thread-local lookup. This module imports nothing of the engine, so the record
(:mod:`routilux.job_state`) can use it too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Compensating", "SettleFlag", "blocking", "register_thread"]


class Compensating(Protocol):
    """What a pool provides to be told that one of its threads blocks."""

    def thread_blocks(self) -> None:
        """The calling pool thread starts a wait of unknown length."""

    def thread_unblocks(self) -> None:
        """The calling pool thread's wait is over."""


_local = threading.local()


def register_thread(pool: Compensating) -> None:
    """Called by a pool in each of its threads, before it runs anything."""
    _local.pool = pool


@contextmanager
def blocking() -> Iterator[None]:
    """Run the body as a wait of unknown length (see the module documentation)."""
    pool: Compensating | None = getattr(_local, "pool", None)
    if pool is None:
        yield
        return
    pool.thread_blocks()
    try:
        yield
    finally:
        pool.thread_unblocks()


_event_lock = threading.Lock()


class SettleFlag:
    """A flag that threads can wait for, like :class:`threading.Event`, but costing
    nothing until somebody waits: the Event (and its Condition) is made for the first
    waiter only. Most jobs are never waited for by anyone but their driver.

    ``set`` and ``clear`` may be called from any thread; so may ``wait``.
    """

    __slots__ = ("_event", "_flag")

    def __init__(self, flag: bool = False) -> None:
        self._flag = flag
        self._event: threading.Event | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        event = self._event
        if event is not None:
            event.set()

    def clear(self) -> None:
        self._flag = False
        event = self._event
        if event is not None:
            event.clear()

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        event = self._event
        if event is None:
            with _event_lock:
                event = self._event
                if event is None:
                    event = threading.Event()
                    self._event = event
                    # A set() that ran before the event existed is not lost: the flag
                    # is read again once the event is in place.
                    if self.is_set():
                        event.set()
        return event.wait(timeout)
