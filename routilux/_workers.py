"""Where background slot activations run: a pool of threads per flow.

This is the seam for other ways of running activations. A job's driver loop (see
:mod:`routilux._job_run`) runs in the thread that called ``Flow.execute`` when that
call waits, and otherwise in a thread of the flow's :class:`ThreadWorkerPool`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["ThreadWorkerPool"]


class ThreadWorkerPool:
    """A lazily created :class:`~concurrent.futures.ThreadPoolExecutor`.

    ``shutdown`` releases the threads; the next ``submit`` creates a new executor, so
    the owner stays usable. Thread safe.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    @property
    def size(self) -> int:
        return self._size

    def resize(self, size: int) -> None:
        """Use ``size`` threads from now on (running work is not interrupted)."""
        with self._lock:
            old, self._executor = self._executor, None
            self._size = size
        if old is not None:
            old.shutdown(wait=False)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            executor = self._executor
            if executor is None:
                executor = self._executor = ThreadPoolExecutor(
                    max_workers=self._size, thread_name_prefix=self._name
                )
            try:
                executor.submit(fn, *args)
                return
            except RuntimeError:
                # Interpreter shutting down: no executor accepts work any more.
                pass
        threading.Thread(target=fn, args=args, name=self._name, daemon=True).start()

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait)
