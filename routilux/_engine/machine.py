"""The job machine: one job's work, decided in one place.

A :class:`JobMachine` owns the runtime side of one job: its queue of activations, the
count of outstanding work, the activations in flight, the job's merge buffers, retries
waiting for their delay, checkpoint moments, and the transitions between running,
paused and finished. The :class:`~routilux.JobState` is the record; the machine decides
what happens to it. It never starts a thread or touches a store by itself while it holds
its lock: a runtime (:mod:`routilux.runtimes`) runs the activations it hands out and
reports them done, a store (:mod:`routilux.stores`) records what it is given.

Activations. :meth:`JobMachine.take_locked` hands out the next runnable activation;
the runtime runs it (:meth:`JobMachine.run_sync` in a thread, :meth:`JobMachine.run_async`
on an event loop) and then reports it with :meth:`JobMachine.complete_locked`. Taking
and completing are separate steps, so a coroutine (or a remote worker) can complete
later.

What an activation commits. While a handler runs, what it emits is held in its frame.
When the handler returns, the machine commits, in one step under its lock: the
handler's result (``get_result``), then each held emission in order -- a history record
and one queued activation per connected slot. A downstream routine can therefore always
read the result of the routine whose emission started it, and an attempt that fails
commits nothing: its emissions are dropped, so a retry never duplicates downstream work.
A long-running source that must hand items on while it runs uses ``emit_now``, which
commits one emission at once (and is subject to the queue's bound). Changes a handler
makes to the JobState itself (routine states, shared data, channels) take effect at once.

Counting, not guessing: ``outstanding`` is the number of activations queued, in flight
or waiting for a retry timer. The job completes when it reaches zero with nothing in
flight. Waiting is done on conditions and events, never by polling.

States: a job runs (``RUNNING``) until its outstanding work is done (``DONE``), or it is
stopped by a failure or a cancel (``STOPPING`` until activations in flight have returned,
then ``DONE``), or paused (``PAUSING`` until activations in flight have returned,
``PAUSE_SETTLING`` while the pause is being recorded, then ``PAUSED``). ``resume`` goes
through ``RESUMING``, during which work is queued but not taken and a cancel from
another thread is applied when the resume is done. With a durable store, a running job
passes through ``CHECKPOINTING`` now and then: nothing new is taken, and when the
activations in flight have returned the machine hands the store a consistent state of
the job (a :class:`~routilux.stores.Checkpoint`); the store takes what it needs outside
the machine's lock and the job runs on while it is written.

Lock order: the machine's ``lock`` may be held while taking the JobState's lock or the
flow's lock, never the other way round. Code outside the engine (stores, signal
receivers, handlers, logging handlers) is never called under it.

Observation (lifecycle signals, spans): the methods that run activations test one flag
(``routilux._observe.hooks``) and, if something observes, go through a watched variant
that tells ``routilux._observe_jobs``; a job start and settle test one flag each. A
traced run swaps its machine's completing methods for variants that remember which
activation's span queued what (:meth:`JobMachine.set_linking`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import secrets
import threading
import traceback
import weakref
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextvars import Context
from datetime import datetime
from threading import get_ident
from time import monotonic, time
from typing import TYPE_CHECKING, Any

import routilux._observe_jobs as observe
from routilux._blocking import blocking
from routilux._context import Frame, Held, SlotInfo, current_frame
from routilux._engine import fanout, pending
from routilux._engine.queue import ENTRY, MERGED, PLAIN_LIMIT, ActivationQueue, pack, unpack
from routilux._history import OneKey
from routilux._merge import append_into, merge
from routilux._observe import hooks
from routilux._observe_log import extra
from routilux._signals import wiring_version
from routilux.activation import Activations
from routilux.connection import apply_param_mapping
from routilux.error_handler import ErrorStrategy
from routilux.event import Event
from routilux.exceptions import (
    ConfigurationError,
    JobStateError,
    QueueFullError,
    RoutineNotFoundError,
)
from routilux.execution_context import ExecutionContext
from routilux.job_state import CANCELLED, COMPLETED, FAILED, PAUSED, RUNNING, JobState
from routilux.slot import MERGE_APPEND
from routilux.stores.base import Checkpoint

if TYPE_CHECKING:
    from routilux._engine.graph import FlowGraph
    from routilux.routine import Routine
    from routilux.runtimes.base import Runtime
    from routilux.slot import Slot
    from routilux.stores.base import Checkpointer, JobStore

__all__ = ["DriverContext", "Failure", "JobMachine", "describe_exception", "unhooked"]

logger = logging.getLogger("routilux")

# Run states (see the module documentation). STOPPING and DONE must stay the largest.
RUNNING_ = 0
CHECKPOINTING = 1
RESUMING = 2
PAUSING = 3
PAUSE_SETTLING = 4
PAUSED_ = 5
STOPPING = 6
DONE = 7

# A finished run drops late work quietly only if the job failed or was cancelled; late
# work into a completed job (or one that moved to another flow object) is an error.
_MOVED = "moved"
_DROPS_LATE_WORK = frozenset({FAILED, CANCELLED})

SETTLE_COMPLETED = "completed"
SETTLE_PAUSED = "paused"
SETTLE_STOPPED = "stopped"

#: How many times a streaming emit may run queued work inside itself, nested.
_MAX_INLINE_DEPTH = 8
_inline_depth = threading.local()

_set_frame = current_frame.set

# Activation ids: unique per process (a random token) and per run in it (a number).
_PROCESS_TOKEN = secrets.token_hex(4)
_run_numbers = itertools.count(1)


class _Failed:
    """What a failed attempt returns instead of a result (the failure is handled)."""

    __slots__ = ()


_FAILED = _Failed()


class _JobStopped(JobStateError):
    """``emit_now`` (or ``emit_now_async``) into a job that has failed or was cancelled.

    It interrupts the streaming handler that called it: the job drops its work, so
    whatever the handler would go on to emit is lost. If the handler lets it propagate,
    its activation ends without being recorded as a failure of its own (see
    :meth:`JobMachine._attempt_failed`), as an ``async def`` handler cancelled by its
    job's stop does.
    """


class Failure:
    """What a failed plain attempt returns instead of a result (not handled yet)."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


class AsyncHandle:
    """An async activation in flight, so that a cancel of its job can cancel it where
    it is suspended. ``cancel`` runs on the handle's loop, which is also where ``active``
    is cleared: a cancel that arrives after the handler returned does nothing (its task
    may be a driver that went on to other work)."""

    __slots__ = ("active", "loop", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None) -> None:
        self.loop = loop
        self.task = task
        self.active = True

    def cancel(self) -> None:
        if self.active and self.task is not None:
            self.task.cancel()


class DriverContext:
    """A driver's context for its activations, copied afresh from the job's only when a
    handler changed it: comparing with a pristine copy is a check of identity when it
    did not (``contextvars`` contexts compare their underlying mappings)."""

    __slots__ = ("base", "context", "pristine")

    def __init__(self, base: Context, frame: Frame) -> None:
        self.base = base
        self.refresh(frame)

    def refresh(self, frame: Frame) -> None:
        context = self.base.copy()
        context.run(current_frame.set, frame)
        self.context = context
        self.pristine = context.copy()


#: Marks an entry of ``JobMachine.observers`` that is a dropped emission to log.
_DROPPED: Any = object()


