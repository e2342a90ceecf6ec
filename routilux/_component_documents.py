"""Documents of single objects: ``serialize()`` / ``deserialize()`` of the model classes.

routilux 0.9 documented ``serialize()`` and ``deserialize(data)`` on Routine, Slot,
Event, Connection, ErrorHandler, ExecutionRecord and ExecutionTracker (and so on every
builtin routine). Here each writes a small JSON document in the same safe format as
flow and job documents: a header, then the fields the flow or job document uses for
that part, data values encoded by :mod:`routilux._values`::

    {"format": "routilux.error_handler", "version": 1, "strategy": "retry", ...}

========================  ============================================================
``routilux.routine``      ``class``, ``config``, ``error_handler``, ``slots``,
                          ``events`` (as a routine of a flow document, without ``id``)
``routilux.slot``         ``name``, ``handler``, ``handler_function``,
                          ``merge_strategy``, ``merge_function``, ``data`` (the
                          standalone merge buffer)
``routilux.event``        ``name``, ``output_params``
``routilux.connection``   ``source``, ``event``, ``target``, ``slot`` (routine ids and
                          names; ids are null for a connection made outside a flow),
                          ``param_mapping``
``routilux.error_handler``  ``strategy``, ``max_retries``, ``retry_delay``,
                          ``retry_backoff``, ``retryable_exceptions``, ``is_critical``,
                          ``retry_count``
``routilux.execution_record``  ``routine_id``, ``event_name``, ``data``, ``timestamp``
                          (ISO)
``routilux.execution_tracker``  ``flow_id``, ``routine_executions``,
                          ``performance_metrics``, ``event_flow``
========================  ============================================================

``deserialize`` works on the class (``ErrorHandler.deserialize(data)`` returns a new
object) and, as in 0.9, on an instance (``handler.deserialize(data)`` fills it and
returns it). Either way the document is checked completely first: if it is refused
with a :class:`~routilux.exceptions.SerializationError` (the only exception loading
raises), the instance is unchanged. Loading follows the flow document's rules: classes
only if imported or registered, a slot's handler only one of the methods its routine's
class wires in ``__init__`` or a registered function, nothing imported or evaluated.

Caveats:

- Filling an instance keeps its identity and what the document does not describe: a
  routine keeps slots and events the document does not name (and their connections),
  a slot or event that belongs to a routine keeps its name (a document with another
  name is refused).
- A slot whose handler is a method can only be restored into a slot of a routine of
  that class (``Slot.deserialize(data)`` has no routine to bind it to).
- A tracker document holds ``event_flow`` as read when it was written. Filling a job's
  tracker replaces its records and its events with the document's: it then no longer
  lists the job's later emissions from the job's history.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

import routilux._codecs as _codecs
from routilux._documents import (
    CONNECTION_FORMAT,
    ERROR_HANDLER_FORMAT,
    EVENT_FORMAT,
    EXECUTION_RECORD_FORMAT,
    EXECUTION_TRACKER_FORMAT,
    MAX_RETRY_COUNT,
    ROUTINE_FORMAT,
    SLOT_FORMAT,
    VERSION,
    ErrorHandlerDoc,
    SlotDoc,
    StandaloneConnectionDoc,
    StandaloneErrorHandlerDoc,
    StandaloneEventDoc,
    StandaloneRecordDoc,
    StandaloneRoutineDoc,
    StandaloneSlotDoc,
    StandaloneTrackerDoc,
    check_header,
    structure,
)
from routilux._flow_document import (
    WiredCache,
    build_routine,
    error_handler_from_doc,
    error_handler_to_doc,
    event_to_doc,
    fresh_instance,
    handler_from_doc,
    merge_from_doc,
    routine_body,
    slot_to_doc,
    wired_handlers,
)
from routilux._job_document import check_tracker
from routilux._values import decode_value, describe, describe_exception, encode_value
from routilux.exceptions import RoutiluxError, SerializationError

if TYPE_CHECKING:
    from routilux.connection import Connection
    from routilux.error_handler import ErrorHandler
    from routilux.event import Event
    from routilux.execution_record import ExecutionRecord
    from routilux.execution_tracker import ExecutionTracker
    from routilux.routine import Routine
    from routilux.slot import Slot

__all__ = [
    "connection_from_document",
    "connection_to_document",
    "error_handler_from_document",
    "error_handler_to_document",
    "event_from_document",
    "event_to_document",
    "record_from_document",
    "record_to_document",
    "routine_from_document",
    "routine_to_document",
    "slot_from_document",
    "slot_to_document",
    "tracker_from_document",
    "tracker_to_document",
]

F = TypeVar("F", bound=Callable[..., Any])


def _loading(what: str) -> Callable[[F], F]:
    """Let nothing but SerializationError out of a loader: an exception no check
    foresaw is still the document's fault, reported as one with the original chained."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def load(*args: Any) -> Any:
            try:
                return function(*args)
            except SerializationError:
                raise
            except RecursionError:
                raise SerializationError(f"{what} nested too deeply", "$") from None
            except Exception as exc:
                raise SerializationError(f"invalid {what}: {describe_exception(exc)}") from exc

        return load  # type: ignore[return-value]

    return decorate


