"""The default runtime: jobs driven by threads, ``async def`` handlers on a loop thread.

A *driver* is a loop that takes a job's activations and runs them. When
``Flow.execute`` waits, the calling thread is the job's first driver, so a sequential
job runs entirely in the caller's thread, with no thread hop per delivery; other drivers
run on the runtime's pool of threads. A job has at most its ``limit`` activations in
flight (1 under the sequential strategy, ``max_workers`` under the concurrent one).

An activation of an ``async def`` handler is handed to an event loop that the runtime
runs in a thread of its own; the driver goes on at once (the activation stays in flight
until the coroutine returns), so a thousand handlers awaiting I/O need no thousand
threads. Retries wait on the process-wide timer thread, which only hands them to the
pool.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from routilux._context import Frame, SlotInfo
from routilux._engine.machine import (
    _FAILED,
    CHECKPOINTING,
    RUNNING_,
    DriverContext,
    Failure,
    JobMachine,
)
from routilux._engine.queue import PLAIN_LIMIT
from routilux.runtimes._pool import ThreadWorkerPool
from routilux.runtimes._timers import TimerHandle, timers

if TYPE_CHECKING:
    from routilux.slot import Slot

__all__ = ["ThreadRuntime"]

_MIN_POOL_THREADS = 64

#: How many activations a sequential job's driver takes at once (see ThreadRuntime.drive).
BATCH = 64


class ThreadRuntime:
    """Runs jobs on threads (see :doc:`/guide/runtimes`).

    Arguments:
        pool_size: threads for background drivers (at least 64 by default, and at least
            the flow's ``max_workers``). A pool thread that waits for a job, a flow or
            a pause does not count against it.
        name: the prefix of the threads' names.

    One runtime may serve several flows. Thread safe.
    """

    #: A driver hands an async activation to the loop and goes on to the next one.
    hands_off_async = True
    #: True in a runtime that runs every activation elsewhere (another process: see
    #: :class:`~routilux.runtimes.redis.RedisRuntime`), none in a driver's thread.
    runs_elsewhere = False

    def __init__(self, pool_size: int | None = None, name: str = "routilux") -> None:
        self._requested = pool_size
        self._pool = ThreadWorkerPool(pool_size or _MIN_POOL_THREADS, name)
        self._loop: _LoopThread | None = None
        self._loop_lock = threading.Lock()

    # -- configuration ----------------------------------------------------------------

    def fit(self, max_workers: int) -> None:
        """Make room for jobs that run ``max_workers`` activations at once."""
        size = max(self._requested or _MIN_POOL_THREADS, max_workers)
        if size != self._pool.size:
            self._pool.resize(size)

    def shutdown(self, wait: bool = True) -> None:
        """Release the threads (new ones are started when needed)."""
        self._pool.shutdown(wait=wait)
        with self._loop_lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop()

    # -- the Runtime protocol ---------------------------------------------------------

    def start_drivers(self, machine: JobMachine, count: int) -> None:
        for _ in range(count):
            self._pool.submit(self.drive, machine, False)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        # The timer thread only hands the call to a pool thread: it never waits for a
        # job's lock, so one job cannot delay another's retries.
        return timers.call_later(delay, self._pool.submit, callback, *args)

    def submit(self, callback: Callable[..., Any], *args: Any) -> None:
        self._pool.submit(callback, *args)

    def start_async(
        self, machine: JobMachine, meta: int, data: Any, seq: int, kept: str | None
    ) -> None:
        """Run a taken async activation on the runtime's loop (returns at once)."""
        self._loop_thread().start(machine, meta, data, seq, kept)

    # -- running jobs -----------------------------------------------------------------

    def execute(
        self, machine: JobMachine, entry_slot: Slot, entry_params: dict[str, Any], wait: bool
    ) -> None:
        """Start a job; with ``wait`` drive it in this thread and return when settled."""
        settled_before = machine.start(entry_slot, entry_params)
        self.launch(machine, wait, settled_before)

    async def execute_async(
        self, machine: JobMachine, entry_slot: Slot, entry_params: dict[str, Any]
    ) -> None:
        """Start a job on the runtime's threads and return (awaiting) when it settled."""
        loop = asyncio.get_running_loop()
        # Starting tells the store (which may write): not on the caller's loop.
        settled_before = await loop.run_in_executor(None, machine.start, entry_slot, entry_params)
        settled = loop.create_future()
        machine.on_settle(settled_before, lambda: loop.call_soon_threadsafe(_set_done, settled))
        self.launch(machine, False, settled_before)
        await settled

    def launch(self, machine: JobMachine, caller_drives: bool, settled_before: int) -> None:
        """Start the drivers the job's queued work wants; a waiting caller runs one of
        them itself and returns when the job next settles."""
        with machine.lock:
            launch = machine.reserve_drivers_locked(caller_drives)
        caller_runs = caller_drives and launch > 0
        self.start_drivers(machine, launch - 1 if caller_runs else launch)
        if caller_runs:
            self.drive(machine, caller=True)
        if caller_drives:
            machine.wait_settled_since(settled_before)

    def drive(self, machine: JobMachine, caller: bool) -> None:
        """Run the job's queued activations until there are none left for this driver.

        The caller's driver also waits for work still to come (activations in flight
        elsewhere, retry timers) and stops at the first pause. Under the sequential
        strategy it takes plain activations in batches (one lock round trip for up to
        :data:`BATCH` of them); they still run one at a time, in order.
        """
        lock = machine.lock
        queue = machine.queue
        metas = queue.metas
        datas = queue.datas
        next_meta = metas.popleft
        next_data = datas.popleft
        kept_ids = queue.ids
        run_sync = machine.run_sync
        call_plain = machine.call_plain
        infos = machine.infos
        info_for = machine.info_for
        complete = machine.complete_locked
        table = machine.flow._slot_table
        batching = machine.limit == 1
        # This driver's frame, reused for its activations one after another, and the
        # context they run in (see DriverContext).
        frame = Frame(cast(SlotInfo, None))
        driver = DriverContext(machine.base_context, frame)
        settle = None
        respawn = False
        try:
            with lock:
                epoch = machine.epoch
                try:
                    while True:
                        state = machine.state
                        if state == RUNNING_ and metas and machine.in_flight < machine.limit:
                            if caller and machine.epoch != epoch:
                                break
                            first = metas[0]
                            if batching and first < PLAIN_LIMIT and not self.runs_elsewhere:
                                info = infos.get(first)
                                if info is not None and not info.is_async:
                                    self._run_batch(machine, frame, driver)
                                    continue
                            machine.in_flight += 1
                            seq = queue.appended - len(metas)
                            kept = kept_ids.pop(seq, None) if kept_ids else None
                            meta = next_meta()
                            data = next_data()
                            if self.runs_elsewhere:  # sent away: no lock held meanwhile
                                lock.release()
                                try:
                                    self._hand_off(machine, meta, data, seq, kept)
                                finally:
                                    lock.acquire()
                                continue
                            if table[meta & (PLAIN_LIMIT - 1)]._is_async:
                                self._loop_thread().start(machine, meta, data, seq, kept)
                                continue
                            lock.release()
                            done = None
                            try:
                                if meta < PLAIN_LIMIT:
                                    frame.info = infos.get(meta) or info_for(meta)
                                    frame.held = []
                                    result = driver.context.run(call_plain, frame, data, seq)
                                    if driver.context != driver.pristine:
                                        driver.refresh(frame)
                                    if type(result) is Failure:
                                        machine.failed(frame.info, data, seq, kept, result)
                                        result = _FAILED
                                    done = frame
                                else:
                                    done, result = run_sync(meta, data, seq, kept)
                            finally:
                                lock.acquire()
                                if done is None:  # interrupted: the job is failing
                                    frame.held = None
                                    machine.in_flight -= 1
                                    machine.outstanding -= 1
                                    if frame.streams:
                                        machine.stream_ended_locked(frame)
                            spawn = complete(done, result)
                            if spawn:
                                self.start_drivers(machine, spawn)
                            if machine.observers:
                                lock.release()
                                try:
                                    machine.tell_observers()
                                finally:
                                    lock.acquire()
                            continue
                        if state == CHECKPOINTING:
                            if not machine.in_flight:
                                capture = machine.checkpoint_locked()
                                if capture is not None:
                                    lock.release()
                                    try:
                                        machine.write_checkpoint(capture)
                                    finally:
                                        lock.acquire()
                                continue
                            if not caller:
                                break
                        if (
                            caller
                            and state in (RUNNING_, CHECKPOINTING)
                            and machine.outstanding
                            and machine.epoch == epoch
                        ):
                            machine.caller_waiting = True
                            try:
                                machine.wait_for_work_locked()
                            finally:
                                machine.caller_waiting = False
                            continue
                        break
                finally:
                    frame.held = None  # late emissions of threads handlers started go in
                    machine.drivers -= 1
                    settle = machine.settle_check_locked()
                    if (
                        machine.state == RUNNING_
                        and metas
                        and machine.drivers < machine.limit
                        and machine.in_flight < machine.limit
                    ):
                        # Left with work queued (a pause was resumed meanwhile, or an
                        # exception): hand it to a pool driver.
                        machine.drivers += 1
                        respawn = True
        finally:
            if settle is not None:
                machine.finish(settle)
            if respawn:
                self._pool.submit(self.drive, machine, False)

    def _run_batch(self, machine: JobMachine, frame: Frame, driver: DriverContext) -> None:
        """Under the machine's lock (released while handlers run): take up to
        :data:`BATCH` queued activations, run the plain ones in order, commit them, and
        put back what did not run."""
        queue = machine.queue
        metas, datas = queue.metas, queue.datas
        count = min(len(metas), BATCH)
        checkpointer = machine.checkpointer
        if checkpointer is not None:
            # A checkpoint is due after every ``every`` activations: never run past it.
            count = max(1, min(count, checkpointer.every - machine.since_checkpoint))
        first_seq = queue.appended - len(metas)
        taken_metas = [metas.popleft() for _ in range(count)]
        taken_datas = [datas.popleft() for _ in range(count)]
        kept: dict[int, str] = {}
        if queue.ids:
            for seq in range(first_seq, first_seq + count):
                if seq in queue.ids:
                    kept[seq] = queue.ids.pop(seq)
        machine.in_flight += count
        lock = machine.lock
        done: list[Any] = []
        stop = 0
        failure: Failure | None = None
        interrupted = False
        lock.release()
        try:
            stop, failure = machine.run_batch(
                taken_metas, taken_datas, first_seq, frame, driver, done
            )
        except BaseException:
            interrupted = True
            stop = len(done) + 1  # the interrupted one failed the job; it is done
            with lock:
                machine.in_flight -= 1
                machine.outstanding -= 1
            raise
        finally:
            lock.acquire()
            spawn = machine.complete_batch_locked(
                done, frame, last_ran_into_stop=failure is None and not interrupted
            )
            if failure is not None:
                info = frame.info
                lock.release()
                try:
                    seq = first_seq + stop
                    machine.failed(info, taken_datas[stop], seq, kept.get(seq), failure)
                finally:
                    lock.acquire()
                frame.held = None
                spawn += machine.complete_locked(frame, _FAILED)
                stop += 1
            machine.put_back_locked(taken_metas, taken_datas, stop, first_seq, kept)
        if spawn:
            self.start_drivers(machine, spawn)
        if machine.observers:
            lock.release()
            try:
                machine.tell_observers()
            finally:
                lock.acquire()

    # -- async handlers ---------------------------------------------------------------

    def _loop_thread(self) -> _LoopThread:
        loop = self._loop
        if loop is None:
            with self._loop_lock:
                loop = self._loop
                if loop is None:
                    loop = self._loop = _LoopThread(self)
        return loop

    def _hand_off(
        self,
        machine: JobMachine,
        meta: int,
        data: Any,
        seq: int,
        kept: str | None,
        *,
        here: bool = False,
    ) -> None:
        """Run a taken activation that does not run in a driver's thread (not under the
        machine's lock): an async one on the loop (``here``: called on the loop's own
        thread). A subclass with :attr:`runs_elsewhere` sends every one away."""
        if here:
            self._loop_thread().run_here(machine, meta, data, seq, kept)
        else:
            self._loop_thread().start(machine, meta, data, seq, kept)

    def completed_async(self, machine: JobMachine, frame: Any, result: Any) -> None:
        """An async activation returned (on the loop thread; ``frame`` None if it was
        interrupted): commit it; what needs a store or a driver happens on the pool,
        never on the loop."""
        successors: list[tuple[int, Any, int, str | None]] = []
        queue = machine.queue
        with machine.lock:
            if frame is None:  # interrupted
                machine.in_flight -= 1
                machine.outstanding -= 1
                spawn = 0
            elif self.runs_elsewhere:
                # What this completion queues is sent from here (below): waking the
                # waiting caller or starting drivers for it would only have them find
                # nothing to do (and contend with this thread).
                machine.completer_takes = True
                try:
                    spawn = machine.complete_locked(frame, result)
                finally:
                    machine.completer_takes = False
            else:
                spawn = machine.complete_locked(frame, result)
            if frame is not None:
                # Queued async work starts here, on the loop: a round trip through a
                # driver thread for each would cost two thread switches.
                while queue.metas and (self.runs_elsewhere or machine.is_async(queue.metas[0])):
                    taken = machine.take_locked()
                    if taken is None:
                        break
                    successors.append(taken)
            settle = None
            capture = False
            if not machine.drivers:
                if machine.checkpoint_ready_locked():
                    capture = True
                else:
                    settle = machine.settle_check_locked()
                    if machine.state == RUNNING_ and machine.queue.metas and not spawn:
                        spawn = machine.reserve_drivers_locked(False)
            if not successors or (queue.metas and machine.in_flight < machine.limit):
                machine.notify_all_locked()  # a waiting caller driver re-checks its job
        for meta, data, seq, kept in successors:
            self._hand_off(machine, meta, data, seq, kept, here=True)
        if spawn:
            self.start_drivers(machine, spawn)
        if machine.observers:
            self.submit(machine.tell_observers)
        if capture:
            self.submit(self._checkpoint_now, machine)
        if settle is not None:
            self.submit(machine.finish, settle)

    def _checkpoint_now(self, machine: JobMachine) -> None:
        with machine.lock:
            capture = machine.checkpoint_locked() if machine.checkpoint_ready_locked() else None
        if capture is not None:
            machine.write_checkpoint(capture)
            with machine.lock:
                spawn = machine.reserve_drivers_locked(False)
                settle = machine.settle_check_locked() if not machine.drivers else None
            if spawn:
                self.start_drivers(machine, spawn)
            if settle is not None:
                machine.finish(settle)


class _LoopThread:
    """An event loop in a daemon thread of its own, for ``async def`` handlers."""

    def __init__(self, runtime: ThreadRuntime) -> None:
        self.runtime = runtime
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(ready,), name="routilux-async", daemon=True
        )
        self.thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)

    def start(self, machine: JobMachine, meta: int, data: Any, seq: int, kept: str | None) -> None:
        """Run an async activation on the loop (returns at once)."""
        context = machine.base_context.copy()
        coroutine = self._activation(machine, meta, data, seq, kept)
        self.loop.call_soon_threadsafe(_create_task, self.loop, coroutine, context)

    def run_here(
        self, machine: JobMachine, meta: int, data: Any, seq: int, kept: str | None
    ) -> None:
        """:meth:`start`, called on the loop's own thread."""
        coroutine = self._activation(machine, meta, data, seq, kept)
        _create_task(self.loop, coroutine, machine.base_context.copy())

    async def _activation(
        self, machine: JobMachine, meta: int, data: Any, seq: int, kept: str | None
    ) -> None:
        try:
            frame, result = await machine.run_async(meta, data, seq, kept)
        except BaseException:  # interrupted (cancelled with its job): the job is failing
            self.runtime.completed_async(machine, None, None)
            return
        self.runtime.completed_async(machine, frame, result)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _create_task(
    loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, Any], context: Any
) -> None:
    if sys.version_info >= (3, 11):
        loop.create_task(coroutine, context=context)
    else:  # Python 3.10: the task copies the context it is created in
        context.run(loop.create_task, coroutine)