class JobMachine:
    """The machine of one job (see the module documentation)."""

    # Starting values of the scalar bookkeeping: class attributes until first set, so
    # a new machine (one per job) costs fewer assignments.
    _cond: threading.Condition | None = None  # made when somebody first waits
    outstanding = 0
    in_flight = 0
    #: Driver loops the runtime runs for this job (counted by the runtime).
    drivers = 0
    state = PAUSED_
    caller_waiting = False
    # True while a runtime that takes the work a completion queues itself (activations
    # run elsewhere) completes one: nobody is woken or started for that work.
    completer_takes = False
    # Bumped each time the job settles; callers wait for it to move.
    settle_count = 0
    # Bumped each time a pause takes effect; a caller driver stops driving then.
    epoch = 0
    resuming_thread: int | None = None
    pause_request: tuple[str, Any] | None = None
    cancel_request: str | None = None
    final_status = COMPLETED
    entry_failed = False
    # Checkpoints (see the module documentation).
    checkpointer: Checkpointer | None = None
    writing = False
    since_checkpoint = 0
    reported_seq: int | None = None
    # The store is told things in the order the machine decided them: each store call
    # has a turn, taken under the lock; a call whose turn has passed is skipped.
    store_turns = 0
    store_applied = -1
    # The job's settle is being recorded by the store (its state is final for now).
    recording = False
    #: The event loop that drives the job, for runtimes that use one.
    loop: Any = None
    #: The job's observation (``routilux._observe_jobs.JobWatch``) once anything
    #: observed it, and whether its run is traced (committed work then remembers the
    #: span of the activation that queued it).
    watch: Any = None
    linking = False

    def __init__(
        self,
        flow: FlowGraph,
        job_state: JobState,
        limit: int,
        base_context: Context,
        store: JobStore,
        runtime: Runtime,
        *,
        bound: int | None = None,
        on_full: str = "wait",
    ) -> None:
        self.flow = flow
        self.job_state = job_state
        self.store = store
        self.runtime = runtime
        #: How many activations of the job may be in flight at once.
        self.limit = limit
        self.base_context = base_context
        self.bound = bound
        self.raise_when_full = on_full == "raise"
        # Whether a driver hands async activations to a loop and goes on (threads), or
        # awaits each itself (asyncio tasks).
        self.hands_off_async: bool = getattr(runtime, "hands_off_async", False)
        self.lock = threading.Lock()
        self.queue = ActivationQueue()
        self.entry_routine_id: str | None = job_state.current_routine_id
        self.started_at = time()
        self.infos: dict[int, SlotInfo] = {}
        self.buffers: dict[int, Any] = {}
        self.buffer_lock = threading.Lock()
        self.timers: dict[int, tuple[Any, tuple[int, Any, str]]] = {}
        self._timer_ids = itertools.count()
        # routine id -> the status its last failure in this run gave it (for the tracker).
        self.failures: dict[str, str] = {}
        # Activation ids of this run: the prefix plus the queue's sequence number.
        self.id_prefix = f"{_PROCESS_TOKEN}{next(_run_numbers):x}."
        self._record = job_state._history.write
        # Observers of emitted events, told after the lock is released.
        # (event, routine, data) to send; or (_DROPPED, event, error) to log.
        self.observers: list[tuple[Any, Any, Any]] = []
        # Async activations in flight (cancelled where they are suspended when the job
        # is cancelled or fails).
        self.async_handles: set[AsyncHandle] = set()
        self.last_checkpoint = monotonic()
        # Activations in flight that stream (emit_now): while any runs, no checkpoint
        # falls due (it would have to wait for them to return, and stop the job's
        # other work meanwhile).
        self.streaming = 0
        self.store_lock = threading.Lock()
        # (settle count, callback): called once the job settles past that count.
        self.settle_callbacks: list[tuple[int, Callable[[], object]]] = []

    # -- waiting ----------------------------------------------------------------------

    @property
    def cond(self) -> threading.Condition:
        """The condition on ``lock`` that waiters wait on (use it with ``lock`` held)."""
        cond = self._cond
        if cond is None:
            cond = self._cond = threading.Condition(self.lock)
        return cond

    def notify_all_locked(self) -> None:
        """Under ``lock``: wake every waiter (if there is any)."""
        cond = self._cond
        if cond is not None:
            cond.notify_all()

    def notify_locked(self) -> None:
        """Under ``lock``: wake one waiter (if there is any)."""
        cond = self._cond
        if cond is not None:
            cond.notify()

    # -- attaching --------------------------------------------------------------------

    def attach(self) -> None:
        """Make this machine the one the job's emissions and tracker go through."""
        job_state = self.job_state
        job_state._machine = self
        job_state.execution_tracker._derive_events = _EventFlow(weakref.ref(job_state), self.flow)

    def detach(self) -> bool:
        """Retire a paused machine whose job continues on another flow object.

        Returns False (and changes nothing) if the machine is not parked.
        """
        with self.lock:
            if self.state != PAUSED_:
                return False
            self.state = DONE
            self.final_status = _MOVED
            return True

    def parked(self) -> bool:
        """Whether nothing of the job runs here (paused and recorded, or done)."""
        with self.lock:
            return self.state in (PAUSED_, DONE)

    def wait_parked(self) -> None:
        """Wait until nothing of the job runs here (see :meth:`parked`)."""
        with self.lock:
            if self.state not in (PAUSED_, DONE):
                with blocking():
                    while self.state not in (PAUSED_, DONE):
                        self.cond.wait()

    # -- lookups ----------------------------------------------------------------------

    def routine_id_of(self, routine: Routine) -> str | None:
        """The id of ``routine`` in this job's flow, or None."""
        return self.flow._routine_ids.get(id(routine))

    def contains(self, slot: Slot) -> bool:
        """Whether ``slot`` belongs to a routine of this job's flow."""
        return slot.routine is not None and id(slot.routine) in self.flow._routine_ids

    def info_for(self, index: int) -> SlotInfo:
        """What every activation of the slot with ``index`` shares in this run."""
        info = self.infos.get(index)
        if info is not None:
            return info
        slot = self.flow._slot_table[index]
        routine = slot.routine
        routine_id = self.routine_id_of(routine) if routine is not None else None
        if routine is None or routine_id is None:
            raise RoutineNotFoundError(
                f"{slot!r} belongs to a routine that is not in flow '{self.flow.flow_id}'"
            )
        context = ExecutionContext(self.flow, self.job_state, routine_id)
        info = SlotInfo(self, routine, routine_id, slot, index, context)
        self.infos[index] = info
        return info

    def is_async(self, meta: int) -> bool:
        """Whether the handler of a queued activation's slot is a coroutine function."""
        return self.flow._slot_table[meta & (PLAIN_LIMIT - 1)]._is_async

    def activation_id(self, seq: int, kept: str | None) -> str:
        return kept if kept is not None else f"{self.id_prefix}{seq}"

    # -- starting ---------------------------------------------------------------------

    def start(self, entry_slot: Slot, entry_params: dict[str, Any]) -> int:
        """Queue the entry activation; returns how many times the job settled so far.

        The caller then drives the job (or has the runtime drive it). The store is told
        first; if it refuses, the job ends failed and the error is raised.
        """
        job_state = self.job_state
        entry_id = self.entry_routine_id
        assert entry_id is not None
        self.attach()
        job_state.status = RUNNING
        try:
            self.flow._run_started(self)  # after the status: stores see "running"
        except BaseException as exc:
            self._record_routine_failure(entry_id, "start", exc, 0, "store", "error", FAILED)
            with self.lock:
                self.state = DONE
                self.final_status = FAILED
                job_state.status = FAILED
            self.flow._run_released(self)
            job_state._settled.set()
            raise
        job_state.record_execution(entry_id, "start", entry_params)
        job_state.execution_tracker.record_routine_start(entry_id, entry_params)
        job_state._settled.clear()
        self.checkpointer = self.store.checkpointer(job_state)
        with self.lock:
            self.state = RUNNING_
            self.queue.push(pack(self.flow._slot_index(entry_slot), 0, ENTRY), entry_params)
            self.outstanding = 1
            settled_before = self.settle_count
            capture = self.checkpoint_locked() if self.checkpointer is not None else None
        if capture is not None:
            # The job is recorded before its first activation runs.
            self.write_checkpoint(capture, go_on=False)
        if hooks.jobs:
            observe.job_started(self, resumed=False)
        return settled_before

    def on_settle(self, count: int, callback: Callable[[], object]) -> None:
        """Call ``callback()`` (in the settling thread) once the job has settled more
        than ``count`` times; at once if it already has."""
        with self.lock:
            if self.settle_count == count:
                self.settle_callbacks.append((count, callback))
                return
        callback()

    def wait_for_work_locked(self) -> None:
        """Under ``lock``: the caller's driver waits for work still to come."""
        with blocking():
            self.cond.wait()

    def wait_settled_since(self, count: int) -> None:
        """Wait until the job has settled (finished or paused) after ``count`` settles."""
        with self.lock:
            if self.settle_count == count:
                with blocking():
                    while self.settle_count == count:
                        self.cond.wait()

    # -- taking and running -----------------------------------------------------------

    def take_locked(self) -> tuple[int, Any, int, str | None] | None:
        """Under ``lock``: the next activation to run, or None (nothing runnable now)."""
        if self.state == RUNNING_ and self.queue.metas and self.in_flight < self.limit:
            self.in_flight += 1
            return self.queue.pop()
        return None

    # Observation. Each entry point below that runs activations tests whether anything
    # observes them (routilux._observe.hooks) and goes to its watched variant if so,
    # else to its bare body (the ``_`` name): unhooked() swaps the entry points for
    # the bare bodies, for benchmarks.

    def run_sync(self, meta: int, data: Any, seq: int, kept: str | None) -> tuple[Frame, Any]:
        """Run a taken activation in this thread; returns ``(frame, result)`` for
        :meth:`complete_locked` (the result is a failure marker if it failed, after the
        failure was handled). Not under the lock."""
        if hooks.activations:
            return self._run_sync_watched(meta, data, seq, kept)
        return self._run_sync(meta, data, seq, kept)

    def _run_sync(self, meta: int, data: Any, seq: int, kept: str | None) -> tuple[Frame, Any]:
        if meta < PLAIN_LIMIT:
            info = self.infos.get(meta) or self.info_for(meta)
            frame = Frame(info)
            result = self.base_context.copy().run(self._call, frame, data, 0, 0, seq, kept)
        else:
            index, attempt, flags = unpack(meta)
            frame = Frame(self.infos.get(index) or self.info_for(index))
            result = self.base_context.copy().run(
                self._call, frame, data, attempt, flags, seq, kept
            )
        return frame, result

    def _run_sync_watched(
        self, meta: int, data: Any, seq: int, kept: str | None
    ) -> tuple[Frame, Any]:
        index, attempt, flags = unpack(meta)
        frame = Frame(self.infos.get(index) or self.info_for(index))
        result = self.base_context.copy().run(
            self._call_watched, frame, data, attempt, flags, seq, kept
        )
        return frame, result

    def _call_watched(
        self, frame: Frame, data: Any, attempt: int, flags: int, seq: int, kept: str | None
    ) -> Any:
        """:meth:`_call`, observed (in the context the handler runs in)."""
        record = observe.activation_started(self, frame.info, attempt, seq, kept)
        if record is None:
            return self._call(frame, data, attempt, flags, seq, kept)
        try:
            result = self._call(frame, data, attempt, flags, seq, kept)
        except BaseException as exc:
            observe.activation_interrupted(self, record, exc)
            raise
        finally:
            observe.leave(record)
        if result is not _FAILED:
            observe.activation_finished(self, record, frame.held)
        return result

    def call_plain(self, frame: Frame, data: Any, seq: int) -> Any:
        """:meth:`_call` for a first attempt without flags (the common case), run in a
        context whose current frame is ``frame`` already (a driver's own).

        A failure is returned as a :class:`Failure` (the caller hands it to
        :meth:`failed` once what ran before it is committed), not handled here.
        """
        if hooks.activations:
            return self._call_plain_watched(frame, data, seq)
        return self._call_plain(frame, data, seq)

    def _call_plain_watched(self, frame: Frame, data: Any, seq: int) -> Any:
        record = observe.activation_started(self, frame.info, 0, seq, None)
        if record is None:
            return self._call_plain(frame, data, seq)
        try:
            result = self._call_plain(frame, data, seq)
        except BaseException as exc:
            observe.activation_interrupted(self, record, exc)
            raise
        finally:
            observe.leave(record)
        if result is not _FAILED and type(result) is not Failure:
            observe.activation_finished(self, record, frame.held)
        return result

    def _call_plain(self, frame: Frame, data: Any, seq: int) -> Any:
        info = frame.info
        slot = info.slot
        try:
            if not slot._merge_kind:
                result = slot._invoke(data)
            else:
                return self._call(frame, data, 0, 0, seq, None)
            if result is not None and inspect.isawaitable(result):
                _refuse_awaitable(result, info)
            if not info.resolved and frame.held:
                self._resolve(info, frame.held)
            return result
        except Exception as exc:
            frame.held = None
            return Failure(exc)
        except BaseException as exc:
            frame.held = None
            self._fail_job(info, exc, 0, "interrupted", False)
            raise

    def failed(
        self, info: SlotInfo, data: Any, seq: int, kept: str | None, failure: Failure
    ) -> None:
        """Not under ``lock``: handle a failure :meth:`call_plain` returned."""
        frame = Frame(info)
        self._attempt_failed(frame, data, 0, 0, True, seq, kept, failure.exc)

    def run_batch(
        self,
        metas: list[int],
        datas: list[Any],
        first_seq: int,
        frame: Frame,
        driver: DriverContext,
        done: list[tuple[SlotInfo, Held]],
    ) -> tuple[int, Failure | None]:
        """Not under ``lock``: run taken plain activations one after another in this
        thread (the sequential strategy's fast path), in the driver's context.

        Stops before an activation that is not plain (retried, entry, merged, async),
        when the job stops running (pause, cancel, failure), or after a failure. What
        ran goes into ``done`` -- ``(info, held)`` each, for
        :meth:`complete_batch_locked`; results are recorded at once. Returns the index
        where it stopped, and the failure of the activation at that index, if that is
        why.

        While activations are observed, each goes through its watched variant (see
        routilux._observe_jobs).
        """
        if not hooks.activations:
            return self._run_batch(metas, datas, first_seq, frame, driver, done)
        return self._run_batch(
            metas, datas, first_seq, frame, driver, done, self._call_plain_watched
        )

    def _run_batch(
        self,
        metas: list[int],
        datas: list[Any],
        first_seq: int,
        frame: Frame,
        driver: DriverContext,
        done: list[tuple[SlotInfo, Held]],
        call: Callable[[Frame, Any, int], Any] | None = None,
    ) -> tuple[int, Failure | None]:
        append = done.append
        infos = self.infos
        if call is None:
            call = self._call_plain
        results = self.job_state._results
        context, pristine = driver.context, driver.pristine
        for index, meta in enumerate(metas):
            if self.state != RUNNING_ or meta >= PLAIN_LIMIT:
                return index, None
            info = infos.get(meta)
            if info is None or info.is_async:
                return index, None
            frame.info = info
            held: Held = []
            frame.held = held
            result = context.run(call, frame, datas[index], first_seq + index)
            if context != pristine:
                driver.refresh(frame)
                context, pristine = driver.context, driver.pristine
            if result is not None:
                if type(result) is Failure:
                    return index, result
                # At once: the next activation of the batch may read it.
                results[info.routine_id] = result
            append((info, held))
        return len(metas), None

    def put_back_locked(
        self,
        metas: list[int],
        datas: list[Any],
        start: int,
        first_seq: int,
        kept: dict[int, str],
    ) -> None:
        """Under ``lock``: taken activations from ``start`` on did not run: back to the
        front of the queue in order (or dropped, if the job is stopping)."""
        count = len(metas) - start
        if count <= 0:
            return
        self.in_flight -= count
        if self.state >= STOPPING:
            self.outstanding -= count
            return
        queue = self.queue
        queue.metas.extendleft(reversed(metas[start:]))
        queue.datas.extendleft(reversed(datas[start:]))
        for seq in range(first_seq + start, first_seq + len(metas)):
            activation_id = kept.get(seq)
            if activation_id is not None:
                queue.ids[seq] = activation_id
        if self.caller_waiting:
            self.notify_locked()

    def complete_batch_locked(
        self,
        done: list[tuple[SlotInfo, Held]],
        frame: Frame,
        *,
        last_ran_into_stop: bool = True,
        commit: Callable[[list[Held]], int] | None = None,
    ) -> int:
        """Under ``lock``: commit what :meth:`run_batch` ran, in order; returns how many
        drivers to start.

        ``last_ran_into_stop``: false when the batch ended with an activation that is
        not in ``done`` (it failed, or was interrupted): if the job stopped meanwhile,
        that one stopped it, and every activation in ``done`` returned before.

        ``commit``: what commits the emissions (a traced job's links them to spans).
        """
        count = len(done)
        self.in_flight -= count
        self.outstanding -= count
        added = 0
        if self.state >= STOPPING and count:
            # Stopped while the batch ran (a handler cancelled or failed the job): the
            # activations that returned before it keep their effects but the work they
            # would queue is dropped with the rest; the one that ran into the stop has
            # its emissions dropped, as any handler's still running at a stop.
            before = done[:-1] if last_ran_into_stop else done
            for info, held in before:
                info.runs += 1
                if held:
                    self._record_dropped_locked(held)
            done = done[-1:] if last_ran_into_stop else []
        helds = []
        for info, held in done:
            info.runs += 1
            if held:
                helds.append(held)
        if helds:
            added = (commit or self._commit_many_locked)(helds)
        if frame.streams:
            self.stream_ended_locked(frame)
        if self.checkpointer is not None:
            self.since_checkpoint += count - 1
            self._checkpoint_due_locked()
        if added and (self.caller_waiting or self.drivers < self.limit):
            return self._wake_locked(added)
        return 0

    def _call(
        self, frame: Frame, data: Any, attempt: int, flags: int, seq: int, kept: str | None
    ) -> Any:
        _set_frame(frame)
        info = frame.info
        slot = info.slot
        merged = bool(flags & MERGED) or not slot._merge_kind
        try:
            if merged:
                result = slot._invoke(data)
            elif slot._merge_kind == MERGE_APPEND and self.limit == 1:
                buffer = self.buffers.get(info.index)
                if buffer is None:
                    buffer = self.buffers[info.index] = {}
                data = append_into(buffer, data)
                merged = True
                result = slot._invoke(data)
            else:
                data = self._merge(info.index, slot, data)
                merged = True
                result = slot._call_merged(data)
            if result is not None and inspect.isawaitable(result):
                _refuse_awaitable(result, info)
            if not info.resolved and frame.held:
                self._resolve(info, frame.held)
            return result
        except Exception as exc:
            self._attempt_failed(frame, data, attempt, flags, merged, seq, kept, exc)
            return _FAILED
        except BaseException as exc:
            frame.held = None
            self._fail_job(info, exc, attempt, "interrupted", bool(flags & ENTRY))
            raise

    def run_async(
        self, meta: int, data: Any, seq: int, kept: str | None
    ) -> Coroutine[Any, Any, tuple[Frame, Any]]:
        """Run a taken activation of an ``async def`` handler (awaited on the current
        loop, in the current task's context with the frame set); returns what
        :meth:`run_sync` returns (as a coroutine to await)."""
        if hooks.activations:
            return self._run_async_watched(meta, data, seq, kept)
        return self._run_async(meta, data, seq, kept)

    async def _run_async_watched(
        self, meta: int, data: Any, seq: int, kept: str | None
    ) -> tuple[Frame, Any]:
        index, attempt, _ = unpack(meta)
        info = self.infos.get(index) or self.info_for(index)
        record = observe.activation_started(self, info, attempt, seq, kept)
        if record is None:
            return await self._run_async(meta, data, seq, kept)
        try:
            frame, result = await self._run_async(meta, data, seq, kept)
        except BaseException as exc:
            observe.activation_interrupted(self, record, exc)
            raise
        finally:
            observe.leave(record)
        if result is not _FAILED:
            observe.activation_finished(self, record, frame.held)
        return frame, result

    async def _run_async(
        self, meta: int, data: Any, seq: int, kept: str | None
    ) -> tuple[Frame, Any]:
        index, attempt, flags = unpack(meta)
        info = self.infos.get(index) or self.info_for(index)
        frame = Frame(info)
        _set_frame(frame)
        slot = info.slot
        merged = bool(flags & MERGED) or not slot._merge_kind
        handle = AsyncHandle(asyncio.get_running_loop(), asyncio.current_task())
        with self.lock:
            self.async_handles.add(handle)
        try:
            if not merged:
                data = self._merge(index, slot, data)
                merged = True
                outcome = slot._call_merged(data)
            else:
                outcome = slot._invoke(data)
            result = await outcome if inspect.isawaitable(outcome) else outcome
            handle.active = False
            if not info.resolved and frame.held:
                self._resolve(info, frame.held)
            return frame, result
        except Exception as exc:
            handle.active = False
            self._attempt_failed(frame, data, attempt, flags, merged, seq, kept, exc)
            return frame, _FAILED
        except BaseException as exc:
            handle.active = False
            frame.held = None
            if not (isinstance(exc, asyncio.CancelledError) and self.state >= STOPPING):
                # Not the job's own cancel of its suspended handlers: the job fails.
                self._fail_job(info, exc, attempt, "interrupted", bool(flags & ENTRY))
            raise
        finally:
            handle.active = False
            with self.lock:
                self.async_handles.discard(handle)
            _set_frame(None)

    def _resolve(self, info: SlotInfo, held: Held) -> None:
        """Where the events of the slot's routine go, worked out (and checked) when it
        first emits in this run; an event that cannot be delivered fails the activation.

        Raises:
            RoutineNotFoundError: a direct connection to a routine outside the flow.
        """
        fanout.resolve_all(self.flow, held)
        try:
            for event in list(info.routine._events.values()):
                fanout.targets(self.flow, event)
        except RoutineNotFoundError:
            return  # an event it did not emit cannot be delivered: check each time
        info.resolved = True

    def _merge(self, index: int, slot: Slot, data: dict[str, Any]) -> Any:
        # Under the sequential strategy only one activation runs: no lock needed.
        if self.limit == 1:
            return self._merge_unlocked(index, slot, data)
        with self.buffer_lock:
            return self._merge_unlocked(index, slot, data)

    def _merge_unlocked(self, index: int, slot: Slot, data: dict[str, Any]) -> Any:
        buffers = self.buffers
        if slot._merge_kind == MERGE_APPEND:
            buffer = buffers.get(index)
            if buffer is None:
                buffer = buffers[index] = {}
            return append_into(buffer, data)
        stored, merged = merge(slot._merge_strategy, buffers.get(index, {}), data)
        buffers[index] = stored
        return merged

    # -- completing: committing an activation's effects --------------------------------

    def complete_locked(self, frame: Frame, result: Any) -> int:
        """Under ``lock``: an activation taken by :meth:`take_locked` has returned.

        Commits its effects (see the module documentation) if it succeeded. Returns how
        many more drivers the runtime should start for the work now queued.
        """
        self.in_flight -= 1
        self.outstanding -= 1
        info = frame.info
        info.runs += 1
        held = frame.held
        frame.held = None
        if result is not None:
            if result is _FAILED:
                if frame.streams:
                    self.stream_ended_locked(frame)
                return 0
            self.job_state._results[info.routine_id] = result
        added = self._commit_locked(held) if held else 0
        if frame.streams:
            self.stream_ended_locked(frame)
        if self.checkpointer is not None:
            self._checkpoint_due_locked()
        if added and (self.caller_waiting or self.drivers < self.limit):
            if self.completer_takes:
                return 0
            return self._wake_locked(added)
        return 0

    # A traced run of the job links each activation's span to the span of the
    # activation whose emission queued it: while it runs, the machine's completing
    # methods are replaced (on this machine only, so that untraced jobs test nothing)
    # by variants that remember which span queued what.

    def set_linking(self, on: bool) -> None:
        """Link the activations of this run to the spans that queued them (``on``), or
        stop. Called when a run starts or settles, before or after its drivers."""
        self.linking = on
        methods = vars(self)
        if on:
            methods["complete_locked"] = self._complete_linked_locked
            methods["complete_batch_locked"] = self._complete_batch_linked_locked
        else:
            methods.pop("complete_locked", None)
            methods.pop("complete_batch_locked", None)

    def _complete_linked_locked(self, frame: Frame, result: Any) -> int:
        held = frame.held
        first = self.queue.appended
        spawn = JobMachine.complete_locked(self, frame, result)
        if held:
            observe.link_held_locked(self, held, first, self.queue.appended)
        return spawn

    def _complete_batch_linked_locked(
        self,
        done: list[tuple[SlotInfo, Held]],
        frame: Frame,
        *,
        last_ran_into_stop: bool = True,
        commit: Callable[[list[Held]], int] | None = None,
    ) -> int:
        return JobMachine.complete_batch_locked(
            self,
            done,
            frame,
            last_ran_into_stop=last_ran_into_stop,
            commit=self._commit_linked_locked,
        )

    def _commit_linked_locked(self, helds: list[Held]) -> int:
        """Under ``lock``: :meth:`_commit_many_locked` in a traced job: what each
        activation queues is linked to its span."""
        added = 0
        queue = self.queue
        for held in helds:
            first = queue.appended
            added += self._commit_many_locked((held,))
            observe.link_held_locked(self, held, first, queue.appended)
        return added

    def _commit_locked(self, held: Held) -> int:
        """Under ``lock``: record and queue what an activation emitted; returns how
        many activations were queued."""
        return self._commit_many_locked((held,))

    def _commit_many_locked(self, helds: Iterable[Held]) -> int:
        """Under ``lock``: :meth:`_commit_locked` for what several activations emitted,
        in order."""
        state = self.state
        if state >= STOPPING:
            if state == STOPPING or self.final_status in _DROPS_LATE_WORK:
                return 0  # the job is failing or cancelled: its late output is dropped
            raise self._finished_error("emit")
        queue = self.queue
        metas, datas = queue.metas, queue.datas
        record = self._record
        flow = self.flow
        table = flow._fanout if flow._fanout_version == wiring_version[0] else fanout.table(flow)
        added = 0
        moment = 0.0
        for held in helds:
            for entry in held:
                target = entry[1]
                if type(target) is Event:
                    data = entry[2]
                    if len(data) < 2:
                        record(_compact(entry, target, data))
                    else:
                        record(entry)  # the history keeps the held entry as it is
                    route = table.get(target)
                    if type(route) is int:  # one plain target: the common case
                        metas.append(route)
                        datas.append(data)
                        added += 1
                        continue
                    if route is None:
                        route = self._route_locked(target)
                    for index, mapping in route[0]:
                        metas.append(index)
                        datas.append(apply_param_mapping(mapping, data) if mapping else data)
                        added += 1
                    if route[1]:
                        self.observers.append((target, target.routine, data))
                elif type(target) is int:  # a Slot.receive
                    metas.append(target)
                    datas.append(entry[2])
                    added += 1
                else:  # a record_execution call
                    record(entry)
            if held:
                moment = held[-1][3]
        if added:
            queue.appended += added
            self.outstanding += added
            if state in (PAUSED_, PAUSE_SETTLING):
                self._park_queue_tail_locked(added)
                added = 0
        if moment:
            self.job_state._updated = moment
        return added

    def _record_dropped_locked(self, held: Held) -> None:
        """Under ``lock``: the history records of what an activation that returned
        before the job stopped emitted (its deliveries are dropped with the job's work)."""
        record = self._record
        for entry in held:
            target = entry[1]
            if type(target) is not int:
                record(entry)
                if type(target) is Event and target.signal.receivers:
                    self.observers.append((target, target.routine, entry[2]))

    def _route_locked(self, event: Event) -> Any:
        """The route of an event whose emission was checked before the wiring changed:
        a target that cannot be resolved now is dropped, loudly."""
        try:
            return fanout.route(self.flow, event)
        except Exception as exc:
            # Logged by tell_observers, outside the lock (log handlers are user code).
            self.observers.append((_DROPPED, event, exc))
            return ((), False)

    def _wake_locked(self, added: int) -> int:
        """Under ``lock``: wake the waiting caller, or count in drivers to start."""
        if not added or self.state != RUNNING_:
            return 0
        if self.caller_waiting:
            self.caller_waiting = False
            self.notify_locked()
            return 0
        spare = min(self.limit - self.drivers, len(self.queue), self.limit - self.in_flight)
        if spare <= 0:
            return 0
        if spare > 1 and self.hands_off_async and self.is_async(self.queue.metas[0]):
            spare = 1  # one driver hands any number of async activations to the loop
        self.drivers += spare
        return spare

    def tell_observers(self) -> None:
        """Outside ``lock``: call the observers of events committed meanwhile."""
        with self.lock:
            observers, self.observers = self.observers, []
        job_state = self.job_state
        for event, routine, data in observers:
            if event is _DROPPED:
                self._log_dropped(routine, data)
                continue
            try:
                event.signal.send(routine, data=data, job_state=job_state)
            except Exception:
                logger.exception(
                    "a receiver of %r failed",
                    event,
                    extra=extra(job_state.job_id, self.routine_id_of(routine)),
                )

    def _log_dropped(self, event: Event, error: BaseException) -> None:
        """An emission whose target could not be resolved (see :meth:`_route_locked`)."""
        job_id = self.job_state.job_id
        logger.error(
            "emission of %r in job %s dropped",
            event,
            job_id,
            exc_info=error,
            extra=extra(
                job_id, self.routine_id_of(event.routine) if event.routine is not None else None
            ),
        )

    # -- emitting ---------------------------------------------------------------------

    def emit(self, frame: Frame, routine_id: str, event: Event, data: dict[str, Any]) -> None:
        """An emission not held by its frame: of another routine of the flow, or late
        (a thread the handler started emits after the handler returned)."""
        fanout.targets(self.flow, event)  # raises here if it cannot be delivered
        held = frame.held
        if held is not None and frame.info.job is self:
            held.append((routine_id, event, data, time()))
            return
        # Late: a failed or cancelled job drops it quietly (see _commit_many_locked).
        self.emit_now(frame, routine_id, event, data, late=True)

    def emit_now(
        self,
        frame: Frame,
        routine_id: str,
        event: Event,
        data: dict[str, Any],
        *,
        late: bool = False,
    ) -> None:
        """Commit one emission at once (see :meth:`Routine.emit_now`), with the queue's
        bound: when it is full, raise (``on_full="raise"``) or run queued activations
        in this thread until there is room (the default).

        Into a job that has failed or was cancelled (also while it waits for room) it
        raises a :class:`~routilux.exceptions.JobStateError`, so that a streaming
        source stops there -- unless ``late`` (a plain ``emit`` of a thread a handler
        left running, whose emission is then dropped quietly)."""
        fanout.targets(self.flow, event)  # raises here if it cannot be delivered
        entry = [(routine_id, event, data, time())]
        with self.lock:
            if not late and self.stopped_locked():
                raise self._stopped_error(routine_id, event)
            if not late and not frame.streams and frame.held is not None:
                self._stream_started_locked(frame)
            if self.bound is not None and len(self.queue) >= self.bound:
                if self.raise_when_full:
                    raise QueueFullError(
                        f"Queue of job '{self.job_state.job_id}' is full ({self.bound} "
                        f"activations) at emit_now '{event.name}' of routine '{routine_id}'"
                    )
                spawn = 0
                full = True
            else:
                full = False
                dropped = self.stopped_locked()
                spawn = self._commit_now_locked(entry)
        if full:
            self._make_room(frame)
            with self.lock:
                if not late and self.stopped_locked():
                    # An activation run to make room failed the job (STOP), or a
                    # cancel came meanwhile: the emission would be dropped.
                    raise self._stopped_error(routine_id, event)
                dropped = self.stopped_locked()
                spawn = self._commit_now_locked(entry)
        if spawn:
            self.runtime.start_drivers(self, spawn)
        if self.observers:
            self.tell_observers()
        if hooks.receivers and not dropped:
            observe.emitted_now(self, frame.info, entry[0])

    def _commit_now_locked(self, entry: Held) -> int:
        """Under ``lock``: commit an ``emit_now`` emission; returns the drivers to start.
        In a traced job, the activations it queues link to the current span."""
        if not self.linking:
            return self._wake_locked(self._commit_locked(entry))
        first = self.queue.appended
        spawn = self._wake_locked(self._commit_locked(entry))
        observe.link_current_locked(self, first, self.queue.appended)
        return spawn

    async def emit_now_async(
        self, frame: Frame, routine_id: str, event: Event, data: dict[str, Any]
    ) -> None:
        """:meth:`emit_now` for ``async def`` handlers: when the queue is full, the
        handler awaits queued activations (run here, one at a time: async ones awaited,
        plain ones in a thread) until there is room; its loop is never blocked."""
        fanout.targets(self.flow, event)  # raises here if it cannot be delivered
        entry = [(routine_id, event, data, time())]
        bound = self.bound
        while True:
            with self.lock:
                if self.stopped_locked():
                    raise self._stopped_error(routine_id, event, "emit_now_async")
                if not frame.streams and frame.held is not None:
                    self._stream_started_locked(frame)
                if bound is None or len(self.queue) < bound or self.state > CHECKPOINTING:
                    spawn = self._commit_now_locked(entry)
                    break
                if self.raise_when_full:
                    raise QueueFullError(
                        f"Queue of job '{self.job_state.job_id}' is full ({bound} "
                        f"activations) at emit_now '{event.name}' of routine '{routine_id}'"
                    )
                self.in_flight += 1  # over the limit while the source is suspended
                meta, taken, seq, kept = self.queue.pop()
            current = current_frame.get()
            try:
                if self.is_async(meta):
                    ran, result = await self.run_async(meta, taken, seq, kept)
                else:
                    ran, result = await asyncio.to_thread(self.run_sync, meta, taken, seq, kept)
            except BaseException:
                with self.lock:
                    self.in_flight -= 1
                    self.outstanding -= 1
                raise
            finally:
                _set_frame(current)  # run_async cleared it: the source goes on
            with self.lock:
                more = self.complete_locked(ran, result)
                self.notify_all_locked()
            if more:
                self.runtime.start_drivers(self, more)
        if spawn:
            self.runtime.start_drivers(self, spawn)
        if self.observers:
            self.tell_observers()
        if hooks.receivers:
            observe.emitted_now(self, frame.info, entry[0])

    def _stream_started_locked(self, frame: Frame) -> None:
        """Under ``lock``: the activation of ``frame`` streams (it is still running:
        an ``emit_now`` of a thread it left behind counts for nothing). A checkpoint due now
        would wait for it to return, stopping the job's other work meanwhile: it is
        put off until the streaming activations have returned."""
        frame.streams = True
        self.streaming += 1
        if self.state == CHECKPOINTING:
            self.state = RUNNING_

    def stream_ended_locked(self, frame: Frame) -> None:
        """Under ``lock``: the streaming activation of ``frame`` completed (or was
        interrupted)."""
        frame.streams = False
        self.streaming -= 1

    def _make_room(self, frame: Frame) -> None:
        """Run queued activations in this thread until the queue is below its bound (a
        streaming source that is the job's only driver must not wait for itself)."""
        assert self.bound is not None
        low = self.bound // 2
        depth = getattr(_inline_depth, "value", 0)
        if depth >= _MAX_INLINE_DEPTH or _in_event_loop():
            # Deeply nested streaming sources, or an async handler (which must not
            # block its loop): let the queue grow past its bound.
            return
        _inline_depth.value = depth + 1
        try:
            while True:
                with self.lock:
                    # A checkpoint that fell due waits for the source's activation to
                    # return anyway: the queue is still made room in, or it would grow
                    # past its bound until then.
                    if len(self.queue) <= low or self.state > CHECKPOINTING:
                        return
                    self.in_flight += 1  # over the limit while the source is suspended
                    meta, data, seq, kept = self.queue.pop()
                    if self.is_async(meta):
                        # An async activation is next: the runtime's loop runs it; the
                        # source waits for it (one activation at a time, as its job).
                        target = self.in_flight
                        self.runtime.start_async(self, meta, data, seq, kept)
                        with blocking():
                            while self.in_flight >= target and self.state <= CHECKPOINTING:
                                self.cond.wait()
                        continue
                ran, result = self.run_sync(meta, data, seq, kept)
                with self.lock:
                    spawn = self.complete_locked(ran, result)
                    self.notify_all_locked()
                if spawn:
                    self.runtime.start_drivers(self, spawn)
        finally:
            _inline_depth.value = depth

    def deliver(self, frame: Frame, slot: Slot, data: dict[str, Any]) -> None:
        """A ``Slot.receive`` from a handler of this job: held like an emission."""
        if not self.contains(slot):
            raise RoutineNotFoundError(
                f"{slot!r} belongs to a routine that is not in flow '{self.flow.flow_id}'; "
                "connect routines with Flow.connect"
            )
        index = self.flow._slot_index(slot)
        held = frame.held
        if held is not None and frame.info.job is self:
            held.append((frame.info.routine_id, index, data, 0.0))
            return
        with self.lock:
            spawn = self._wake_locked(self._commit_locked([("", index, data, 0.0)]))
        if spawn:
            self.runtime.start_drivers(self, spawn)

    def stopped_locked(self) -> bool:
        """Under ``lock``: whether the job has failed or was cancelled (its work is
        dropped), also while activations still in flight return."""
        return self.state >= STOPPING and self.final_status in _DROPS_LATE_WORK

    def _stopped_error(
        self, routine_id: str, event: Event, what: str = "emit_now"
    ) -> JobStateError:
        job_state = self.job_state
        done = "was cancelled" if self.final_status == CANCELLED else "has failed"
        return _JobStopped(
            f"Cannot {what} '{event.name}' of routine '{routine_id}': job "
            f"'{job_state.job_id}' {done}, its queued work was dropped and it takes no "
            "more; the handler should stop"
        )

    def _finished_error(self, what: str) -> JobStateError:
        if self.final_status == _MOVED:
            return JobStateError(
                f"Cannot {what}: job '{self.job_state.job_id}' was resumed on another flow "
                "object; this thread belongs to its earlier run."
            )
        return JobStateError(
            f"Cannot {what}: job '{self.job_state.job_id}' has already finished "
            f"({self.job_state.status}). A thread started by a handler must finish its "
            "work before the handler returns."
        )

    def slot_buffer(self, slot: Slot) -> Any:
        """This job's merge buffer of ``slot`` (made empty if it has none yet)."""
        index = self.flow._slot_index(slot)
        with self.buffer_lock:
            buffer = self.buffers.get(index)
            if buffer is None:
                buffer = self.buffers[index] = {}
            return buffer

    def set_slot_buffer(self, slot: Slot, buffer: Any) -> None:
        """Replace this job's merge buffer of ``slot``."""
        index = self.flow._slot_index(slot)
        with self.buffer_lock:
            self.buffers[index] = buffer

    # -- failures ---------------------------------------------------------------------

    def _attempt_failed(
        self,
        frame: Frame,
        data: Any,
        attempt: int,
        flags: int,
        merged: bool,
        seq: int,
        kept: str | None,
        exc: Exception,
    ) -> None:
        """Not under ``lock``: a handler raised. Its emissions are dropped; its error
        handler decides what happens next -- unless the handler was interrupted by its
        job's stop (``emit_now`` into a failed or cancelled job raised): that is not a
        failure of its own, and nothing is recorded."""
        frame.held = None
        info = frame.info
        record = None
        if self.watch is not None:
            record = observe.activation_failed(self, info, attempt, seq, kept, exc)
        if isinstance(exc, _JobStopped) and self.state >= STOPPING:
            return
        flags = flags | MERGED if merged else flags & ~MERGED
        try:
            delay = self._failed(info, data, attempt, flags, self.activation_id(seq, kept), exc)
            if record is not None and delay is not None:
                observe.activation_retried(self, record, exc, delay)
        except Exception as inner:
            # The error handling itself failed (e.g. a backoff too large to compute):
            # the job cannot honour its strategy, so it fails.
            self._fail_job(info, inner, attempt, "error-handling", bool(flags & ENTRY))

    def _failed(
        self,
        info: SlotInfo,
        data: Any,
        attempt: int,
        flags: int,
        activation_id: str,
        exc: Exception,
    ) -> float | None:
        """Apply the error handler of a failed attempt; returns the delay of its retry
        if one was scheduled."""
        handler = info.routine._error_handler or self.flow.error_handler
        is_entry = bool(flags & ENTRY)
        if handler is None:
            if is_entry:
                self._fail_job(info, exc, attempt, "default", is_entry)
            else:
                self._record_failure(info, exc, attempt, "default", "error", "failed", is_entry)
            return None
        strategy = handler.strategy
        name = strategy.value
        if strategy is ErrorStrategy.RETRY:
            if not handler.is_retryable(exc):
                self._fail_job(info, exc, attempt, name, is_entry)
            elif attempt < handler.max_retries:
                delay = handler.retry_delay_for(attempt + 1)
                retry = (pack(info.index, attempt + 1, flags), data, activation_id)
                if self._schedule_retry(retry, delay):
                    self._record_retry(info, exc, attempt, delay)
                    return delay
            elif handler.is_critical or is_entry:
                self._fail_job(info, exc, attempt, name, is_entry)
            else:
                self._record_failure(info, exc, attempt, name, "error", "failed", is_entry)
        elif strategy is ErrorStrategy.CONTINUE:
            self._record_failure(
                info, exc, attempt, name, "error_continued", "error_continued", is_entry
            )
        elif strategy is ErrorStrategy.SKIP:
            self._record_failure(info, exc, attempt, name, "error", "skipped", is_entry)
        else:
            self._fail_job(info, exc, attempt, name, is_entry)
        return None

    def _record_failure(
        self,
        info: SlotInfo,
        exc: BaseException,
        attempt: int,
        strategy: str,
        record_name: str,
        routine_status: str,
        is_entry: bool,
    ) -> None:
        self._record_routine_failure(
            info.routine_id,
            info.slot.name,
            exc,
            attempt,
            strategy,
            record_name,
            routine_status,
            slot=info.slot.name,
        )
        self.failures[info.routine_id] = routine_status
        if is_entry:
            self.entry_failed = True

    def _record_routine_failure(
        self,
        routine_id: str,
        where: str,
        exc: BaseException,
        attempt: int,
        strategy: str,
        record_name: str,
        routine_status: str,
        *,
        slot: str | None = None,
    ) -> None:
        """Record a failure in the job (history, routine state, errors) and log it
        with its traceback; ``slot``: the slot whose handler failed, if one did."""
        job_state = self.job_state
        message = describe_exception(exc)
        details = {
            "slot": where,
            "error": message,
            "error_type": type(exc).__name__,
            "attempt": attempt,
        }
        job_state.record_execution(routine_id, record_name, dict(details))
        job_state._merge_routine_state(
            routine_id,
            {"status": routine_status, "error": message, "error_time": datetime.now().isoformat()},
        )
        job_state._record_error(
            {
                "routine_id": routine_id,
                **details,
                "strategy": strategy,
                "timestamp": datetime.now().isoformat(),
                "traceback": "".join(traceback.format_exception(exc)),
            }
        )
        logger.warning(
            "routine '%s' failed in job %s (%s): %s: %s",
            routine_id,
            job_state.job_id,
            strategy,
            type(exc).__name__,
            message,
            exc_info=exc,
            extra=extra(job_state.job_id, routine_id, slot),
        )

    def record_store_failure(self, exc: Exception) -> None:
        """The store could not record the settled job: keep the reason in the job."""
        job_state = self.job_state
        message = describe_exception(exc)
        logger.error(
            "store %r could not record job %s (%s): %s: %s",
            self.store,
            job_state.job_id,
            job_state.status,
            type(exc).__name__,
            message,
            extra=extra(job_state.job_id, self.entry_routine_id),
        )
        job_state._record_error(
            {
                "routine_id": self.entry_routine_id,
                "slot": None,
                "error": message,
                "error_type": type(exc).__name__,
                "attempt": 0,
                "strategy": "store",
                "timestamp": datetime.now().isoformat(),
                "traceback": "".join(traceback.format_exception(exc)),
            }
        )

    def _record_retry(self, info: SlotInfo, exc: Exception, attempt: int, delay: float) -> None:
        message = describe_exception(exc)
        details = {
            "slot": info.slot.name,
            "error": message,
            "error_type": type(exc).__name__,
            "attempt": attempt,
            "delay": delay,
        }
        self.job_state.record_execution(info.routine_id, "retry", details)
        logger.info(
            "retrying routine '%s' in job %s in %.3fs after %s: %s",
            info.routine_id,
            self.job_state.job_id,
            delay,
            type(exc).__name__,
            message,
            exc_info=exc,
            extra=extra(self.job_state.job_id, info.routine_id, info.slot.name),
        )

    def _fail_job(
        self, info: SlotInfo, exc: BaseException, attempt: int, strategy: str, is_entry: bool
    ) -> None:
        self._record_failure(info, exc, attempt, strategy, "error", "failed", is_entry)
        with self.lock:
            self._stop_locked(FAILED)

    def _stop_locked(self, status: str) -> None:
        """Under ``lock``: discard queued and delayed work; the job ends with ``status``."""
        if self.state not in (RUNNING_, CHECKPOINTING, PAUSING, RESUMING):
            return
        self.state = STOPPING
        self.final_status = status
        self.job_state.status = status
        self._discard_locked()
        self._cancel_async_locked()
        self.notify_all_locked()

    def _cancel_async_locked(self) -> None:
        """Under ``lock``: cancel the async activations in flight where they are
        suspended (each on its own loop)."""
        for handle in self.async_handles:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing of it runs
                handle.loop.call_soon_threadsafe(handle.cancel)

    def _discard_locked(self) -> None:
        self.outstanding -= len(self.queue) + len(self.timers)
        self.queue.clear()
        for handle, _ in self.timers.values():
            handle.cancel()
        self.timers.clear()

    # -- retries ----------------------------------------------------------------------

    def _schedule_retry(self, retry: tuple[int, Any, str], delay: float) -> bool:
        """Queue ``retry`` again after ``delay``; False if the job is stopping."""
        with self.lock:
            if self.state not in (RUNNING_, CHECKPOINTING, PAUSING):
                return False
            # The failed attempt is counted down when it completes; this one stays.
            self.outstanding += 1
            if delay <= 0 or self.state == PAUSING:
                # A pausing job keeps the retry with its pending work; it runs on resume.
                self.queue.push(retry[0], retry[1], retry[2])
                return True
            key = next(self._timer_ids)
            handle = self.runtime.call_later(delay, self._retry_due, key)
            self.timers[key] = (handle, retry)
            return True

    def _retry_due(self, key: int) -> None:
        """A retry's delay is over (called by the runtime, never on its timer thread)."""
        with self.lock:
            entry = self.timers.pop(key, None)
            if entry is None:
                return  # taken by pause, cancel or a failure meanwhile
            meta, data, activation_id = entry[1]
            # Timers only exist while the job runs: pause and stop take them all.
            self.queue.push(meta, data, activation_id)
            spawn = self._wake_locked(1)
        if spawn:
            self.runtime.start_drivers(self, spawn)

    # -- checkpoints ------------------------------------------------------------------

    def _checkpoint_due_locked(self) -> None:
        if self.checkpointer is None or self.writing or self.state != RUNNING_:
            return
        if self.streaming:
            return  # no quiet moment before the streaming activations return
        self.since_checkpoint += 1
        checkpointer = self.checkpointer
        if (
            self.since_checkpoint >= checkpointer.every
            or monotonic() - self.last_checkpoint >= checkpointer.interval
        ):
            self.state = CHECKPOINTING

    def checkpoint_ready_locked(self) -> bool:
        """Under ``lock``: whether a checkpoint is due and nothing is in flight."""
        return self.state == CHECKPOINTING and not self.in_flight

    def checkpoint_locked(self) -> tuple[int, Checkpoint] | None:
        """Under ``lock``, with nothing in flight: the checkpoint to hand the store
        (with its turn), the job staying in ``CHECKPOINTING`` until it is captured."""
        if self.checkpointer is None:
            return None
        queue = self.queue
        first = queue.first_seq
        rewrite = self.reported_seq is None
        incremental = getattr(self.checkpointer, "incremental", False)
        since = first if rewrite or not incremental else max(first, self.reported_seq or 0)
        start, metas, datas = queue.columns(since)
        pending_now = pending.activations_of(
            self.flow, start, metas, datas, queue.ids, self.id_prefix
        )
        to_row = pending.RowMaker(self.flow)
        delayed = Activations(
            [
                to_row(meta, data, activation_id)
                for _, (meta, data, activation_id) in self.timers.values()
            ]
        )
        self.reported_seq = queue.appended
        self.since_checkpoint = 0
        self.last_checkpoint = monotonic()
        self.state = CHECKPOINTING
        self.writing = True
        turn = self.store_turns
        self.store_turns += 1
        checkpoint = Checkpoint(
            job_state=self.job_state,
            pending=pending_now,
            pending_start=since,
            first_seq=first,
            next_seq=queue.appended,
            rewrite=rewrite,
            delayed=delayed,
            merge_buffers=self.buffers_by_name(),
        )
        return turn, checkpoint

    def write_checkpoint(self, capture: tuple[int, Checkpoint], go_on: bool = True) -> None:
        """Outside ``lock``: have the store capture the checkpoint (the job is still
        quiet), let the job run on (starting drivers for its queued work if ``go_on``),
        then have the store write it. A failure fails the job."""
        turn, checkpoint = capture
        checkpointer = self.checkpointer
        assert checkpointer is not None
        failure: Exception | None = None
        write: Callable[[], None] | None = None
        try:
            write = checkpointer.capture(checkpoint)
        except Exception as exc:
            failure = exc
        with self.lock:
            if self.state == CHECKPOINTING:
                self.state = RUNNING_
                self.notify_all_locked()
            spawn = self.reserve_drivers_locked(False) if go_on else 0
        if spawn:
            self.runtime.start_drivers(self, spawn)
        if write is not None:
            with self.store_lock:
                if turn > self.store_applied:
                    self.store_applied = turn
                    try:
                        write()
                    except Exception as exc:
                        failure = exc
        if failure is not None:
            self._record_routine_failure(
                self.entry_routine_id or "", "checkpoint", failure, 0, "checkpoint", "error", FAILED
            )
            with self.lock:
                self.writing = False
                self._stop_locked(FAILED)
                settle = self._settle_check_locked()
            if settle is not None:
                self.runtime.submit(self.finish, settle)
            return
        with self.lock:
            self.writing = False

    def buffers_by_name(self) -> dict[str, dict[str, Any]]:
        """The job's merge buffers as routine id -> slot name -> buffer."""
        named: dict[str, dict[str, Any]] = {}
        with self.buffer_lock:
            for index, buffer in self.buffers.items():
                slot = self.flow._slot_table[index]
                routine_id = self.routine_id_of(slot.routine) if slot.routine else None
                if routine_id is not None:
                    named.setdefault(routine_id, {})[slot.name] = buffer
        return named

    # -- drivers ----------------------------------------------------------------------

    def reserve_drivers_locked(self, caller_drives: bool) -> int:
        """Under ``lock``: count in the drivers to start for the queued work (the
        caller's own driver included when it drives). Returns how many to start."""
        if self.state != RUNNING_:
            return 0
        wanted = max(len(self.queue), 1 if caller_drives else 0)
        if wanted > 1 and self.hands_off_async and self.is_async(self.queue.metas[0]):
            wanted = 1  # one driver hands any number of async activations to the loop
        launch = max(0, min(self.limit - self.drivers, wanted))
        self.drivers += launch
        return launch

    # -- pause, resume, cancel --------------------------------------------------------

    def _wait_out_resume_locked(self) -> bool:
        """Under ``lock``: wait while another thread resumes the job.

        Returns True if the caller *is* the resuming thread (a signal receiver called
        during the resume), which must not wait for itself.
        """
        if self.state != RESUMING:
            return False
        with blocking():
            while self.state == RESUMING:
                if self.resuming_thread == get_ident():
                    return True
                self.cond.wait()
        return False

    def pause(self, reason: str, checkpoint: Any) -> None:
        """Stop taking new activations; settle as paused when in-flight work is done.

        Called from outside every job, it waits until no handler of the job runs and its
        pending work is in the JobState. Called from a handler of any job it returns at
        once: waiting there could wait for itself, or for a job that waits for it. The
        store records the pause on a runtime thread, never in the caller's.
        """
        in_handler = current_frame.get() is not None
        with self.lock:
            if self._wait_out_resume_locked():
                self.pause_request = (reason, checkpoint)
                return
            settle = self._pause_locked(reason, checkpoint)
            if not in_handler and self.state == PAUSING:
                with blocking():
                    while self.state == PAUSING:
                        self.cond.wait()
        if settle is not None:
            self.runtime.submit(self.finish, settle)

    def _pause_locked(self, reason: str, checkpoint: Any) -> str | None:
        state = self.state
        if state in (PAUSING, PAUSE_SETTLING, PAUSED_):
            return None
        if state not in (RUNNING_, CHECKPOINTING):
            raise JobStateError(
                f"Cannot pause job '{self.job_state.job_id}': it is {self.job_state.status}"
            )
        self.state = PAUSING
        self.job_state._set_paused(reason, checkpoint)
        for handle, (meta, data, activation_id) in self.timers.values():
            handle.cancel()
            self.queue.push(meta, data, activation_id)
        self.timers.clear()
        self.notify_all_locked()
        return self._settle_check_locked()

    def cancel(self, reason: str) -> None:
        """End the job as cancelled; running handlers finish, queued work is dropped.

        Returns at once; the store records the end on a runtime thread.
        """
        with self.lock:
            if self.state in (RESUMING, PAUSE_SETTLING):
                # Applied as soon as the resume or the pause has been recorded; the
                # caller returns at once and already sees the final status and, for a
                # job whose pause is being recorded, no pending work.
                self.cancel_request = reason
                job_state = self.job_state
                job_state._set_cancelled(reason)
                if self.state == PAUSE_SETTLING:
                    with job_state._lock:
                        job_state.pending_tasks.clear()
                        job_state.deferred_events.clear()
                        job_state._merge_buffers.clear()
                return
            settle = self._cancel_locked(reason)
        if settle is not None:
            self.runtime.submit(self.finish, settle)

    def _cancel_locked(self, reason: str) -> str | None:
        state = self.state
        if state == STOPPING:
            return None
        if state == DONE:
            raise JobStateError(
                f"Cannot cancel job '{self.job_state.job_id}': it is {self.job_state.status}"
            )
        self.state = STOPPING
        self.final_status = CANCELLED
        self.job_state._set_cancelled(reason)
        self._discard_locked()
        self._cancel_async_locked()
        if state == PAUSED_:
            job_state = self.job_state
            # It was settled (paused); it is not until its end is recorded.
            job_state._settled.clear()
            with job_state._lock:
                job_state.pending_tasks.clear()
                job_state.deferred_events.clear()
                job_state._merge_buffers.clear()
            self.outstanding = 0
        self.notify_all_locked()
        return self._settle_check_locked()

    def resume(self, emit_deferred: bool = True) -> int:
        """Continue a paused job: deferred events first, then its pending activations.

        Returns how many times the job settled so far; the runtime then starts drivers
        for the queued work (driving one itself if the caller waits). Resuming a job
        whose pause has not taken effect yet (handlers still running) simply lets it
        run on.

        Raises:
            JobStateError: the job is not paused.
            RoutineNotFoundError, SlotNotFoundError, EventNotFoundError: its pending
                work names what the flow lacks (the job is left unchanged).
        """
        job_state = self.job_state
        with self.lock:
            if self.state == PAUSE_SETTLING:
                with blocking():
                    while self.state == PAUSE_SETTLING:
                        self.cond.wait()
            if self.state == PAUSING:
                self.state = RUNNING_
                self.notify_all_locked()
                job_state._set_running()
                return self.settle_count
            if self.state != PAUSED_:
                raise JobStateError(
                    f"Cannot resume job '{job_state.job_id}': it is {job_state.status}"
                )
            activations, emissions, restored = self._take_pending_locked(emit_deferred)
            # A refilled JobState (deserialize into it) has a new history and tracker.
            self._record = job_state._history.write
            self.attach()
            self.state = RESUMING
            self.resuming_thread = get_ident()
            self.outstanding += 1  # held while we queue, so the job cannot finish
            settled_before = self.settle_count
        self._resume_paused(activations, emissions, restored)
        return settled_before

    def _take_pending_locked(
        self, emit_deferred: bool
    ) -> tuple[list[tuple[int, Any, str]], list[tuple[str, Routine, Event, Any]], dict[int, Any]]:
        """Under ``lock``: resolve and take the job's pending work, all or nothing.

        Deferred events are taken only with ``emit_deferred`` (a job recovered after a
        crash was running, not paused: its deferred events wait for a real resume).
        """
        job_state = self.job_state
        job_id = job_state.job_id
        with job_state._lock:
            # Resolve everything before changing anything, so bad input loses nothing.
            activations = [
                pending.from_activation(self.flow, job_id, entry)
                for entry in job_state.pending_tasks
            ]
            emissions = []
            if emit_deferred:
                emissions = [
                    pending.resolve_deferred(self.flow, job_id, entry)
                    for entry in job_state.deferred_events
                ]
            restored = pending.buffers_by_index(self.flow, job_id, job_state._merge_buffers)
            job_state.pending_tasks.clear()
            if emit_deferred:
                job_state.deferred_events.clear()
            job_state._merge_buffers.clear()
        return activations, emissions, restored

    def _resume_paused(
        self,
        activations: list[tuple[int, Any, str]],
        emissions: list[tuple[str, Routine, Event, Any]],
        restored: dict[int, Any],
    ) -> None:
        job_state = self.job_state
        with self.buffer_lock:
            self.buffers.update(restored)
        job_state._set_running()
        job_state._settled.clear()
        try:
            self.flow._run_started(self)
            self.checkpointer = self.store.checkpointer(job_state)
        except BaseException:
            # The store refused the job: it stays paused, with its work, as it was.
            self._undo_resume(activations, emissions)
            raise
        if hooks.jobs:
            observe.job_started(self, resumed=True)
        failure: BaseException | None = None
        held: Held = [(rid, event, data, time()) for rid, _, event, data in emissions]
        try:
            fanout.resolve_all(self.flow, held)
        except BaseException as exc:
            failure = exc
        with self.lock:
            if failure is None:
                try:
                    self._commit_locked(held)
                except BaseException as exc:
                    failure = exc
            if failure is None and self.state == RESUMING:
                for meta, data, activation_id in activations:
                    self.queue.push(meta, data, activation_id or None)
                self.outstanding += len(activations)
                self.state = RUNNING_
            self.outstanding -= 1  # the hold taken in resume()
            self.resuming_thread = None
            self.notify_all_locked()
        if failure is not None:
            # A deferred event could not be delivered: the job cannot go on as
            # recorded, so it fails (and the caller of resume sees why).
            routine_id = emissions[0][0] if emissions else ""
            self._record_routine_failure(
                routine_id, "resume", failure, 0, "resume", "error", FAILED
            )
            with self.lock:
                self.state = RUNNING_ if self.state == RESUMING else self.state
                self._stop_locked(FAILED)
        with self.lock:
            capture = None
            if self.checkpointer is not None and self.state == RUNNING_:
                capture = self.checkpoint_locked()
        if capture is not None:
            self.write_checkpoint(capture, go_on=False)
        with self.lock:
            settle = self._apply_requests_locked()
        if self.observers:
            self.tell_observers()
        if settle is not None:
            self.finish(settle)
        if failure is not None:
            raise failure

    def _undo_resume(
        self,
        activations: list[tuple[int, Any, str]],
        emissions: list[tuple[str, Routine, Event, Any]],
    ) -> None:
        job_state = self.job_state
        self.flow._run_released(self)
        with self.lock:
            cancel = self.cancel_request
            back = [
                pending.to_activation(
                    self.flow, meta, data, activation_id or self.activation_id(0, None)
                )
                for meta, data, activation_id in activations
            ]
            deferred = [
                {
                    "routine_id": rid,
                    "event_name": event.name,
                    "data": data,
                    "timestamp": datetime.now().isoformat(),
                }
                for rid, _, event, data in emissions
            ]
            buffers = self.buffers_by_name()
            with self.buffer_lock:
                self.buffers.clear()
            with job_state._lock:
                job_state.pending_tasks[:0] = back
                job_state.deferred_events[:0] = deferred
                job_state._merge_buffers.update(buffers)
                if cancel is None:
                    job_state.status = PAUSED
            self.state = PAUSED_
            self.outstanding -= 1  # the hold taken in resume()
            self.resuming_thread = None
            self.cancel_request = self.pause_request = None
            if cancel is None:
                job_state._settled.set()
            self.notify_all_locked()
        if cancel is not None:
            self.cancel(cancel)  # asked for during the resume: it still happens

    def _apply_requests_locked(self) -> str | None:
        """Under ``lock``: apply a pause or cancel asked for while resuming."""
        cancel, pause = self.cancel_request, self.pause_request
        self.cancel_request = self.pause_request = None
        if cancel is not None and self.state in (RUNNING_, PAUSING):
            return self._cancel_locked(cancel)
        if pause is not None and self.state == RUNNING_:
            return self._pause_locked(*pause)
        return self._settle_check_locked()

    # -- saving -----------------------------------------------------------------------

    def wait_saveable(self, action: str) -> None:
        """Return once the job can be saved: nothing of it runs here and its last
        settle has been recorded. Waits for a pause or a stop that is settling.

        Raises:
            JobStateError: the job runs; or it is settling and the caller is one of
                its own handlers (waiting would wait for itself).
        """
        job_state = self.job_state
        frame = current_frame.get()
        while True:
            with self.lock:
                state = self.state
                if state in (PAUSED_, DONE, PAUSE_SETTLING) and (
                    job_state._settled.is_set() or self.recording
                ):
                    return  # settled (or being recorded: a store may serialize it)
                if state in (RUNNING_, CHECKPOINTING, RESUMING) and self.pause_request is None:
                    raise JobStateError(
                        f"Cannot {action} job '{job_state.job_id}' while it runs; pause it first"
                    )
                if frame is not None and frame.info.job is self:
                    raise JobStateError(
                        f"Cannot {action} job '{job_state.job_id}' from one of its own "
                        "handlers while its pause settles: the pause takes effect when the "
                        "handlers return. Save it after that (for example where execute() "
                        "returned, or after job_state.wait_for_completion())."
                    )
                settled_before = self.settle_count
            self.wait_settled_since(settled_before)

    # -- settling ---------------------------------------------------------------------

    def settle_check_locked(self) -> str | None:
        """Under ``lock``: if the job has stopped making progress, claim settling it."""
        return self._settle_check_locked()

    def _settle_check_locked(self) -> str | None:
        if self.in_flight:
            return None
        state = self.state
        if state == RUNNING_:
            if self.outstanding:
                return None
            self.state = DONE
            return SETTLE_COMPLETED
        if state == PAUSING:
            self._park_queue_locked()
            self.state = PAUSE_SETTLING
            self.epoch += 1
            self.notify_all_locked()  # pause() callers: the pending work is parked now
            return SETTLE_PAUSED
        if state == STOPPING:
            self.state = DONE
            return SETTLE_STOPPED
        return None

    def _park_queue_locked(self) -> None:
        job_state = self.job_state
        for handle, (meta, data, activation_id) in self.timers.values():
            handle.cancel()
            self.queue.push(meta, data, activation_id)
        self.timers.clear()
        queue = self.queue
        parked = [
            pending.to_activation(
                self.flow, meta, data, self.activation_id(seq, queue.ids.get(seq))
            )
            for meta, data, seq in queue.entries()
        ]
        queue.clear()
        self.outstanding = 0
        buffers = self.buffers_by_name()
        with self.buffer_lock:
            self.buffers.clear()
        with job_state._lock:
            job_state.pending_tasks.extend(parked)
            job_state._merge_buffers.update(buffers)

    def _park_queue_tail_locked(self, count: int) -> None:
        """Under ``lock``: late work of a paused job goes straight to its pending work."""
        queue = self.queue
        entries = queue.entries(queue.appended - count)
        parked = [
            pending.to_activation(self.flow, meta, data, self.activation_id(seq, None))
            for meta, data, seq in entries
        ]
        for _ in range(count):
            queue.metas.pop()
            queue.datas.pop()
        self.outstanding -= count
        with self.job_state._lock:
            self.job_state.pending_tasks.extend(parked)

    def finish(self, kind: str) -> None:
        """Bookkeeping after settling, the store's record of it, then wake everybody
        who waits for the job. Not under ``lock``; any thread.

        Whatever fails here (a damaged tracker, a store that cannot write) is recorded
        in the job and logged; the job settles all the same.
        """
        job_state = self.job_state
        status = PAUSED
        if kind != SETTLE_PAUSED:
            status = COMPLETED if kind == SETTLE_COMPLETED else self.final_status
            job_state.status = status
            try:
                self._record_outcome(status)
            except Exception as exc:
                self._record_routine_failure(
                    self.entry_routine_id or "", "finish", exc, 0, "finish", "error", status
                )
            # Break reference cycles early; a stray late emit still finds state DONE.
            self.infos = {}
            self.buffers = {}
        if self.observers:
            self.tell_observers()
        with self.lock:
            turn = self.store_turns
            self.store_turns += 1
            self.recording = True
        follow_up = None
        try:
            with self.store_lock:
                self.store_applied = max(self.store_applied, turn)
                self.flow._run_settled(self)
        finally:
            if hooks.jobs:
                # Before it counts as settled: whoever waits for the job sees what the
                # receivers did (see routilux.signals).
                observe.job_settled(self, status)
            with self.lock:
                self.recording = False
                if self.state == PAUSE_SETTLING:
                    self.state = PAUSED_
                    # A cancel that arrived while the pause was being recorded.
                    reason, self.cancel_request = self.cancel_request, None
                    if reason is not None:
                        follow_up = self._cancel_locked(reason)
                callbacks: list[tuple[int, Callable[[], object]]] = []
                if follow_up is None:
                    job_state._settled.set()
                    self.settle_count += 1
                    callbacks, self.settle_callbacks = self.settle_callbacks, []
                self.notify_all_locked()
            for _, callback in callbacks:
                callback()
        if follow_up is not None:
            self.finish(follow_up)

    def _record_outcome(self, status: str) -> None:
        """Merge the entry routine's bookkeeping into its state, close its history and
        tracker records, and add a tracker record for every other routine that ran.

        Other routines' states get no bookkeeping (0.9's tutorials print them and show
        only the handler's keys); their timings are in the tracker.
        """
        job_state = self.job_state
        end = time()
        entry_id = self.entry_routine_id
        tracker = job_state.execution_tracker
        spans: dict[str, tuple[float, int]] = {}
        for info in list(self.infos.values()):
            if info.runs:
                first, runs = spans.get(info.routine_id, (info.first, 0))
                spans[info.routine_id] = (min(first, info.first), runs + info.runs)
        for routine_id, (first, runs) in spans.items():
            if routine_id != entry_id:
                routine_status = self.failures.get(routine_id, COMPLETED)
                tracker._record_run(routine_id, first, end, runs, routine_status)
        if entry_id is None:
            return
        bookkeeping: dict[str, Any] = {
            "execution_time": end - self.started_at,
            "start_time": _iso(self.started_at),
            "end_time": _iso(end),
        }
        if not self.entry_failed:
            bookkeeping["status"] = status
        job_state._merge_routine_state(entry_id, bookkeeping)
        if status == COMPLETED:
            job_state.record_execution(
                entry_id, "completed", {"execution_time": end - self.started_at}
            )
        tracker.record_routine_end(entry_id, status)


