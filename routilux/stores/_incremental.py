"""The incremental writing of running jobs that the durable stores share.

A :class:`JobWriter` is the Checkpointer of one job: at each checkpoint it takes, with
the functions of :mod:`routilux.documents`, what was appended since its previous write
(history rows, log records, newly queued activations) and a snapshot of what changes
in place, as a :class:`Batch` of JSON texts; the store commits the batch in one
transaction of its own. :func:`assemble` turns what a store read back into a job
document, refusing (with :class:`Damaged`) anything the last checkpoint counted that
is missing or malformed.

Appended data is kept in numbered batches: ``(first_seq, count, JSON array)``, the
items numbered ``first_seq, first_seq + 1, ...``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from routilux.documents import (
    RECORD_KINDS,
    compact_activations,
    compact_history,
    encode_activations,
    expand_activations,
    expand_history,
    job_document,
    job_snapshot,
    records_since,
)
from routilux.exceptions import SerializationError, StoreError
from routilux.job_state import FINISHED_STATUSES, JobState
from routilux.stores._leases import LeaseLost
from routilux.stores.base import Checkpoint

# Snapshot keys that are the store's own bookkeeping, not part of the job document:
# the range of pending activations and how many history rows and records the
# checkpoint covers, so that rows missing from the file are noticed on load.
BOOKKEEPING = ("pending_from", "pending_to", "delayed", "history_end", "records_end")

# Without the check for circular data, which costs a fifth of the time: everything
# written is encoded by routilux.documents first, which refuses data containing itself.
readable = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
escaped = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def describe(exc: BaseException) -> str:
    """``"TypeName: message"`` of ``exc``, without raising if its ``__str__`` does."""
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable message>"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def dumps(value: Any) -> str:
    """Compact JSON text that SQLite can store (lone surrogates are escaped)."""
    text = readable(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return escaped(value)
    return text


def encodable(text: str) -> bool:
    """Whether ``text`` can be stored as UTF-8 (it has no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Damaged(Exception):
    """A stored row is not what this store writes (turned into a SerializationError
    naming the file and the job)."""

    def __init__(self, table: str, message: str) -> None:
        super().__init__(f"table {table}: {message}")


def assemble(
    job_id: str,
    row: tuple[Any, Any, Any],
    history: list[Any],
    records: list[Any],
    pending: list[Any],
) -> dict[str, Any]:
    """A ``routilux.job`` document from a job's rows, checking that every row the last
    checkpoint counted is there."""
    snapshot_text, status, flow_id = row
    snapshot = json_value(snapshot_text, "jobs", "the snapshot")
    if type(snapshot) is not dict:
        raise Damaged("jobs", f"the snapshot is {short(snapshot)}, not an object")
    if snapshot.get("job_id") != job_id:
        raise Damaged("jobs", f"the snapshot is of job {snapshot.get('job_id')!r}")
    if snapshot.get("status") != status or snapshot.get("flow_id") != flow_id:
        raise Damaged("jobs", "the status or flow id columns disagree with the snapshot")
    kept = {key: snapshot.pop(key, None) for key in BOOKKEEPING}
    pending_from = count(kept["pending_from"], "pending_from")
    pending_to = count(kept["pending_to"], "pending_to")
    if pending_to < pending_from:
        raise Damaged("jobs", "the snapshot's pending range is reversed")
    delayed = kept["delayed"]
    if type(delayed) is not list:
        raise Damaged("jobs", "the snapshot's delayed activations are not a list")
    history_end = count(kept["history_end"], "history_end")
    records_end = kept["records_end"]
    if type(records_end) is not dict or set(records_end) != set(RECORD_KINDS):
        raise Damaged("jobs", "the snapshot's record counts are damaged")
    limit = snapshot.get("history_limit")
    if limit is not None and (type(limit) is not int or limit < 1):
        raise Damaged("jobs", f"the snapshot's history_limit is {short(limit)}")

    history_from = 0 if limit is None else max(0, history_end - limit)
    rows = collect(history, history_from, history_end, "history", "history rows", expand_history)
    lists: dict[str, list[Any]] = {}
    for kind in RECORD_KINDS:
        batches = [batch[1:] for batch in records if batch[0] == kind]
        end = count(records_end[kind], f"records_end.{kind}")
        lists[kind] = collect(batches, 0, end, "records", f"{kind} entries")
    if any(batch[0] not in lists for batch in records):
        raise Damaged("records", "a row has an unknown kind")
    tasks = [
        expand_pending(entry)
        for entry in collect(
            pending, pending_from, pending_to, "pending", "activations", expand_activations
        )
    ]
    try:
        # The rows the file holds decide history_dropped, so the document is
        # consistent by itself.
        return job_document(snapshot, rows, lists, tasks + delayed, history_dropped=history_from)
    except SerializationError as exc:  # only the history rows are checked there
        raise Damaged("history", str(exc)) from None


def collect(
    batches: Iterable[tuple[Any, Any, Any]],
    start: int,
    end: int,
    table: str,
    what: str,
    expand: Callable[[Any], list[Any]] | None = None,
) -> list[Any]:
    """Items ``start`` to ``end - 1`` of ``(first_seq, count, JSON array)`` batches
    ordered by ``first_seq``; refuses if any of them is missing. A batch whose JSON is
    an object is turned into its items by ``expand`` (columns of
    :mod:`routilux.documents`)."""
    items: list[Any] = []
    expected = start
    for first_seq, count, body in batches:
        if type(first_seq) is not int or type(count) is not int:
            raise Damaged(table, "a row's sequence numbers are not integers")
        entries = json_value(body, table, "a row")
        if expand is not None and type(entries) is dict:
            try:
                entries = expand(entries)
            except SerializationError as exc:
                raise Damaged(table, f"a row: {exc}") from None
        if type(entries) is not list or len(entries) != count:
            raise Damaged(table, f"a row holds {short(entries)}, not {count} entries")
        if first_seq + count <= expected or first_seq >= end:
            continue  # dropped by the history limit, or not counted by the checkpoint
        if first_seq > expected:
            break
        stop = min(count, end - first_seq)
        items.extend(entries[expected - first_seq : stop])
        expected = first_seq + stop
    if expected < end:
        raise Damaged(
            table,
            f"{what} {expected} to {end - 1} are missing (the last checkpoint counted "
            f"{end - start}, numbered {start} to {end - 1})",
        )
    return items


def json_value(text: Any, table: str, what: str) -> Any:
    if type(text) is not str:
        raise Damaged(table, f"{what} is {short(text)}, not JSON text")
    try:
        return json.loads(text)
    except RecursionError:
        raise Damaged(table, f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise Damaged(table, f"{what} is not valid JSON ({exc})") from None


def count(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise Damaged("jobs", f"the snapshot's {what} is {short(value)}, not a count")
    return value


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Batch:
    """One checkpoint's rows (each optional part is ``(first_seq, count/last, body)``)."""

    __slots__ = (
        "flow_id",
        "history",
        "history_keep_from",
        "pending",
        "pending_from",
        "pending_rewrite",
        "pending_to",
        "records",
        "snapshot",
        "status",
    )

    def __init__(self) -> None:
        self.snapshot = ""
        self.status = ""
        self.flow_id = ""
        self.history: tuple[int, int, str] | None = None
        self.history_keep_from = 0
        self.records: list[tuple[str, int, int, str]] = []
        self.pending: tuple[int, int, str] | None = None
        self.pending_rewrite = False
        self.pending_from = 0
        # One past the last pending activation: the file must hold pending_from to
        # pending_to - 1 once the batch is committed.
        self.pending_to = 0


class JobWriter:
    """Checkpoints one job into a :class:`SQLiteStore` (the engine's Checkpointer).

    It reaches the store through the two functions it is given: ``counts(job_id)``,
    how many history rows and records of each kind the file holds for the job, and
    ``commit(job_id, batch, release)``, the transaction of one write.
    """

    def __init__(
        self,
        job_id: str,
        every: int,
        interval: float,
        counts: Callable[[str], tuple[int, dict[str, int]]],
        commit: Callable[[str, Batch, bool], None],
    ) -> None:
        self.job_id = job_id
        self.every = every
        self.interval = interval
        self.incremental = True
        self.counts = counts
        self.commit = commit
        # A file that cannot be read fails the job at its first write (the engine
        # records that as the job's failure) rather than here, as it starts.
        self.failure: Exception | None = None
        self.history_written = 0
        self.records_written = dict.fromkeys(RECORD_KINDS, 0)
        try:
            self.history_written, self.records_written = counts(job_id)
        except (StoreError, SerializationError) as exc:
            self.failure = exc
        # Held while a write is in progress: writes of one job land in capture order.
        self.io_lock = threading.Lock()

    def capture(self, checkpoint: Checkpoint) -> Callable[[], None]:
        """Take the job as it stands (the engine calls it with no activation of the job
        running; no I/O) and return the write of it, which the engine runs while the
        job goes on. The engine captures again only after that write has returned."""
        failure = self.failure
        if failure is not None:

            def fail() -> None:
                raise failure

            return fail
        batch = Batch()
        batch.pending_from = checkpoint.first_seq
        batch.pending_to = checkpoint.next_seq
        batch.pending_rewrite = checkpoint.rewrite
        # One encoder for the write: a payload usually sits in the history and in the
        # queue, and is encoded once.
        if checkpoint.pending:
            first = checkpoint.pending_start
            columns = compact_activations(checkpoint.pending)
            batch.pending = (first, first + len(checkpoint.pending) - 1, dumps(columns))
        delayed = encode_activations(checkpoint.delayed)
        written = self._fill(batch, checkpoint.job_state, checkpoint.merge_buffers, delayed)

        def write() -> None:
            with self.io_lock:
                self._commit(batch, written, release=False)

        return write

    def write_settled(self, job_state: JobState) -> None:
        """Write a job that finished or paused (its pending work and merge buffers are
        in the JobState) and give up its lease in the same transaction.

        Waits for a checkpoint write of the job still in progress, so writes land in the
        order they were taken.
        """
        with self.io_lock:
            if self.failure is not None:
                self.history_written, self.records_written = self.counts(self.job_id)
                self.failure = None
            pending = list(job_state.pending_tasks)
            batch = Batch()
            batch.pending_rewrite = True
            batch.pending_to = len(pending)
            if pending:
                batch.pending = (0, len(pending) - 1, dumps(compact_activations(pending)))
            written = self._fill(batch, job_state, None, [])
            self._commit(batch, written, release=True)

    def _fill(
        self,
        batch: Batch,
        job_state: JobState,
        buffers: Mapping[str, Mapping[str, Any]] | None,
        delayed: list[dict[str, Any]],
    ) -> tuple[int, dict[str, int]]:
        """Put the snapshot and everything appended since the last write into ``batch``
        (``buffers``: the checkpoint's merge buffers, None for the job's own); return
        the history and record counts the file holds once it is committed."""
        first_row, row_count, rows = compact_history(job_state, self.history_written)
        written = dict(self.records_written)
        for kind in RECORD_KINDS:
            start = written[kind]
            fresh = records_since(job_state, kind, start)
            if fresh:
                batch.records.append((kind, start, len(fresh), dumps(fresh)))
                written[kind] = start + len(fresh)
        history_end = first_row + row_count
        snapshot = job_snapshot(job_state, merge_buffers=buffers)
        snapshot["delayed"] = delayed
        snapshot["pending_from"] = batch.pending_from
        snapshot["pending_to"] = batch.pending_to
        snapshot["history_end"] = history_end
        snapshot["records_end"] = written
        batch.snapshot = dumps(snapshot)
        batch.status = snapshot["status"]
        batch.flow_id = snapshot["flow_id"]
        limit = job_state.history_limit
        if limit is not None:
            batch.history_keep_from = max(0, history_end - limit)
        if row_count:
            batch.history = (first_row, row_count, dumps(rows))
        return history_end, written

    def _commit(self, batch: Batch, written: tuple[int, dict[str, int]], *, release: bool) -> None:
        self.commit(self.job_id, batch, release)
        self.history_written, self.records_written = written


def expand_pending(row: Any) -> dict[str, Any]:
    """A stored pending row as a ``routilux.job`` ``pending_tasks`` object (a row of
    columns is one already; a list is how earlier versions wrote one)."""
    if type(row) is dict:
        return row
    if type(row) is not list or len(row) not in (6, 7):
        raise Damaged("pending", f"an activation is {short(row)}, not a list of 6 or 7")
    routine_id, slot_name, data, attempt, merged, is_entry = row[:6]
    expanded = {
        "slot_routine_id": routine_id,
        "slot_name": slot_name,
        "data": data,
        "retry_count": attempt,
        "merged": merged,
        "is_entry": is_entry,
    }
    if len(row) == 7:
        expanded["activation_id"] = row[6]
    return expanded


def write_settled_job(
    store: object,
    job_state: JobState,
    writer: JobWriter,
    record_final_status: Callable[[str, str], None],
    forget_lease: Callable[[str], None],
    log: logging.Logger,
) -> None:
    """A durable store's ``job_settled``: ``writer`` writes the settled job (and the
    store gives up its lease). If that fails for a finished job,
    ``record_final_status(job_id, status)`` still records it finished (so that no
    recovery runs its work again), where possible; the first error is raised. A lease
    found lost is forgotten (``forget_lease(job_id)``)."""
    job_id = job_state.job_id
    try:
        writer.write_settled(job_state)
    except LeaseLost:
        forget_lease(job_id)
        raise
    except Exception:
        if job_state.status in FINISHED_STATUSES:
            try:
                record_final_status(job_id, job_state.status)
            except Exception as second:
                log.error(
                    "%r could not record that job %s is %s: %s",
                    store,
                    job_id,
                    job_state.status,
                    describe(second),
                    extra={"job_id": job_id},
                )
                if isinstance(second, LeaseLost):
                    forget_lease(job_id)
        raise
