"""A job's state as a ``routilux.job`` document, and back.

Stored: ids, status, timestamps (ISO strings), routine states, the history, shared
data and log, outputs, errors, pause points, deferred events, pending activations
(routine id, slot name, data, attempt), merge buffers, results and the tracker's
records. Never stored: the output handler (attach one again after loading), running
threads, or anything a loader could not restore by name.

Loading checks every field down to the shapes the job and its tracker write
themselves (a tracker run record is an object with ``routine_id``, a naive ISO
``start_time``, ``params`` and ``status``, ...; a pending activation's ``retry_count``
is an int from 0 to :data:`~routilux._documents.MAX_RETRY_COUNT`), so that a damaged
document fails when it is loaded, not later in the middle of a resumed job. Saving
checks the same shapes, so a document that could not be loaded is never written.

A document is also built from parts (:func:`job_snapshot`, :func:`history_since`,
:func:`records_since`, :func:`encode_pending`, put together by :func:`assemble_job`),
which :func:`job_to_document` itself uses; :mod:`routilux.documents` is their public
face, for stores that write only what changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import routilux._codecs as _codecs
from routilux._documents import (
    JOB_FORMAT,
    MAX_RETRY_COUNT,
    VERSION,
    DeferredDoc,
    JobDoc,
    PendingDoc,
    check_header,
    structure,
)
from routilux._history import MAX_HISTORY_LIMIT, RecordName, record_name
from routilux._values import decode_value, describe, describe_exception, encode_value
from routilux.activation import Activation
from routilux.exceptions import InvalidPayloadError, SerializationError
from routilux.execution_tracker import ExecutionTracker
from routilux.job_state import ALL_STATUSES, JobState

__all__ = [
    "RECORD_KINDS",
    "RECORD_MARK",
    "assemble_job",
    "check_index",
    "check_tracker",
    "decode_activations",
    "decode_pending",
    "encode_pending",
    "history_since",
    "job_snapshot",
    "job_to_document",
    "populate_job",
    "records_since",
]

#: An encoder of data values: ``encode(value, path)`` (:func:`encode_value`'s signature).
Encode = Callable[[Any, str], Any]


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment).isoformat()


def _time_from_iso(text: Any, where: str) -> float:
    """Seconds since the epoch for an ISO timestamp that can be written back."""
    if type(text) is not str:
        raise SerializationError("a timestamp must be an ISO string", where)
    try:
        moment = datetime.fromisoformat(text).timestamp()
        datetime.fromtimestamp(moment).isoformat()  # it must also go back the other way
    except (ValueError, OverflowError, OSError):
        raise SerializationError(
            f"invalid or out-of-range timestamp {describe(text)}", where
        ) from None
    return moment


def _naive_moment(text: Any, where: str, *, naive: bool) -> datetime:
    """The datetime of an ISO timestamp string written by the tracker or the job.

    With ``naive``, a timestamp with a UTC offset is refused: the tracker subtracts
    its own naive ``datetime.now()`` from it.
    """
    if type(text) is not str:
        raise SerializationError(f"a timestamp must be an ISO string, not {describe(text)}", where)
    try:
        moment = datetime.fromisoformat(text)
        moment.timestamp()  # in the range the platform can convert
    except (ValueError, OverflowError, OSError):
        raise SerializationError(
            f"invalid or out-of-range timestamp {describe(text)}", where
        ) from None
    if naive and moment.tzinfo is not None:
        raise SerializationError(
            f"timestamp {describe(text)} must be local time without a UTC offset", where
        )
    return moment


_RUN_REQUIRED = ("routine_id", "start_time", "params", "status")
_RUN_KEYS = frozenset(_RUN_REQUIRED) | {
    "end_time",
    "result",
    "error",
    "execution_time",
    "activations",  # how many activations a non-entry routine ran in the job
}
_EVENT_KEYS = ("timestamp", "source_routine_id", "event_name", "target_routine_id", "data")


def _check_keys(record: dict[Any, Any], required: Any, allowed: Any, where: str) -> None:
    missing = [key for key in required if key not in record]
    if missing:
        raise SerializationError(f"missing {', '.join(missing)}", where)
    extra = [describe(key) for key in record if key not in allowed]
    if extra:
        raise SerializationError(f"unknown keys {', '.join(extra)}", where)


def _check_run(routine_id: str, record: Any, where: str) -> None:
    """One run record, as ``record_routine_start``/``record_routine_end`` write it."""
    if not isinstance(record, dict):
        raise SerializationError(
            f"a run record must be an object, not {type(record).__name__}", where
        )
    _check_keys(record, _RUN_REQUIRED, _RUN_KEYS, where)
    if record["routine_id"] != routine_id:
        raise SerializationError(
            f"run record of routine {describe(record['routine_id'])} listed under "
            f"{describe(routine_id)}",
            f"{where}.routine_id",
        )
    _naive_moment(record["start_time"], f"{where}.start_time", naive=True)
    if "end_time" in record:
        _naive_moment(record["end_time"], f"{where}.end_time", naive=True)
    if not isinstance(record["params"], dict):
        raise SerializationError("params must be an object", f"{where}.params")
    if not isinstance(record["status"], str):
        raise SerializationError("status must be a string", f"{where}.status")
    if "error" in record and not isinstance(record["error"], str):
        raise SerializationError("error must be a string", f"{where}.error")
    if "activations" in record:
        count = record["activations"]
        if type(count) is not int or count < 0:
            raise SerializationError("activations must be an int >= 0", f"{where}.activations")
    if "execution_time" in record:
        seconds = record["execution_time"]
        if type(seconds) not in (int, float) or not math.isfinite(seconds):
            raise SerializationError(
                "execution_time must be a finite number", f"{where}.execution_time"
            )


def _check_event(record: Any, where: str) -> None:
    """One ``event_flow`` entry, as ``record_event`` writes it."""
    if not isinstance(record, dict):
        raise SerializationError(
            f"an event record must be an object, not {type(record).__name__}", where
        )
    _check_keys(record, _EVENT_KEYS, _EVENT_KEYS, where)
    _naive_moment(record["timestamp"], f"{where}.timestamp", naive=False)
    for key in ("source_routine_id", "event_name"):
        if not isinstance(record[key], str):
            raise SerializationError(f"{key} must be a string", f"{where}.{key}")
    if record["target_routine_id"] is not None and not isinstance(record["target_routine_id"], str):
        raise SerializationError(
            "target_routine_id must be a string or null", f"{where}.target_routine_id"
        )


def check_tracker(
    routine_executions: Any, performance_metrics: Any, events: Any, where: str, events_key: str
) -> None:
    """Check a tracker's records (decoded values) have the shapes the tracker writes.

    Raises:
        SerializationError: naming the first record that does not, and where it is.
    """
    if not isinstance(routine_executions, dict):
        raise SerializationError("expected dict", f"{where}.routine_executions")
    for routine_id, runs in routine_executions.items():
        at = f"{where}.routine_executions[{describe(routine_id)}]"
        if not isinstance(routine_id, str):
            raise SerializationError("routine ids must be strings", at)
        if not isinstance(runs, list):
            raise SerializationError("the runs of a routine must be a list", at)
        for index, record in enumerate(runs):
            _check_run(routine_id, record, f"{at}[{index}]")
    if not isinstance(performance_metrics, dict):
        raise SerializationError("expected dict", f"{where}.performance_metrics")
    if not isinstance(events, list):
        raise SerializationError("expected list", f"{where}.{events_key}")
    for index, record in enumerate(events):
        _check_event(record, f"{where}.{events_key}[{index}]")


def _check_objects(entries: Any, where: str) -> None:
    """A list of objects (log entries, outputs, errors, pause points)."""
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SerializationError(
                f"expected an object, not {type(entry).__name__}", f"{where}[{index}]"
            )


def _check_retry_count(count: Any, where: str) -> int:
    if type(count) is not int or not 0 <= count <= MAX_RETRY_COUNT:
        raise SerializationError(
            f"retry_count must be an int from 0 to {MAX_RETRY_COUNT}, not {describe(count)}",
            where,
        )
    return count


def _check_id_keys(mapping: dict[Any, Any], what: str, where: str) -> None:
    for key in mapping:
        if not isinstance(key, str):
            raise SerializationError(f"{what} must be strings, not {describe(key)}", where)


def _check_pending(entries: Iterable[Any], where: str) -> None:
    for index, entry in enumerate(entries):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise SerializationError("a pending activation must be an Activation", at)
        _check_retry_count(entry.get("retry_count") or 0, f"{at}.retry_count")


def _check_record(job: JobState, merge_buffers: Mapping[Any, Any]) -> None:
    """The checks of :func:`check_job` that cost nothing per history record or log
    entry (ids, status, routine states, merge buffers, result keys)."""
    for name in ("job_id", "flow_id"):
        if type(getattr(job, name)) is not str:
            raise SerializationError(f"{name} must be a string", f"$.{name}")
    if job.status not in ALL_STATUSES:
        raise SerializationError(f"unknown status {describe(job.status)}", "$.status")
    for routine_id, state in list(job.routine_states.items()):
        if not isinstance(routine_id, str) or not isinstance(state, dict):
            raise SerializationError(
                "routine states map routine ids to dicts",
                f"$.routine_states[{describe(routine_id)}]",
            )
    for routine_id, slots in merge_buffers.items():
        where = f"$.merge_buffers[{describe(routine_id)}]"
        if not isinstance(routine_id, str) or not isinstance(slots, Mapping):
            raise SerializationError("merge buffers map routine ids to slot names", where)
        _check_id_keys(dict(slots), "slot names", where)
    _check_id_keys(job._results, "result keys (routine ids)", "$.results")


def check_job(job: JobState) -> None:
    """Check the parts of a live job that loading checks beyond their JSON types, so
    that saving never writes a document a loader would refuse.

    Raises:
        SerializationError: naming the first problem and where it would be written.
    """
    _check_pending(job.pending_tasks, "$.pending_tasks")
    _check_record(job, job._merge_buffers)
    for name in RECORD_KINDS:
        _check_objects(getattr(job, name), f"$.{name}")
    tracker = job.execution_tracker
    with tracker._lock:
        check_tracker(
            tracker.routine_executions,
            tracker.performance_metrics,
            tracker._recorded_events,
            "$.execution_tracker",
            "recorded_events",
        )


#: The append-only lists of a job besides its history, in document order.
RECORD_KINDS = ("shared_log", "output_log", "errors", "pause_points")

#: The fifth item of a history row that is not an emission.
RECORD_MARK = "record"


def encode_pending(
    entries: Iterable[Any], where: str, encode: Encode = encode_value
) -> list[dict[str, Any]]:
    """Pending activations (:class:`~routilux.activation.Activation`, or 0.9-style dicts
    with the same keys) as document objects; ``encode`` encodes their data."""
    encoded = []
    for index, entry in enumerate(entries):
        item = {
            "slot_routine_id": entry.get("slot_routine_id"),
            "slot_name": entry.get("slot_name"),
            "data": encode(entry.get("data"), f"{where}[{index}].data"),
            "retry_count": int(entry.get("retry_count") or 0),
            "merged": bool(entry.get("merged")),
            "is_entry": bool(entry.get("is_entry")),
        }
        activation_id = getattr(entry, "activation_id", None) or entry.get("activation_id")
        # An entry without an id (a 0.9-style dict) gets the one loading would give it.
        item["activation_id"] = str(activation_id) if activation_id else f"p{index}"
        encoded.append(item)
    return encoded


def decode_pending(docs: list[PendingDoc], where: str) -> list[Activation]:
    """Document objects as activations; one without an id (written by an earlier
    version) gets ``"p<index>"``."""
    pending = []
    for index, doc in enumerate(docs):
        data = decode_value(doc.data, f"{where}[{index}].data")
        if not isinstance(data, dict):
            raise SerializationError("pending data must be an object", f"{where}[{index}].data")
        pending.append(
            Activation(
                routine_id=doc.slot_routine_id,
                slot_name=doc.slot_name,
                data=data,
                activation_id=doc.activation_id or f"p{index}",
                attempt=_check_retry_count(doc.retry_count, f"{where}[{index}].retry_count"),
                merged=doc.merged,
                entry=doc.is_entry,
            )
        )
    return pending


def decode_activations(entries: Any, where: str) -> list[Activation]:
    """Document objects (``pending_tasks`` entries) as activations, checked as loading
    a job checks them.

    Raises:
        SerializationError: naming the first problem and where it is (``where`` is the
            path of the list).
    """
    try:
        docs = structure(entries, list[PendingDoc], "pending activations")
    except SerializationError as exc:
        path = exc.path
        if path is None or not path.startswith("$"):
            raise
        message = str(exc).removesuffix(f" (at {path})")
        raise SerializationError(message, where + path[1:]) from None
    return decode_pending(docs, where)


def history_since(
    job: JobState, index: int, encode: Encode = encode_value
) -> tuple[int, list[list[Any]]]:
    """The job's history rows from absolute position ``index`` on (0: the first record
    ever written), as ``[routine_id, event_name, data, time]`` with the time in seconds
    since the epoch and a fifth item ``"record"`` for a row that is not an emission;
    and the position of the first row returned (later than ``index`` when the
    history limit dropped some).

    Raises:
        SerializationError: for data that cannot be stored, naming the row.
    """
    check_index("history_since", index)
    first, rows = job._history.rows_since(index)
    encoded: list[list[Any]] = []
    append = encoded.append
    mark = RECORD_MARK
    for routine_id, event_name, data, moment in rows:
        try:
            # One path for all rows: formatting each row's own costs more than the
            # encoding of a typical payload. A failure is encoded again, for its path.
            value = encode(data, "$.execution_history")
        except SerializationError:
            encode_value(data, f"$.execution_history[{first + len(encoded)}][2]")
            raise
        if type(event_name) is str:
            append([routine_id, event_name, value, moment])
        elif isinstance(event_name, RecordName):
            append([routine_id, str(event_name), value, moment, mark])
        else:
            append([routine_id, str(event_name), value, moment])
    return first, encoded


def records_since(job: JobState, kind: str, index: int) -> list[Any]:
    """The entries of the job's list ``kind`` (one of :data:`RECORD_KINDS`) from
    ``index`` on, encoded.

    Raises:
        InvalidPayloadError: ``kind`` is not one of :data:`RECORD_KINDS`, or ``index``
            is not an int >= 0.
        SerializationError: for an entry that cannot be stored, naming it.
    """
    if kind not in RECORD_KINDS:
        raise InvalidPayloadError(
            f"records_since: kind must be one of {', '.join(RECORD_KINDS)}, not {describe(kind)}"
        )
    check_index("records_since", index)
    if kind == "shared_log":
        # Formats the timestamps the log owes its entries, under the job's lock.
        entries: list[Any] = job.shared_log
    else:
        entries = getattr(job, kind)
    with job._lock:
        fresh = entries[index:]
    return [encode_value(entry, f"$.{kind}[{index + i}]") for i, entry in enumerate(fresh)]


def check_index(function: str, index: Any) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InvalidPayloadError(f"{function}: index must be an int >= 0, not {describe(index)}")


def job_snapshot(
    job: JobState,
    merge_buffers: Mapping[str, Mapping[str, Any]] | None = None,
    encode: Encode = encode_value,
) -> dict[str, Any]:
    """The job's document without ``format``, ``version``, ``execution_history``,
    the lists of :data:`RECORD_KINDS` and ``pending_tasks``: what changes in place
    while a job runs. ``merge_buffers`` replaces the job's own (a checkpoint's).

    Raises:
        SerializationError: for data that cannot be stored, naming where it is.
    """
    buffers = job._merge_buffers if merge_buffers is None else merge_buffers
    tracker = job.execution_tracker
    with job._lock, tracker._lock:
        _check_record(job, buffers)
        return {
            "job_id": job.job_id,
            "flow_id": job.flow_id,
            "status": job.status,
            "current_routine_id": job.current_routine_id,
            "created_at": job.created_at.isoformat(),
            "updated_at": _iso(job._updated),
            "routine_states": encode_value(job.routine_states, "$.routine_states"),
            "shared_data": encode_value(job.shared_data, "$.shared_data"),
            "deferred_events": encode_deferred(job.deferred_events, encode),
            "merge_buffers": encode_value(
                {routine_id: dict(slots) for routine_id, slots in buffers.items()},
                "$.merge_buffers",
            ),
            "results": encode_value(job._results, "$.results"),
            "history_limit": job.history_limit,
            "history_dropped": job.history_dropped,
            "execution_tracker": encode_tracker(tracker),
        }


# The keys of a job document, in the order it is written.
_JOB_KEYS = (
    "format",
    "version",
    "job_id",
    "flow_id",
    "status",
    "current_routine_id",
    "created_at",
    "updated_at",
    "routine_states",
    "shared_data",
    *RECORD_KINDS,
    "deferred_events",
    "pending_tasks",
    "merge_buffers",
    "results",
    "history_limit",
    "history_dropped",
    "execution_history",
    "execution_tracker",
)


def assemble_job(
    snapshot: Mapping[str, Any],
    history: Iterable[Sequence[Any]],
    lists: Mapping[str, Sequence[Any]],
    pending: Sequence[Any],
    history_dropped: int | None = None,
) -> dict[str, Any]:
    """A ``routilux.job`` document from its parts: a :func:`job_snapshot`, history rows
    as :func:`history_since` gives them (times in seconds), the encoded lists by kind
    (a kind left out is empty) and encoded pending activations. ``history_dropped``
    replaces the snapshot's. Keys of the snapshot that are not part of a job document
    are kept (loading refuses them). The rest is checked when the document is loaded.

    Raises:
        SerializationError: a history row that is not ``[routine_id, event_name, data,
            time]`` (and ``"record"``) with a time that can be written as a date,
            naming the row.
        InvalidPayloadError: ``lists`` has a kind not in :data:`RECORD_KINDS`.
    """
    unknown = [describe(kind) for kind in lists if kind not in RECORD_KINDS]
    if unknown:
        raise InvalidPayloadError(
            f"job_document: unknown record kinds {', '.join(unknown)} (the kinds are "
            f"{', '.join(RECORD_KINDS)})"
        )
    rows = []
    for index, row in enumerate(history):
        where = f"$.execution_history[{index}]"
        if not isinstance(row, (list, tuple)) or not (
            len(row) == 4 or (len(row) == 5 and row[4] == RECORD_MARK)
        ):
            raise SerializationError(
                f'a history row is [routine_id, event_name, data, time] (and "record" for '
                f"a row that is not an emission), not {describe(row)}",
                where,
            )
        moment = row[3]
        if isinstance(moment, bool) or not isinstance(moment, (int, float)):
            raise SerializationError(
                f"a history row's time is {describe(moment)}, not seconds since the epoch",
                f"{where}[3]",
            )
        try:
            stamp = _iso(moment)
        except (ValueError, OverflowError, OSError):
            raise SerializationError(
                f"a history row's time {describe(moment)} is out of range", f"{where}[3]"
            ) from None
        rows.append([row[0], row[1], row[2], stamp, *row[4:]])
    parts: dict[str, Any] = dict(snapshot)
    parts.update({kind: list(lists.get(kind, ())) for kind in RECORD_KINDS})
    parts.update(
        format=JOB_FORMAT,
        version=VERSION,
        pending_tasks=list(pending),
        execution_history=rows,
    )
    if history_dropped is not None:
        parts["history_dropped"] = history_dropped
    ordered = {key: parts.pop(key) for key in _JOB_KEYS if key in parts}
    # Anything else stays, so that loading refuses it (naming the key).
    ordered.update(parts)
    return ordered


def job_to_document(
    job: JobState,
    pending: list[Any] | None = None,
    merge_buffers: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``routilux.job`` document of ``job`` (which must not be running); with
    ``pending`` and ``merge_buffers``, those instead of the job's own (a checkpoint of a
    running job).

    Raises:
        SerializationError: for data that cannot be stored, naming where it is.
    """
    check_job(job)
    tracker = job.execution_tracker
    # One consistent state: both locks are reentrant, the parts take them again.
    with job._lock, tracker._lock:
        _check_pending(job.pending_tasks if pending is None else pending, "$.pending_tasks")
        snapshot = job_snapshot(job, merge_buffers)
        _, history = history_since(job, 0)
        lists = {kind: records_since(job, kind, 0) for kind in RECORD_KINDS}
        tasks = encode_pending(job.pending_tasks if pending is None else pending, "$.pending_tasks")
    return assemble_job(snapshot, history, lists, tasks)


