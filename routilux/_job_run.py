"""The engine: everything that happens while one job runs.

A :class:`JobRun` owns the runtime side of one job: its queue of slot activations,
the count of outstanding work, the drivers that run activations, the job's merge
buffers, pending retry timers, and the transitions between running, paused and
finished. The :class:`~routilux.JobState` is the record; the JobRun is the machine.

An activation is ``(slot_index, data, attempt, flags)``: the slot is given by its
index in the flow's slot table; ``flags`` marks the entry activation (``ENTRY``) and
data that was already merged (``MERGED``, for retries). The queue keeps activations in
two deques, one of ints (index, attempt and flags packed into one int) and one of
data dicts, so that queueing creates no container object per activation: a long queue
of tuples made the garbage collector's full collections more frequent and slower as
a job grew.

Counting, not guessing: ``outstanding`` is the number of activations queued, running
or waiting for a retry timer. It is raised when work is queued and lowered when an
activation has finished, both under ``lock``; the job completes when it reaches zero
with nothing running. Waiting is done on conditions and events, never by polling.

Drivers: a driver is a loop that takes activations from the queue and runs them. A
job has at most ``max_drivers`` (1 under the sequential strategy, ``max_workers``
under the concurrent one). When ``Flow.execute`` waits, the calling thread is the
job's first driver, so a sequential job runs entirely in the caller's thread, with
no thread hop per delivery. Other drivers run on the flow's worker pool
(:mod:`routilux._workers`), which is the seam for other ways of running activations.

States: a job runs (``_RUNNING``) until its outstanding work is done (``_DONE``),
or it is stopped by a failure or a cancel (``_STOPPING`` until running handlers have
returned, then ``_DONE``), or paused (``_PAUSING`` until running handlers have
returned, ``_PAUSE_SETTLING`` while the pause is being recorded, then ``_PAUSED``).
``resume`` goes through ``_RESUMING``, during which work is queued but no driver
starts and pause or cancel from other threads wait, so that a resume is one step.
With a durable store, a running job passes through ``_CHECKPOINTING`` now and then:
no new activation starts, and when the running ones have returned the store writes a
checkpoint (a consistent state of the job) and the job runs on.

Lock order: ``JobRun.lock`` may be held while taking the JobState's lock, the buffer
lock, the flow's lock or the timer queue's lock, never the other way round. Code
outside the engine (stores, signal receivers, handlers) is never called under it.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from contextvars import Context, ContextVar
from datetime import datetime
from threading import get_ident
from time import time
from typing import TYPE_CHECKING, Any

from routilux._blocking import blocking
from routilux._context import Frame, current_frame
from routilux._merge import append_into, merge
from routilux._scheduler import TimerHandle, timers
from routilux.error_handler import ErrorStrategy
from routilux.exceptions import (
    ConfigurationError,
    EventNotFoundError,
    JobStateError,
    RoutineNotFoundError,
    SlotNotFoundError,
)
from routilux.execution_context import ExecutionContext
from routilux.job_state import CANCELLED, COMPLETED, FAILED, PAUSED, RUNNING, JobState
from routilux.slot import MERGE_APPEND

if TYPE_CHECKING:
    from routilux.event import Event
    from routilux.flow import Flow
    from routilux.routine import Routine
    from routilux.slot import Slot
    from routilux.stores.base import Checkpointer, JobStore

__all__ = ["ENTRY", "MERGED", "JobRun"]

logger = logging.getLogger("routilux")

ENTRY = 1
MERGED = 2

Activation = tuple[int, Any, int, int]

# Run states (see the module documentation). STOPPING and DONE must stay the largest.
_RUNNING = 0
_CHECKPOINTING = 1
_RESUMING = 2
_PAUSING = 3
_PAUSE_SETTLING = 4
_PAUSED = 5
_STOPPING = 6
_DONE = 7

# A finished run drops late work quietly only if the job failed or was cancelled; late
# work into a completed job (or one that moved to another flow object) is an error.
_MOVED = "moved"
_DROPS_LATE_WORK = frozenset({FAILED, CANCELLED})

_SETTLE_COMPLETED = "completed"
_SETTLE_PAUSED = "paused"
_SETTLE_STOPPED = "stopped"


_set_frame = current_frame.set


# One run per job at a time: runs are made and attached to a job under this lock only.
# Lock order: _attach_lock, then a run's lock (never the other way round).
_attach_lock = threading.Lock()

# job id -> its run, while the run has work in progress in this process.
_live_runs: dict[str, JobRun] = {}
_live_lock = threading.Lock()


def live_run(job_id: str) -> JobRun | None:
    """The run of ``job_id`` with work in progress in this process, or None."""
    with _live_lock:
        return _live_runs.get(job_id)


def register_live(run: JobRun) -> None:
    """Note that ``run`` has work in progress (a job started or resumed)."""
    with _live_lock:
        _live_runs[run.job_state.job_id] = run


def unregister_live(run: JobRun) -> None:
    """Note that ``run`` settled (finished or paused)."""
    with _live_lock:
        if _live_runs.get(run.job_state.job_id) is run:
            del _live_runs[run.job_state.job_id]


def run_for(flow: Flow, job_state: JobState, make: Callable[[], JobRun]) -> JobRun:
    """The job's run on ``flow``: its current one, or one made by ``make`` and attached.

    At most one run drives a job: a paused run on another flow object (or a run
    that ended there) is retired first; the store of that flow forgets the job.

    Raises:
        JobStateError: the job's handlers still run on another flow object.
    """
    while True:
        previous = job_state._run
        if previous is not None and previous.flow is not flow and not previous.parked():
            if current_frame.get() is not None:
                raise JobStateError(
                    f"Job '{job_state.job_id}' is still running on flow "
                    f"'{previous.flow.flow_id}'; it can move to another flow object once "
                    "its pause has settled"
                )
            previous.wait_parked()
        with _attach_lock:
            current = job_state._run
            if current is not previous:
                continue  # another thread attached a run meanwhile: look again
            if current is not None and current.flow is flow:
                return current
            if current is not None and not current.detach() and not current.parked():
                continue
            run = make()
            run._attach()
        if previous is not None and previous.store is not run.store:
            previous.store.job_released(job_state)
        return run


class _Hold:
    """The emissions of one running activation, held until its handler returns."""

    __slots__ = ("items", "run")

    def __init__(self, run: JobRun) -> None:
        self.run = run
        # None once released: later emissions (from threads the handler started) are
        # queued at once.
        self.items: list[tuple[int, dict[str, Any]]] | None = []


_hold: ContextVar[_Hold | None] = ContextVar("routilux_hold", default=None)
_current_hold = _hold.get
_set_hold = _hold.set


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


def _refuse_awaitable(result: Any, frame: Frame) -> None:
    if inspect.iscoroutine(result):
        result.close()  # never awaited: close it so Python does not warn later
    raise ConfigurationError(
        f"handler of slot '{frame.slot.name}' of routine '{frame.routine_id}' returned "
        f"{type(result).__name__}: async handlers are not supported yet; make it a plain "
        "function"
    )


class JobRun:
    """The runtime of one job (see the module documentation)."""

    def __init__(
        self,
        flow: Flow,
        job_state: JobState,
        max_drivers: int,
        base_context: Context,
        store: JobStore | None = None,
    ) -> None:
        self.flow = flow
        self.store = flow.store if store is None else store
        self.checkpointer: Checkpointer | None = None
        self.job_state = job_state
        self.max_drivers = max_drivers
        self.base_context = base_context
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.queue = _ActivationQueue()
        self.outstanding = 0
        self.running = 0
        self.drivers = 0
        self.state = _PAUSED
        self.caller_waiting = False
        # Bumped each time the job settles; callers wait for it to move.
        self.settle_count = 0
        # Bumped each time a pause takes effect; a caller driver stops driving then.
        self.epoch = 0
        self.resuming_thread: int | None = None
        self.pause_request: tuple[str, Any] | None = None
        self.cancel_request: str | None = None
        self.final_status = COMPLETED
        self.entry_routine_id: str | None = job_state.current_routine_id
        self.entry_failed = False
        self.started_at = time()
        self.frames: dict[int, Frame] = {}
        self.buffers: dict[int, Any] = {}
        self.buffer_lock = threading.Lock()
        self.timers: dict[int, tuple[TimerHandle, Activation]] = {}
        self._timer_ids = itertools.count()
        # Concurrent strategy: an activation's emissions wait until its handler has
        # returned (and its result is recorded); see enqueue().
        self.holds_emissions = max_drivers > 1
        # A captured checkpoint is being written (outside the lock): take no other.
        self.writing = False
        # routine id -> the status its last failure in this run gave it (for the tracker).
        self.failures: dict[str, str] = {}
        self._record = job_state._history.write

    def _attach(self) -> None:
        """Make this run the one the job's emissions and tracker go through (a new job)."""
        self.job_state._run = self
        self.job_state.execution_tracker._derive_events = _EventFlow(
            weakref.ref(self.job_state), self.flow
        )

    def detach(self) -> bool:
        """Retire a paused run whose job continues on another flow object.

        Returns False (and changes nothing) if the run is not parked: handlers of the
        job still run here, or a pause is being recorded.
        """
        with self.lock:
            if self.state != _PAUSED:
                return False
            self.state = _DONE
            self.final_status = _MOVED
            return True

    def parked(self) -> bool:
        """Whether nothing of the job runs here (paused and recorded, or done)."""
        with self.lock:
            return self.state in (_PAUSED, _DONE)

    def wait_parked(self) -> None:
        """Wait until nothing of the job runs here (see :meth:`parked`)."""
        with self.lock:
            while self.state not in (_PAUSED, _DONE):
                self.cond.wait()

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
                if state in (_PAUSED, _DONE) and job_state._settled.is_set():
                    return
                if state in (_RUNNING, _CHECKPOINTING, _RESUMING) and self.pause_request is None:
                    raise JobStateError(
                        f"Cannot {action} job '{job_state.job_id}' while it runs; pause it first"
                    )
                if frame is not None and frame.run is self:
                    raise JobStateError(
                        f"Cannot {action} job '{job_state.job_id}' from one of its own "
                        "handlers while its pause settles: the pause takes effect when the "
                        "handlers return. Save it after that (for example where execute() "
                        "returned, or after job_state.wait_for_completion())."
                    )
                settled_before = self.settle_count
            self._wait_settled_since(settled_before)

    # -- lookups ----------------------------------------------------------------------

    def routine_id_of(self, routine: Routine) -> str | None:
        """The id of ``routine`` in this job's flow, or None."""
        return self.flow._routine_ids.get(id(routine))

    def contains(self, slot: Slot) -> bool:
        """Whether ``slot`` belongs to a routine of this job's flow."""
        return slot.routine is not None and id(slot.routine) in self.flow._routine_ids

    def _frame_for(self, index: int) -> Frame:
        slot = self.flow._slot_table[index]
        routine = slot.routine
        routine_id = self.routine_id_of(routine) if routine is not None else None
        if routine_id is None:
            raise RoutineNotFoundError(
                f"{slot!r} belongs to a routine that is not in flow '{self.flow.flow_id}'"
            )
        context = ExecutionContext(self.flow, self.job_state, routine_id)
        frame = Frame(context, routine, self, slot, index)
        self.frames[index] = frame
        return frame

    # -- starting ---------------------------------------------------------------------

    def start(self, entry_slot: Slot, entry_params: dict[str, Any], caller_drives: bool) -> None:
        """Run the entry activation first; with ``caller_drives``, return when settled."""
        job_state = self.job_state
        entry_id = self.entry_routine_id
        assert entry_id is not None
        self._attach()
        job_state.status = RUNNING
        try:
            self.flow._run_started(self)  # after the status, as on resume: stores see it
        except BaseException as exc:
            # The store refused the job: it ends failed before anything ran.
            self._record_routine_failure(entry_id, "start", exc, 0, "store", "error", FAILED)
            with self.lock:
                self.state = _DONE
                self.final_status = FAILED
                job_state.status = FAILED
            self.flow._run_released(self)
            job_state._settled.set()
            raise
        job_state.record_execution(entry_id, "start", entry_params)
        job_state.execution_tracker.record_routine_start(entry_id, entry_params)
        job_state._settled.clear()
        self.checkpointer = self.store.checkpointer(self)
        write = None
        with self.lock:
            self.state = _RUNNING
            self.queue.push((self.flow._slot_index(entry_slot), entry_params, 0, ENTRY))
            self.outstanding = 1
            self.drivers = 1
            settled_before = self.settle_count
            if self.checkpointer is not None:
                write = self._capture_locked()
        if write is not None:
            # The job is recorded before its first activation runs.
            self._write_checkpoint(write)
        if caller_drives:
            self._drive(caller=True)
            self._wait_settled_since(settled_before)
        else:
            self.flow._pool.submit(self._drive, False)

    def _wait_settled_since(self, count: int) -> None:
        """Wait until the job has settled (finished or paused) after ``count`` settles."""
        with self.lock:
            if self.settle_count == count:
                with blocking():
                    while self.settle_count == count:
                        self.cond.wait()

    # -- emitting and queueing --------------------------------------------------------

    def emit(self, routine_id: str, routine: Routine, event: Event, data: dict[str, Any]) -> None:
        """Record an emission in the history and fan it out through the event's signal."""
        if self.state >= _STOPPING:
            if self.state == _STOPPING or self.final_status in _DROPS_LATE_WORK:
                return  # the job is failing or cancelled: late output is dropped
            raise self._finished_error(f"emit '{event.name}' from routine '{routine_id}'")
        moment = time()
        self._record((routine_id, event.name, data, moment))
        self.job_state._updated = moment
        event.signal.emit_data(routine, data, self.job_state)

    def deliver(self, slot: Slot, data: dict[str, Any]) -> None:
        """Queue an activation of ``slot`` (checked to belong to this job's flow)."""
        if not self.contains(slot):
            raise RoutineNotFoundError(
                f"{slot!r} belongs to a routine that is not in flow '{self.flow.flow_id}'; "
                "connect routines with Flow.connect"
            )
        self.enqueue(self.flow._slot_index(slot), data)

    def enqueue(self, index: int, data: dict[str, Any]) -> None:
        """Queue one new activation of the slot with index ``index``.

        Under the concurrent strategy, what a handler emits is held until the handler
        returns (see :meth:`_release`), so that a routine started by an emission can
        read the emitting routine's result.
        """
        with self.lock:
            if self.holds_emissions:
                held = _current_hold()
                if held is not None and held.run is self and held.items is not None:
                    held.items.append((index, data))
                    return
            spawn = self._enqueue_locked(index, data)
        if spawn:
            self.flow._pool.submit(self._drive, False)

    def _enqueue_locked(self, index: int, data: dict[str, Any]) -> bool:
        """Under ``lock``: queue an activation; True if a driver must be started."""
        state = self.state
        if state == _RUNNING:
            queue = self.queue
            queue.metas.append(index)
            queue.datas.append(data)
            queue.appended += 1
            self.outstanding += 1
            if self.caller_waiting:
                self.caller_waiting = False
                self.cond.notify()
                return False
            if self.drivers >= self.max_drivers:
                return False
            self.drivers += 1
            return True
        if state in (_CHECKPOINTING, _PAUSING, _RESUMING):
            self.queue.push((index, data, 0, 0))
            self.outstanding += 1
            return False
        if state in (_PAUSED, _PAUSE_SETTLING):
            self._park((index, data, 0, 0))
            return False
        if state == _STOPPING or self.final_status in _DROPS_LATE_WORK:
            return False
        slot = self.flow._slot_table[index]
        raise self._finished_error(f"deliver to {slot!r}")

    def _release(self, held: _Hold) -> None:
        """Queue what an activation emitted while it ran (its handler has returned and
        its result is recorded). Later emissions of threads it started go straight in."""
        spawn = 0
        with self.lock:
            items, held.items = held.items, None
            for index, data in items or ():
                spawn += self._enqueue_locked(index, data)
        for _ in range(spawn):
            self.flow._pool.submit(self._drive, False)

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

    # -- running ----------------------------------------------------------------------

    def _drive(self, caller: bool) -> None:
        """Run queued activations until there are none left for this driver.

        The caller's driver also waits for work still to come (activations running
        elsewhere, retry timers) and stops at the first pause.
        """
        lock = self.lock
        queue = self.queue
        next_meta = queue.metas.popleft
        next_data = queue.datas.popleft
        frames = self.frames
        base_context = self.base_context
        invoke = self._invoke
        checkpointer = self.checkpointer
        settle = None
        respawn = False
        try:
            with lock:
                epoch = self.epoch
                try:
                    while True:
                        if self.state == _RUNNING and queue.metas:
                            if caller and self.epoch != epoch:
                                break
                            meta = next_meta()
                            data = next_data()
                            self.running += 1
                            lock.release()
                            frame = None
                            try:
                                if meta < _PLAIN_LIMIT:
                                    frame = frames.get(meta)
                                    if frame is None:
                                        frame = self._frame_for(meta)
                                    base_context.copy().run(invoke, frame, data, 0, 0)
                                else:
                                    index, attempt, flags = _unpack(meta)
                                    frame = frames.get(index) or self._frame_for(index)
                                    base_context.copy().run(invoke, frame, data, attempt, flags)
                            finally:
                                lock.acquire()
                                self.running -= 1
                                self.outstanding -= 1
                                if frame is not None:
                                    frame.runs += 1
                                    frame.last_end = time()
                            if (
                                checkpointer is not None
                                and self.state == _RUNNING
                                and not self.writing
                                and checkpointer.due()
                            ):
                                self.state = _CHECKPOINTING
                            continue
                        if self.state == _CHECKPOINTING:
                            if not self.running:
                                write = self._capture_locked()
                                if write is not None:
                                    lock.release()
                                    try:
                                        self._write_checkpoint(write)
                                    finally:
                                        lock.acquire()
                                continue
                            if not caller:
                                break
                        if (
                            caller
                            and self.state in (_RUNNING, _CHECKPOINTING)
                            and self.outstanding
                            and self.epoch == epoch
                        ):
                            self.caller_waiting = True
                            try:
                                with blocking():
                                    self.cond.wait()
                            finally:
                                self.caller_waiting = False
                            continue
                        break
                finally:
                    self.drivers -= 1
                    settle = self._settle_check_locked()
                    if self.state == _RUNNING and queue.metas and self.drivers < self.max_drivers:
                        # Left with work queued (a pause was resumed meanwhile, or an
                        # exception): hand it to a pool driver.
                        self.drivers += 1
                        respawn = True
        finally:
            if settle is not None:
                self._finish(settle)
            if respawn:
                self.flow._pool.submit(self._drive, False)

    def _invoke(self, frame: Frame, data: Any, attempt: int, flags: int) -> None:
        _set_frame(frame)
        if self.holds_emissions:
            held = _Hold(self)
            _set_hold(held)
            try:
                self._invoke_handler(frame, data, attempt, flags)
            finally:
                self._release(held)
        else:
            self._invoke_handler(frame, data, attempt, flags)

    def _invoke_handler(self, frame: Frame, data: Any, attempt: int, flags: int) -> None:
        slot = frame.slot
        merged = bool(flags & MERGED) or not slot._merge_kind
        try:
            if merged:
                result = slot._invoke(data)
            elif slot._merge_kind == MERGE_APPEND and self.max_drivers == 1:
                buffer = self.buffers.get(frame.slot_index)
                if buffer is None:
                    buffer = self.buffers[frame.slot_index] = {}
                data = append_into(buffer, data)
                merged = True
                result = slot._invoke(data)
            else:
                data = self._merge(frame.slot_index, slot, data)
                merged = True
                result = slot._call_merged(data)
            if result is not None:
                if inspect.isawaitable(result):
                    _refuse_awaitable(result, frame)
                # What a handler returns is that routine's result in the job.
                self.job_state._results[frame.routine_id] = result
        except Exception as exc:
            flags = flags | MERGED if merged else flags & ~MERGED
            try:
                self._failed(frame, data, attempt, flags, exc)
            except Exception as inner:
                # The error handling itself failed (e.g. a backoff too large to
                # compute): the job cannot honour its strategy, so it fails.
                self._fail_job(frame, inner, attempt, "error-handling", bool(flags & ENTRY))
        except BaseException as exc:
            self._fail_job(frame, exc, attempt, "interrupted", bool(flags & ENTRY))
            raise

    def _merge(self, index: int, slot: Slot, data: dict[str, Any]) -> Any:
        # Under the sequential strategy only the one driver merges: no lock needed.
        if self.max_drivers == 1:
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

    # -- failures ---------------------------------------------------------------------

    def _failed(self, frame: Frame, data: Any, attempt: int, flags: int, exc: Exception) -> None:
        handler = frame.routine._error_handler or self.flow.error_handler
        is_entry = bool(flags & ENTRY)
        if handler is None:
            if is_entry:
                self._fail_job(frame, exc, attempt, "default", is_entry)
            else:
                self._record_failure(frame, exc, attempt, "default", "error", "failed", is_entry)
            return
        strategy = handler.strategy
        name = strategy.value
        if strategy is ErrorStrategy.RETRY:
            if not handler.is_retryable(exc):
                self._fail_job(frame, exc, attempt, name, is_entry)
            elif attempt < handler.max_retries:
                delay = handler.retry_delay_for(attempt + 1)
                if self._schedule_retry((frame.slot_index, data, attempt + 1, flags), delay):
                    self._record_retry(frame, exc, attempt, delay)
            elif handler.is_critical or is_entry:
                self._fail_job(frame, exc, attempt, name, is_entry)
            else:
                self._record_failure(frame, exc, attempt, name, "error", "failed", is_entry)
        elif strategy is ErrorStrategy.CONTINUE:
            self._record_failure(
                frame, exc, attempt, name, "error_continued", "error_continued", is_entry
            )
        elif strategy is ErrorStrategy.SKIP:
            self._record_failure(frame, exc, attempt, name, "error", "skipped", is_entry)
        else:
            self._fail_job(frame, exc, attempt, name, is_entry)

    def _record_failure(
        self,
        frame: Frame,
        exc: BaseException,
        attempt: int,
        strategy: str,
        record_name: str,
        routine_status: str,
        is_entry: bool,
    ) -> None:
        self._record_routine_failure(
            frame.routine_id, frame.slot.name, exc, attempt, strategy, record_name, routine_status
        )
        self.failures[frame.routine_id] = routine_status
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
    ) -> None:
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

    def _record_retry(self, frame: Frame, exc: Exception, attempt: int, delay: float) -> None:
        message = describe_exception(exc)
        details = {
            "slot": frame.slot.name,
            "error": message,
            "error_type": type(exc).__name__,
            "attempt": attempt,
            "delay": delay,
        }
        self.job_state.record_execution(frame.routine_id, "retry", details)
        logger.info(
            "retrying routine '%s' in job %s in %.3fs after %s: %s",
            frame.routine_id,
            self.job_state.job_id,
            delay,
            type(exc).__name__,
            message,
        )

    def _fail_job(
        self, frame: Frame, exc: BaseException, attempt: int, strategy: str, is_entry: bool
    ) -> None:
        self._record_failure(frame, exc, attempt, strategy, "error", "failed", is_entry)
        self._stop(FAILED)

    def _stop(self, status: str) -> None:
        """Discard queued and delayed work; the job ends with ``status``."""
        with self.lock:
            self._stop_locked(status)

    def _stop_locked(self, status: str) -> None:
        if self.state not in (_RUNNING, _CHECKPOINTING, _PAUSING, _RESUMING):
            return
        self.state = _STOPPING
        self.final_status = status
        self.job_state.status = status
        self._discard_locked()
        self.cond.notify_all()

    def _capture_locked(self) -> Callable[[], None] | None:
        """Under ``lock``, with nothing running: have the checkpointer take a checkpoint
        (a consistent state of the job, no I/O), then let the job run on.

        Returns the write to run with :meth:`_write_checkpoint` outside the lock, or
        None if the capture failed (the job is then failing).
        """
        assert self.checkpointer is not None
        try:
            write = self.checkpointer.capture(self)
        except Exception as exc:
            # The job cannot be made durable (e.g. data that cannot be stored): it fails
            # rather than run on unprotected.
            if self.state == _CHECKPOINTING:
                self.state = _RUNNING
            self._checkpoint_failed_locked(exc)
            return None
        self.writing = True
        if self.state == _CHECKPOINTING:
            self.state = _RUNNING
            self.cond.notify_all()
            for _ in range(self._reserve_drivers_locked(False)):
                self.flow._pool.submit(self._drive, False)
        return write

    def _write_checkpoint(self, write: Callable[[], None]) -> None:
        """Outside ``lock``: write a captured checkpoint; a failure fails the job.

        Store I/O never runs under the job's lock, so a slow or locked store slows only
        this driver, never pause, cancel, retry timers or other jobs.
        """
        failure: Exception | None = None
        try:
            write()
        except Exception as exc:
            failure = exc
        with self.lock:
            self.writing = False
            if failure is not None:
                self._checkpoint_failed_locked(failure)

    def _checkpoint_failed_locked(self, exc: Exception) -> None:
        self._record_routine_failure(
            self.entry_routine_id or "", "checkpoint", exc, 0, "checkpoint", "error", "failed"
        )
        self._stop_locked(FAILED)

    def _discard_locked(self) -> None:
        self.outstanding -= len(self.queue) + len(self.timers)
        self.queue.clear()
        for handle, _ in self.timers.values():
            handle.cancel()
        self.timers.clear()

    def _schedule_retry(self, activation: Activation, delay: float) -> bool:
        """Queue ``activation`` again after ``delay``; False if the job is stopping."""
        with self.lock:
            if self.state not in (_RUNNING, _CHECKPOINTING, _PAUSING):
                return False
            # The failed attempt is counted down when it returns; this one stays counted.
            self.outstanding += 1
            if delay <= 0 or self.state == _PAUSING:
                # A pausing job keeps the retry with its pending work; it runs on resume.
                self.queue.push(activation)
                return True
            key = next(self._timer_ids)
            # The timer thread only hands the retry to a pool thread: it never waits
            # for this job's lock, so one job cannot delay another's retries.
            handle = timers.call_later(delay, self.flow._pool.submit, self._retry_due, key)
            self.timers[key] = (handle, activation)
            return True

    def _retry_due(self, key: int) -> None:
        spawn = False
        with self.lock:
            entry = self.timers.pop(key, None)
            if entry is None:
                return  # taken by pause, cancel or a failure meanwhile
            activation = entry[1]
            # Timers only exist while the job runs: pause and stop take them all.
            self.queue.push(activation)
            if self.state != _RUNNING:
                return  # checkpointing: drivers start again when it is written
            if self.caller_waiting:
                self.caller_waiting = False
                self.cond.notify()
            elif self.drivers < self.max_drivers:
                self.drivers += 1
                spawn = True
        if spawn:
            self.flow._pool.submit(self._drive, False)

    # -- pause, resume, cancel --------------------------------------------------------

    def _wait_out_resume_locked(self) -> bool:
        """Under ``lock``: wait while another thread resumes the job.

        Returns True if the caller *is* the resuming thread (a signal receiver called
        during the resume), which must not wait for itself.
        """
        while self.state == _RESUMING:
            if self.resuming_thread == get_ident():
                return True
            self.cond.wait()
        return False

    def pause(self, reason: str, checkpoint: Any) -> None:
        """Stop taking new activations; settle as paused when in-flight work is done.

        Called from outside every job, it waits until no handler of the job runs and its
        pending work is in the JobState. Called from a handler of any job it returns at
        once: waiting there could wait for itself, or for a job that waits for it. The
        store records the pause on a pool thread, never in the caller's.
        """
        in_handler = current_frame.get() is not None
        with self.lock:
            if self._wait_out_resume_locked():
                self.pause_request = (reason, checkpoint)
                return
            settle = self._pause_locked(reason, checkpoint)
            if not in_handler and self.state == _PAUSING:
                with blocking():
                    while self.state == _PAUSING:
                        self.cond.wait()
        if settle is not None:
            self.flow._pool.submit(self._finish, settle)

    def _pause_locked(self, reason: str, checkpoint: Any) -> str | None:
        state = self.state
        if state in (_PAUSING, _PAUSE_SETTLING, _PAUSED):
            return None
        if state not in (_RUNNING, _CHECKPOINTING):
            raise JobStateError(
                f"Cannot pause job '{self.job_state.job_id}': it is {self.job_state.status}"
            )
        self.state = _PAUSING
        self.job_state._set_paused(reason, checkpoint)
        for handle, activation in self.timers.values():
            handle.cancel()
            self.queue.push(activation)
        self.timers.clear()
        self.cond.notify_all()
        return self._settle_check_locked()

    def cancel(self, reason: str) -> None:
        """End the job as cancelled; running handlers finish, queued work is dropped."""
        with self.lock:
            if self.state in (_RESUMING, _PAUSE_SETTLING):
                # Applied as soon as the resume or the pause has been recorded; the
                # caller returns at once and already sees the final status.
                self.cancel_request = reason
                self.job_state._set_cancelled(reason)
                return
            settle = self._cancel_locked(reason)
        if settle is not None:
            # The store records the end on a pool thread, never in the caller's.
            self.flow._pool.submit(self._finish, settle)

    def _cancel_locked(self, reason: str) -> str | None:
        state = self.state
        if state == _STOPPING:
            return None
        if state == _DONE:
            raise JobStateError(
                f"Cannot cancel job '{self.job_state.job_id}': it is {self.job_state.status}"
            )
        self.state = _STOPPING
        self.final_status = CANCELLED
        self.job_state._set_cancelled(reason)
        self._discard_locked()
        if state == _PAUSED:
            job_state = self.job_state
            with job_state._lock:
                job_state.pending_tasks.clear()
                job_state.deferred_events.clear()
                job_state._merge_buffers.clear()
            self.outstanding = 0
        self.cond.notify_all()
        return self._settle_check_locked()

    def resume(self, caller_drives: bool, emit_deferred: bool = True) -> None:
        """Continue a paused job: deferred events first, then its pending activations.

        Resuming a job whose pause has not taken effect yet (handlers still running)
        simply lets it run on.
        """
        job_state = self.job_state
        with self.lock:
            while self.state == _PAUSE_SETTLING:
                self.cond.wait()
            if self.state == _PAUSING:
                self._unpause_locked()
                job_state._resume_claim = None
                launch = self._reserve_drivers_locked(caller_drives)
                settled_before = self.settle_count
                job_state._set_running()
            else:
                if self.state != _PAUSED:
                    raise JobStateError(
                        f"Cannot resume job '{job_state.job_id}': it is {job_state.status}"
                    )
                activations, emissions, restored = self._take_pending_locked(emit_deferred)
                # A refilled JobState (deserialize into it) has a new history and tracker.
                self._record = job_state._history.write
                self._attach()
                job_state._resume_claim = None
                self.state = _RESUMING
                self.resuming_thread = get_ident()
                self.outstanding += 1  # held while we queue, so the job cannot finish
                settled_before = self.settle_count
                launch = None
        if launch is None:
            launch = self._resume_paused(activations, emissions, restored, caller_drives)
        self._launch(launch, caller_drives, settled_before)

    def _unpause_locked(self) -> None:
        self.state = _RUNNING
        self.cond.notify_all()

    def _take_pending_locked(
        self, emit_deferred: bool
    ) -> tuple[list[Activation], list[tuple[str, Routine, Event, Any]], dict[int, Any]]:
        """Under ``lock``: resolve and take the job's pending work, all or nothing.

        Deferred events are taken only with ``emit_deferred`` (a job recovered after a
        crash was running, not paused: its deferred events wait for a real resume).
        """
        job_state = self.job_state
        with job_state._lock:
            # Resolve everything before changing anything, so bad input loses nothing.
            activations = [self._from_pending(entry) for entry in job_state.pending_tasks]
            emissions = []
            if emit_deferred:
                emissions = [self._resolve_deferred(entry) for entry in job_state.deferred_events]
            restored = self._resolve_buffers(job_state._merge_buffers)
            job_state.pending_tasks.clear()
            if emit_deferred:
                job_state.deferred_events.clear()
            job_state._merge_buffers.clear()
        return activations, emissions, restored

    def _resume_paused(
        self,
        activations: list[Activation],
        emissions: list[tuple[str, Routine, Event, Any]],
        restored: dict[int, Any],
        caller_drives: bool,
    ) -> int:
        job_state = self.job_state
        with self.buffer_lock:
            self.buffers.update(restored)
        job_state._set_running()
        job_state._settled.clear()
        try:
            self.flow._run_started(self)
            self.checkpointer = self.store.checkpointer(self)
        except BaseException:
            # The store refused the job: it stays paused, with its work, as it was.
            self._undo_resume(activations, emissions)
            raise
        failure: BaseException | None = None
        for routine_id, routine, event, data in emissions:
            try:
                self.emit(routine_id, routine, event, data)
            except BaseException as exc:
                # A deferred event could not be delivered: the job cannot go on as
                # recorded, so it fails (and the caller of resume sees why).
                self._record_routine_failure(
                    routine_id, event.name, exc, 0, "resume", "error", "failed"
                )
                self._stop(FAILED)
                failure = exc
                break
        with self.lock:
            if self.state == _RESUMING:
                for activation in activations:
                    self.queue.push(activation)
                self.outstanding += len(activations)
                self.state = _RUNNING
            self.outstanding -= 1  # the hold taken in resume()
            self.resuming_thread = None
            self.cond.notify_all()
            write = None
            if self.checkpointer is not None and self.state == _RUNNING:
                write = self._capture_locked()
            settle = self._apply_requests_locked()
            launch = self._reserve_drivers_locked(caller_drives)
        if write is not None:
            self._write_checkpoint(write)
        if settle is not None:
            self._finish(settle)
        if failure is not None:
            raise failure
        return launch

    def _undo_resume(
        self,
        activations: list[Activation],
        emissions: list[tuple[str, Routine, Event, Any]],
    ) -> None:
        job_state = self.job_state
        self.flow._run_released(self)
        with self.lock:
            cancel = self.cancel_request
            pending = [self._to_pending(activation) for activation in activations]
            deferred = [
                {"routine_id": rid, "event_name": event.name, "data": data}
                for rid, _, event, data in emissions
            ]
            buffers = self.buffers_by_name()
            with self.buffer_lock:
                self.buffers.clear()
            with job_state._lock:
                job_state.pending_tasks[:0] = pending
                job_state.deferred_events[:0] = [
                    {**entry, "timestamp": datetime.now().isoformat()} for entry in deferred
                ]
                job_state._merge_buffers.update(buffers)
                if cancel is None:
                    job_state.status = PAUSED
            self.state = _PAUSED
            self.outstanding -= 1  # the hold taken in resume()
            self.resuming_thread = None
            self.cancel_request = self.pause_request = None
            if cancel is None:
                job_state._settled.set()
            self.cond.notify_all()
        if cancel is not None:
            self.cancel(cancel)  # asked for during the resume: it still happens

    def _apply_requests_locked(self) -> str | None:
        """Under ``lock``: apply a pause or cancel asked for while resuming."""
        cancel, pause = self.cancel_request, self.pause_request
        self.cancel_request = self.pause_request = None
        if cancel is not None and self.state in (_RUNNING, _PAUSING):
            return self._cancel_locked(cancel)
        if pause is not None and self.state == _RUNNING:
            return self._pause_locked(*pause)
        return self._settle_check_locked()

    def _reserve_drivers_locked(self, caller_drives: bool) -> int:
        """Under ``lock``: count in the drivers to start for the queued work.

        Returns how many to start (the caller's own driver included).
        """
        if self.state != _RUNNING:
            return 0
        wanted = max(len(self.queue), 1 if caller_drives else 0)
        launch = max(0, min(self.max_drivers - self.drivers, wanted))
        self.drivers += launch
        return launch

    def _launch(self, launch: int, caller_drives: bool, settled_before: int) -> None:
        """Start ``launch`` reserved drivers; a waiting caller runs one of them itself
        and returns when the job next settles."""
        caller_runs = caller_drives and launch > 0
        for _ in range(launch - 1 if caller_runs else launch):
            self.flow._pool.submit(self._drive, False)
        if caller_runs:
            self._drive(caller=True)
        if caller_drives:
            self._wait_settled_since(settled_before)

    def _park(self, activation: Activation) -> None:
        with self.job_state._lock:
            self.job_state.pending_tasks.append(self._to_pending(activation))

    def _to_pending(self, activation: Activation) -> dict[str, Any]:
        index, data, attempt, flags = activation
        slot = self.flow._slot_table[index]
        routine = slot.routine
        return {
            "slot_routine_id": self.routine_id_of(routine) if routine is not None else None,
            "slot_name": slot.name,
            "data": data,
            "retry_count": attempt,
            "merged": bool(flags & MERGED),
            "is_entry": bool(flags & ENTRY),
        }

    def _slot_named(self, routine_id: Any, slot_name: Any) -> Slot:
        routine = self.flow.routines.get(routine_id)
        if routine is None:
            raise RoutineNotFoundError(
                f"Pending work of job '{self.job_state.job_id}' names routine "
                f"'{routine_id}', which is not in flow '{self.flow.flow_id}'"
            )
        slot = routine.get_slot(slot_name)
        if slot is None:
            raise SlotNotFoundError(
                f"Pending work of job '{self.job_state.job_id}' names slot '{slot_name}', "
                f"which routine '{routine_id}' does not have"
            )
        return slot

    def _from_pending(self, entry: dict[str, Any]) -> Activation:
        slot = self._slot_named(entry.get("slot_routine_id"), entry.get("slot_name"))
        flags = (MERGED if entry.get("merged") else 0) | (ENTRY if entry.get("is_entry") else 0)
        index = self.flow._slot_index(slot)
        return (index, entry.get("data") or {}, int(entry.get("retry_count") or 0), flags)

    def _resolve_deferred(self, entry: dict[str, Any]) -> tuple[str, Routine, Event, Any]:
        routine_id = entry.get("routine_id")
        routine = self.flow.routines.get(routine_id)  # type: ignore[arg-type]
        if routine is None:
            raise RoutineNotFoundError(
                f"Deferred event of job '{self.job_state.job_id}' names routine "
                f"'{routine_id}', which is not in flow '{self.flow.flow_id}'"
            )
        event = routine.get_event(entry.get("event_name"))  # type: ignore[arg-type]
        if event is None:
            raise EventNotFoundError(
                f"Deferred event '{entry.get('event_name')}' of job "
                f"'{self.job_state.job_id}' does not exist in routine '{routine_id}'"
            )
        return routine_id, routine, event, entry.get("data") or {}  # type: ignore[return-value]

    def _resolve_buffers(self, buffers: dict[str, dict[str, Any]]) -> dict[int, Any]:
        return {
            self.flow._slot_index(self._slot_named(routine_id, slot_name)): buffer
            for routine_id, slots in buffers.items()
            for slot_name, buffer in slots.items()
        }

    # -- settling ---------------------------------------------------------------------

    def _settle_check_locked(self) -> str | None:
        """Under ``lock``: if the job has stopped making progress, claim settling it."""
        if self.running:
            return None
        state = self.state
        if state == _RUNNING:
            if self.outstanding:
                return None
            self.state = _DONE
            return _SETTLE_COMPLETED
        if state == _PAUSING:
            self._park_queue_locked()
            self.state = _PAUSE_SETTLING
            self.epoch += 1
            self.cond.notify_all()  # pause() callers: the pending work is parked now
            return _SETTLE_PAUSED
        if state == _STOPPING:
            self.state = _DONE
            return _SETTLE_STOPPED
        return None

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

    def _park_queue_locked(self) -> None:
        job_state = self.job_state
        for handle, activation in self.timers.values():
            handle.cancel()
            self.queue.push(activation)
        self.timers.clear()
        pending = [self._to_pending(activation) for activation in self.queue.drain()]
        self.outstanding = 0
        buffers = self.buffers_by_name()
        with self.buffer_lock:
            self.buffers.clear()
        with job_state._lock:
            job_state.pending_tasks.extend(pending)
            job_state._merge_buffers.update(buffers)

    def _finish(self, kind: str) -> None:
        """Bookkeeping after settling; wakes everybody who waits for the job.

        Whatever fails here (a damaged tracker, a store that cannot write) is recorded
        in the job and logged; the job settles all the same.
        """
        job_state = self.job_state
        if kind != _SETTLE_PAUSED:
            status = COMPLETED if kind == _SETTLE_COMPLETED else self.final_status
            job_state.status = status
            try:
                self._record_outcome(status)
            except Exception as exc:
                self._record_routine_failure(
                    self.entry_routine_id or "", "finish", exc, 0, "finish", "error", status
                )
            # Break reference cycles early; a stray late emit still finds state _DONE.
            self.frames = {}
            self.buffers = {}
        follow_up = None
        try:
            self.flow._run_settled(self)
        finally:
            with self.lock:
                if self.state == _PAUSE_SETTLING:
                    self.state = _PAUSED
                    # A cancel that arrived while the pause was being recorded.
                    reason, self.cancel_request = self.cancel_request, None
                    if reason is not None:
                        follow_up = self._cancel_locked(reason)
                if follow_up is None:
                    job_state._settled.set()
                    self.settle_count += 1
                self.cond.notify_all()
        if follow_up is not None:
            self._finish(follow_up)

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
        for routine_id, (first, last, runs) in self._spans().items():
            if routine_id != entry_id:
                status_of_routine = self.failures.get(routine_id, COMPLETED)
                tracker._record_run(routine_id, first, last, runs, status_of_routine)
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

    def _spans(self) -> dict[str, tuple[float, float, int]]:
        """routine id -> (first start, last end, activations) in this run."""
        spans: dict[str, tuple[float, float, int]] = {}
        for frame in list(self.frames.values()):
            if frame.runs:
                first, last, runs = spans.get(frame.routine_id, (frame.first_start, 0.0, 0))
                spans[frame.routine_id] = (
                    min(first, frame.first_start),
                    max(last, frame.last_end),
                    runs + frame.runs,
                )
        return spans


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment).isoformat()


