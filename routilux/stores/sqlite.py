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
Several processes may share a file; each job must be run by one process at a time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Any

from routilux._documents import JOB_FORMAT, VERSION
from routilux._job_document import encode_deferred, encode_pending, encode_tracker
from routilux._job_run import ENTRY, MERGED
from routilux._values import encode_payload, encode_value
from routilux.exceptions import ConfigurationError
from routilux.job_state import FINISHED_STATUSES, PAUSED, RUNNING, JobState
from routilux.stores.base import JobStore

if TYPE_CHECKING:
    from routilux._job_run import JobRun

__all__ = ["SQLiteStore"]

_SCHEMA_VERSION = "1"

# Appended data is written in batches, one row per checkpoint: a JSON array of the
# items numbered first_seq, first_seq + 1, ...
_SCHEMA = """
CREATE TABLE IF NOT EXISTS routilux_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    flow_id TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at REAL NOT NULL,
    snapshot TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, flow_id);
CREATE TABLE IF NOT EXISTS history (
    job_id TEXT NOT NULL, first_seq INTEGER NOT NULL, count INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (job_id, first_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    job_id TEXT NOT NULL, kind TEXT NOT NULL, first_seq INTEGER NOT NULL,
    count INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (job_id, kind, first_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    job_id TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (job_id, first_seq)
) WITHOUT ROWID;
"""

# Append-only lists of a JobState, stored row by row: (kind, attribute).
_RECORD_KINDS = (
    ("shared_log", "_shared_log"),
    ("output_log", "output_log"),
    ("errors", "errors"),
    ("pause_points", "pause_points"),
)

_readable = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_escaped = json.JSONEncoder(separators=(",", ":")).encode