def encode_deferred(
    events: list[dict[str, Any]], encode: Encode = encode_value
) -> list[dict[str, Any]]:
    """The ``deferred_events`` entry of a job document."""
    return [
        {
            "routine_id": event["routine_id"],
            "event_name": event["event_name"],
            "data": encode(event["data"], f"$.deferred_events[{index}].data"),
            "timestamp": event["timestamp"],
        }
        for index, event in enumerate(events)
    ]


def encode_tracker(tracker: ExecutionTracker) -> dict[str, Any]:
    """The ``execution_tracker`` entry of a job document (call with its lock held)."""
    return {
        "routine_executions": encode_value(
            tracker.routine_executions, "$.execution_tracker.routine_executions"
        ),
        "performance_metrics": encode_value(
            tracker.performance_metrics, "$.execution_tracker.performance_metrics"
        ),
        "recorded_events": encode_value(
            tracker._recorded_events, "$.execution_tracker.recorded_events"
        ),
    }


def _decoded(value: Any, kind: type, where: str) -> Any:
    decoded = decode_value(value, where)
    if not isinstance(decoded, kind):
        raise SerializationError(f"expected {kind.__name__}", where)
    return decoded


def _history_rows(rows: list[Any]) -> list[tuple[str, str, Any, float]]:
    decoded = []
    for index, row in enumerate(rows):
        where = f"$.execution_history[{index}]"
        if type(row) is not list or not (
            len(row) == 4 or (len(row) == 5 and row[4] == RECORD_MARK)
        ):
            raise SerializationError(
                'a history row is [routine_id, event_name, data, time] (and "record" for a '
                "row that is not an emission)",
                where,
            )
        routine_id, event_name, data, stamp = row[:4]
        if type(routine_id) is not str or type(event_name) is not str:
            raise SerializationError("routine_id and event_name must be strings", where)
        decoded.append(
            (
                routine_id,
                record_name(event_name) if len(row) == 5 else event_name,
                decode_value(data, f"{where}[2]"),
                _time_from_iso(stamp, where),
            )
        )
    return decoded