def _header(format_name: str) -> dict[str, Any]:
    return {"format": format_name, "version": VERSION}


def _read(data: Any, format_name: str, kind: type[Any], what: str) -> Any:
    check_header(data, format_name)
    return structure(data, kind, what)


def _same_name(current: str, stored: str, what: str, owner: Any) -> None:
    """An object that belongs to a routine is found by its name: it keeps it."""
    if owner is not None and stored != current:
        raise SerializationError(
            f"the document describes {what} {describe(stored)}; {what} '{current}' of "
            f"{owner!r} keeps its name",
            "$.name",
        )


# -- Routine -----------------------------------------------------------------------------


def routine_to_document(routine: Routine) -> dict[str, Any]:
    """The ``routilux.routine`` document of ``routine``.

    Raises:
        SerializationError: for anything a loader could not restore, naming it.
    """
    return {**_header(ROUTINE_FORMAT), **routine_body(routine, "$", WiredCache())}


@_loading("routine document")
def routine_from_document(cls: type[Routine], instance: Routine | None, data: Any) -> Routine:
    """A new routine of the document's class (which must be ``cls`` or a subclass),
    or ``instance`` (which must be of exactly that class) filled from the document."""
    doc = _read(data, ROUTINE_FORMAT, StandaloneRoutineDoc, "routine document")
    base = cls if instance is None else type(instance)
    built = build_routine(doc, "$", base)
    if instance is None:
        return built
    if type(built) is not type(instance):
        raise SerializationError(
            f"the document describes a {type(built).__qualname__}, not a "
            f"{type(instance).__qualname__}",
            "$.class",
        )
    _take_over(instance, built, doc)
    return instance


def _take_over(routine: Routine, built: Routine, doc: StandaloneRoutineDoc) -> None:
    """Give ``routine`` what the checked document gave ``built`` (a fresh routine of
    the same class): config, error handler, and each slot and event the document
    names. Handlers bound to ``built`` are bound to ``routine`` instead."""
    routine._config = built._config
    routine._error_handler = built._error_handler
    for slot_doc in doc.slots:
        source = built._slots[slot_doc.name]
        handler = source.handler
        if inspect.ismethod(handler) and handler.__self__ is built:
            handler = types.MethodType(handler.__func__, routine)
        slot = routine.get_slot(slot_doc.name)
        if slot is None:
            routine.define_slot(slot_doc.name, handler, source.merge_strategy)
        else:
            slot.handler = handler
            slot.merge_strategy = source.merge_strategy
    for event_doc in doc.events:
        event = routine.get_event(event_doc.name)
        if event is None:
            routine.define_event(event_doc.name, list(event_doc.output_params))
        else:
            event.output_params = list(event_doc.output_params)