def _compact(entry: Any, event: Event, data: Any) -> Any:
    """The history row of an emission whose data has at most one key: the value
    without its dict, under the event's :class:`OneKey` for that key (the dict is
    most of a record's memory)."""
    if type(data) is not dict:
        return entry
    if data:
        [(key, value)] = data.items()
    else:
        key = value = None
    tag = event._history_tags.get(key)
    if tag is None:
        tag = event._history_tags.setdefault(key, OneKey(event.name, key))
    return (entry[0], tag, value, entry[3])


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment).isoformat()


def describe_exception(exc: BaseException) -> str:
    """``str(exc)``, or a description of the failure when ``str`` itself raises (an
    exception's own ``__str__`` must not turn a recorded failure into another one)."""
    try:
        return str(exc)
    except Exception as broken:
        try:
            why = f"{type(broken).__name__}: {broken}"
        except Exception:
            why = type(broken).__name__
        return f"<{type(exc).__name__}: str() failed ({why})>"


def _refuse_awaitable(result: Any, info: SlotInfo) -> None:
    if inspect.iscoroutine(result):
        result.close()  # never awaited: close it so Python does not warn later
    raise ConfigurationError(
        f"handler of slot '{info.slot.name}' of routine '{info.routine_id}' returned "
        f"{type(result).__name__} but is not an async def function; declare it with "
        "async def so that it is awaited"
    )