def populate_job(job: JobState, data: Any) -> None:
    """Fill the fresh ``job`` from a ``routilux.job`` document.

    Raises:
        SerializationError: for anything wrong with the document, and only that; ``job``
            may then be partly filled, so callers fill a fresh JobState first.
    """
    try:
        _populate_job(job, data)
    except SerializationError:
        raise
    except RecursionError:
        raise SerializationError("job document nested too deeply", "$") from None
    except Exception as exc:  # a check this module lacks: still the document's fault
        raise SerializationError(f"invalid job document: {describe_exception(exc)}") from exc


def _populate_job(job: JobState, data: Any) -> None:
    check_header(data, JOB_FORMAT)
    doc = structure(data, JobDoc, "job document")
    if doc.status not in ALL_STATUSES:
        raise SerializationError(f"unknown status {describe(doc.status)}", "$.status")
    if doc.history_limit is not None and not 1 <= doc.history_limit <= MAX_HISTORY_LIMIT:
        raise SerializationError(
            f"history_limit must be between 1 and {MAX_HISTORY_LIMIT}", "$.history_limit"
        )
    if doc.history_dropped < 0:
        raise SerializationError("history_dropped must not be negative", "$.history_dropped")
    history = _history_rows(doc.execution_history)
    job.flow_id = doc.flow_id
    job.job_id = doc.job_id
    job.status = doc.status
    job.current_routine_id = doc.current_routine_id
    job.created_at = datetime.fromtimestamp(_time_from_iso(doc.created_at, "$.created_at"))
    job.routine_states = _decoded(doc.routine_states, dict, "$.routine_states")
    for routine_id, state in job.routine_states.items():
        if not isinstance(routine_id, str) or not isinstance(state, dict):
            raise SerializationError(
                "routine states map routine ids to objects",
                f"$.routine_states[{describe(routine_id)}]",
            )
    job.shared_data = _decoded(doc.shared_data, dict, "$.shared_data")
    for name in ("shared_log", "output_log", "errors", "pause_points"):
        entries = _decoded(getattr(doc, name), list, f"$.{name}")
        _check_objects(entries, f"$.{name}")
        setattr(job, name, entries)
    job.deferred_events = [
        _deferred(event, index) for index, event in enumerate(doc.deferred_events)
    ]
    job.pending_tasks = decode_pending(doc.pending_tasks, "$.pending_tasks")
    job._merge_buffers = _decoded(doc.merge_buffers, dict, "$.merge_buffers")
    for routine_id, slots in job._merge_buffers.items():
        where = f"$.merge_buffers[{describe(routine_id)}]"
        if not isinstance(routine_id, str) or not isinstance(slots, dict):
            raise SerializationError("merge buffers map routine ids to slot names", where)
        _check_id_keys(slots, "slot names", where)
    job._results = _decoded(doc.results, dict, "$.results")
    _check_id_keys(job._results, "result keys (routine ids)", "$.results")
    job._reset_history(doc.history_limit, history, doc.history_dropped)
    tracker = job.execution_tracker
    tracker.flow_id = doc.flow_id
    tracker.routine_executions = _decoded(
        doc.execution_tracker.routine_executions, dict, "$.execution_tracker.routine_executions"
    )
    tracker.performance_metrics = _decoded(
        doc.execution_tracker.performance_metrics, dict, "$.execution_tracker.performance_metrics"
    )
    tracker._recorded_events = _decoded(
        doc.execution_tracker.recorded_events, list, "$.execution_tracker.recorded_events"
    )
    check_tracker(
        tracker.routine_executions,
        tracker.performance_metrics,
        tracker._recorded_events,
        "$.execution_tracker",
        "recorded_events",
    )
    job._updated = _time_from_iso(doc.updated_at, "$.updated_at")


def _deferred(doc: DeferredDoc, index: int) -> dict[str, Any]:
    where = f"$.deferred_events[{index}]"
    data = decode_value(doc.data, f"{where}.data")
    if not isinstance(data, dict):
        raise SerializationError("deferred event data must be an object", f"{where}.data")
    _naive_moment(doc.timestamp, f"{where}.timestamp", naive=False)
    return {
        "routine_id": doc.routine_id,
        "event_name": doc.event_name,
        "data": data,
        "timestamp": doc.timestamp,
    }


def _fill_job(cls: type[JobState], job: JobState, data: Any) -> JobState:
    populate_job(job, data)
    return job


_codecs.register("job", job_to_document, _fill_job)