# -- Slot --------------------------------------------------------------------------------


def slot_to_document(slot: Slot) -> dict[str, Any]:
    """The ``routilux.slot`` document of ``slot``, with its standalone buffer.

    Raises:
        SerializationError: for a handler, merge function or buffer value that
            cannot be stored.
    """
    body = slot_to_doc(slot, slot.routine, "$", WiredCache())
    with slot._standalone_lock:
        buffer = encode_value(slot._standalone_data, "$.data")
    return {**_header(SLOT_FORMAT), **body, "data": buffer}


@_loading("slot document")
def slot_from_document(cls: type[Slot], instance: Slot | None, data: Any) -> Slot:
    """A new slot without a routine, or ``instance`` filled from the document."""
    doc = _read(data, SLOT_FORMAT, StandaloneSlotDoc, "slot document")
    routine = instance.routine if instance is not None else None
    if instance is not None:
        _same_name(instance.name, doc.name, "slot", routine)
    part = SlotDoc(
        doc.name, doc.handler, doc.handler_function, doc.merge_strategy, doc.merge_function
    )
    wired: dict[str, Callable[..., Any]] = {}
    if routine is not None and doc.handler is not None and doc.handler_function is None:
        # Only the methods a fresh routine of the class has as handlers may be named.
        wired = wired_handlers(fresh_instance(type(routine), "$.handler"))
    handler = handler_from_doc(part, routine, wired, "$")
    merge = merge_from_doc(part, "$")
    buffer = decode_value(doc.data, "$.data")
    if instance is None:
        try:
            slot = cls(doc.name, None, handler, merge)
        except RoutiluxError as exc:
            raise SerializationError(str(exc), "$") from None
        slot._standalone_data = buffer
        return slot
    with instance._standalone_lock:
        instance.name = doc.name
        instance.handler = handler
        instance.merge_strategy = merge
        instance._standalone_data = buffer
    return instance


# -- Event -------------------------------------------------------------------------------


def event_to_document(event: Event) -> dict[str, Any]:
    """The ``routilux.event`` document of ``event``.

    Raises:
        SerializationError: if ``output_params`` holds anything but strings.
    """
    return {**_header(EVENT_FORMAT), **event_to_doc(event, "$")}


@_loading("event document")
def event_from_document(cls: type[Event], instance: Event | None, data: Any) -> Event:
    """A new event without a routine, or ``instance`` filled from the document."""
    doc = _read(data, EVENT_FORMAT, StandaloneEventDoc, "event document")
    if instance is None:
        return cls(doc.name, None, list(doc.output_params))
    _same_name(instance.name, doc.name, "event", instance.routine)
    instance.name = doc.name
    instance.output_params = list(doc.output_params)
    return instance


# -- Connection --------------------------------------------------------------------------

# A deserialized connection that has no event or slot object keeps their names here,
# so that it writes them again.
_STORED_ENDS = "_stored_end_names"


def connection_to_document(connection: Connection) -> dict[str, Any]:
    """The ``routilux.connection`` document of ``connection``.

    Raises:
        SerializationError: if the parameter mapping is not strings to strings.
    """
    stored_event, stored_slot = getattr(connection, _STORED_ENDS, (None, None))
    event, slot = connection.source_event, connection.target_slot
    mapping = dict(connection.param_mapping)
    for key, value in mapping.items():
        if type(key) is not str or type(value) is not str:
            raise SerializationError(
                f"param_mapping must map strings to strings, not {describe(key)} -> "
                f"{describe(value)}",
                "$.param_mapping",
            )
    return {
        **_header(CONNECTION_FORMAT),
        "source": connection.source_routine_id,
        "event": event.name if event is not None else stored_event,
        "target": connection.target_routine_id,
        "slot": slot.name if slot is not None else stored_slot,
        "param_mapping": mapping,
    }


