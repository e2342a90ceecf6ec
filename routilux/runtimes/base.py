"""What a runtime is: where a job's activations run.

The engine's job machine (private) decides which activation runs next, commits what
it did and settles the job; a runtime decides where and when activations run: which
threads or event loop drive a job, how a driver is woken, how a retry waits for its
delay, where the store's record of a settled job is written.

A flow has one runtime (``Flow(runtime=...)``); two are built in:
:class:`~routilux.runtimes.ThreadRuntime` (the default) and
:class:`~routilux.runtimes.AsyncioRuntime`. The protocol below is what the machine
needs of one. It is provisional: the next version may still change it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Cancellable", "Runtime"]


class Cancellable(Protocol):
    """A scheduled call."""

    def cancel(self) -> None:
        """Do not make the call if it has not been made yet."""


class Runtime(Protocol):
    """Where activations of jobs run (see :doc:`/guide/runtimes`); provisional.

    Every method may be called from any thread, never under the machine's lock for
    anything that can block.
    """

    def start_drivers(self, machine: Any, count: int) -> None:
        """Run ``count`` more driver loops for ``machine`` (already counted in
        ``machine.drivers``)."""

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Cancellable:
        """Call ``callback(*args)`` after ``delay`` seconds, off any timer thread's own
        path (the callback may wait for a lock)."""

    def submit(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` soon, not in the caller's thread (store writes of a
        settled job, for example)."""

    def start_async(self, machine: Any, meta: int, data: Any, seq: int, kept: str | None) -> None:
        """Run one taken activation of an ``async def`` handler where the runtime runs
        coroutines, and report it to the machine when it returns (returns at once)."""