def _dumps(value: Any) -> str:
    """Compact JSON text that SQLite can store (lone surrogates are escaped)."""
    text = _readable(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _escaped(value)
    return text


class SQLiteStore(JobStore):
    """Jobs in one SQLite file, checkpointed as they run.

    Arguments:
        path: the database file (created if missing).
        checkpoint_every: write a checkpoint after at most this many activations.
        checkpoint_interval: ... or after at most this many seconds.

    A smaller interval loses less work to a crash and costs more while running.
    Thread safe: one connection, used under a lock.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 0.05,
    ) -> None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int):
            raise ConfigurationError("checkpoint_every must be an int >= 1")
        if checkpoint_every < 1 or not checkpoint_interval >= 0:
            raise ConfigurationError("checkpoint_every must be >= 1 and checkpoint_interval >= 0")
        self.path = str(path)
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = float(checkpoint_interval)
        self._lock = threading.RLock()
        self._writers: dict[str, _JobWriter] = {}
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, timeout=30, isolation_level=None
        )
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO routilux_meta VALUES ('schema_version', ?)",
                (_SCHEMA_VERSION,),
            )
            (version,) = self._db.execute(
                "SELECT value FROM routilux_meta WHERE key = 'schema_version'"
            ).fetchone()
        if version != _SCHEMA_VERSION:
            raise ConfigurationError(
                f"{self.path} has store schema version {version}; this routilux reads "
                f"version {_SCHEMA_VERSION}"
            )

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    # -- the JobStore interface -------------------------------------------------------

    def job_started(self, job_state: JobState) -> None:
        return None  # the run's first checkpoint records the job

    def job_settled(self, job_state: JobState) -> None:
        with self._lock:
            writer = self._writers.get(job_state.job_id)
            if job_state.status in FINISHED_STATUSES:
                self._writers.pop(job_state.job_id, None)
        if writer is None:
            writer = _JobWriter(self, job_state)
        try:
            writer.write_settled(job_state)
        except Exception:
            if job_state.status in FINISHED_STATUSES:
                # Keep the last checkpoint's contents but never list a finished job
                # as unfinished, which would make recovery run its work again.
                self._record_final_status(job_state.job_id, job_state.status)
            raise

    def _record_final_status(self, job_id: str, status: str) -> None:
        with self._lock:
            row = self._db.execute(
                "SELECT snapshot FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if row is None:
                return
            snapshot = json.loads(row[0])
            snapshot["status"] = status
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "UPDATE jobs SET status = ?, updated_at = ?, snapshot = ? WHERE job_id = ?",
                    (status, time.time(), _dumps(snapshot), job_id),
                )
                db.execute("DELETE FROM pending WHERE job_id = ?", (job_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def checkpointer(self, run: JobRun) -> _JobWriter:
        writer = _JobWriter(self, run.job_state)
        with self._lock:
            self._writers[run.job_state.job_id] = writer
        return writer

    def unfinished_job_ids(self, flow_id: str | None = None) -> list[str]:
        query = "SELECT job_id FROM jobs WHERE status IN (?, ?)"
        arguments: tuple[Any, ...] = (RUNNING, PAUSED)
        if flow_id is not None:
            query += " AND flow_id = ?"
            arguments += (flow_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY updated_at", arguments).fetchall()
        return [job_id for (job_id,) in rows]

    def load(self, job_id: str) -> JobState | None:
        """The job as of its last checkpoint (a new JobState), or None.

        Its ``pending_tasks`` hold the activations that had not finished then.

        Raises:
            SerializationError: if the stored job cannot be read back.
        """
        document = self.document(job_id)
        return None if document is None else JobState.deserialize(document)

    def document(self, job_id: str) -> dict[str, Any] | None:
        """The stored job as a ``routilux.job`` document, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT snapshot FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if row is None:
                return None
            history = self._db.execute(
                "SELECT body FROM history WHERE job_id = ? ORDER BY first_seq", (job_id,)
            ).fetchall()
            records = self._db.execute(
                "SELECT kind, body FROM records WHERE job_id = ? ORDER BY kind, first_seq",
                (job_id,),
            ).fetchall()
            pending = self._db.execute(
                "SELECT first_seq, body FROM pending WHERE job_id = ? ORDER BY first_seq",
                (job_id,),
            ).fetchall()
        snapshot = json.loads(row[0])
        lists: dict[str, list[Any]] = {kind: [] for kind, _ in _RECORD_KINDS}
        for kind, body in records:
            lists[kind].extend(json.loads(body))
        pending_from = snapshot.pop("pending_from")
        delayed = snapshot.pop("delayed")
        tasks: list[Any] = []
        for first_seq, body in pending:
            batch = json.loads(body)
            tasks.extend(_expand_pending(row) for row in batch[max(0, pending_from - first_seq) :])
        rows = []
        for (body,) in history:
            for routine_id, event_name, data, moment in json.loads(body):
                rows.append([routine_id, event_name, data, _iso(moment)])
        return {
            "format": JOB_FORMAT,
            "version": VERSION,
            **snapshot,
            **lists,
            "pending_tasks": tasks + delayed,
            "execution_history": rows,
        }

    # -- writing ----------------------------------------------------------------------

    def _counts(self, job_id: str) -> tuple[int, dict[str, int]]:
        """How many history rows and records of each kind the file holds for a job."""
        with self._lock:
            (history,) = self._db.execute(
                "SELECT COALESCE(MAX(first_seq + count), 0) FROM history WHERE job_id = ?",
                (job_id,),
            ).fetchone()
            counts = dict(
                self._db.execute(
                    "SELECT kind, MAX(first_seq + count) FROM records WHERE job_id = ? "
                    "GROUP BY kind",
                    (job_id,),
                ).fetchall()
            )
        return history, {kind: counts.get(kind, 0) for kind, _ in _RECORD_KINDS}

    def _write(self, job_state: JobState, batch: _Batch) -> None:
        job_id = job_state.job_id
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO jobs VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
                    "flow_id = excluded.flow_id, status = excluded.status, "
                    "updated_at = excluded.updated_at, snapshot = excluded.snapshot",
                    (job_id, job_state.flow_id, job_state.status, time.time(), batch.snapshot),
                )
                if batch.history is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?)",
                        (job_id, *batch.history),
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
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