def _same_end(current: str | None, stored: str | None, field: str) -> None:
    if current is not None and stored is not None and current != stored:
        raise SerializationError(
            f"the document's {field} is {describe(stored)}, this connection's is "
            f"{describe(current)}",
            f"$.{field}",
        )


@_loading("connection document")
def connection_from_document(
    cls: type[Connection], instance: Connection | None, data: Any
) -> Connection:
    """A new connection without ends (it remembers the routine ids and names), or
    ``instance`` given the document's mapping; its ends must match the document's."""
    doc = _read(data, CONNECTION_FORMAT, StandaloneConnectionDoc, "connection document")
    if instance is None:
        connection = cls(
            None,
            None,
            dict(doc.param_mapping),
            source_routine_id=doc.source,
            target_routine_id=doc.target,
        )
        setattr(connection, _STORED_ENDS, (doc.event, doc.slot))
        return connection
    event, slot = instance.source_event, instance.target_slot
    _same_end(event.name if event is not None else None, doc.event, "event")
    _same_end(slot.name if slot is not None else None, doc.slot, "slot")
    _same_end(instance.source_routine_id, doc.source, "source")
    _same_end(instance.target_routine_id, doc.target, "target")
    instance.param_mapping = dict(doc.param_mapping)
    if instance.source_routine_id is None:
        instance.source_routine_id = doc.source
    if instance.target_routine_id is None:
        instance.target_routine_id = doc.target
    if event is None or slot is None:
        stored_event, stored_slot = getattr(instance, _STORED_ENDS, (None, None))
        setattr(
            instance,
            _STORED_ENDS,
            (
                doc.event if event is None else stored_event,
                doc.slot if slot is None else stored_slot,
            ),
        )
    return instance


# -- ErrorHandler ------------------------------------------------------------------------


def error_handler_to_document(handler: ErrorHandler) -> dict[str, Any]:
    """The ``routilux.error_handler`` document of ``handler`` (with the legacy
    ``retry_count``, as 0.9 wrote it).

    Raises:
        SerializationError: for a retryable exception class a loader could not find.
    """
    body = error_handler_to_doc(handler, "$")
    assert body is not None
    return {**_header(ERROR_HANDLER_FORMAT), **body, "retry_count": handler.retry_count}


@_loading("error handler document")
def error_handler_from_document(
    cls: type[ErrorHandler], instance: ErrorHandler | None, data: Any
) -> ErrorHandler:
    """A new handler, or ``instance`` given the document's settings."""
    doc = _read(data, ERROR_HANDLER_FORMAT, StandaloneErrorHandlerDoc, "error handler document")
    if not 0 <= doc.retry_count <= MAX_RETRY_COUNT:
        raise SerializationError(
            f"retry_count must be an int from 0 to {MAX_RETRY_COUNT}", "$.retry_count"
        )
    settings = error_handler_from_doc(
        ErrorHandlerDoc(
            doc.strategy,
            doc.max_retries,
            doc.retry_delay,
            doc.retry_backoff,
            list(doc.retryable_exceptions),
            doc.is_critical,
        ),
        "$",
    )
    assert settings is not None
    if instance is None:
        try:
            built = cls(
                settings.strategy,
                settings.max_retries,
                settings.retry_delay,
                settings.retry_backoff,
                settings.retryable_exceptions,
                settings.is_critical,
            )
        except RoutiluxError as exc:
            raise SerializationError(str(exc), "$") from None
        built.retry_count = doc.retry_count
        return built
    for field in attrs.fields(type(settings)):
        setattr(instance, field.name, getattr(settings, field.name))
    instance.retry_count = doc.retry_count
    return instance


# -- ExecutionRecord ---------------------------------------------------------------------


