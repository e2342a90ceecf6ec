"""The default store: unfinished jobs, in this process's memory."""

from __future__ import annotations

import threading

from routilux.job_state import FINISHED_STATUSES, JobState
from routilux.stores.base import JobStore, check_id

__all__ = ["MemoryStore"]


class MemoryStore(JobStore):
    """Keeps running and paused jobs in memory; forgets a job when it finishes.

    Holding finished jobs is left to the code that called ``execute`` (it has the
    JobState), so a long-lived flow does not accumulate every job it ever ran.
    Nothing survives the process: use :class:`~routilux.stores.SQLiteStore` for that.
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

    def job_released(self, job_state: JobState) -> None:
        """The paused job moved to another flow object's store: forget it here."""
        with self._lock:
            if self._jobs.get(job_state.job_id) is job_state:
                del self._jobs[job_state.job_id]

    def get(self, job_id: str) -> JobState | None:
        """The running or paused job with this id (the live object), or None.

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
        """
        check_id(self, "get", "job_id", job_id, optional=False)
        with self._lock:
            return self._jobs.get(job_id)

    def load(self, job_id: str) -> JobState | None:
        """Same as :meth:`get`: the live job."""
        check_id(self, "load", "job_id", job_id, optional=False)
        with self._lock:
            return self._jobs.get(job_id)

    def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
        check_id(self, "unfinished_job_ids", "flow_id", flow_id, optional=True)
        with self._lock:
            jobs = list(self._jobs.values())
        return [job.job_id for job in jobs if flow_id is None or job.flow_id == flow_id]

    def unfinished_jobs(self, flow_id: str | None = None) -> list[JobState]:
        check_id(self, "unfinished_jobs", "flow_id", flow_id, optional=True)
        with self._lock:
            jobs = list(self._jobs.values())
        return [job for job in jobs if flow_id is None or job.flow_id == flow_id]
