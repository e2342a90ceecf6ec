"""A flow's structure as a ``routilux.flow`` document, and back.

Stored: the flow's id, strategy, ``max_workers`` and ``history_limit``, its error
handler, and for each routine its id, class (``"module:QualifiedName"`` or its
registered name), config, error handler, slots (handler by method name or registered
function, merge strategy) and events; for each connection both routine ids, the
event, the slot and the parameter mapping. Never stored: jobs, code, or anything that
cannot be found again by name.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from routilux._documents import (
    FLOW_FORMAT,
    VERSION,
    ErrorHandlerDoc,
    FlowDoc,
    RoutineDoc,
    SlotDoc,
    check_header,
    structure,
)
from routilux._merge import APPEND, OVERRIDE
from routilux._values import decode_value, encode_value
from routilux.error_handler import ErrorHandler
from routilux.exceptions import ConfigurationError, RoutiluxError, SerializationError
from routilux.registry import (
    reference_to_class,
    reference_to_function,
    resolve_class,
    resolve_function,
)
from routilux.routine import Routine

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.slot import Slot

__all__ = ["error_handler_from_doc", "error_handler_to_doc", "flow_to_document", "populate_flow"]


# -- writing --------------------------------------------------------------------------


def error_handler_to_doc(handler: ErrorHandler | None, where: str) -> dict[str, Any] | None:
    if handler is None:
        return None
    return {
        "strategy": handler.strategy.value,
        "max_retries": handler.max_retries,
        "retry_delay": handler.retry_delay,
        "retry_backoff": handler.retry_backoff,
        "retryable_exceptions": [
            reference_to_class(kind, f"{where}.retryable_exceptions")
            for kind in handler.retryable_exceptions
        ],
        "is_critical": handler.is_critical,
    }


def _slot_to_doc(slot: Slot, routine: Routine, where: str) -> dict[str, Any]:
    handler = slot.handler
    method_name = function_name = None
    if handler is not None:
        if getattr(handler, "__self__", None) is routine and inspect.ismethod(handler):
            method_name = handler.__func__.__name__
            if getattr(type(routine), method_name, None) is not handler.__func__:
                raise SerializationError(
                    f"handler of slot '{slot.name}' is a method that the class "
                    f"{type(routine).__qualname__} does not define under its name",
                    f"{where}.handler",
                )
        else:
            function_name = reference_to_function(handler, f"{where}.handler")
    strategy = slot.merge_strategy
    if strategy in (OVERRIDE, APPEND):
        merge_name, merge_function = strategy, None
    else:
        merge_name = "function"
        merge_function = reference_to_function(strategy, f"{where}.merge_strategy")
    return {
        "name": slot.name,
        "handler": method_name,
        "handler_function": function_name,
        "merge_strategy": merge_name,
        "merge_function": merge_function,
    }


def _check_constructible(cls: type, where: str) -> None:
    """A loader creates routines with ``cls()``: refuse classes that need arguments."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return
    required = [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise SerializationError(
            f"{cls.__qualname__} needs arguments ({', '.join(required)}) to be created, so a "
            "loader could not rebuild it; give them defaults and keep settings in the config",
            where,
        )


def _routine_to_doc(routine_id: str, routine: Routine, where: str) -> dict[str, Any]:
    _check_constructible(type(routine), f"{where}.class")
    return {
        "id": routine_id,
        "class": reference_to_class(type(routine), f"{where}.class"),
        "config": encode_value(routine._config, f"{where}.config"),
        "error_handler": error_handler_to_doc(routine._error_handler, f"{where}.error_handler"),
        "slots": [
            _slot_to_doc(slot, routine, f"{where}.slots[{index}]")
            for index, slot in enumerate(routine._slots.values())
        ],
        "events": [
            {"name": event.name, "output_params": list(event.output_params)}
            for event in routine._events.values()
        ],
    }


def flow_to_document(flow: Flow) -> dict[str, Any]:
    """The ``routilux.flow`` document of ``flow``.

    Raises:
        SerializationError: for a routine class, handler, merge function or config
            value that a loader could not restore.
    """
    routines = [
        _routine_to_doc(routine_id, routine, f"$.routines[{index}]")
        for index, (routine_id, routine) in enumerate(flow.routines.items())
    ]
    connections = []
    for index, connection in enumerate(flow.connections):
        event, slot = connection.source_event, connection.target_slot
        if event is None or slot is None:
            raise SerializationError("connection without both ends", f"$.connections[{index}]")
        connections.append(
            {
                "source": connection.source_routine_id,
                "event": event.name,
                "target": connection.target_routine_id,
                "slot": slot.name,
                "param_mapping": dict(connection.param_mapping),
            }
        )
    return {
        "format": FLOW_FORMAT,
        "version": VERSION,
        "flow_id": flow.flow_id,
        "execution_strategy": flow.execution_strategy,
        "max_workers": flow._worker_limit,
        "history_limit": flow.history_limit,
        "error_handler": error_handler_to_doc(flow.error_handler, "$.error_handler"),
        "routines": routines,
        "connections": connections,
    }


# -- reading --------------------------------------------------------------------------


def error_handler_from_doc(doc: ErrorHandlerDoc | None, where: str) -> ErrorHandler | None:
    if doc is None:
        return None
    kinds = tuple(
        resolve_class(name, BaseException, f"{where}.retryable_exceptions[{index}]")
        for index, name in enumerate(doc.retryable_exceptions)
    )
    try:
        return ErrorHandler(
            doc.strategy,
            int(doc.max_retries),
            doc.retry_delay,
            doc.retry_backoff,
            kinds,
            doc.is_critical,
        )
    except RoutiluxError as exc:
        raise SerializationError(str(exc), where) from None


def _handler_from_doc(doc: SlotDoc, routine: Routine, where: str) -> Any:
    if doc.handler is not None and doc.handler_function is not None:
        raise SerializationError("a slot has either a handler or a handler_function", where)
    if doc.handler_function is not None:
        return resolve_function(doc.handler_function, f"{where}.handler_function")
    if doc.handler is None:
        return None
    name = doc.handler
    function = None if name.startswith("__") else inspect.getattr_static(type(routine), name, None)
    if inspect.getattr_static(Routine, name, None) is function:
        function = None  # Routine's own machinery (emit, define_slot, ...) is no handler
    if not inspect.isfunction(function):
        raise SerializationError(
            f"{type(routine).__qualname__} has no method '{name}' to handle slot '{doc.name}'",
            f"{where}.handler",
        )
    return getattr(routine, name)


def _merge_from_doc(doc: SlotDoc, where: str) -> Any:
    if doc.merge_strategy in (OVERRIDE, APPEND):
        if doc.merge_function is not None:
            raise SerializationError("merge_function is only for merge_strategy 'function'", where)
        return doc.merge_strategy
    if doc.merge_strategy == "function":
        return resolve_function(doc.merge_function, f"{where}.merge_function")
    raise SerializationError(
        f"unknown merge strategy {doc.merge_strategy!r}", f"{where}.merge_strategy"
    )


def _build_routine(doc: RoutineDoc, where: str) -> Routine:
    cls = resolve_class(doc.class_, Routine, f"{where}.class")
    try:
        routine: Routine = cls()
    except Exception as exc:
        raise SerializationError(
            f"could not create {doc.class_} without arguments: {type(exc).__name__}: {exc}",
            f"{where}.class",
        ) from None
    config = decode_value(doc.config, f"{where}.config")
    if not isinstance(config, dict):
        raise SerializationError("config must be an object", f"{where}.config")
    routine._config = config
    routine._error_handler = error_handler_from_doc(doc.error_handler, f"{where}.error_handler")
    for index, slot_doc in enumerate(doc.slots):
        slot_where = f"{where}.slots[{index}]"
        handler = _handler_from_doc(slot_doc, routine, slot_where)
        merge = _merge_from_doc(slot_doc, slot_where)
        try:
            slot = routine.get_slot(slot_doc.name)
            if slot is None:
                routine.define_slot(slot_doc.name, handler, merge)
            else:
                slot.handler = handler
                slot.merge_strategy = merge
        except RoutiluxError as exc:
            raise SerializationError(str(exc), slot_where) from None
    for index, event_doc in enumerate(doc.events):
        event = routine.get_event(event_doc.name)
        try:
            if event is None:
                routine.define_event(event_doc.name, list(event_doc.output_params))
            else:
                event.output_params = list(event_doc.output_params)
        except RoutiluxError as exc:
            raise SerializationError(str(exc), f"{where}.events[{index}]") from None
    try:
        routine._validate_config()
    except ConfigurationError as exc:
        raise SerializationError(str(exc), f"{where}.config") from None
    return routine


def populate_flow(flow: Flow, data: Any) -> None:
    """Fill the empty ``flow`` from a ``routilux.flow`` document.

    Raises:
        SerializationError: for anything wrong with the document; ``flow`` may then be
            partly filled, so callers fill a fresh flow first.
    """
    check_header(data, FLOW_FORMAT)
    doc = structure(data, FlowDoc, "flow document")
    flow.flow_id = doc.flow_id
    settings: tuple[tuple[str, str, Any], ...] = (
        ("$.execution_strategy", "execution_strategy", doc.execution_strategy),
        ("$.max_workers", "max_workers", doc.max_workers),
        ("$.history_limit", "history_limit", doc.history_limit),
    )
    for where, attribute, value in settings:
        try:
            setattr(flow, attribute, value)  # the properties check the values
        except RoutiluxError as exc:
            raise SerializationError(str(exc), where) from None
    flow.set_error_handler(error_handler_from_doc(doc.error_handler, "$.error_handler"))
    for index, routine_doc in enumerate(doc.routines):
        where = f"$.routines[{index}]"
        routine = _build_routine(routine_doc, where)
        try:
            flow.add_routine(routine, routine_doc.id)
        except RoutiluxError as exc:
            raise SerializationError(str(exc), f"{where}.id") from None
    for index, connection in enumerate(doc.connections):
        where = f"$.connections[{index}]"
        for role, routine_id in (("source", connection.source), ("target", connection.target)):
            if routine_id not in flow.routines:
                raise SerializationError(
                    f"connection names {role} routine '{routine_id}', which the document "
                    "does not define",
                    f"{where}.{role}",
                )
        try:
            flow.connect(
                connection.source,
                connection.event,
                connection.target,
                connection.slot,
                dict(connection.param_mapping) or None,
            )
        except RoutiluxError as exc:
            raise SerializationError(str(exc), where) from None
