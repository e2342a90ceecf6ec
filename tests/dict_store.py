"""A job store a third party could write: routilux's public store protocol, nothing else.

:class:`DictStore` keeps each job as the JSON text of its ``routilux.job`` document in
a dict, optionally backed by a JSON file that is rewritten whole (atomically) on every
write, so that a child process can write it and a parent read it after killing the
child. It touches no private name of routilux: it implements :class:`JobStore`'s
abstract methods, ``acquire``/``release`` (a lease by owner token), ``job_released``
and ``checkpointer`` (a :class:`Checkpointer` whose ``capture`` keeps
``Checkpoint.document()``), writes a settled job's ``job_state.serialize()`` in
``job_settled``, checks ids with ``routilux.stores.check_id`` and reads jobs back with
``JobState.deserialize``. It counts the calls of each method in
:attr:`DictStore.calls`, for the tests' assertions.

It writes whole documents. A store that writes only what changed since its previous
write builds its writes from the parts in ``routilux.documents``, as the SQLite store
does.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from routilux.exceptions import JobStateError, SerializationError
from routilux.job_state import FINISHED_STATUSES, PAUSED, JobState
from routilux.stores import Checkpoint, Checkpointer, JobStore, check_id

__all__ = ["DictStore"]

logger = logging.getLogger(__name__)

#: The ``format`` of the store's file.
FILE_FORMAT = "routilux-tests.dict-store"


class DictStore(JobStore):
    """Jobs as JSON text in a dict (and, with ``path``, in a JSON file).

    Arguments:
        path: the file backing the store (read when the store is made, rewritten
            atomically on every write); None keeps the jobs in memory only.
        every: checkpoint after at most this many activations.
        interval: ... or after at most this many seconds.

    Attributes:
        calls: how many times each method was called (``job_started``,
            ``job_settled``, ``load``, ``unfinished_job_ids``, ``unfinished_jobs``,
            ``acquire``, ``release``, ``job_released``, ``checkpointer``, ``capture``,
            ``write``, ``settle_write``).
        failures: ``(job_id, exception)`` for each settled job that could not be
            written (``job_settled`` raises it again: the engine records it in the
            job's errors).
        owner: this store object's lease owner, ``pid:token``.

    Caveats: one process at a time may use a file (it is read once, when the store is
    made, and every write replaces it with this store's view). A lease held by another
    owner is taken over only once that owner's process is gone (``os.kill(pid, 0)``
    fails): a child that was killed but not yet waited for still counts as alive, and
    another store object of this process never counts as gone. Writes replace the
    file atomically but are not fsynced: they survive the process being killed, not
    a power failure.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        every: int = 1000,
        interval: float = 0.05,
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.every = every
        self.interval = interval
        self.owner = f"{os.getpid()}:{secrets.token_hex(8)}"
        self.calls: Counter[str] = Counter()
        self.failures: list[tuple[str, BaseException]] = []
        self._lock = threading.RLock()
        self._jobs: dict[str, str] = {}  # job id -> its routilux.job document, as JSON
        self._index: dict[str, tuple[str, str]] = {}  # job id -> (flow id, status)
        self._leases: dict[str, str] = {}  # job id -> owner
        if self.path is not None and os.path.exists(self.path):
            self._read_file(self.path)

    def __repr__(self) -> str:
        return f"DictStore({self.path!r})"

    # -- the JobStore protocol --------------------------------------------------------

    def job_started(self, job_state: JobState) -> None:
        """Claims the job (raising JobStateError if another live owner holds it: the
        engine then refuses the start or leaves the job paused)."""
        self.count("job_started")
        self.acquire(job_state.job_id)

    def job_settled(self, job_state: JobState) -> None:
        """Writes the settled job's document (and gives up the job).

        Raises:
            SerializationError: the job holds data that cannot be stored. A finished
                job is then still recorded as finished, with no pending work.
        """
        job_id = job_state.job_id
        self.count("job_settled")
        try:
            document = job_state.serialize()
            summary = _summary(document, f"{self!r}: job '{job_id}'")
            self.record(job_id, json.dumps(document), summary)
        except Exception as exc:
            with self._lock:
                self.failures.append((job_id, exc))
                if job_state.is_finished:
                    self._mark_finished(job_id, job_state.status)
            raise
        self.count("settle_write")

    def load(self, job_id: str) -> JobState | None:
        """A new JobState of the job as last written, or None.

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
            SerializationError: the stored document is damaged (naming the store and
                the job).
        """
        check_id(self, "load", "job_id", job_id, optional=False)
        with self._lock:
            self.count("load")
            text = self._jobs.get(job_id)
        if text is None:
            return None
        try:
            return JobState.deserialize(json.loads(text))
        except (ValueError, RecursionError) as exc:
            # SerializationError is a ValueError too: keep its message, name the job.
            raise SerializationError(f"{self!r}: job '{job_id}': {exc}") from exc

    def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
        check_id(self, "unfinished_job_ids", "flow_id", flow_id, optional=True)
        with self._lock:
            self.count("unfinished_job_ids")
            return [
                job_id
                for job_id, (job_flow, status) in self._index.items()
                if status not in FINISHED_STATUSES and flow_id in (None, job_flow)
            ]

    def unfinished_jobs(self, flow_id: str | None = None) -> list[JobState]:
        with self._lock:
            self.count("unfinished_jobs")
        return super().unfinished_jobs(flow_id)

    def acquire(self, job_id: str) -> None:
        """Claim the job for this store object (idempotent).

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
            JobStateError: another owner whose process is alive holds it (named).
        """
        check_id(self, "acquire", "job_id", job_id, optional=False)
        with self._lock:
            self.count("acquire")
            owner = self._leases.get(job_id)
            if owner == self.owner:
                return
            if owner is not None and _alive(owner):
                raise JobStateError(
                    f"Job '{job_id}' is being run by {owner} from {self!r}; it can be taken "
                    "over once that process has ended"
                )
            self._leases[job_id] = self.owner
            self._save()

    def release(self, job_id: str) -> None:
        """Give up this store object's claim on the job (if it holds one).

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
        """
        check_id(self, "release", "job_id", job_id, optional=False)
        with self._lock:
            self.count("release")
            if self._leases.get(job_id) == self.owner:
                del self._leases[job_id]
                self._save()

    def job_released(self, job_state: JobState) -> None:
        """Nothing to forget: the store is durable (counted only)."""
        with self._lock:
            self.count("job_released")

    def checkpointer(self, job_state: JobState) -> Checkpointer:
        self.count("checkpointer")
        return _DictCheckpointer(self, job_state.job_id)

    # -- the store's own API ----------------------------------------------------------

    def count(self, method: str) -> None:
        """Count a call of ``method`` in :attr:`calls`."""
        with self._lock:
            self.calls[method] += 1

    def close(self) -> None:
        """Nothing to do: every write is in the file when it returns."""

    def record(self, job_id: str, text: str, summary: tuple[str, str]) -> None:
        """Keep ``text`` (a ``routilux.job`` document as JSON, whose flow id and status
        are ``summary``) as the job's state."""
        flow_id, status = summary
        with self._lock:
            self._jobs[job_id] = text
            self._index[job_id] = (flow_id, status)
            settled = status in FINISHED_STATUSES or status == PAUSED
            if settled and self._leases.get(job_id) == self.owner:
                # What a store does when a job settles: give the job up.
                del self._leases[job_id]
            self._save()

    # -- internals --------------------------------------------------------------------

    def _mark_finished(self, job_id: str, status: str) -> None:
        """Under the lock: the job finished but its final state cannot be stored. Keep
        its last checkpoint, but never list it as unfinished (recovering it would run
        its work again)."""
        text = self._jobs.get(job_id)
        if text is None:
            return
        document = json.loads(text)
        document["status"] = status
        document["pending_tasks"] = []
        self._jobs[job_id] = json.dumps(document)
        self._index[job_id] = (self._index[job_id][0], status)
        self._leases.pop(job_id, None)
        try:
            self._save()
        except OSError as exc:
            # Still right in this process; the file keeps the last checkpoint.
            logger.error("%r could not record that job %s is %s: %s", self, job_id, status, exc)

    def _save(self) -> None:
        """Under the lock: replace the file with the store's contents (atomically)."""
        if self.path is None:
            return
        temporary = f"{self.path}.{os.getpid()}.tmp"
        body = {"format": FILE_FORMAT, "jobs": self._jobs, "leases": self._leases}
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(body, file)
        os.replace(temporary, self.path)

    def _read_file(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as file:
                body = json.load(file)
        except (ValueError, RecursionError) as exc:
            raise SerializationError(f"the DictStore file {path} is not JSON: {exc}") from exc
        if not isinstance(body, dict) or body.get("format") != FILE_FORMAT:
            raise SerializationError(f"{path} is not a DictStore file (format {FILE_FORMAT!r})")
        for key in ("jobs", "leases"):
            table = body.get(key)
            if not isinstance(table, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in table.items()
            ):
                raise SerializationError(
                    f"the DictStore file {path} is damaged: {key!r} is not an object of strings"
                )
        for job_id, text in body["jobs"].items():
            where = f"the DictStore file {path}: job '{job_id}'"
            try:
                document = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise SerializationError(f"{where} is not JSON: {exc}") from exc
            self._index[job_id] = _summary(document, where)
        self._jobs = dict(body["jobs"])
        self._leases = dict(body["leases"])


class _DictCheckpointer:
    """Keeps a running job's checkpoints in a :class:`DictStore`."""

    # Every checkpoint holds all queued work, so Checkpoint.document() is complete.
    incremental = False

    def __init__(self, store: DictStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self.every = store.every
        self.interval = store.interval

    def capture(self, checkpoint: Checkpoint) -> Callable[[], None]:
        """Encode the job as it stands (the job stays quiet meanwhile); the write keeps
        the text."""
        self.store.count("capture")
        document = checkpoint.document()
        summary = _summary(document, f"{self.store!r}: job '{self.job_id}'")
        text = json.dumps(document)

        def write() -> None:
            self.store.count("write")
            self.store.record(self.job_id, text, summary)

        return write


def _summary(document: Any, where: str) -> tuple[str, str]:
    """The flow id and status of a stored job document."""
    if not isinstance(document, dict):
        raise SerializationError(f"{where} is not a job document")
    flow_id, status = document.get("flow_id"), document.get("status")
    if not isinstance(flow_id, str) or not isinstance(status, str):
        raise SerializationError(f"{where} has no flow_id or status")
    return flow_id, status


def _alive(owner: str) -> bool:
    """Whether the process named in a lease owner ``pid:token`` still exists."""
    pid_text, _, _ = owner.partition(":")
    if not pid_text.isdigit():
        return False  # not an owner this store writes: nobody to wait for
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # another store object of this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
