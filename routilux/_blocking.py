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

__all__ = ["Compensating", "blocking", "register_thread"]


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
