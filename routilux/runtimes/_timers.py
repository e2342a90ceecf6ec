"""One background thread that runs callbacks after a delay.

RETRY uses it to re-queue a failed activation after its backoff delay without
holding a worker thread while it waits. The thread sleeps on a condition until the
earliest deadline (or until a sooner timer is added); it never polls.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["TimerHandle", "TimerQueue", "timers"]

logger = logging.getLogger("routilux")


def _cancelled() -> None:
    return None


class TimerHandle:
    """A scheduled callback; ``cancel()`` stops it if it has not started."""

    __slots__ = ("args", "callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[..., Any], args: tuple[Any, ...]):
        self.deadline = deadline
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        # Drop the references now: the handle stays in the heap until its deadline,
        # and must not keep a finished job alive until then.
        self.cancelled = True
        self.callback = _cancelled
        self.args = ()


_LONGEST_DELAY = threading.TIMEOUT_MAX / 2


class TimerQueue:
    """Runs callbacks on one daemon thread, each after its delay, earliest first.

    Callbacks must be quick, must not block and must not raise (exceptions are
    logged); they run one after another on the timer thread. The engine's only
    callback hands the retry to a pool thread.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` after ``delay`` seconds (at most about 292 years)."""
        delay = min(max(0.0, delay), _LONGEST_DELAY)
        handle = TimerHandle(time.monotonic() + delay, callback, args)
        with self._cond:
            heapq.heappush(self._heap, (handle.deadline, next(self._counter), handle))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="routilux-timers", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return handle

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    deadline, _, handle = self._heap[0]
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        self._cond.wait(min(remaining, threading.TIMEOUT_MAX))
                        continue
                    heapq.heappop(self._heap)
                    break
            callback, args = handle.callback, handle.args
            handle.cancel()  # fired: the handle holds nothing any more
            del handle
            try:
                callback(*args)
            except Exception:
                logger.exception("timer callback %r failed", callback)
            # Drop the references before sleeping: a fired retry must not keep its job,
            # flow and pool alive until the next timer fires.
            del callback, args


#: The process-wide timer queue.
timers = TimerQueue()
