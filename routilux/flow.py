"""A flow: routines, the connections between them, and the jobs that run them."""

from __future__ import annotations

import os
import threading
import time
import weakref
from contextvars import Context, copy_context
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from routilux._blocking import blocking
from routilux._context import current_frame
from routilux._engine.machine import JobMachine
from routilux._engine.runs import live_machine, machine_for, register_live, unregister_live
from routilux._history import MAX_HISTORY_LIMIT
from routilux._hybrid import hybridmethod
from routilux.connection import Connection
from routilux.error_handler import ErrorHandler
from routilux.exceptions import (
    ConfigurationError,
    DuplicateNameError,
    EventNotFoundError,
    FlowMismatchError,
    InvalidPayloadError,
    InvalidStrategyError,
    JobStateError,
    MissingTriggerSlotError,
    RoutineNotFoundError,
    SlotNotFoundError,
)
from routilux.job_state import PAUSED, JobState
from routilux.routine import Routine
from routilux.runtimes import AsyncioRuntime, ThreadRuntime
from routilux.stores import JobStore, MemoryStore

if TYPE_CHECKING:
    from routilux.event import Event
    from routilux.execution_tracker import ExecutionTracker
    from routilux.output_handler import OutputHandler
    from routilux.slot import Slot
    from routilux.validation import ValidationIssue

__all__ = ["Flow"]

SEQUENTIAL = "sequential"
CONCURRENT = "concurrent"
_STRATEGIES = (SEQUENTIAL, CONCURRENT)


def _check_strategy(strategy: Any) -> str:
    if strategy not in _STRATEGIES:
        raise InvalidStrategyError(
            f"Invalid execution strategy: {strategy!r}. Must be 'sequential' or 'concurrent'"
        )
    return strategy  # type: ignore[no-any-return]


def _check_history_limit(limit: Any) -> None:
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_LIMIT
    ):
        raise ConfigurationError(
            f"history_limit must be an int from 1 to {MAX_HISTORY_LIMIT} or None, not {limit!r}"
        )


def _check_workers(max_workers: Any) -> int:
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ConfigurationError(f"max_workers must be an int >= 1, not {max_workers!r}")
    return max_workers


_ON_FULL = ("wait", "raise")


def _default_runtime(name: str) -> ThreadRuntime | AsyncioRuntime:
    """The runtime of a flow made without one (the test suite swaps this to run the
    engine tests on every runtime)."""
    return ThreadRuntime(name=name)


def _check_bound(bound: Any) -> int | None:
    if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 2):
        raise ConfigurationError(f"queue_bound must be an int >= 2 or None, not {bound!r}")
    return bound


def _check_on_full(on_full: Any) -> str:
    if not isinstance(on_full, str) or on_full not in _ON_FULL:
        raise ConfigurationError(f"on_full must be 'wait' or 'raise', not {on_full!r}")
    return on_full