class _Batch:
    """One checkpoint's rows (each optional part is ``(first_seq, count/last, body)``)."""

    __slots__ = ("history", "pending", "pending_from", "pending_rewrite", "records", "snapshot")

    def __init__(self) -> None:
        self.snapshot = ""
        self.history: tuple[int, int, str] | None = None
        self.records: list[tuple[str, int, int, str]] = []
        self.pending: tuple[int, int, str] | None = None
        self.pending_rewrite = False
        self.pending_from = 0


class _JobWriter:
    """Checkpoints one job into a :class:`SQLiteStore` (the engine's Checkpointer)."""

    def __init__(self, store: SQLiteStore, job_state: JobState) -> None:
        self.store = store
        self.job_id = job_state.job_id
        self.every = store.checkpoint_every
        self.interval = store.checkpoint_interval
        self.count = 0
        self.last = time.monotonic()
        self.history_written, self.records_written = store._counts(self.job_id)
        # The first checkpoint of a run writes every pending activation afresh; later
        # ones only those queued since, and drop those taken off the queue.
        self.pending_synced = False
        self.pending_written = 0
        # Held while a write is in progress: writes of one job land in capture order.
        self.io_lock = threading.Lock()

    def due(self) -> bool:
        self.count += 1
        return self.count >= self.every or time.monotonic() - self.last >= self.interval

    def capture(self, run: JobRun) -> Callable[[], None]:
        """Take the job as it stands (called under the job's lock, with no activation
        of it running; no I/O) and return the write of it, which the engine runs outside
        the lock. The engine captures again only after that write has returned."""
        self.count = 0
        self.last = time.monotonic()
        queue = run.queue
        appended = queue.appended
        popped = appended - len(queue)
        batch = _Batch()
        batch.pending_from = popped
        if not self.pending_synced:
            batch.pending_rewrite = True
            first, fresh = popped, queue.activations()
            self.pending_synced = True
        else:
            first = max(self.pending_written, popped)
            fresh = queue.newest(appended - first)
        encode = _CachedEncoder()
        if fresh:
            entries = _pending(run, fresh, encode)
            batch.pending = (first, first + len(entries) - 1, _dumps(entries))
        self.pending_written = appended
        delayed = [
            _expand_pending(row)
            for row in _pending(run, [act for _, act in run.timers.values()], encode)
        ]
        written = self._fill(batch, run.job_state, run.buffers_by_name(), delayed, encode)
        job_state = run.job_state

        def write() -> None:
            with self.io_lock:
                self._commit(job_state, batch, written)

        return write

    def write_settled(self, job_state: JobState) -> None:
        """Write a job that finished or paused (its pending work is in the JobState).

        Waits for a checkpoint write of the job still in progress, so writes land in the
        order they were taken.
        """
        with self.io_lock:
            with job_state._lock:
                pending = list(job_state.pending_tasks)
                buffers = dict(job_state._merge_buffers)
            batch = _Batch()
            batch.pending_rewrite = True
            if pending:
                entries = [_compact(entry) for entry in encode_pending(pending, "$.pending_tasks")]
                batch.pending = (0, len(entries) - 1, _dumps(entries))
            written = self._fill(batch, job_state, buffers, [], _CachedEncoder())
            self._commit(job_state, batch, written)

    def _fill(
        self,
        batch: _Batch,
        job_state: JobState,
        buffers: dict[str, dict[str, Any]],
        delayed: list[dict[str, Any]],
        encode: _CachedEncoder,
    ) -> tuple[int, dict[str, int]]:
        """Put the snapshot and everything appended since the last write into ``batch``;
        return the history and record counts the file holds once it is committed."""
        log = job_state._formatted_log()
        with job_state._lock, job_state.execution_tracker._lock:
            snapshot = _snapshot(job_state, buffers, delayed)
            snapshot["pending_from"] = batch.pending_from
            batch.snapshot = _dumps(snapshot)
            first_row, rows = job_state._history.rows_since(self.history_written)
            written = dict(self.records_written)
            for kind, attribute in _RECORD_KINDS:
                entries = log if attribute == "_shared_log" else getattr(job_state, attribute)
                start = written[kind]
                fresh = entries[start:]
                if fresh:
                    body = encode_value(fresh, f"$.{kind}[{start}:]")
                    batch.records.append((kind, start, len(fresh), _dumps(body)))
                    written[kind] = start + len(fresh)
        if rows:
            encoded = [
                [routine_id, event_name, encode(data, "$.execution_history"), moment]
                for routine_id, event_name, data, moment in rows
            ]
            batch.history = (first_row, len(encoded), _dumps(encoded))
        return first_row + len(rows), written

    def _commit(
        self, job_state: JobState, batch: _Batch, written: tuple[int, dict[str, int]]
    ) -> None:
        self.store._write(job_state, batch)
        self.history_written, self.records_written = written


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment).isoformat()