def record_to_document(record: ExecutionRecord) -> dict[str, Any]:
    """The ``routilux.execution_record`` document of ``record``.

    Raises:
        SerializationError: for ids that are not strings or data that cannot be stored.
    """
    for field in ("routine_id", "event_name"):
        if not isinstance(getattr(record, field), str):
            raise SerializationError(f"{field} must be a string", f"$.{field}")
    return {
        **_header(EXECUTION_RECORD_FORMAT),
        "routine_id": str(record.routine_id),
        "event_name": str(record.event_name),
        "data": encode_value(record.data, "$.data"),
        "timestamp": record.timestamp.isoformat(),
    }


@_loading("execution record document")
def record_from_document(
    cls: type[ExecutionRecord], instance: ExecutionRecord | None, data: Any
) -> ExecutionRecord:
    """A new record, or ``instance`` given the document's fields."""
    doc = _read(data, EXECUTION_RECORD_FORMAT, StandaloneRecordDoc, "execution record document")
    try:
        moment = datetime.fromisoformat(doc.timestamp)
        moment.timestamp()  # ExecutionRecord.time must work
    except (ValueError, OverflowError, OSError):
        raise SerializationError(
            f"invalid or out-of-range timestamp {describe(doc.timestamp)}", "$.timestamp"
        ) from None
    value = decode_value(doc.data, "$.data")
    record = cls() if instance is None else instance
    record.routine_id = doc.routine_id
    record.event_name = doc.event_name
    record.data = value
    record.timestamp = moment
    return record


# -- ExecutionTracker --------------------------------------------------------------------


def tracker_to_document(tracker: ExecutionTracker) -> dict[str, Any]:
    """The ``routilux.execution_tracker`` document of ``tracker``; ``event_flow`` as
    it reads now.

    Raises:
        SerializationError: for records of shapes a loader would refuse, or data
            that cannot be stored.
    """
    events = tracker.event_flow
    with tracker._lock:
        check_tracker(
            tracker.routine_executions, tracker.performance_metrics, events, "$", "event_flow"
        )
        if type(tracker.flow_id) is not str:
            raise SerializationError("flow_id must be a string", "$.flow_id")
        return {
            **_header(EXECUTION_TRACKER_FORMAT),
            "flow_id": tracker.flow_id,
            "routine_executions": encode_value(tracker.routine_executions, "$.routine_executions"),
            "performance_metrics": encode_value(
                tracker.performance_metrics, "$.performance_metrics"
            ),
            "event_flow": encode_value(events, "$.event_flow"),
        }


@_loading("execution tracker document")
def tracker_from_document(
    cls: type[ExecutionTracker], instance: ExecutionTracker | None, data: Any
) -> ExecutionTracker:
    """A new tracker, or ``instance`` with its records and events replaced."""
    doc = _read(data, EXECUTION_TRACKER_FORMAT, StandaloneTrackerDoc, "execution tracker document")
    runs = decode_value(doc.routine_executions, "$.routine_executions")
    metrics = decode_value(doc.performance_metrics, "$.performance_metrics")
    events = decode_value(doc.event_flow, "$.event_flow")
    check_tracker(runs, metrics, events, "$", "event_flow")
    tracker = cls(doc.flow_id) if instance is None else instance
    with tracker._lock:
        tracker.flow_id = doc.flow_id
        tracker.routine_executions = runs
        tracker.performance_metrics = metrics
        tracker._recorded_events = events
        tracker._derive_events = None
    return tracker


_codecs.register("routine", routine_to_document, routine_from_document)
_codecs.register("slot", slot_to_document, slot_from_document)
_codecs.register("event", event_to_document, event_from_document)
_codecs.register("connection", connection_to_document, connection_from_document)
_codecs.register("error_handler", error_handler_to_document, error_handler_from_document)
_codecs.register("record", record_to_document, record_from_document)
_codecs.register("tracker", tracker_to_document, tracker_from_document)