class Flow:
    """Routines wired by connections, and the engine that runs them as jobs.

    Arguments:
        flow_id: the flow's id (a random UUID string if omitted).
        execution_strategy: ``"sequential"`` (one slot activation of a job at a
            time, first in first out, the entry handler first) or ``"concurrent"``
            (up to ``max_workers`` activations of a job at once).
        max_workers: how many activations of one job the ``concurrent`` strategy runs
            at once.
        history_limit: keep only the newest this many history records per job
            (None, the default, keeps all).
        store: where unfinished jobs are recorded (a :class:`~routilux.stores.MemoryStore`
            by default).
        runtime: where activations run: a :class:`~routilux.runtimes.ThreadRuntime`
            (a new one by default) or an :class:`~routilux.runtimes.AsyncioRuntime`.
            Not saved with the flow.
        queue_bound: the most activations each job may have queued (an int >= 2), or
            None for no bound; it holds back ``emit_now`` and ``emit_now_async``, never
            what a handler commits when it returns. Not saved with the flow.
        on_full: what ``emit_now`` into a full queue does: ``"wait"`` (run queued
            work until there is room) or ``"raise"``
            (:class:`~routilux.exceptions.QueueFullError`).

    Any number of jobs may run on one flow at once, started from any number of
    threads; each has its own :class:`~routilux.JobState`, merge buffers and retry
    counts. With the default runtime, ``execute`` (waiting) runs the job's activations
    in the calling thread, plus up to ``max_workers - 1`` pool threads under the
    concurrent strategy; jobs started with ``wait=False`` or resumed run on the flow's
    pool, which has at least 64 threads so that jobs waiting for other jobs of the
    flow do not starve them. See :doc:`/guide/runtimes` and :doc:`/guide/backpressure`.
    Wiring (``add_routine``, ``connect``) is thread safe but should be done before
    jobs run.
    """

    def __init__(
        self,
        flow_id: str | None = None,
        execution_strategy: str = SEQUENTIAL,
        max_workers: int = 5,
        *,
        history_limit: int | None = None,
        store: JobStore | None = None,
        runtime: ThreadRuntime | AsyncioRuntime | None = None,
        queue_bound: int | None = None,
        on_full: str = "wait",
    ) -> None:
        self.flow_id: str = flow_id or str(uuid4())
        self._strategy = _check_strategy(execution_strategy)
        self._worker_limit = _check_workers(max_workers)
        _check_history_limit(history_limit)
        self._history_limit = history_limit
        self._queue_bound = _check_bound(queue_bound)
        self._on_full = _check_on_full(on_full)
        self.store: JobStore = store if store is not None else MemoryStore()
        self.routines: dict[str, Routine] = {}
        self.connections: list[Connection] = []
        self.error_handler: ErrorHandler | None = None
        self._routine_ids: dict[int, str] = {}
        # Every slot a job of this flow may activate gets a fixed index here.
        self._slot_table: list[Slot] = []
        self._slot_ids: dict[Slot, int] = {}
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._active: set[JobMachine] = set()
        self._last_tracker: ExecutionTracker | None = None
        self._building_tokens: list[Any] = []
        # Where each event's emissions go (see routilux._engine.fanout).
        self._fanout: dict[Any, Any] = {}
        self._fanout_version = -1
        if runtime is None:
            runtime = _default_runtime(f"routilux-{self.flow_id[:8]}")
            # A flow nobody holds any more lets its idle threads go.
            weakref.finalize(self, runtime.shutdown, False)
        elif not isinstance(runtime, (ThreadRuntime, AsyncioRuntime)):
            raise ConfigurationError(
                f"runtime of flow '{self.flow_id}' must be a ThreadRuntime or an "
                f"AsyncioRuntime, not {type(runtime).__name__}"
            )
        self.runtime = runtime
        runtime.fit(self._worker_limit)

    # -- configuration ----------------------------------------------------------------

    @property
    def execution_strategy(self) -> str:
        """``"sequential"`` or ``"concurrent"``."""
        return self._strategy

    @execution_strategy.setter
    def execution_strategy(self, strategy: str) -> None:
        self._strategy = _check_strategy(strategy)

    @property
    def history_limit(self) -> int | None:
        """The most history records each new job keeps (None: all)."""
        return self._history_limit

    @history_limit.setter
    def history_limit(self, limit: int | None) -> None:
        _check_history_limit(limit)
        self._history_limit = limit

    @property
    def max_workers(self) -> int:
        """The number of activations a job may run at once: ``max_workers`` under the
        concurrent strategy, 1 under the sequential one (as in 0.9)."""
        return self._worker_limit if self._strategy == CONCURRENT else 1

    @max_workers.setter
    def max_workers(self, max_workers: int) -> None:
        self._worker_limit = _check_workers(max_workers)
        self.runtime.fit(self._worker_limit)

    @property
    def queue_bound(self) -> int | None:
        """The most activations each new job may have queued (None: no bound); see
        :doc:`/guide/backpressure`. Assigning it checks the value as the constructor
        does (:class:`~routilux.exceptions.ConfigurationError`); it applies to jobs
        the flow starts afterwards (a job already running keeps its bound)."""
        return self._queue_bound

    @queue_bound.setter
    def queue_bound(self, bound: int | None) -> None:
        self._queue_bound = _check_bound(bound)

    @property
    def on_full(self) -> str:
        """What ``emit_now`` into a full queue does in new jobs: ``"wait"`` or
        ``"raise"``. Assigning it checks the value as the constructor does; it applies
        to jobs the flow starts afterwards (a job already running keeps its policy)."""
        return self._on_full

    @on_full.setter
    def on_full(self, on_full: str) -> None:
        self._on_full = _check_on_full(on_full)

    def set_execution_strategy(self, strategy: str, max_workers: int | None = None) -> None:
        """Change the strategy (and, optionally, ``max_workers``) for later jobs.

        Raises:
            InvalidStrategyError: for an unknown strategy.
        """
        self._strategy = _check_strategy(strategy)
        if max_workers is not None:
            self.max_workers = max_workers

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Use ``handler`` for failures of routines that have no handler of their own."""
        if handler is not None and not isinstance(handler, ErrorHandler):
            raise ConfigurationError(
                f"error handler of flow '{self.flow_id}' must be an ErrorHandler, "
                f"not {type(handler).__name__}"
            )
        self.error_handler = handler

    def get_error_handler(self) -> ErrorHandler | None:
        """The flow-level error handler, or None."""
        return self.error_handler

    @property
    def execution_tracker(self) -> ExecutionTracker | None:
        """The tracker of the job started last (None before the first job).

        Each job has its own: prefer ``job_state.execution_tracker``. Assigning one
        (as 0.9 code did) replaces what this attribute reads until the next job starts;
        jobs keep their own trackers.
        """
        return self._last_tracker

    @execution_tracker.setter
    def execution_tracker(self, tracker: ExecutionTracker | None) -> None:
        from routilux.execution_tracker import ExecutionTracker

        if tracker is not None and not isinstance(tracker, ExecutionTracker):
            raise ConfigurationError(
                f"execution_tracker of flow '{self.flow_id}' must be an ExecutionTracker or "
                f"None, not {type(tracker).__name__}"
            )
        self._last_tracker = tracker

    # -- wiring -----------------------------------------------------------------------

    def add_routine(self, routine: Routine, routine_id: str | None = None) -> str:
        """Add ``routine`` under ``routine_id`` (default: the routine's own id).

        Returns the id.

        Raises:
            DuplicateNameError: if the id is taken, or the routine object was already
                added under another id.
            ConfigurationError: if ``routine`` is not a Routine, or its ``__init__``
                did not call ``super().__init__()``.
        """
        if not isinstance(routine, Routine):
            raise ConfigurationError(
                f"add_routine expects a Routine, not {type(routine).__name__} "
                f"(flow '{self.flow_id}')"
            )
        if "_slots" not in routine.__dict__:
            raise ConfigurationError(
                f"{type(routine).__name__}.__init__ must call super().__init__() "
                f"(adding it to flow '{self.flow_id}')"
            )
        if routine_id is not None and (not isinstance(routine_id, str) or not routine_id):
            raise ConfigurationError(f"routine id must be a non-empty string, not {routine_id!r}")
        rid = routine_id or routine._id
        with self._lock:
            if rid in self.routines:
                raise DuplicateNameError(
                    f"Routine ID '{rid}' already exists in flow '{self.flow_id}'"
                )
            existing = self._routine_ids.get(id(routine))
            if existing is not None:
                raise DuplicateNameError(
                    f"{routine!r} is already in flow '{self.flow_id}' as '{existing}'"
                )
            self.routines[rid] = routine
            self._routine_ids[id(routine)] = rid
        return rid

    def _routine(self, role: str, routine_id: str) -> Routine:
        routine = self.routines.get(routine_id)
        if routine is None:
            raise RoutineNotFoundError(
                f"{role} routine '{routine_id}' not found in flow '{self.flow_id}'"
            )
        return routine

    def connect(
        self,
        source_routine_id: str,
        source_event: str,
        target_routine_id: str,
        target_slot: str,
        param_mapping: dict[str, str] | None = None,
    ) -> Connection:
        """Connect an event of one routine to a slot of another and return the edge.

        ``param_mapping`` renames keys on the way (source key -> slot key; see
        :func:`routilux.connection.apply_param_mapping`). Connecting the same event
        and slot again replaces the mapping and returns the same connection.

        Raises:
            RoutineNotFoundError, EventNotFoundError, SlotNotFoundError: for unknown
                ids or names.
            ConfigurationError: if ``param_mapping`` is not a dict of strings.
        """
        source = self._routine("Source", source_routine_id)
        event: Event | None = source.get_event(source_event)
        if event is None:
            raise EventNotFoundError(
                f"Event '{source_event}' not found in routine '{source_routine_id}' "
                f"(flow '{self.flow_id}')"
            )
        target = self._routine("Target", target_routine_id)
        slot: Slot | None = target.get_slot(target_slot)
        if slot is None:
            raise SlotNotFoundError(
                f"Slot '{target_slot}' not found in routine '{target_routine_id}' "
                f"(flow '{self.flow_id}')"
            )
        if param_mapping is not None and (
            not isinstance(param_mapping, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in param_mapping.items())
        ):
            raise ConfigurationError(
                f"param_mapping of {source_routine_id}.{source_event} -> "
                f"{target_routine_id}.{target_slot} must be a dict of str to str"
            )
        with self._lock:
            connection = event._connect(
                slot, param_mapping, self, source_routine_id, target_routine_id
            )
            self._slot_index(slot)
            if connection not in self.connections:
                self.connections.append(connection)
        return connection

    def _slot_index(self, slot: Slot) -> int:
        """The index of ``slot`` in this flow's slot table, assigned on first use."""
        index = self._slot_ids.get(slot)
        if index is None:
            with self._lock:
                index = self._slot_ids.get(slot)
                if index is None:
                    index = len(self._slot_table)
                    self._slot_table.append(slot)
                    self._slot_ids[slot] = index
        return index

    def _get_routine_id(self, routine: Routine) -> str | None:
        return self._routine_ids.get(id(routine))

    def _find_connection(self, event: Event, slot: Slot) -> Connection | None:
        for connection in self.connections:
            if connection.source_event is event and connection.target_slot is slot:
                return connection
        return None

    def _get_error_handler_for_routine(
        self, routine: Routine, routine_id: str | None = None
    ) -> ErrorHandler | None:
        return routine.get_error_handler() or self.error_handler

    # -- running ----------------------------------------------------------------------

    def execute(
        self,
        entry_routine_id: str,
        entry_params: dict[str, Any] | None = None,
        execution_strategy: str | None = None,
        *,
        wait: bool = True,
        output_handler: OutputHandler | None = None,
        progress: bool = False,
    ) -> JobState:
        """Start a job at the entry routine's ``"trigger"`` slot and return its JobState.

        Arguments:
            entry_routine_id: the routine whose ``trigger`` slot receives
                ``entry_params``.
            entry_params: a dict (default ``{}``).
            execution_strategy: overrides the flow's strategy for this job.
            wait: if True (the default) return when the job has finished (or was
                paused); if False return at once with the job running.
            output_handler: where the job's ``send_output`` calls go.
            progress: while waiting, show a live view of the job on standard error
                (per routine: activations done, queued and failed, the rate, the last
                error) when it is a terminal, and nothing otherwise. Needs ``rich``
                (``pip install 'routilux[cli]'``); without it, a one-line hint is
                printed once. Only with ``wait=True``.

        With ``wait=True`` and the default runtime the calling thread runs the job's
        activations itself. Failures of handlers do not raise here: they are recorded
        in the JobState (see :mod:`routilux.error_handler`).

        Raises:
            RoutineNotFoundError: unknown entry routine.
            MissingTriggerSlotError: the entry routine has no ``trigger`` slot.
            InvalidPayloadError: ``entry_params`` is not a dict.
            InvalidStrategyError: unknown ``execution_strategy``.
            ConfigurationError: ``progress=True`` with ``wait=False``.
        """
        if progress and not wait:
            raise ConfigurationError(
                "progress=True shows the job while execute waits for it: use it with "
                "wait=True (the default)"
            )
        job_state, trigger, params, strategy = self._new_job(
            entry_routine_id, entry_params, execution_strategy, output_handler
        )
        machine = self._machine(job_state, self._workers_for(strategy))
        machine.attach()
        self._last_tracker = job_state.execution_tracker
        if progress:
            from routilux._live import progress_view

            with progress_view(self, job_state):
                self.runtime.execute(machine, trigger, params, wait)
        else:
            self.runtime.execute(machine, trigger, params, wait)
        return job_state

    def _new_job(
        self,
        entry_routine_id: str,
        entry_params: dict[str, Any] | None,
        execution_strategy: str | None,
        output_handler: OutputHandler | None,
    ) -> tuple[JobState, Slot, dict[str, Any], str]:
        """Check ``execute``'s arguments; a new JobState, the trigger slot, the entry
        params (a copy) and the strategy."""
        entry = self._routine("Entry", entry_routine_id)
        if entry_params is None:
            entry_params = {}
        elif not isinstance(entry_params, dict):
            raise InvalidPayloadError(
                f"entry_params for entry routine '{entry_routine_id}' must be a dict, "
                f"not {type(entry_params).__name__}"
            )
        trigger = entry.get_slot("trigger")
        if trigger is None:
            raise MissingTriggerSlotError(
                f"Entry routine '{entry_routine_id}' must have a 'trigger' slot "
                f"(flow '{self.flow_id}'); define one with define_slot('trigger', handler=...)"
            )
        strategy = (
            self._strategy if execution_strategy is None else _check_strategy(execution_strategy)
        )
        job_state = JobState(self.flow_id, history_limit=self.history_limit)
        job_state.current_routine_id = entry_routine_id
        job_state.output_handler = output_handler
        return job_state, trigger, dict(entry_params), strategy

    async def execute_async(
        self,
        entry_routine_id: str,
        entry_params: dict[str, Any] | None = None,
        execution_strategy: str | None = None,
        *,
        output_handler: OutputHandler | None = None,
    ) -> JobState:
        """``execute`` for a caller inside an event loop: start a job and return its
        JobState, awaiting (not blocking the loop) until it has finished or paused.

        With an :class:`~routilux.runtimes.AsyncioRuntime` the job's activations run on
        the calling loop; with the default :class:`~routilux.runtimes.ThreadRuntime`
        they run on its threads and loop as usual. Arguments and errors are those of
        :meth:`execute`.
        """
        job_state, trigger, params, strategy = self._new_job(
            entry_routine_id, entry_params, execution_strategy, output_handler
        )
        machine = self._machine(job_state, self._workers_for(strategy))
        machine.attach()
        self._last_tracker = job_state.execution_tracker
        await self.runtime.execute_async(machine, trigger, params)
        return job_state

    def _machine(
        self, job_state: JobState, limit: int, store: JobStore | None = None
    ) -> JobMachine:
        return JobMachine(
            self,
            job_state,
            limit,
            self._job_context(),
            self.store if store is None else store,
            self.runtime,
            bound=self.queue_bound,
            on_full=self.on_full,
        )

    def _check_job(self, job_state: JobState) -> None:
        if not isinstance(job_state, JobState):
            raise InvalidPayloadError(f"expected a JobState, not {type(job_state).__name__}")
        if job_state.flow_id != self.flow_id:
            raise FlowMismatchError(
                f"JobState flow_id '{job_state.flow_id}' does not match Flow flow_id "
                f"'{self.flow_id}'"
            )

    def _live_machine(self, job_state: JobState, action: str) -> JobMachine:
        machine = job_state._machine
        if machine is None or machine.flow is not self:
            raise JobStateError(
                f"Cannot {action} job '{job_state.job_id}': it is not running on flow "
                f"'{self.flow_id}' (status {job_state.status})"
            )
        return machine  # type: ignore[no-any-return]

    def pause(self, job_state: JobState, reason: str = "", checkpoint: Any = None) -> None:
        """Pause one job of this flow.

        Running handlers finish; activations they emit and those still queued are
        kept in ``job_state.pending_tasks``. Called from outside the job it returns
        once nothing of the job is running (so the JobState can be saved); called
        from one of the job's own handlers it returns at once and the job settles
        when that handler returns. Pausing a paused job does nothing. A retry waiting
        for its delay is kept as pending work too and runs as soon as the job resumes.

        Raises:
            FlowMismatchError: the job belongs to another flow.
            JobStateError: the job has finished or is not running on this flow.
        """
        self._check_job(job_state)
        self._live_machine(job_state, "pause").pause(reason, checkpoint)

    def resume(self, job_state: JobState, *, wait: bool = False) -> JobState:
        """Continue a paused job and return its JobState.

        The job may have been paused in this process, or saved and loaded in another
        (with the flow rebuilt). Deferred events are emitted first, in order, then the
        pending activations run. Returns at once unless ``wait`` is True; use
        ``job_state.wait_for_completion()`` to wait later.

        Raises:
            FlowMismatchError: the job belongs to another flow.
            JobStateError: the job is not paused.
            RoutineNotFoundError, SlotNotFoundError, EventNotFoundError: the job's
                pending work names routines, slots or events this flow lacks (the
                job is left unchanged).
        """
        self._check_job(job_state)
        if job_state.status != PAUSED:
            raise JobStateError(
                f"Cannot resume job '{job_state.job_id}': it is {job_state.status}, not paused"
            )
        if wait:
            self._refuse_waiting_on_own_job(job_state, "resume")
        machine = self._machine_for_paused(job_state)
        self._last_tracker = job_state.execution_tracker
        settled_before = machine.resume()
        self.runtime.launch(machine, wait, settled_before)
        return job_state

    def _machine_for_paused(self, job_state: JobState, store: JobStore | None = None) -> JobMachine:
        """The job's machine on this flow: its own, or one made now for a job paused on
        another flow object (or loaded from a file or a store). One machine per job."""
        entry_id = job_state.current_routine_id
        if entry_id is not None and entry_id not in self.routines:
            raise RoutineNotFoundError(
                f"Current routine '{entry_id}' not found in flow '{self.flow_id}'"
            )
        limit = self._workers_for(self._strategy)
        return machine_for(self, job_state, lambda: self._machine(job_state, limit, store))

    @staticmethod
    def _refuse_waiting_on_own_job(job_state: JobState, action: str) -> None:
        """A handler that waits for its own job waits for itself: refuse."""
        frame = current_frame.get()
        if frame is not None and frame.info.job.job_state is job_state:
            raise JobStateError(
                f"Cannot {action} job '{job_state.job_id}' with wait=True from one of its own "
                "handlers: the job cannot settle while the handler waits for it. Call it "
                "without wait (the job goes on when the handler returns)."
            )

    @staticmethod
    def _job_context() -> Context:
        """The caller's context for a new job's handlers, without any outer job's frame
        (a job started from a handler must not keep the outer job alive)."""
        context = copy_context()
        if context.get(current_frame) is not None:
            context.run(current_frame.set, None)
        return context

    def cancel(self, job_state: JobState, reason: str = "") -> None:
        """Cancel one job: queued and pending work is dropped, running handlers finish.

        Returns at once; ``job_state.wait_for_completion()`` waits for the running
        handlers. The final status is ``"cancelled"``.

        Raises:
            FlowMismatchError: the job belongs to another flow.
            JobStateError: the job has already finished.
        """
        self._check_job(job_state)
        machine = job_state._machine
        if (machine is None or machine.flow is not self) and job_state.status == PAUSED:
            # Paused elsewhere (another flow object or process): cancel it here.
            machine = self._machine_for_paused(job_state)
        else:
            machine = self._live_machine(job_state, "cancel")
        machine.cancel(reason)

    def recover(
        self,
        job_id: str,
        store: JobStore | None = None,
        *,
        wait: bool = False,
        output_handler: OutputHandler | None = None,
    ) -> JobState:
        """Continue a job of this flow from what ``store`` recorded, after the process
        that ran it died (or was paused and saved there).

        The job goes on from its last checkpoint: activations that had not finished by
        then run again (so handlers may see an activation twice: make them idempotent
        where that matters), none is lost, and those that had finished are not
        repeated. A job that was running does not emit its deferred events (they wait
        for a real resume); a paused one is resumed as by :meth:`resume`. The job keeps
        being checkpointed into ``store``. A finished job is returned as stored.

        Arguments:
            job_id: the job to continue (see ``store.unfinished_job_ids(flow_id)``).
            store: where it was recorded (default: this flow's store).
            wait: return only when the job has settled again.
            output_handler: where the continued job's ``send_output`` calls go (the
                handler of the original run is not stored).

        Raises:
            JobStateError: if the store has no such job, or another live process (or
                store object) runs it: ``store.acquire(job_id)`` refused, naming the
                owner and when its lease expires.
            SerializationError: if the stored job is damaged (naming the file).
            FlowMismatchError: if the job belongs to another flow.
            RoutineNotFoundError, SlotNotFoundError, EventNotFoundError: if its pending
                work names what this flow lacks.
        """
        store = self.store if store is None else store
        running = live_machine(job_id) if isinstance(job_id, str) else None
        if running is not None:
            raise JobStateError(
                f"Cannot recover job '{job_id}': it is running in this process (flow "
                f"'{running.flow.flow_id}'); recover continues jobs whose process died. "
                "Wait for it, or pause or cancel it."
            )
        # Claim the job before reading it, so that two processes recovering it never
        # both run it (the loser gets JobStateError naming the owner).
        store.acquire(job_id)
        try:
            job_state = store.load(job_id)
            if job_state is None:
                raise JobStateError(f"Cannot recover job '{job_id}': {store!r} has no such job")
            self._check_job(job_state)
            if job_state.is_finished:
                store.release(job_id)
                return job_state
            live = job_state._machine
            if live is not None and not live.parked():
                raise JobStateError(
                    f"Cannot recover job '{job_id}': it is running in this process (status "
                    f"{job_state.status}); recover continues jobs whose process died"
                )
            if wait:
                self._refuse_waiting_on_own_job(job_state, "recover")
            crashed = job_state.status != PAUSED
            job_state.status = PAUSED  # what remains of a dead run is a paused job
            job_state.output_handler = output_handler
            machine = self._machine_for_paused(job_state, store)
            self._last_tracker = job_state.execution_tracker
            settled_before = machine.resume(emit_deferred=not crashed)
        except BaseException:
            store.release(job_id)
            raise
        self.runtime.launch(machine, wait, settled_before)
        return job_state

    def _workers_for(self, strategy: str) -> int:
        return self._worker_limit if strategy == CONCURRENT else 1

    def wait_for_completion(self, timeout: float | None = None) -> bool:
        """Wait until no job of this flow has work in progress.

        Jobs that are paused do not count as in progress. Returns False if
        ``timeout`` (seconds) expired first.

        Raises:
            JobStateError: without a timeout, from a handler of one of this flow's jobs
                (that job cannot settle while its handler waits).
        """
        if timeout is None:
            frame = current_frame.get()
            if frame is not None and frame.info.job.flow is self:
                raise JobStateError(
                    f"Cannot wait for flow '{self.flow_id}' from a handler of one of its jobs: "
                    "the job cannot settle while its handler waits"
                )
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle, blocking():
            while self._active:
                if deadline is None:
                    self._idle.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(remaining)
            return True

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Release the flow's worker threads; the flow stays usable.

        With ``wait`` it first waits (up to ``timeout``) for running jobs. Jobs still
        running keep running: new worker threads are created when they need them.
        """
        finished = self.wait_for_completion(timeout) if wait else False
        self.runtime.shutdown(wait=wait and finished)

    def _run_started(self, run: JobMachine) -> None:
        run.store.job_started(run.job_state)
        with self._lock:
            self._active.add(run)
        register_live(run)

    def _run_released(self, run: JobMachine) -> None:
        """A run that started is given up before running anything (its store refused)."""
        unregister_live(run)
        with self._idle:
            self._active.discard(run)
            if not self._active:
                self._idle.notify_all()

    def _run_settled(self, run: JobMachine) -> None:
        try:
            run.store.job_settled(run.job_state)
        except Exception as exc:
            # The job itself has settled; only recording it failed. Say so in the job
            # (and the log) rather than raise into whichever thread settled it.
            run.record_store_failure(exc)
        finally:
            unregister_live(run)
            with self._idle:
                self._active.discard(run)
                if not self._active:
                    self._idle.notify_all()

    # -- building with ``with`` and checking ------------------------------------------

    def __enter__(self) -> Flow:
        """``with Flow(...) as flow:``: ``a >> b`` between routines made with
        :func:`routilux.functional.routine` adds them to this flow and connects them.
        Blocks nest; each thread (and asyncio task) has its own."""
        from routilux.functional import building_flow

        self._building_tokens.append(building_flow.set(self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        from routilux.functional import building_flow

        building_flow.reset(self._building_tokens.pop())

    def validate(self, entry_routine_id: str | None = None) -> list[ValidationIssue]:
        """Report wiring problems without running anything.

        Errors: an entry routine that is missing or has no ``trigger`` slot, a
        connection to a routine that is no longer in the flow. Warnings: slots nothing
        is connected to (apart from the other slots of entry routines), keys a
        connection maps into a slot whose handler cannot receive them, required handler
        parameters that no connection into the slot delivers (judged from the events'
        declared keys; slots fed by an event that declares none are not judged), mapped
        keys an event does not declare, routines the entry does not reach, and cycles
        (which may be intended).

        Returns the issues, errors first (an empty list when all is well).
        """
        from routilux.validation import validate_flow

        return validate_flow(self, entry_routine_id)

    # -- drawing ----------------------------------------------------------------------

    def to_mermaid(self, *, direction: str = "LR") -> str:
        """The flow's graph as a Mermaid ``flowchart`` (text, ending with a newline),
        reading left to right; ``direction="TB"`` draws it top to bottom (a long line
        of routines stays narrow), ``"RL"`` and ``"BT"`` reverse those.

        One node per routine, named ``n0``, ``n1``, ... in the order the routines were
        added and labelled with the routine id; one edge per connection of
        :attr:`connections`, in the order they were made, labelled ``event -> slot``
        and, when the connection has a ``param_mapping``, ``(source as target, ...)``.
        Entry routines (those with a ``trigger`` slot) are stadiums of class
        ``entry``; a routine a connection names but the flow no longer holds is of
        class ``missing``. Every cycle is drawn whole, with at least one of its edges
        dotted (``-.->``): the edges found closing a loop by a walk from the entry
        routines. Direct connections (``event.connect(slot)``) are not drawn.

        Labels are double-quoted: in routine ids and event, slot and key names, every
        character but letters, digits, spaces and ``_-.,/()+=@!?*`` is written as an
        entity code (``#35;`` for ``#``), and unprintable characters as their Python
        escapes (a newline shows as ``\\n``), so no id can break the chart.

        The drawing is a snapshot taken under the flow's wiring lock: a routine or
        connection another thread adds meanwhile is drawn whole or not at all. Nothing
        is run or sent anywhere.

        Raises:
            ConfigurationError: ``direction`` is not ``"LR"``, ``"TB"``, ``"RL"`` or
                ``"BT"``.
        """
        from routilux._graphs import flow_to_mermaid

        return flow_to_mermaid(self, direction)

    def to_dot(self, *, direction: str = "LR") -> str:
        """The flow's graph as a Graphviz ``digraph`` in the DOT language (text, ending
        with a newline), named after :attr:`flow_id`; render it with, for example,
        ``dot -Tsvg``.

        Nodes, edges, their order and their labels are those of :meth:`to_mermaid`.
        Entry routines have a double border (``peripheries=2``), missing routines a
        dashed one; edges closing a cycle are dashed and do not constrain the layout
        (``constraint=false``), so the rest reads left to right (or as
        ``direction`` says: ``rankdir``, see :meth:`to_mermaid`).

        Labels and the graph's name are double-quoted strings: ``\\`` and ``"`` are
        escaped with a backslash, ``&`` is written ``&amp;`` (Graphviz reads entities
        in labels), and unprintable characters are shown as their Python escapes.
        The snapshot and thread safety are those of :meth:`to_mermaid`.

        Raises:
            ConfigurationError: ``direction`` is not ``"LR"``, ``"TB"``, ``"RL"`` or
                ``"BT"``.
        """
        from routilux._graphs import flow_to_dot

        return flow_to_dot(self, direction)

    # -- saving and loading -----------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        """The flow's structure as a ``routilux.flow`` document (a JSON-compatible dict).

        Routines are stored by class and id with their config, slots and events;
        handlers by method name (or registered function), connections by both
        routine ids. Jobs are not part of it.

        Raises:
            SerializationError: for anything a loader could not restore, naming it: a
                routine class defined inside a function and not registered, a handler or
                merge function that is neither a method of its routine nor registered,
                a config value that is not JSON-like data.
        """
        from routilux._flow_document import flow_to_document

        with self._lock:
            return flow_to_document(self)

    @hybridmethod
    def deserialize(cls: type[Flow], instance: Flow | None, data: Any) -> Flow:
        """Build a flow from a document: ``Flow.deserialize(data)`` returns a new flow;
        ``flow.deserialize(data)`` fills that (empty) flow and returns it.

        Routine classes must be imported by the application or registered with
        :func:`~routilux.register_serializable`; nothing the document names is imported
        or run. If the document is invalid, nothing is changed.

        Raises:
            SerializationError: naming what is wrong and where in the document.
            ConfigurationError: when filling a flow that already has routines.
        """
        from routilux._flow_document import populate_flow

        if instance is not None and (instance.routines or instance._active):
            raise ConfigurationError(
                f"Flow '{instance.flow_id}' already has routines or jobs; deserialize into "
                "an empty Flow (or use Flow.deserialize(data) for a new one)"
            )
        built = cls()
        populate_flow(built, data)
        if instance is None:
            return built
        populate_flow(instance, data)  # the document is known good: fill the real one
        return instance

    def save(self, filepath: str | os.PathLike[str]) -> None:
        """Write the flow's structure to ``filepath`` as indented JSON (atomically).

        Raises:
            SerializationError: see :meth:`serialize`.
        """
        from routilux._documents import write_json

        write_json(filepath, self.serialize(), indent=2)

    @classmethod
    def load(cls, filepath: str | os.PathLike[str]) -> Flow:
        """Read a flow saved with :meth:`save`.

        Raises:
            FileNotFoundError: if there is no such file.
            SerializationError: if it cannot be read or is not a valid ``routilux.flow``
                document; the message names the file, ``path`` the place in it.
        """
        from routilux._documents import FLOW_FORMAT, load_file

        loaded: Flow = load_file(filepath, FLOW_FORMAT, cls.deserialize)
        return loaded

    def __repr__(self) -> str:
        return f"Flow[{self.flow_id}]"
