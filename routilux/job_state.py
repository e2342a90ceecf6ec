"""The record of one execution of a flow.

Every :meth:`Flow.execute` creates a new :class:`JobState`. It holds the job's
status, one state dict per routine, the execution history, shared data and a shared
log for all routines of the job, outputs, errors, and, while the job is paused, its
pending work. Nothing in it is shared with any other job.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from array import array
from collections.abc import Callable, Iterable
from datetime import datetime
from time import time
from typing import TYPE_CHECKING, Any, Protocol
from uuid import uuid4

import routilux._codecs as _codecs
from routilux._blocking import SettleFlag, blocking
from routilux._context import current_frame
from routilux._history import History, record_name
from routilux._hybrid import hybridmethod
from routilux.channels import Channel
from routilux.exceptions import InvalidPayloadError, JobStateError
from routilux.execution_record import ExecutionRecord
from routilux.execution_tracker import ExecutionTracker
from routilux.output_handler import OutputHandler
from routilux.registry import register_serializable  # noqa: F401  (0.9 code imported it here)

if TYPE_CHECKING:
    from routilux.activation import Activation


class _Machine(Protocol):
    """What the record needs of the machine that drives its job (the engine's)."""

    def wait_saveable(self, action: str) -> None:
        """Return once the job can be saved; raise JobStateError if it cannot."""


__all__ = [
    "ALL_STATUSES",
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "FINISHED_STATUSES",
    "PAUSED",
    "PENDING",
    "RUNNING",
    "ExecutionRecord",
    "JobState",
]

logger = logging.getLogger("routilux")

PENDING = "pending"
RUNNING = "running"
PAUSED = "paused"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
#: Statuses a job never leaves.
FINISHED_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED})
ALL_STATUSES = frozenset({PENDING, RUNNING, PAUSED}) | FINISHED_STATUSES


_NO_STAMP = float("nan")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment).isoformat()


