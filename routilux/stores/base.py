"""The interface between a flow and the place its jobs are recorded."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from routilux.exceptions import InvalidPayloadError

if TYPE_CHECKING:
    from routilux._job_run import JobRun
    from routilux.job_state import JobState

__all__ = ["Checkpointer", "JobStore"]


def check_id(store: object, method: str, argument: str, value: Any, *, optional: bool) -> None:
    """Refuse a job or flow id that is not a str (None too, unless ``optional``).

    Raises:
        InvalidPayloadError: naming the store's method and the argument.
    """
    if isinstance(value, str) or (optional and value is None):
        return
    wanted = "a str or None" if optional else "a str"
    raise InvalidPayloadError(
        f"{type(store).__name__}.{method}: {argument} must be {wanted}, not {type(value).__name__}"
    )


class Checkpointer(Protocol):
    """Writes a running job's progress to a durable store (one per job run).

    The engine calls :meth:`capture` under the job's lock, at moments when no
    activation of the job is running, so every checkpoint is a consistent state of the
    job: the effects of the activations that finished, and the activations still to
    run. ``capture`` does no I/O; it returns the write, which the engine runs outside
    every engine lock (a slow store slows only the job's own driver). The engine does
    not capture again before the previous write has returned.
    """

    def due(self) -> bool:
        """Whether enough has happened since the last checkpoint to write another."""

    def capture(self, run: JobRun) -> Callable[[], None]:
        """Take the job's progress since the last checkpoint; return its write."""


class JobStore(ABC):
    """Where a flow records its jobs.

    The engine calls ``job_started`` and ``job_settled`` from the thread that
    started or settled the job; implementations must be thread safe.
    """

    @abstractmethod
    def job_started(self, job_state: JobState) -> None:
        """A job was started or resumed (its status is already ``"running"``)."""

    @abstractmethod
    def job_settled(self, job_state: JobState) -> None:
        """A job finished, or was paused and has no work in flight."""

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

    def checkpointer(self, run: JobRun) -> Checkpointer | None:
        """A checkpointer for a job about to run, or None if the store keeps no
        progress (the default)."""
        return None