class _EventFlow:
    """Builds a tracker's ``event_flow`` from its job's history when read."""

    __slots__ = ("flow", "job_state")

    def __init__(self, job_state: weakref.ref[JobState], flow: FlowGraph) -> None:
        self.job_state = job_state
        self.flow = flow

    def __call__(self) -> list[dict[str, Any]]:
        job_state = self.job_state()
        if job_state is None:
            return []
        routines = self.flow.routines
        flows: list[dict[str, Any]] = []
        for routine_id, event_name, data, moment in job_state._history.rows():
            if type(event_name) is not str:
                continue  # a record (start, completed, error, ...), not an emission
            routine = routines.get(routine_id)
            event = routine.get_event(event_name) if routine is not None else None
            if event is None:
                continue  # the flow no longer has it (or an unmarked record)
            target = None
            for slot in event.connected_slots:
                if slot.routine is not None:
                    target = self.flow._routine_ids.get(id(slot.routine))
                    if target is not None:
                        break
            flows.append(
                {
                    "timestamp": datetime.fromtimestamp(moment).isoformat(),
                    "source_routine_id": routine_id,
                    "event_name": event_name,
                    "target_routine_id": target,
                    "data": data,
                }
            )
        return flows


#: The machine's observation entry points, each with its bare body (see unhooked()).
_HOOKED = (
    ("run_sync", "_run_sync"),
    ("call_plain", "_call_plain"),
    ("run_batch", "_run_batch"),
    ("run_async", "_run_async"),
)


@contextlib.contextmanager
def unhooked() -> Iterator[None]:
    """For benchmarks: run the machine without its observation entry points.

    Inside the block every :class:`JobMachine` method that tests whether its
    activations are observed (``run_sync``, ``call_plain``, ``run_batch``,
    ``run_async``) is replaced by its bare body, as if observation did not exist; what
    remains are one test of ``hooks.jobs`` when a job starts and one when it settles
    (and those on failure and ``emit_now`` paths). Nothing is observed meanwhile: use
    it only with no receiver connected and tracing off. Not thread safe (process-wide).
    """
    saved = {name: JobMachine.__dict__[name] for name, _ in _HOOKED}
    try:
        for name, bare in _HOOKED:
            setattr(JobMachine, name, JobMachine.__dict__[bare])
        yield
    finally:
        for name, method in saved.items():
            setattr(JobMachine, name, method)
