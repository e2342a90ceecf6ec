"""A job's state as a ``routilux.job`` document, and back.

Stored: ids, status, timestamps (ISO strings), routine states, the history, shared
data and log, outputs, errors, pause points, deferred events, pending activations
(routine id, slot name, data, attempt), merge buffers, results and the tracker's
records. Never stored: the output handler (attach one again after loading), running
threads, or anything a loader could not restore by name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from routilux._documents import (
    JOB_FORMAT,
    VERSION,
    DeferredDoc,
    JobDoc,
    PendingDoc,
    check_header,
    structure,
)
from routilux._history import MAX_HISTORY_LIMIT
from routilux._values import decode_value, encode_value
from routilux.exceptions import SerializationError
from routilux.execution_tracker import ExecutionTracker
from routilux.job_state import ALL_STATUSES, JobState

__all__ = [
    "decode_pending",
    "encode_history_rows",
    "encode_pending",
    "job_to_document",
    "populate_job",
]


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
        raise SerializationError(f"invalid or out-of-range timestamp {text!r}", where) from None
    return moment


def encode_pending(entries: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    return [
        {
            "slot_routine_id": entry.get("slot_routine_id"),
            "slot_name": entry.get("slot_name"),
            "data": encode_value(entry.get("data"), f"{where}[{index}].data"),
            "retry_count": int(entry.get("retry_count") or 0),
            "merged": bool(entry.get("merged")),
            "is_entry": bool(entry.get("is_entry")),
        }
        for index, entry in enumerate(entries)
    ]


def decode_pending(docs: list[PendingDoc], where: str) -> list[dict[str, Any]]:
    pending = []
    for index, doc in enumerate(docs):
        data = decode_value(doc.data, f"{where}[{index}].data")
        if not isinstance(data, dict):
            raise SerializationError("pending data must be an object", f"{where}[{index}].data")
        pending.append(
            {
                "slot_routine_id": doc.slot_routine_id,
                "slot_name": doc.slot_name,
                "data": data,
                "retry_count": doc.retry_count,
                "merged": doc.merged,
                "is_entry": doc.is_entry,
            }
        )
    return pending


def encode_history_rows(rows: list[tuple[str, str, Any, float]], start: int) -> list[list[Any]]:
    return [
        [routine_id, event_name, encode_value(data, f"$.execution_history[{start + i}]"), _iso(t)]
        for i, (routine_id, event_name, data, t) in enumerate(rows)
    ]


def job_to_document(job: JobState) -> dict[str, Any]:
    """The ``routilux.job`` document of ``job`` (which must not be running).

    Raises:
        SerializationError: for data that cannot be stored, naming where it is.
    """
    log = job._formatted_log()
    tracker = job.execution_tracker
    with job._lock, tracker._lock:
        document = {
            "format": JOB_FORMAT,
            "version": VERSION,
            "job_id": job.job_id,
            "flow_id": job.flow_id,
            "status": job.status,
            "current_routine_id": job.current_routine_id,
            "created_at": job.created_at.isoformat(),
            "updated_at": job.updated_at.isoformat(),
            "routine_states": encode_value(job.routine_states, "$.routine_states"),
            "shared_data": encode_value(job.shared_data, "$.shared_data"),
            "shared_log": encode_value(log, "$.shared_log"),
            "output_log": encode_value(job.output_log, "$.output_log"),
            "errors": encode_value(job.errors, "$.errors"),
            "pause_points": encode_value(job.pause_points, "$.pause_points"),
            "deferred_events": encode_deferred(job.deferred_events),
            "pending_tasks": encode_pending(job.pending_tasks, "$.pending_tasks"),
            "merge_buffers": encode_value(job._merge_buffers, "$.merge_buffers"),
            "results": encode_value(job._results, "$.results"),
            "history_limit": job.history_limit,
            "history_dropped": job.history_dropped,
            "execution_history": encode_history_rows(job._history.rows(), 0),
            "execution_tracker": encode_tracker(tracker),
        }
    return document


def encode_deferred(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``deferred_events`` entry of a job document."""
    return [
        {
            "routine_id": event["routine_id"],
            "event_name": event["event_name"],
            "data": encode_value(event["data"], f"$.deferred_events[{index}].data"),
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
        if type(row) is not list or len(row) != 4:
            raise SerializationError("a history row is [routine_id, event_name, data, time]", where)
        routine_id, event_name, data, stamp = row
        if type(routine_id) is not str or type(event_name) is not str:
            raise SerializationError("routine_id and event_name must be strings", where)
        decoded.append(
            (
                routine_id,
                event_name,
                decode_value(data, f"{where}[2]"),
                _time_from_iso(stamp, where),
            )
        )
    return decoded


def populate_job(job: JobState, data: Any) -> None:
    """Fill the fresh ``job`` from a ``routilux.job`` document.

    Raises:
        SerializationError: for anything wrong with the document; ``job`` may then be
            partly filled, so callers fill a fresh JobState first.
    """
    check_header(data, JOB_FORMAT)
    doc = structure(data, JobDoc, "job document")
    if doc.status not in ALL_STATUSES:
        raise SerializationError(f"unknown status {doc.status!r}", "$.status")
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
                "routine states map routine ids to objects", f"$.routine_states[{routine_id!r}]"
            )
    job.shared_data = _decoded(doc.shared_data, dict, "$.shared_data")
    job.shared_log = _decoded(doc.shared_log, list, "$.shared_log")
    job.output_log = _decoded(doc.output_log, list, "$.output_log")
    job.errors = _decoded(doc.errors, list, "$.errors")
    job.pause_points = _decoded(doc.pause_points, list, "$.pause_points")
    job.deferred_events = [
        _deferred(event, index) for index, event in enumerate(doc.deferred_events)
    ]
    job.pending_tasks = decode_pending(doc.pending_tasks, "$.pending_tasks")
    job._merge_buffers = _decoded(doc.merge_buffers, dict, "$.merge_buffers")
    for routine_id, slots in job._merge_buffers.items():
        if not isinstance(routine_id, str) or not isinstance(slots, dict):
            raise SerializationError(
                "merge buffers map routine ids to slot names", f"$.merge_buffers[{routine_id!r}]"
            )
    job._results = _decoded(doc.results, dict, "$.results")
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
    job._updated = _time_from_iso(doc.updated_at, "$.updated_at")


def _deferred(doc: DeferredDoc, index: int) -> dict[str, Any]:
    where = f"$.deferred_events[{index}]"
    data = decode_value(doc.data, f"{where}.data")
    if not isinstance(data, dict):
        raise SerializationError("deferred event data must be an object", f"{where}.data")
    return {
        "routine_id": doc.routine_id,
        "event_name": doc.event_name,
        "data": data,
        "timestamp": doc.timestamp,
    }
