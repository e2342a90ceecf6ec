"""A runtime that drives jobs with asyncio tasks.

A job's drivers are tasks on one event loop: the caller's loop for
``await flow.execute_async(...)``, or a loop the runtime runs in a thread of its own for
the blocking calls (``execute``, ``resume``, ``recover``). An ``async def`` handler is
awaited by its driver task, on that loop; a plain handler runs in a thread of the
runtime's thread pool, so it never blocks the loop. Each driver runs one activation at a
time, and a job has as many drivers as its strategy allows (1 sequential, ``max_workers``
concurrent). Retries wait with ``loop.call_later``. What may block (a store's writes, the
observers of events) runs in the pool too.

Context: a job's driver tasks start from a copy of the context the job was started in;
the frame of each activation is set in the driver task's context while it runs, so
``get_execution_context()`` works in the handler and in tasks it starts. Context
variables a handler sets itself may still be seen by later activations of the same
driver task.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from routilux._engine.machine import CHECKPOINTING, RUNNING_, JobMachine
from routilux._engine.queue import PLAIN_LIMIT
from routilux.runtimes._pool import ThreadWorkerPool
from routilux.runtimes.threads import _create_task, _set_done

if TYPE_CHECKING:
    from routilux.slot import Slot

__all__ = ["AsyncioRuntime"]


class AsyncioRuntime:
    """Runs jobs on an asyncio event loop (see :doc:`/guide/runtimes`).

    Arguments:
        threads: the size of the thread pool for plain (not ``async def``) handlers and
            for blocking work.

    One runtime may serve several flows. Thread safe.
    """

    def __init__(self, threads: int = 32) -> None:
        self._threads = threads
        # Plain handlers and blocking work run here; a thread that waits for a job or
        # the flow does not count against its size (see routilux._blocking).
        self._pool = ThreadWorkerPool(threads, "routilux-aio")
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    # -- configuration ----------------------------------------------------------------

    def fit(self, max_workers: int) -> None:
        """Nothing to size: drivers are tasks."""

    def shutdown(self, wait: bool = True) -> None:
        """Stop the runtime's own loop thread and release its threads (new ones start
        when needed)."""
        with self._lock:
            loop, self._own_loop = self._own_loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        self._pool.shutdown(wait=wait)

    def in_thread(
        self, loop: asyncio.AbstractEventLoop, function: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        """Run ``function(*args)`` on a pool thread; the result as a future of ``loop``."""
        future: asyncio.Future[Any] = loop.create_future()

        def run() -> None:
            try:
                result = function(*args)
            except BaseException as exc:
                loop.call_soon_threadsafe(_fail, future, exc)
            else:
                loop.call_soon_threadsafe(_resolve, future, result)

        self._pool.submit(run)
        return future

    def _loop_thread(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._own_loop is not None:
                return self._own_loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="routilux-aio-loop", daemon=True).start()
            ready.wait()
            self._own_loop = loop
            return loop

    def loop_of(self, machine: JobMachine) -> asyncio.AbstractEventLoop:
        """The loop that drives the job (the runtime's own unless it was started with
        ``execute_async``)."""
        loop: asyncio.AbstractEventLoop | None = machine.loop
        if loop is None or loop.is_closed():
            loop = machine.loop = self._loop_thread()
        return loop

    # -- the Runtime protocol ---------------------------------------------------------

    def start_drivers(self, machine: JobMachine, count: int) -> None:
        loop = self.loop_of(machine)
        for _ in range(count):
            loop.call_soon_threadsafe(self._new_driver, loop, machine)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> _LoopTimer:
        # Retries of a job run on its loop (the callback only takes the job's lock).
        loop = self._loop_thread()
        timer = _LoopTimer(loop)

        def schedule() -> None:
            if not timer.cancelled:
                timer.handle = loop.call_later(delay, callback, *args)

        loop.call_soon_threadsafe(schedule)
        return timer

    def submit(self, callback: Callable[..., Any], *args: Any) -> None:
        self._pool.submit(callback, *args)

    def start_async(
        self, machine: JobMachine, meta: int, data: Any, seq: int, kept: str | None
    ) -> None:
        """Run a taken async activation on the job's loop (returns at once)."""
        loop = self.loop_of(machine)
        coroutine = self._one_activation(machine, meta, data, seq, kept)
        loop.call_soon_threadsafe(_create_task, loop, coroutine, machine.base_context.copy())

    async def _one_activation(
        self, machine: JobMachine, meta: int, data: Any, seq: int, kept: str | None
    ) -> None:
        frame = None
        try:
            frame, result = await machine.run_async(meta, data, seq, kept)
        finally:
            with machine.lock:
                if frame is None:
                    machine.in_flight -= 1
                    machine.outstanding -= 1
                    spawn = 0
                else:
                    spawn = machine.complete_locked(frame, result)
                machine.notify_all_locked()
        for _ in range(spawn):
            self._new_driver(self.loop_of(machine), machine)

    # -- running jobs -----------------------------------------------------------------

    def execute(
        self, machine: JobMachine, entry_slot: Slot, entry_params: dict[str, Any], wait: bool
    ) -> None:
        """Start a job on the runtime's own loop; with ``wait`` return when settled."""
        settled_before = machine.start(entry_slot, entry_params)
        self.launch(machine, wait, settled_before)

    def launch(self, machine: JobMachine, caller_drives: bool, settled_before: int) -> None:
        """Start the drivers the queued work wants; a waiting caller waits for the
        settle (it does not drive: drivers are tasks)."""
        with machine.lock:
            launch = machine.reserve_drivers_locked(False)
        self.start_drivers(machine, launch)
        if caller_drives:
            machine.wait_settled_since(settled_before)

    async def execute_async(
        self, machine: JobMachine, entry_slot: Slot, entry_params: dict[str, Any]
    ) -> None:
        """Start a job on the running loop and return when it has settled."""
        loop = asyncio.get_running_loop()
        machine.loop = loop
        # Starting tells the store (which may write): not on the loop.
        settled_before = await self.in_thread(loop, machine.start, entry_slot, entry_params)
        settled = loop.create_future()

        machine.on_settle(settled_before, lambda: loop.call_soon_threadsafe(_set_done, settled))
        with machine.lock:
            launch = machine.reserve_drivers_locked(False)
        for _ in range(launch):
            self._new_driver(loop, machine)
        await settled

    # -- drivers ----------------------------------------------------------------------

    def _new_driver(self, loop: asyncio.AbstractEventLoop, machine: JobMachine) -> None:
        _create_task(loop, self._drive(loop, machine), machine.base_context.copy())

    async def _drive(self, loop: asyncio.AbstractEventLoop, machine: JobMachine) -> None:
        lock = machine.lock
        table = machine.flow._slot_table
        settle = None
        respawn = 0
        try:
            while True:
                capture = None
                with lock:
                    state = machine.state
                    if (
                        state == RUNNING_
                        and machine.queue.metas
                        and machine.in_flight < machine.limit
                    ):
                        machine.in_flight += 1
                        meta, data, seq, kept = machine.queue.pop()
                    elif state == CHECKPOINTING and not machine.in_flight:
                        capture = machine.checkpoint_locked()
                        if capture is None:
                            continue
                    else:
                        break
                if capture is not None:
                    await self.in_thread(loop, machine.write_checkpoint, capture)
                    continue
                frame = None
                try:
                    if table[meta & (PLAIN_LIMIT - 1)]._is_async:
                        frame, result = await machine.run_async(meta, data, seq, kept)
                    else:
                        frame, result = await self.in_thread(
                            loop, machine.run_sync, meta, data, seq, kept
                        )
                finally:
                    with lock:
                        if frame is None:  # interrupted: the job is failing
                            machine.in_flight -= 1
                            machine.outstanding -= 1
                        else:
                            spawn = machine.complete_locked(frame, result)
                if frame is None:
                    break
                for _ in range(spawn):
                    self._new_driver(loop, machine)
                if machine.observers:
                    await self.in_thread(loop, machine.tell_observers)
        finally:
            with lock:
                machine.drivers -= 1
                settle = machine.settle_check_locked()
                if (
                    machine.state == RUNNING_
                    and machine.queue.metas
                    and machine.drivers < machine.limit
                    and machine.in_flight < machine.limit
                ):
                    machine.drivers += 1
                    respawn = 1
                machine.notify_all_locked()
            if respawn:
                self._new_driver(loop, machine)
            if settle is not None:
                # The store's record of the end: not on the loop.
                self.submit(self._finish, machine, settle)

    def _finish(self, machine: JobMachine, settle: str) -> None:
        machine.finish(settle)


class _LoopTimer:
    """A retry waiting on a loop; ``cancel`` may be called from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.cancelled = False
        self.handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        self.cancelled = True
        handle = self.handle
        if handle is not None:
            self.loop.call_soon_threadsafe(handle.cancel)


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