# Activations with attempt 0 and no flags are queued as their bare slot index.
_PLAIN_LIMIT = 1 << 32


def _pack(activation: Activation) -> int:
    index, _, attempt, flags = activation
    if not attempt and not flags:
        return index
    return index | (flags << 32) | (attempt << 34)


def _unpack(meta: int) -> tuple[int, int, int]:
    return meta & (_PLAIN_LIMIT - 1), meta >> 34, (meta >> 32) & 3


class _ActivationQueue:
    """FIFO of activations kept in two deques (see the module documentation).

    Not thread safe by itself: the owning JobRun's lock guards it.
    """

    __slots__ = ("appended", "datas", "metas")

    def __init__(self) -> None:
        self.metas: deque[int] = deque()
        self.datas: deque[Any] = deque()
        #: How many activations were ever queued; the oldest still queued is number
        #: ``appended - len(queue)`` (durable stores key pending work by it).
        self.appended = 0

    def push(self, activation: Activation) -> None:
        self.metas.append(_pack(activation))
        self.datas.append(activation[1])
        self.appended += 1

    def activations(self) -> list[Activation]:
        """Every queued activation, oldest first."""
        return [
            (index, data, attempt, flags)
            for (index, attempt, flags), data in zip(
                map(_unpack, self.metas), self.datas, strict=True
            )
        ]

    def newest(self, count: int) -> list[Activation]:
        """The ``count`` most recently queued activations, oldest first."""
        count = min(count, len(self.metas))
        metas = list(itertools.islice(reversed(self.metas), count))
        datas = list(itertools.islice(reversed(self.datas), count))
        return [
            (index, data, attempt, flags)
            for (index, attempt, flags), data in zip(
                map(_unpack, reversed(metas)), reversed(datas), strict=True
            )
        ]

    def drain(self) -> list[Activation]:
        """Remove and return every queued activation, oldest first."""
        drained = self.activations()
        self.clear()
        return drained

    def clear(self) -> None:
        self.metas.clear()
        self.datas.clear()

    def __len__(self) -> int:
        return len(self.metas)


class _EventFlow:
    """Builds a tracker's ``event_flow`` from its job's history when read."""

    __slots__ = ("flow", "job_state")

    def __init__(self, job_state: weakref.ref[JobState], flow: Flow) -> None:
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
