"""The interface between a flow and the place its jobs are recorded.

A store subclasses :class:`JobStore`; to record running jobs as they go it also
returns a :class:`Checkpointer` from :meth:`JobStore.checkpointer`, which the engine
hands a :class:`Checkpoint` at quiet moments. Everything here is typed with public
types only, and :mod:`routilux.documents` turns jobs into JSON and back, so a store
needs no private name of routilux (the built-in SQLite store is written that way).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from routilux.activation import Activations
from routilux.exceptions import InvalidPayloadError

if TYPE_CHECKING:
    from routilux.job_state import JobState

__all__ = ["Checkpoint", "Checkpointer", "JobStore", "check_id"]


def check_id(store: object, method: str, argument: str, value: Any, *, optional: bool) -> None:
    """Refuse a job or flow id that is not a str (None too, unless ``optional``).

    For stores: ``check_id(self, "load", "job_id", job_id, optional=False)`` at the top
    of a method gives the built-in stores' message, as
    ``"MyStore.load: job_id must be a str, not int"``.

    Raises:
        InvalidPayloadError: naming the store's method and the argument.
    """
    if isinstance(value, str) or (optional and value is None):
        return
    wanted = "a str or None" if optional else "a str"
    raise InvalidPayloadError(
        f"{type(store).__name__}.{method}: {argument} must be {wanted}, not {type(value).__name__}"
    )


@attrs.frozen(slots=True)
class Checkpoint:
    """A consistent state of a running job, handed to its store's :class:`Checkpointer`.

    Taken at a moment when none of the job's activations runs: the job state holds the
    effects of every activation that finished, and ``pending`` and ``delayed`` are the
    activations still to run. The job stays quiet (nothing of it runs) until
    :meth:`Checkpointer.capture` returns.

    Attributes:
        job_state: the job (read it, do not change it).
        pending: queued activations, oldest first: all of them when ``rewrite`` is
            true, else those queued since the previous checkpoint of this run (an
            :class:`~routilux.activation.Activations`: ``pending.rows()`` gives plain
            tuples, cheaper than Activation objects for a store that writes many).
        pending_start: the sequence number of ``pending[0]`` (activations are numbered
            in the order they were queued in this run, from 0).
        first_seq: the sequence number of the oldest activation still queued; those
            before it have run.
        next_seq: the sequence number the next queued activation will get.
        rewrite: true for the first checkpoint of a run (of a job started, resumed or
            recovered): what the store holds as pending work must be replaced.
        delayed: activations waiting for a retry's delay (they run again after a
            recovery, at once).
        merge_buffers: what the job's ``append`` and custom-merge slots hold so far
            (routine id -> slot name -> buffer).
    """

    job_state: JobState
    pending: Activations
    pending_start: int
    first_seq: int
    next_seq: int
    rewrite: bool
    delayed: Activations
    merge_buffers: Mapping[str, Mapping[str, Any]]

    def document(self) -> dict[str, Any]:
        """The job as a ``routilux.job`` document (a JSON-compatible dict), its pending
        work being the checkpoint's (queued and delayed): what ``JobState.load`` of it
        continues. Only for a checkpoint whose ``pending`` holds every queued
        activation (``rewrite``, or a checkpointer that is not ``incremental``). An
        incremental store builds its writes from the parts in :mod:`routilux.documents`
        instead.

        Raises:
            SerializationError: for data that cannot be stored, naming where it is.
        """
        from routilux._job_document import job_to_document

        return job_to_document(self.job_state, [*self.pending, *self.delayed], self.merge_buffers)


class Checkpointer(Protocol):
    """Writes a running job's progress to a durable store (one per run of a job).

    The engine counts activations and time: after ``every`` activations or
    ``interval`` seconds, whichever comes first, it waits for a moment when none of the
    job's activations runs and calls :meth:`capture` with a :class:`Checkpoint`.
    ``capture`` takes what the store needs (no I/O: the job stays quiet meanwhile) and
    returns the write, which the engine runs after the job has gone on. Neither is
    called under an engine lock. Writes of one job are made in the order they were
    captured, and a capture never comes before the previous write has returned; the
    store's ``job_settled`` comes after the last write.
    """

    every: int
    interval: float
    #: True: each checkpoint's ``pending`` holds only the activations queued since the
    #: previous one (the first of a run holds all). Without the attribute, or False,
    #: every checkpoint holds all of them.
    incremental: bool

    def capture(self, checkpoint: Checkpoint) -> Callable[[], None]:
        """Take the job's progress; return its write (which may raise: the job then
        fails, with the error recorded)."""


class JobStore(ABC):
    """Where a flow records its jobs.

    The engine calls ``job_started`` and ``job_settled`` from the thread that
    started or settled the job, never under a lock of the engine; implementations must
    be thread safe. A store of your own implements the four abstract methods; see
    :doc:`/guide/serialization_and_stores` ("Writing a store").
    """

    @abstractmethod
    def job_started(self, job_state: JobState) -> None:
        """A job was started or resumed (its status is already ``"running"``)."""

    @abstractmethod
    def job_settled(self, job_state: JobState) -> None:
        """A job finished, or was paused and has no work in flight.

        The job is quiet and stays so until this returns: ``job_state.serialize()``
        gives its document (a paused job's with its pending work and merge buffers),
        and the functions of :mod:`routilux.documents` its parts. An exception raised
        here is recorded in ``job_state.errors`` (strategy ``"store"``) and logged; it
        does not change the job's status. It comes after the last write of the job's
        checkpointer has returned.
        """

    @abstractmethod
    def load(self, job_id: str) -> JobState | None:
        """The job with this id as the store last recorded it, or None.

        Raises:
            InvalidPayloadError: ``job_id`` is not a str (implementations check it with
                the same message as the built-in stores).
        """

    @abstractmethod
    def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
        """Ids of jobs recorded as running or paused (optionally of one flow).

        Raises:
            InvalidPayloadError: ``flow_id`` is neither a str nor None.
        """

    def unfinished_jobs(self, flow_id: str | None = None) -> list[JobState]:
        """Jobs recorded as running or paused, optionally only those of ``flow_id``."""
        check_id(self, "unfinished_jobs", "flow_id", flow_id, optional=True)
        jobs = (self.load(job_id) for job_id in self.unfinished_job_ids(flow_id))
        return [job for job in jobs if job is not None]

    def acquire(self, job_id: str) -> None:
        """Claim the right to run the job ``job_id`` from this store object.

        ``Flow.recover`` calls it before loading the job, and a durable store calls it
        when a job starts or resumes, so that two processes sharing the store never run
        one job at once. Claiming a job this store object already holds does nothing.
        The default does nothing: a store kept in one process's memory has nobody to
        share its jobs with.

        Raises:
            JobStateError: another live owner holds the job; the message names it and
                when its claim expires.
            InvalidPayloadError: ``job_id`` is not a str.
        """
        check_id(self, "acquire", "job_id", job_id, optional=False)

    def release(self, job_id: str) -> None:
        """Give up the claim :meth:`acquire` took (nothing happens if this store object
        holds none). The default does nothing.

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
        """
        check_id(self, "release", "job_id", job_id, optional=False)

    def job_released(self, job_state: JobState) -> None:
        """A paused job moved to a flow object with another store: forget it if it is
        kept only for this process (the default does nothing)."""
        return None

    def checkpointer(self, job_state: JobState) -> Checkpointer | None:
        """A checkpointer for a job about to run (a new one for each start, resume
        or recovery), or None if the store keeps no progress (the default)."""
        return None