class _CachedEncoder:
    """``encode_value`` that encodes each data object once per checkpoint: a payload
    usually sits both in the history and in the queue."""

    __slots__ = ("cache",)

    def __init__(self) -> None:
        # id -> encoded; the objects stay alive meanwhile (the job holds them).
        self.cache: dict[int, Any] = {}

    def __call__(self, value: Any, where: str) -> Any:
        key = id(value)
        encoded = self.cache.get(key, _MISSING)
        if encoded is _MISSING:
            encoded = self.cache[key] = encode_payload(value, where)
        return encoded


_MISSING: Any = object()


def _pending(run: JobRun, activations: list[Any], encode: _CachedEncoder) -> list[list[Any]]:
    """Activations as compact rows ``[routine_id, slot, data, attempt, merged, entry]``."""
    table = run.flow._slot_table
    names: dict[int, tuple[str | None, str]] = {}
    rows = []
    for index, data, attempt, flags in activations:
        name = names.get(index)
        if name is None:
            slot = table[index]
            routine = slot.routine
            routine_id = run.routine_id_of(routine) if routine is not None else None
            name = names[index] = (routine_id, slot.name)
        rows.append(
            [
                name[0],
                name[1],
                encode(data, "$.pending_tasks.data"),
                attempt,
                bool(flags & MERGED),
                bool(flags & ENTRY),
            ]
        )
    return rows


def _compact(entry: dict[str, Any]) -> list[Any]:
    return [
        entry["slot_routine_id"],
        entry["slot_name"],
        entry["data"],
        entry["retry_count"],
        entry["merged"],
        entry["is_entry"],
    ]


def _expand_pending(row: list[Any]) -> dict[str, Any]:
    routine_id, slot_name, data, attempt, merged, is_entry = row
    return {
        "slot_routine_id": routine_id,
        "slot_name": slot_name,
        "data": data,
        "retry_count": attempt,
        "merged": merged,
        "is_entry": is_entry,
    }


def _snapshot(
    job_state: JobState, buffers: dict[str, dict[str, Any]], delayed: list[dict[str, Any]]
) -> dict[str, Any]:
    tracker = job_state.execution_tracker
    return {
        "job_id": job_state.job_id,
        "flow_id": job_state.flow_id,
        "status": job_state.status,
        "current_routine_id": job_state.current_routine_id,
        "created_at": job_state.created_at.isoformat(),
        "updated_at": datetime.fromtimestamp(job_state._updated).isoformat(),
        "routine_states": encode_value(job_state.routine_states, "$.routine_states"),
        "shared_data": encode_value(job_state.shared_data, "$.shared_data"),
        "deferred_events": encode_deferred(job_state.deferred_events),
        "merge_buffers": encode_value(buffers, "$.merge_buffers"),
        "results": encode_value(job_state._results, "$.results"),
        "history_limit": job_state.history_limit,
        "history_dropped": job_state.history_dropped,
        "execution_tracker": encode_tracker(tracker),
        "delayed": delayed,
    }
