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
from collections.abc import Iterable
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Any

from routilux._documents import JOB_FORMAT, VERSION
from routilux._job_document import encode_history_rows, encode_pending
from routilux._values import encode_value
from routilux.exceptions import ConfigurationError
from routilux.job_state import FINISHED_STATUSES, PAUSED, RUNNING, JobState
from routilux.stores.base import JobStore

if TYPE_CHECKING:
    from routilux._job_run import JobRun

__all__ = ["SQLiteStore"]

_SCHEMA_VERSION = "1"

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
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, row TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    job_id TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (job_id, kind, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
"""

# Append-only lists of a JobState, stored row by row: (kind, attribute).
_RECORD_KINDS = (
    ("shared_log", "_shared_log"),
    ("output_log", "output_log"),
    ("errors", "errors"),
    ("pause_points", "pause_points"),
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
        writer.write_settled(job_state)

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
                "SELECT row FROM history WHERE job_id = ? ORDER BY seq", (job_id,)
            ).fetchall()
            records = self._db.execute(
                "SELECT kind, body FROM records WHERE job_id = ? ORDER BY kind, seq", (job_id,)
            ).fetchall()
            pending = self._db.execute(
                "SELECT body FROM pending WHERE job_id = ? ORDER BY seq", (job_id,)
            ).fetchall()
        snapshot = json.loads(row[0])
        lists: dict[str, list[Any]] = {kind: [] for kind, _ in _RECORD_KINDS}
        for kind, body in records:
            lists[kind].append(json.loads(body))
        delayed = snapshot.pop("delayed")
        return {
            "format": JOB_FORMAT,
            "version": VERSION,
            **snapshot,
            **lists,
            "pending_tasks": [json.loads(body) for (body,) in pending] + delayed,
            "execution_history": [json.loads(body) for (body,) in history],
        }

    # -- writing ----------------------------------------------------------------------

    def _counts(self, job_id: str) -> tuple[int, dict[str, int]]:
        """How many history rows and records of each kind the file holds for a job."""
        with self._lock:
            (history,) = self._db.execute(
                "SELECT COUNT(*) FROM history WHERE job_id = ?", (job_id,)
            ).fetchone()
            counts = dict(
                self._db.execute(
                    "SELECT kind, COUNT(*) FROM records WHERE job_id = ? GROUP BY kind", (job_id,)
                ).fetchall()
            )
        return history, {kind: counts.get(kind, 0) for kind, _ in _RECORD_KINDS}

    def _write(
        self,
        job_state: JobState,
        snapshot: str,
        history: Iterable[tuple[str, int, str]],
        records: Iterable[tuple[str, str, int, str]],
        pending_rewrite: list[tuple[str, int, str]] | None,
        pending_new: list[tuple[str, int, str]],
        pending_done_before: int,
    ) -> None:
        job_id = job_state.job_id
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO jobs VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
                    "flow_id = excluded.flow_id, status = excluded.status, "
                    "updated_at = excluded.updated_at, snapshot = excluded.snapshot",
                    (job_id, job_state.flow_id, job_state.status, time.time(), snapshot),
                )
                db.executemany("INSERT OR REPLACE INTO history VALUES (?, ?, ?)", history)
                db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", records)
                if pending_rewrite is not None:
                    db.execute("DELETE FROM pending WHERE job_id = ?", (job_id,))
                    db.executemany("INSERT INTO pending VALUES (?, ?, ?)", pending_rewrite)
                else:
                    db.execute(
                        "DELETE FROM pending WHERE job_id = ? AND seq < ?",
                        (job_id, pending_done_before),
                    )
                    db.executemany("INSERT OR REPLACE INTO pending VALUES (?, ?, ?)", pending_new)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


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

    def due(self) -> bool:
        self.count += 1
        return self.count >= self.every or time.monotonic() - self.last >= self.interval

    def checkpoint(self, run: JobRun) -> None:
        """Write the job as it stands; called with no activation of it running."""
        self.count = 0
        self.last = time.monotonic()
        job_state = run.job_state
        queue = run.queue
        appended = queue.appended
        popped = appended - len(queue)
        job_id = self.job_id
        if not self.pending_synced:
            activations = queue.activations()
            rewrite = [
                (job_id, popped + i, _dumps(entry))
                for i, entry in enumerate(_pending(run, activations, "$.pending_tasks"))
            ]
            new: list[tuple[str, int, str]] = []
            self.pending_synced = True
        else:
            rewrite = None
            first_new = max(self.pending_written, popped)
            fresh = queue.newest(appended - first_new)
            new = [
                (job_id, first_new + i, _dumps(entry))
                for i, entry in enumerate(_pending(run, fresh, "$.pending_tasks"))
            ]
        self.pending_written = appended
        delayed = _pending(run, [activation for _, activation in run.timers.values()], "$.delayed")
        self._write(job_state, run.buffers_by_name(), delayed, rewrite, new, popped)

    def write_settled(self, job_state: JobState) -> None:
        """Write a job that finished or paused (its pending work is in the JobState)."""
        with job_state._lock:
            pending = list(job_state.pending_tasks)
            buffers = dict(job_state._merge_buffers)
        entries = encode_pending(pending, "$.pending_tasks")
        rewrite = [(self.job_id, i, _dumps(entry)) for i, entry in enumerate(entries)]
        self._write(job_state, buffers, [], rewrite, [], 0)

    def _write(
        self,
        job_state: JobState,
        buffers: dict[str, dict[str, Any]],
        delayed: list[dict[str, Any]],
        pending_rewrite: list[tuple[str, int, str]] | None,
        pending_new: list[tuple[str, int, str]],
        popped: int,
    ) -> None:
        job_id = self.job_id
        log = job_state._formatted_log()
        with job_state._lock:
            snapshot = _dumps(_snapshot(job_state, buffers, delayed))
            first_row, new_rows = job_state._history.rows_since(self.history_written)
            records = []
            written = dict(self.records_written)
            for kind, attribute in _RECORD_KINDS:
                entries = log if attribute == "_shared_log" else getattr(job_state, attribute)
                start = written[kind]
                for offset, entry in enumerate(entries[start:]):
                    body = encode_value(entry, f"$.{kind}[{start + offset}]")
                    records.append((job_id, kind, start + offset, _dumps(body)))
                written[kind] = len(entries)
        history = [
            (job_id, first_row + i, _dumps(row))
            for i, row in enumerate(encode_history_rows(new_rows, first_row))
        ]
        self.store._write(
            job_state, snapshot, history, records, pending_rewrite, pending_new, popped
        )
        self.history_written = first_row + len(new_rows)
        self.records_written = written


def _pending(run: JobRun, activations: list[Any], where: str) -> list[dict[str, Any]]:
    return encode_pending([run._to_pending(activation) for activation in activations], where)


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
        "deferred_events": [
            {
                "routine_id": event["routine_id"],
                "event_name": event["event_name"],
                "data": encode_value(event["data"], f"$.deferred_events[{index}].data"),
                "timestamp": event["timestamp"],
            }
            for index, event in enumerate(job_state.deferred_events)
        ],
        "merge_buffers": encode_value(buffers, "$.merge_buffers"),
        "results": encode_value(job_state._results, "$.results"),
        "history_limit": job_state.history_limit,
        "history_dropped": job_state.history_dropped,
        "execution_tracker": {
            "routine_executions": encode_value(
                tracker.routine_executions, "$.execution_tracker.routine_executions"
            ),
            "performance_metrics": encode_value(
                tracker.performance_metrics, "$.execution_tracker.performance_metrics"
            ),
            "recorded_events": encode_value(
                tracker._recorded_events, "$.execution_tracker.recorded_events"
            ),
        },
        "delayed": delayed,
    }