class JobState:
    """Status, state, history and data of one job.

    Arguments:
        flow_id: the id of the flow the job belongs to.
        history_limit: keep only the newest this many history records (None: all).

    Attributes:
        flow_id, job_id: identify the job (``job_id`` is a random UUID string).
        status: ``"pending"``, ``"running"``, ``"paused"``, ``"completed"``,
            ``"failed"`` or ``"cancelled"``.
        current_routine_id: the entry routine's id.
        routine_states: routine id -> that routine's state dict.
        shared_data: a dict shared by all routines of the job (see also
            :meth:`get_shared_data`).
        output_log: every output sent with ``send_output``, oldest first.
        errors: one dict per handler failure (``routine_id``, ``slot``, ``error``,
            ``error_type``, ``strategy``, ``attempt``, ``timestamp``).
        pause_points: one dict per pause (``timestamp``, ``reason``,
            ``current_routine_id``, ``checkpoint``).
        pending_tasks: while the job is paused, the slot activations waiting to run.
        deferred_events: events to emit when the job is resumed.
        execution_tracker: this job's :class:`ExecutionTracker`.
        output_handler: where ``send_output`` forwards outputs (not serialized).

    Thread safety: every method may be called from any handler thread of the job;
    compound updates take the job's lock. Dicts and lists returned by getters are the
    job's own (as in 0.9) unless a method says it returns a copy; change them only from
    the job's handlers.
    """

    def __init__(self, flow_id: str = "", *, history_limit: int | None = None) -> None:
        self.flow_id = flow_id
        self.job_id = str(uuid4())
        self.status = PENDING
        self.current_routine_id: str | None = None
        self.routine_states: dict[str, dict[str, Any]] = {}
        self.pause_points: list[dict[str, Any]] = []
        self.pending_tasks: list[Activation] = []
        self.deferred_events: list[dict[str, Any]] = []
        self.shared_data: dict[str, Any] = {}
        self.output_log: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.created_at = datetime.now()
        self.output_handler: OutputHandler | None = None
        self.execution_tracker = ExecutionTracker(flow_id)
        self._history = History(history_limit)
        # routine id -> what that routine's handler last returned (when not None).
        self._results: dict[str, Any] = {}
        self._channel = Channel(self)
        self._shared_log: list[dict[str, Any]] = []
        # When each log entry was appended (NaN for entries that brought a timestamp
        # of their own). Formatting an ISO string costs about a microsecond and the
        # string takes ten times the memory of a raw double, so entries get their
        # "timestamp" key only when somebody reads the log.
        self._log_times = array("d")
        self._log_formatted_upto = 0
        self._updated = time()
        self._lock = threading.RLock()
        # Set whenever no work of the job is in progress (see wait_for_completion).
        self._settled = SettleFlag(True)
        # The engine's machine that drives (or last drove) the job in this process.
        self._machine: Any = None
        # routine id -> slot name -> merge buffer, kept here while the job is paused.
        self._merge_buffers: dict[str, dict[str, Any]] = {}

    # -- timestamps -------------------------------------------------------------------

    @property
    def updated_at(self) -> datetime:
        """When the job last changed."""
        return datetime.fromtimestamp(self._updated)

    @updated_at.setter
    def updated_at(self, value: datetime) -> None:
        self._updated = value.timestamp()

    def _touch(self) -> None:
        self._updated = time()

    # -- status -----------------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.status in FINISHED_STATUSES

    def wait_for_completion(self, timeout: float | None = None) -> bool:
        """Block until the job has no work in progress; return whether it got there.

        That is the case once the job has finished (completed, failed or cancelled)
        or is paused with all its in-flight work done; check :attr:`status` to tell
        which. A resumed job can be waited for again. Returns False if ``timeout``
        (seconds) expired first. Never polls.

        Raises:
            JobStateError: without a timeout, from one of the job's own handlers (the
                job cannot settle while its handler waits for it).
        """
        if self._settled.is_set():
            return True
        if timeout is None:
            frame = current_frame.get()
            if frame is not None and frame.info.job.job_state is self:
                raise JobStateError(
                    f"Cannot wait for job '{self.job_id}' from one of its own handlers: it "
                    "cannot settle while the handler waits"
                )
        with blocking():
            return self._settled.wait(timeout)

    # -- routine state ----------------------------------------------------------------

    def update_routine_state(self, routine_id: str, state: dict[str, Any]) -> None:
        """Replace the state of ``routine_id`` with a shallow copy of ``state``.

        To change a few keys, read the state with :meth:`get_routine_state` first
        (or store the dict returned by it after changing it).
        """
        if not isinstance(state, dict):
            raise InvalidPayloadError(
                f"state for routine '{routine_id}' must be a dict, not {type(state).__name__}"
            )
        copy = dict(state)
        with self._lock:
            self.routine_states[routine_id] = copy
        self._updated = time()

    def get_routine_state(self, routine_id: str) -> dict[str, Any] | None:
        """The state dict of ``routine_id`` (the job's own dict), or None."""
        return self.routine_states.get(routine_id)

    def _merge_routine_state(self, routine_id: str, updates: dict[str, Any]) -> None:
        """Framework bookkeeping: update keys, never drop the ones a handler stored."""
        with self._lock:
            state = self.routine_states.get(routine_id)
            if state is None:
                self.routine_states[routine_id] = dict(updates)
            else:
                state.update(updates)
        self._updated = time()

    def _update_routine_state(
        self, routine_id: str, update: Callable[[dict[str, Any]], None]
    ) -> None:
        """Framework bookkeeping: ``update(state)`` under the job's lock, so concurrent
        read-modify-write updates of one routine's state are not lost."""
        with self._lock:
            state = self.routine_states.get(routine_id)
            if state is None:
                state = self.routine_states[routine_id] = {}
            update(state)
        self._updated = time()

    # -- history ----------------------------------------------------------------------

    def record_execution(
        self, routine_id: str, event_name: str, data: dict[str, Any] | None = None
    ) -> None:
        """Append a record to the history (``data`` is stored by reference).

        The record is not an emission: the tracker's ``event_flow`` does not list it,
        even when the routine has an event of the same name. Called from a handler of
        this job, the record takes effect with the handler's emissions, in order, when
        the handler returns (and is dropped if the handler raises).
        """
        moment = time()
        name = record_name(event_name)
        record = {} if data is None else data
        frame = current_frame.get()
        if frame is not None:
            held = frame.held
            if held is not None and frame.info.job.job_state is self:
                held.append((routine_id, name, record, moment))
                return
        self._history.write((routine_id, name, record, moment))
        self._updated = moment

    def get_execution_history(self, routine_id: str | None = None) -> list[ExecutionRecord]:
        """The history, oldest first, optionally only the records of ``routine_id``.

        Returns new :class:`ExecutionRecord` objects in a new list. Records appear in
        the order they were written, which under the sequential strategy is the same
        on every run.
        """
        return self._history.records(routine_id)

    @property
    def execution_history(self) -> list[ExecutionRecord]:
        """All history records, oldest first (a new list on every read)."""
        return self._history.records()

    @execution_history.setter
    def execution_history(self, records: Iterable[ExecutionRecord]) -> None:
        self._history.clear()
        for record in records:
            self._history.append(record.routine_id, record.event_name, record.data, record.time)

    def _reset_history(
        self, limit: int | None, rows: list[tuple[str, str, Any, float]], dropped: int
    ) -> None:
        history = History(limit)
        history.load(rows, dropped)
        self._history = history

    @property
    def history_limit(self) -> int | None:
        """The most history records kept (None: all)."""
        return self._history.limit

    @property
    def history_dropped(self) -> int:
        """How many old history records were discarded because of ``history_limit``."""
        return self._history.dropped

    # -- shared data and log ----------------------------------------------------------

    def update_shared_data(self, key: str, value: Any) -> None:
        """Set ``shared_data[key] = value``."""
        with self._lock:
            self.shared_data[key] = value
        self._updated = time()

    def get_shared_data(self, key: str, default: Any = None) -> Any:
        """``shared_data.get(key, default)``."""
        return self.shared_data.get(key, default)

    def append_to_shared_log(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` to the shared log.

        An entry without a ``"timestamp"`` key is copied and the copy gets one (an ISO
        string, as seen through :meth:`get_shared_log`); an entry with a timestamp is
        stored as it is.

        Raises:
            InvalidPayloadError: (a ``ValueError``) if ``entry`` is not a dict.
        """
        if not isinstance(entry, dict):
            raise InvalidPayloadError(f"Entry must be a dictionary, not {type(entry).__name__}")
        moment = time()
        stamp = moment
        if "timestamp" in entry:
            stamp = _NO_STAMP
        else:
            entry = dict(entry)
        with self._lock:
            self._shared_log.append(entry)
            self._log_times.append(stamp)
        self._updated = moment

    def _formatted_log(self) -> list[dict[str, Any]]:
        with self._lock:
            log, times = self._shared_log, self._log_times
            for index in range(self._log_formatted_upto, len(log)):
                stamp = times[index]
                if stamp == stamp:  # not NaN: we owe this entry its timestamp
                    log[index]["timestamp"] = _iso(stamp)
            self._log_formatted_upto = len(log)
            return log

    @property
    def shared_log(self) -> list[dict[str, Any]]:
        """The shared log, oldest first (the job's own list)."""
        return self._formatted_log()

    @shared_log.setter
    def shared_log(self, entries: list[dict[str, Any]]) -> None:
        with self._lock:
            self._shared_log = list(entries)
            self._log_times = array("d", [_NO_STAMP] * len(self._shared_log))
            self._log_formatted_upto = 0

    def get_shared_log(
        self, filter_func: Callable[[dict[str, Any]], Any] | None = None
    ) -> list[dict[str, Any]]:
        """A new list of the log entries, all or those for which ``filter_func`` is true."""
        log = self._formatted_log()
        with self._lock:
            entries = list(log)
        if filter_func is None:
            return entries
        return [entry for entry in entries if filter_func(entry)]

    # -- outputs and deferred events --------------------------------------------------

    def set_output_handler(self, handler: OutputHandler | None) -> None:
        """Forward later outputs to ``handler`` (None: only log them)."""
        self.output_handler = handler

    def send_output(self, routine_id: str, output_type: str, data: dict[str, Any]) -> None:
        """Forward an output to the output handler and append it to ``output_log``.

        An exception raised by the output handler is reported with
        :func:`warnings.warn` and logged; the output is still logged in the job.
        """
        now = datetime.now()
        handler = self.output_handler
        if handler is not None:
            try:
                handler.handle(
                    job_id=self.job_id,
                    routine_id=routine_id,
                    output_type=output_type,
                    data=data,
                    timestamp=now,
                )
            except Exception as exc:
                logger.exception(
                    "output handler failed in job %s", self.job_id, extra={"job_id": self.job_id}
                )
                warnings.warn(f"Output handler failed: {exc}", RuntimeWarning, stacklevel=2)
        with self._lock:
            self.output_log.append(
                {
                    "routine_id": routine_id,
                    "output_type": output_type,
                    "data": data,
                    "timestamp": now.isoformat(),
                }
            )
        self._updated = now.timestamp()

    def add_deferred_event(self, routine_id: str, event_name: str, data: dict[str, Any]) -> None:
        """Queue an event for ``routine_id`` to emit when the job is resumed."""
        with self._lock:
            self.deferred_events.append(
                {
                    "routine_id": routine_id,
                    "event_name": event_name,
                    "data": data,
                    "timestamp": datetime.now().isoformat(),
                }
            )
        self._updated = time()

    # -- channel and results ----------------------------------------------------------

    def get_channel(self) -> Channel:
        """This job's channel: its shared data as a thread-safe key-value store (see
        :mod:`routilux.channels`). Always the same object for a job."""
        return self._channel

    def get_result(self, routine_id: str, default: Any = None) -> Any:
        """What the handler of ``routine_id`` last returned (when it returned something
        other than None), or ``default``.

        A routine with several slots has one result: the last returned by any of its
        handlers. Results are saved with the job, so they must be storable data.
        """
        return self._results.get(routine_id, default)

    @property
    def results(self) -> dict[str, Any]:
        """All results by routine id (a new dict)."""
        return dict(self._results)

    # -- errors -----------------------------------------------------------------------

    def _record_error(self, error: dict[str, Any]) -> None:
        with self._lock:
            self.errors.append(error)
        self._updated = time()

    # -- status transitions (called by the engine) ------------------------------------

    def _set_paused(self, reason: str = "", checkpoint: Any = None) -> None:
        with self._lock:
            self.status = PAUSED
            self.pause_points.append(
                {
                    "timestamp": datetime.now().isoformat(),
                    "reason": reason,
                    "current_routine_id": self.current_routine_id,
                    "checkpoint": checkpoint,
                }
            )
        self._updated = time()

    def _set_running(self) -> None:
        with self._lock:
            if self.status in (PENDING, PAUSED):
                self.status = RUNNING
        self._updated = time()

    def _set_cancelled(self, reason: str = "") -> None:
        with self._lock:
            self.status = CANCELLED
            if reason:
                self.routine_states["_cancellation"] = {"reason": reason}
        self._updated = time()

    # -- saving and loading -----------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        """This job as a ``routilux.job`` document (a JSON-compatible dict).

        The document holds everything needed to continue the job elsewhere (see
        :doc:`/formats`). A job that runs cannot be serialized (pause it first): its
        state changes while handlers run. A job whose pause or cancel has not settled
        yet (handlers still running, or the pause being recorded) is waited for, so a
        document never lacks work that is still to be parked. A JobState that reads
        ``"running"`` but that no run in this process holds (built by hand, or loaded)
        is serialized as it is.

        Raises:
            JobStateError: if the job runs; or if it is pausing and this is called from
                one of its own handlers (the pause settles when the handler returns).
            SerializationError: for data that cannot be stored, naming where it is.
        """
        self._wait_saveable("serialize")
        return _codecs.to_document("job", self)

    def _wait_saveable(self, action: str) -> None:
        machine: _Machine | None = self._machine
        if machine is not None:
            machine.wait_saveable(action)

    @hybridmethod
    def deserialize(cls: type[JobState], instance: JobState | None, data: Any) -> JobState:
        """Build a JobState from a document: ``JobState.deserialize(data)`` returns a
        new one; ``job_state.deserialize(data)`` fills that one and returns it.

        Nothing is changed if the document is invalid.

        Raises:
            SerializationError: naming what is wrong and where.
            JobStateError: when filling a job that is running.
        """
        loaded = _codecs.from_document("job", cls, cls(), data)
        if instance is None:
            return loaded
        instance._wait_saveable("load into")
        instance._take_over(loaded)
        return instance

    def _take_over(self, other: JobState) -> None:
        with self._lock:
            for name in _RECORD_FIELDS:
                setattr(self, name, getattr(other, name))

    def save(self, filepath: str | os.PathLike[str]) -> None:
        """Write the job to ``filepath`` as JSON (atomically: a reader sees the old
        file or the new one). Parent directories are created.

        Raises:
            JobStateError: if the job is running.
            SerializationError: for data that cannot be stored.
        """
        from routilux._documents import write_json

        write_json(filepath, self.serialize(), indent=None)

    @classmethod
    def load(cls, filepath: str | os.PathLike[str]) -> JobState:
        """Read a job saved with :meth:`save`.

        Raises:
            FileNotFoundError: if there is no such file.
            SerializationError: if it cannot be read or is not a valid ``routilux.job``
                document; the message names the file, ``path`` the place in it.
        """
        from routilux._documents import JOB_FORMAT, load_file

        loaded: JobState = load_file(filepath, JOB_FORMAT, cls.deserialize)
        return loaded

    def __repr__(self) -> str:
        return f"JobState[{self.job_id}:{self.status}]"


# What a loaded JobState brings with it (everything but locks, events and the runtime).
_RECORD_FIELDS = (
    "flow_id",
    "job_id",
    "status",
    "current_routine_id",
    "routine_states",
    "pause_points",
    "pending_tasks",
    "deferred_events",
    "shared_data",
    "output_log",
    "errors",
    "created_at",
    "execution_tracker",
    "_history",
    "_results",
    "_shared_log",
    "_log_times",
    "_log_formatted_upto",
    "_updated",
    "_merge_buffers",
)
