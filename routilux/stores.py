"""Where a flow keeps the jobs that are not finished.

A flow tells its store when a job starts, when it stops making progress (finished or
paused) and lets you look unfinished jobs up by id. :class:`MemoryStore`, the
default, keeps them in this process only. Durable stores plug in here.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable

from routilux.job_state import FINISHED_STATUSES, JobState

__all__ = ["JobStore", "MemoryStore"]


class JobStore(ABC):
    """The interface a flow uses to record its jobs.

    The engine calls ``job_started`` and ``job_settled`` from the thread that
    started or settled the job; implementations must be thread safe.
    """

    @abstractmethod
    def job_started(self, job_state: JobState) -> None:
        """A job was started or resumed."""

    @abstractmethod
    def job_settled(self, job_state: JobState) -> None:
        """A job finished, or was paused and has no work in flight."""

    @abstractmethod
    def get(self, job_id: str) -> JobState | None:
        """The unfinished job with this id, or None."""

    @abstractmethod
    def unfinished_jobs(self, flow_id: str | None = None) -> list[JobState]:
        """Jobs that are running or paused, optionally only those of ``flow_id``."""


class MemoryStore(JobStore):
    """Keeps running and paused jobs in memory; forgets a job when it finishes.

    Holding finished jobs is left to the code that called ``execute`` (it has the
    JobState), so a long-lived flow does not accumulate every job it ever ran.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobState] = {}

    def job_started(self, job_state: JobState) -> None:
        with self._lock:
            self._jobs[job_state.job_id] = job_state

    def job_settled(self, job_state: JobState) -> None:
        if job_state.status in FINISHED_STATUSES:
            with self._lock:
                self._jobs.pop(job_state.job_id, None)

    def get(self, job_id: str) -> JobState | None:
        with self._lock:
            return self._jobs.get(job_id)

    def unfinished_jobs(self, flow_id: str | None = None) -> list[JobState]:
        with self._lock:
            jobs: Iterable[JobState] = list(self._jobs.values())
        return [job for job in jobs if flow_id is None or job.flow_id == flow_id]
