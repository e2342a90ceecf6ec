"""A durable store in one SQLite file.

Jobs are checkpointed as they run: every ``checkpoint_every`` activations or
``checkpoint_interval`` seconds, whichever comes first, at a moment when none of the
job's activations is running, the store writes in one transaction what changed since
the last checkpoint: new history records and log entries, the activations still to
run, and a snapshot of the job's mutable state. If the process dies, the file holds
the job as of its last checkpoint; ``Flow.recover(job_id, store)`` continues it there:
activations that had not finished by then run again (at least once), none is lost,
and those that had finished are not repeated.

The file uses write-ahead logging with ``synchronous=NORMAL``: a checkpoint that was
committed survives the process being killed (it may not survive a power failure).

Several processes may share a file. A job is run by one store object at a time: the
store claims a *lease* on a job when it starts, resumes or recovers it (a row naming
the owner, ``host:pid:token``, and when the lease expires), renews its leases from a
daemon thread while it holds any, and gives a lease up when the job pauses or
finishes. Every write of a job checks, in its transaction, that this store still
holds the job's lease, so a process that froze while somebody else took its job over
cannot overwrite what the new owner wrote.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from os import PathLike
from typing import TYPE_CHECKING, Any

from routilux.documents import (
    RECORD_KINDS,
)
from routilux.exceptions import (
    ConfigurationError,
    InvalidPayloadError,
    JobStateError,
    SerializationError,
    StoreError,
)
from routilux.job_state import FINISHED_STATUSES, PAUSED, RUNNING, JobState
from routilux.stores._incremental import Batch as _Batch
from routilux.stores._incremental import Damaged as _Damaged
from routilux.stores._incremental import JobWriter as _JobWriter
from routilux.stores._incremental import assemble as _assemble
from routilux.stores._incremental import describe as _describe
from routilux.stores._incremental import dumps as _dumps
from routilux.stores._incremental import encodable as _encodable
from routilux.stores._incremental import write_settled_job
from routilux.stores._leases import LeaseKeeper, LeaseLost, host_name, iso, new_owner, owner_is_gone
from routilux.stores.base import JobStore, check_id

if TYPE_CHECKING:
    pass

__all__ = ["SQLiteStore"]

logger = logging.getLogger(__name__)

_SCHEMA_VERSION = "1"

# Appended data is written in batches, one row per checkpoint: a JSON array of the
# items numbered first_seq, first_seq + 1, ...
_SCHEMA = {
    "routilux_meta": "CREATE TABLE routilux_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "jobs": """CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY,
        flow_id TEXT NOT NULL,
        status TEXT NOT NULL,
        updated_at REAL NOT NULL,
        snapshot TEXT NOT NULL
    )""",
    "history": """CREATE TABLE history (
        job_id TEXT NOT NULL, first_seq INTEGER NOT NULL, count INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (job_id, first_seq)
    ) WITHOUT ROWID""",
    "records": """CREATE TABLE records (
        job_id TEXT NOT NULL, kind TEXT NOT NULL, first_seq INTEGER NOT NULL,
        count INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (job_id, kind, first_seq)
    ) WITHOUT ROWID""",
    "pending": """CREATE TABLE pending (
        job_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (job_id, first_seq)
    ) WITHOUT ROWID""",
    # Who runs a job, and until when unless renewed (seconds since the epoch: leases
    # are compared across processes, so wall-clock time).
    "leases": """CREATE TABLE leases (
        job_id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL
    ) WITHOUT ROWID""",
}
_INDEXES = ("CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, flow_id)",)
# Added after the first files were written: created when missing.
_LATER_TABLES = frozenset({"leases"})

# SQLite result codes (the low byte of an extended code). These mean the file cannot
# be used as it is (damaged, not a database, not our tables); every other error means
# the store could not do its I/O (read-only, full, locked, cannot open, closed).
_DAMAGED_CODES = frozenset({1, 11, 17, 20, 24, 26})  # ERROR CORRUPT SCHEMA MISMATCH FORMAT NOTADB
_DAMAGED_WORDS = (
    "malformed",
    "not a database",
    "no such table",
    "no such column",
    "corrupt",
    "could not decode",  # Python's own error for text that is not UTF-8
)


class SQLiteStore(JobStore):
    """Jobs in one SQLite file, checkpointed as they run.

    Arguments:
        path: the database file (created if missing).
        checkpoint_every: write a checkpoint after at most this many activations.
        checkpoint_interval: ... or after at most this many seconds.
        lease_duration: seconds a claim on a running job lasts without being renewed
            (the store renews it every third of that while the job runs). A job whose
            process died can be recovered by another process once its lease expired,
            or at once if that process ran on the same host.

    A smaller interval loses less work to a crash and costs more while running.
    Thread safe: one connection, used under a lock.

    Errors: a file that is damaged, is not a SQLite database or is another
    application's database raises :class:`~routilux.exceptions.SerializationError`
    naming the file (and the job and table); opening never changes a file that is not
    a Routilux store. A file that cannot be written or opened (read-only, disk full,
    locked by another process for longer than the 30 s busy timeout) raises
    :class:`~routilux.exceptions.StoreError` naming the file and the operation;
    while a job runs, the engine records either as the job's failure.

    Caveats: two store objects, even in one process, are different owners
    (``store.owner`` is ``host:pid:token``). A lease's owner counts as dead at once
    only if it ran on this host (on Linux: in this process-id namespace, so containers
    sharing a host name wait for expiry) and its pid is gone; a killed child its parent
    has not waited for yet counts as dead on Linux, as alive elsewhere. On Windows only
    expiry frees a lease. Expiry compares wall-clock times, so processes on different
    hosts need synchronised clocks. A lease is checked when a job is claimed and at
    each write, not while a handler runs: a process frozen past its lease may finish
    the handler it was running, but no longer writes the job. Closing the store does
    not give up the leases of jobs still running on it; they expire after
    ``lease_duration``.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 0.05,
        lease_duration: float = 30.0,
    ) -> None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int):
            raise ConfigurationError("checkpoint_every must be an int >= 1")
        if checkpoint_every < 1 or not checkpoint_interval >= 0:
            raise ConfigurationError("checkpoint_every must be >= 1 and checkpoint_interval >= 0")
        if (
            isinstance(lease_duration, bool)
            or not isinstance(lease_duration, (int, float))
            or not 0 < lease_duration < math.inf
        ):
            raise ConfigurationError(
                f"lease_duration must be a number of seconds > 0, not {lease_duration!r}"
            )
        location = os.fspath(path) if isinstance(path, (str, PathLike)) else None
        if not isinstance(location, str):
            raise ConfigurationError(f"the SQLite store's path must be a str, not {path!r}")
        self.path = location
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = float(checkpoint_interval)
        self.lease_duration = float(lease_duration)
        self._host = host_name()
        #: Who this store object is in the lease table: ``host:pid:random-token``.
        self.owner = new_owner(self._host)
        self._lock = threading.RLock()
        self._writers: dict[str, _JobWriter] = {}
        # Jobs this store claimed and has not given up (a lease another owner took
        # over stays here, so that this store's writes of the job keep being refused).
        self._leases = LeaseKeeper(
            self, self.lease_duration, self._renew, lambda: self.renew_leases(), logger
        )
        self._closed = False
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, timeout=30, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store {self.path}: {exc}") from exc
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Check the file is a store of ours (changing nothing if it is not) and create
        the tables of a new file."""
        self._check_header()
        with self._guard("open"):
            db = self._db
            tables = self._tables()
            if tables and "routilux_meta" not in tables:
                raise SerializationError(
                    f"{self.path} is not a routilux SQLite store: it has the tables "
                    f"{', '.join(sorted(tables))} and no routilux_meta (left unchanged)"
                )
            if tables:
                self._check_version()
                missing = set(_SCHEMA) - tables
                if missing - _LATER_TABLES:
                    raise SerializationError(
                        f"the SQLite store {self.path} is damaged: table "
                        f"{', '.join(sorted(missing - _LATER_TABLES))} is missing"
                    )
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if tables and set(_SCHEMA) <= tables:
                return  # nothing to write: a read-only file can still be read
            with self._transaction("create its tables"):
                # Looked at again inside the transaction: another process may have
                # created the file's tables meanwhile.
                tables = self._tables()
                if tables and "routilux_meta" not in tables:
                    raise SerializationError(
                        f"{self.path} is not a routilux SQLite store (left unchanged)"
                    )
                for name, statement in _SCHEMA.items():
                    if name not in tables:
                        db.execute(statement)
                for statement in _INDEXES:
                    db.execute(statement)
                db.execute(
                    "INSERT OR IGNORE INTO routilux_meta VALUES ('schema_version', ?)",
                    (_SCHEMA_VERSION,),
                )
            self._check_version()

    def _check_header(self) -> None:
        """Refuse a header that makes SQLite treat the file as read-only or unreadable
        (file format versions beyond 2): SQLite itself would only say it cannot write."""
        try:
            with open(self.path, "rb") as file:
                header = file.read(100)
        except OSError:
            return  # SQLite reports what is wrong with the path itself
        if len(header) == 100 and header.startswith(b"SQLite format 3\x00"):
            write, read = header[18], header[19]
            if not (1 <= write <= 2 and 1 <= read <= 2):
                raise SerializationError(
                    f"the SQLite store {self.path} is damaged: its header gives file format "
                    f"versions {write} and {read} (SQLite writes 1 or 2)"
                )

    def _tables(self) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {name for (name,) in rows}

    def _check_version(self) -> None:
        row = self._db.execute(
            "SELECT value FROM routilux_meta WHERE key = 'schema_version'"
        ).fetchone()
        if row is None:
            raise SerializationError(
                f"the SQLite store {self.path} is damaged: routilux_meta has no schema_version"
            )
        if row[0] != _SCHEMA_VERSION:
            raise ConfigurationError(
                f"{self.path} has store schema version {row[0]}; this routilux reads "
                f"version {_SCHEMA_VERSION}"
            )

    def close(self) -> None:
        """Stop renewing leases and close the database connection.

        Leases of jobs still running on this store are not given up: they expire after
        ``lease_duration``. Using the store afterwards raises StoreError.
        """
        self._leases.close()
        with self._lock:
            self._closed = True
            self._db.close()

    # -- errors -----------------------------------------------------------------------

    @contextmanager
    def _guard(self, operation: str, job_id: str | None = None) -> Iterator[sqlite3.Connection]:
        """Use the connection under the lock; turn SQLite's errors into ours."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{self!r} is closed: cannot {operation}{_of(job_id)}")
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._error(exc, operation, job_id) from exc
            except UnicodeEncodeError as exc:  # an id SQLite cannot store
                raise SerializationError(
                    f"cannot {operation}{_of(job_id)} in the SQLite store {self.path}: "
                    f"an id is not valid Unicode text ({exc.reason})"
                ) from exc
            except UnicodeDecodeError as exc:  # text in the file that is not UTF-8
                raise SerializationError(
                    f"the SQLite store {self.path} is damaged (while trying to {operation}"
                    f"{_of(job_id)}): it holds text that is not UTF-8"
                ) from exc

    def _error(self, exc: sqlite3.Error, operation: str, job_id: str | None) -> Exception:
        code = getattr(exc, "sqlite_errorcode", None)
        message = str(exc).lower()
        if code is not None and (code & 0xFF) in _DAMAGED_CODES:
            damaged = True
        else:
            # Errors raised by Python's sqlite3 itself, and Pythons before 3.11, carry
            # no SQLite code: their message tells.
            damaged = any(word in message for word in _DAMAGED_WORDS)
        if damaged:
            return SerializationError(
                f"the SQLite store {self.path} is damaged or is not a routilux store "
                f"(while trying to {operation}{_of(job_id)}): {_describe(exc)}"
            )
        return StoreError(
            f"the SQLite store {self.path} cannot {operation}{_of(job_id)}: {_describe(exc)}"
        )

    @contextmanager
    def _transaction(
        self, operation: str, job_id: str | None = None, *, write: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock: a write transaction taken at once (``BEGIN
        IMMEDIATE``), or with ``write=False`` a read of one consistent state."""
        with self._guard(operation, job_id) as db:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    # The error that brought us here says more than a failed rollback.
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise

    def _check_read_id(self, method: str, argument: str, value: Any, optional: bool) -> None:
        check_id(self, method, argument, value, optional=optional)
        if value is not None and not _encodable(value):
            raise InvalidPayloadError(
                f"{type(self).__name__}.{method}: {argument} {value!r} is not valid Unicode "
                "text (it has lone surrogates); no such id can be stored in SQLite"
            )

    # -- leases -----------------------------------------------------------------------

    def acquire(self, job_id: str) -> None:
        """Claim the right to run the job ``job_id`` from this store object (a lease in
        the file, renewed while held). Re-acquiring a lease this store holds extends it.

        An expired lease is taken over, and so is one whose owner is a process on this
        host that is no longer alive.

        Raises:
            JobStateError: another live owner holds the lease; the message names the
                owner and when its lease expires.
            InvalidPayloadError: ``job_id`` is not a str.
            StoreError, SerializationError: the file cannot be written or is damaged.
        """
        self._check_read_id("acquire", "job_id", job_id, False)
        with self._transaction("claim the lease of", job_id) as db:
            self._claim(db, job_id, time.time())
        self._leases.hold(job_id)

    def release(self, job_id: str) -> None:
        """Give up this store's lease of ``job_id`` (nothing happens if another owner
        holds it, or nobody does).

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
            StoreError, SerializationError: the file cannot be written or is damaged
                (the store stops renewing the lease all the same: it expires).
        """
        self._check_read_id("release", "job_id", job_id, False)
        with self._lock:
            self._leases.forget(job_id)
            if self._closed:
                return
        with self._guard("give up the lease of", job_id) as db:
            db.execute("DELETE FROM leases WHERE job_id = ? AND owner = ?", (job_id, self.owner))

    def renew_leases(self) -> list[str]:
        """Extend every lease this store holds to ``lease_duration`` from now.

        A daemon thread of the store calls this every ``lease_duration / 3`` seconds
        while the store holds any lease; the thread ends when it holds none or the
        store is closed. Returns the ids of jobs whose lease another owner has taken
        over (their next write will be refused).

        Raises:
            StoreError, SerializationError: the file cannot be written or is damaged.
        """
        with self._lock:
            if self._closed:
                return []
        return self._leases.renew()

    def _renew(self, held: list[str]) -> list[str]:
        """Extend the leases of ``held``; the ids of those no longer this store's."""
        lost = []
        with self._transaction("renew the leases") as db:
            expires = time.time() + self.lease_duration
            for job_id in held:
                cursor = db.execute(
                    "UPDATE leases SET expires = ? WHERE job_id = ? AND owner = ?",
                    (expires, job_id, self.owner),
                )
                if cursor.rowcount == 0:
                    lost.append(job_id)
        return lost

    def _claim(self, db: sqlite3.Connection, job_id: str, now: float) -> None:
        """Inside a transaction: make this store the owner of ``job_id``'s lease."""
        row = db.execute("SELECT owner, expires FROM leases WHERE job_id = ?", (job_id,)).fetchone()
        if row is not None:
            owner, expires = self._lease_row(job_id, row)
            if owner != self.owner and not self._can_take_over(owner, expires, now):
                raise JobStateError(
                    f"Job '{job_id}' is being run by {owner} from {self.path}: its lease "
                    f"expires at {iso(expires)} unless renewed. It can be taken over once "
                    "that lease expires, or at once if the owner is a process of this host "
                    "that has died."
                )
        db.execute(
            "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
            "owner = excluded.owner, expires = excluded.expires",
            (job_id, self.owner, now + self.lease_duration),
        )

    def _lease_row(self, job_id: str, row: Any) -> tuple[str, float]:
        owner, expires = row
        if (
            type(owner) is not str
            or isinstance(expires, bool)
            or not isinstance(expires, (int, float))
            or math.isnan(expires)
        ):
            raise SerializationError(
                f"the SQLite store {self.path} is damaged: table leases: the lease of job "
                f"'{job_id}' is ({owner!r}, {expires!r}), not (owner, expiry time)"
            )
        return owner, float(expires)

    def _can_take_over(self, owner: str, expires: float, now: float) -> bool:
        """Whether another owner's lease is over: expired, or its process has died."""
        return owner_is_gone(owner, expires, now, self._host)

    def _check_lease(self, db: sqlite3.Connection, job_id: str, now: float) -> None:
        """Inside a write transaction: refuse the write unless this store owns the
        job's lease; claim it if this store never held it."""
        row = db.execute("SELECT owner, expires FROM leases WHERE job_id = ?", (job_id,)).fetchone()
        owner = None if row is None else self._lease_row(job_id, row)[0]
        if owner == self.owner:
            db.execute(
                "UPDATE leases SET expires = ? WHERE job_id = ?",
                (now + self.lease_duration, job_id),
            )
            return
        with self._lock:
            held = self._leases.holds(job_id)
        if held:
            taker = "nobody holds it now" if owner is None else f"{owner} holds it now"
            raise LeaseLost(
                f"lease lost: job '{job_id}' was taken over in {self.path} ({taker}); "
                f"{self!r} no longer runs it, and its writes of the job are refused"
            )
        self._claim(db, job_id, now)

    # -- the JobStore interface -------------------------------------------------------

    def job_started(self, job_state: JobState) -> None:
        """Claims the job's lease (the run's first checkpoint records the job).

        Never raises: if the lease cannot be claimed (another live owner holds it, or
        the file cannot be written), the run's first checkpoint, which the engine
        writes before any activation runs, claims it in its own transaction or fails
        the job with the reason, and the file is left as it was.
        """
        try:
            self.acquire(job_state.job_id)
        except Exception as exc:
            logger.warning(
                "%r could not claim job %s as it started: %s",
                self,
                job_state.job_id,
                _describe(exc),
                extra={"job_id": job_state.job_id},
            )

    def job_settled(self, job_state: JobState) -> None:
        """Writes the job and gives up its lease, in one transaction.

        If that write fails, a finished job is still recorded with its final status
        (and its lease given up) where possible. Otherwise the store keeps the lease
        while this process lives: no other process recovers from an older checkpoint
        a job that this one has paused or finished.
        """
        job_id = job_state.job_id
        with self._lock:
            writer = self._writers.get(job_id)
            if job_state.status in FINISHED_STATUSES:
                self._writers.pop(job_id, None)
        if writer is None:
            writer = self._writer(job_id)
        write_settled_job(
            self, job_state, writer, self._record_final_status, self._leases.forget, logger
        )

    def _record_final_status(self, job_id: str, status: str) -> None:
        with self._transaction("record the final status of", job_id) as db:
            row = db.execute("SELECT snapshot FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            self._check_lease(db, job_id, time.time())
            if row is None:
                # Never recorded: nothing to recover, so nothing to hold either.
                db.execute(
                    "DELETE FROM leases WHERE job_id = ? AND owner = ?", (job_id, self.owner)
                )
                with self._lock:
                    self._leases.forget(job_id)
                return
            try:
                snapshot = json.loads(row[0])
                # A finished job has no work left: none is stored, none is counted.
                snapshot.update(status=status, pending_from=0, pending_to=0, delayed=[])
            except Exception as exc:
                raise self._damaged(job_id, _Damaged("jobs", _describe(exc))) from exc
            db.execute(
                "UPDATE jobs SET status = ?, updated_at = ?, snapshot = ? WHERE job_id = ?",
                (status, time.time(), _dumps(snapshot), job_id),
            )
            db.execute("DELETE FROM pending WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM leases WHERE job_id = ? AND owner = ?", (job_id, self.owner))
        with self._lock:
            self._leases.forget(job_id)

    def checkpointer(self, job_state: JobState) -> _JobWriter:
        """A checkpointer that writes the job incrementally (see the module docstring)."""
        writer = self._writer(job_state.job_id)
        with self._lock:
            self._writers[job_state.job_id] = writer
        return writer

    def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
        """Ids of jobs recorded as running or paused, oldest update first.

        Raises:
            InvalidPayloadError: ``flow_id`` is neither a str nor None.
            SerializationError: the file is damaged (it names the file).
            StoreError: the file cannot be read.
        """
        self._check_read_id("unfinished_job_ids", "flow_id", flow_id, True)
        return self._job_ids("list the unfinished jobs", flow_id, (RUNNING, PAUSED))

    def job_ids(self, flow_id: str | None = None) -> list[str]:
        """Ids of every job the file holds, finished ones too (optionally only those of
        ``flow_id``), oldest update first. Errors as :meth:`unfinished_job_ids`."""
        self._check_read_id("job_ids", "flow_id", flow_id, True)
        return self._job_ids("list the jobs", flow_id, ())

    def _job_ids(self, operation: str, flow_id: str | None, statuses: tuple[str, ...]) -> list[str]:
        conditions = []
        arguments: tuple[Any, ...] = ()
        if statuses:
            conditions.append(f"status IN ({', '.join('?' for _ in statuses)})")
            arguments += statuses
        if flow_id is not None:
            conditions.append("flow_id = ?")
            arguments += (flow_id,)
        query = "SELECT job_id FROM jobs"
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        with self._guard(operation) as db:
            rows = db.execute(query + " ORDER BY updated_at", arguments).fetchall()
        ids = [job_id for (job_id,) in rows]
        for job_id in ids:
            if type(job_id) is not str:
                raise SerializationError(
                    f"the SQLite store {self.path} is damaged: table jobs holds the job id "
                    f"{job_id!r}, which is not text"
                )
        return ids

    def unfinished_jobs(self, flow_id: str | None = None) -> list[JobState]:
        """The jobs :meth:`unfinished_job_ids` lists, loaded (see :meth:`load`)."""
        self._check_read_id("unfinished_jobs", "flow_id", flow_id, True)
        return super().unfinished_jobs(flow_id)

    def load(self, job_id: str) -> JobState | None:
        """The job as of its last checkpoint (a new JobState), or None.

        Its ``pending_tasks`` hold the activations that had not finished then.

        Raises:
            InvalidPayloadError: ``job_id`` is not a str.
            SerializationError: if the stored job cannot be read back: a damaged row, a
                row missing (pending work, history or log entries the last checkpoint
                recorded), a damaged or foreign file. The message names the file, the
                job and what is wrong.
            StoreError: the file cannot be read.
        """
        self._check_read_id("load", "job_id", job_id, False)
        read = self._read(job_id)
        return None if read is None else read[1]

    def document(self, job_id: str) -> dict[str, Any] | None:
        """The stored job as a ``routilux.job`` document, or None.

        The document is checked as :meth:`load` checks it, with the same errors.
        """
        self._check_read_id("document", "job_id", job_id, False)
        read = self._read(job_id)
        return None if read is None else read[0]

    # -- reading ----------------------------------------------------------------------

    def _read(self, job_id: str) -> tuple[dict[str, Any], JobState] | None:
        # One read transaction: every table as of the same commit.
        with self._transaction("read", job_id, write=False) as db:
            row = db.execute(
                "SELECT snapshot, status, flow_id FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if row is None:
                return None
            history = db.execute(
                "SELECT first_seq, count, body FROM history WHERE job_id = ? ORDER BY first_seq",
                (job_id,),
            ).fetchall()
            records = db.execute(
                "SELECT kind, first_seq, count, body FROM records WHERE job_id = ? "
                "ORDER BY kind, first_seq",
                (job_id,),
            ).fetchall()
            pending = db.execute(
                "SELECT first_seq, last_seq - first_seq + 1, body FROM pending "
                "WHERE job_id = ? ORDER BY first_seq",
                (job_id,),
            ).fetchall()
        try:
            document = _assemble(job_id, row, history, records, pending)
        except _Damaged as exc:
            raise self._damaged(job_id, exc) from None
        except Exception as exc:  # a shape _assemble does not check: still damage
            raise self._damaged(job_id, _Damaged("jobs", _describe(exc))) from exc
        try:
            job = JobState.deserialize(document)
        except SerializationError as exc:
            raise self._named(job_id, exc) from exc.__cause__
        except Exception as exc:
            raise self._named(job_id, SerializationError(_describe(exc))) from exc
        return document, job

    def _damaged(self, job_id: str, exc: _Damaged) -> SerializationError:
        return SerializationError(
            f"cannot load job '{job_id}' from the SQLite store {self.path}: the file is "
            f"damaged: {exc}"
        )

    def _named(self, job_id: str, exc: SerializationError) -> SerializationError:
        message = str(exc)
        suffix = f" (at {exc.path})"
        if exc.path is not None and message.endswith(suffix):
            message = message[: -len(suffix)]
        return SerializationError(
            f"cannot load job '{job_id}' from the SQLite store {self.path}: {message}", exc.path
        )

    # -- writing ----------------------------------------------------------------------

    def _counts(self, job_id: str) -> tuple[int, dict[str, int]]:
        """How many history rows and records of each kind the file holds for a job."""
        with self._guard("read", job_id) as db:
            (history,) = db.execute(
                "SELECT COALESCE(MAX(first_seq + count), 0) FROM history WHERE job_id = ?",
                (job_id,),
            ).fetchone()
            counts = dict(
                db.execute(
                    "SELECT kind, MAX(first_seq + count) FROM records WHERE job_id = ? "
                    "GROUP BY kind",
                    (job_id,),
                ).fetchall()
            )
        written = {kind: counts.get(kind, 0) for kind in RECORD_KINDS}
        if not all(type(n) is int and n >= 0 for n in (history, *written.values())):
            raise SerializationError(
                f"the SQLite store {self.path} is damaged: the history or record rows of "
                f"job '{job_id}' are not numbered"
            )
        return history, written

    def _writer(self, job_id: str) -> _JobWriter:
        return _JobWriter(
            job_id, self.checkpoint_every, self.checkpoint_interval, self._counts, self._write
        )

    def _write(self, job_id: str, batch: _Batch, release: bool) -> None:
        """Commit one checkpoint (``release``: the settled job's last write, which also
        gives up its lease), if this store still owns the job's lease."""
        with self._transaction("write", job_id) as db:
            now = time.time()
            self._check_lease(db, job_id, now)
            db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
                "flow_id = excluded.flow_id, status = excluded.status, "
                "updated_at = excluded.updated_at, snapshot = excluded.snapshot",
                (job_id, batch.flow_id, batch.status, now, batch.snapshot),
            )
            if batch.history is not None:
                db.execute(
                    "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?)",
                    (job_id, *batch.history),
                )
            if batch.history_keep_from > 0:
                # A bounded history keeps only batches that hold one of the newest
                # history_limit rows (at most one batch more than the limit's worth).
                db.execute(
                    "DELETE FROM history WHERE job_id = ? AND first_seq + count <= ?",
                    (job_id, batch.history_keep_from),
                )
            db.executemany(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
                [(job_id, *record) for record in batch.records],
            )
            if batch.pending_rewrite:
                db.execute("DELETE FROM pending WHERE job_id = ?", (job_id,))
            else:
                db.execute(
                    "DELETE FROM pending WHERE job_id = ? AND last_seq < ?",
                    (job_id, batch.pending_from),
                )
            if batch.pending is not None:
                db.execute(
                    "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)",
                    (job_id, *batch.pending),
                )
            if release:
                db.execute(
                    "DELETE FROM leases WHERE job_id = ? AND owner = ?", (job_id, self.owner)
                )
        if release:
            with self._lock:
                self._leases.forget(job_id)
        else:
            self._leases.hold(job_id)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


def _of(job_id: str | None) -> str:
    return "" if job_id is None else f" job '{job_id}'"
