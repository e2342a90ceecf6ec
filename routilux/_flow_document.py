"""A flow's structure as a ``routilux.flow`` document, and back.

Stored: the flow's id, strategy, ``max_workers`` and ``history_limit``, its error
handler, and for each routine its id, class (``"module:QualifiedName"`` or its
registered name), config, error handler, slots (handler by method name or registered
function, merge strategy) and events; for each connection both routine ids, the
event, the slot and the parameter mapping. Never stored: jobs, code, or anything that
cannot be found again by name.

A slot's handler is stored by method name only if it is one of the methods the
routine's class wires to its slots in ``__init__`` (a loader creates each routine with
its class's no-argument constructor and accepts only those names, so a document cannot
bind a slot to any other method, such as ``add_route`` or ``_validate_config``);
other handlers must be registered functions. Saving refuses anything a loader would.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from routilux._documents import (
    FLOW_FORMAT,
    VERSION,
    ErrorHandlerDoc,
    FlowDoc,
    RoutineDoc,
    SlotDoc,
    StandaloneRoutineDoc,
    check_header,
    structure,
)
from routilux._merge import APPEND, OVERRIDE
from routilux._values import decode_value, describe, describe_exception, encode_value
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
    from routilux.event import Event
    from routilux.flow import Flow
    from routilux.slot import Slot

__all__ = [
    "build_routine",
    "error_handler_from_doc",
    "error_handler_to_doc",
    "event_to_doc",
    "flow_to_document",
    "fresh_instance",
    "handler_from_doc",
    "merge_from_doc",
    "populate_flow",
    "routine_body",
    "slot_to_doc",
    "wired_handlers",
]

#: Handler names a class wires in ``__init__``: method name -> the function.
Wired = dict[str, Callable[..., Any]]


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


def wired_handlers(routine: Routine) -> Wired:
    """The methods ``routine``'s slots are bound to, by name: on a fresh instance, the
    handlers its class wires in ``__init__``, the only names a document may use.

    A handler counts if it is a method of ``routine`` itself that its class defines
    under that name (so looking the name up on the class finds it again).
    """
    wired: Wired = {}
    cls = type(routine)
    for slot in routine._slots.values():
        handler = slot.handler
        if inspect.ismethod(handler) and handler.__self__ is routine:
            name = handler.__func__.__name__
            if inspect.getattr_static(cls, name, None) is handler.__func__:
                wired[name] = handler.__func__
    return wired


def fresh_instance(cls: type[Routine], where: str) -> Routine:
    """``cls()``, as a loader creates it.

    Raises:
        SerializationError: naming the class, with the constructor's exception chained.
    """
    try:
        return cls()
    except Exception as exc:
        raise SerializationError(
            f"could not create {cls.__module__}:{cls.__qualname__} without arguments: "
            f"{describe_exception(exc)}",
            where,
        ) from exc


class WiredCache:
    """The handlers each routine class wires, computed once per save (creating one
    fresh instance of each class, as a loader would)."""

    def __init__(self) -> None:
        self._by_class: dict[type, Wired] = {}

    def of(self, routine: Routine, where: str) -> Wired:
        cls = type(routine)
        wired = self._by_class.get(cls)
        if wired is None:
            wired = self._by_class[cls] = wired_handlers(fresh_instance(cls, where))
        return wired


def slot_to_doc(
    slot: Slot, routine: Routine | None, where: str, wired: WiredCache
) -> dict[str, Any]:
    """The flow document's description of ``slot`` of ``routine``.

    Raises:
        SerializationError: for a handler or merge function a loader could not find.
    """
    handler = slot.handler
    method_name = function_name = None
    if handler is not None:
        if routine is not None and inspect.ismethod(handler) and handler.__self__ is routine:
            method_name = handler.__func__.__name__
            cls = type(routine)
            if inspect.getattr_static(cls, method_name, None) is not handler.__func__:
                raise SerializationError(
                    f"handler of slot '{slot.name}' is a method that the class "
                    f"{cls.__qualname__} does not define under its name",
                    f"{where}.handler",
                )
            if wired.of(routine, f"{where}.handler").get(method_name) is not handler.__func__:
                raise SerializationError(
                    f"handler of slot '{slot.name}' is {cls.__qualname__}.{method_name}, which "
                    f"{cls.__qualname__}.__init__ does not wire to any slot; a loader binds "
                    "slots only to the handlers the class sets up itself. Wire it in "
                    "__init__, or use a function registered with register_serializable",
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


def routine_body(routine: Routine, where: str, wired: WiredCache) -> dict[str, Any]:
    """``class``, ``config``, ``error_handler``, ``slots`` and ``events`` of ``routine``.

    Raises:
        SerializationError: for anything a loader could not restore.
    """
    _check_constructible(type(routine), f"{where}.class")
    return {
        "class": reference_to_class(type(routine), f"{where}.class"),
        "config": encode_value(routine._config, f"{where}.config"),
        "error_handler": error_handler_to_doc(routine._error_handler, f"{where}.error_handler"),
        "slots": [
            slot_to_doc(slot, routine, f"{where}.slots[{index}]", wired)
            for index, slot in enumerate(routine._slots.values())
        ],
        "events": [
            event_to_doc(event, f"{where}.events[{index}]")
            for index, event in enumerate(routine._events.values())
        ],
    }


def event_to_doc(event: Event, where: str) -> dict[str, Any]:
    """``name`` and ``output_params`` of ``event``.

    Raises:
        SerializationError: if ``output_params`` holds anything but strings.
    """
    params = list(event.output_params)
    for index, param in enumerate(params):
        if type(param) is not str:
            raise SerializationError(
                f"output_params of event '{event.name}' must be strings, not {describe(param)}",
                f"{where}.output_params[{index}]",
            )
    return {"name": event.name, "output_params": params}


def flow_to_document(flow: Flow) -> dict[str, Any]:
    """The ``routilux.flow`` document of ``flow``.

    Raises:
        SerializationError: for a routine class, handler, merge function or config
            value that a loader could not restore.
    """
    wired = WiredCache()
    routines = [
        {"id": routine_id, **routine_body(routine, f"$.routines[{index}]", wired)}
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


def handler_from_doc(doc: SlotDoc, routine: Routine | None, wired: Wired, where: str) -> Any:
    """The handler a slot document names, bound to ``routine``: a registered function,
    or one of the methods ``wired`` lists (those the class wires in ``__init__``).

    Raises:
        SerializationError: for anything else, naming the slot.
    """
    if doc.handler is not None and doc.handler_function is not None:
        raise SerializationError("a slot has either a handler or a handler_function", where)
    if doc.handler_function is not None:
        return resolve_function(doc.handler_function, f"{where}.handler_function")
    if doc.handler is None:
        return None
    name = doc.handler
    if routine is None:
        raise SerializationError(
            f"slot '{doc.name}' names the method '{name}' as its handler, but has no routine "
            "to bind it to: deserialize it into a slot of its routine",
            f"{where}.handler",
        )
    cls = type(routine)
    function = None if name.startswith("__") else inspect.getattr_static(cls, name, None)
    if inspect.getattr_static(Routine, name, None) is function:
        function = None  # Routine's own machinery (emit, define_slot, ...) is no handler
    if not inspect.isfunction(function):
        raise SerializationError(
            f"{cls.__qualname__} has no method '{name}' to handle slot '{doc.name}'",
            f"{where}.handler",
        )
    if wired.get(name) is not function:
        known = ", ".join(f"'{known}'" for known in wired) or "none"
        raise SerializationError(
            f"{cls.__qualname__}.{name} is not a slot handler: a document may only name the "
            f"methods {cls.__qualname__}.__init__ wires to its slots ({known}) or "
            f"registered functions (slot '{doc.name}')",
            f"{where}.handler",
        )
    return types.MethodType(function, routine)


def merge_from_doc(doc: SlotDoc, where: str) -> Any:
    if doc.merge_strategy in (OVERRIDE, APPEND):
        if doc.merge_function is not None:
            raise SerializationError("merge_function is only for merge_strategy 'function'", where)
        return doc.merge_strategy
    if doc.merge_strategy == "function":
        return resolve_function(doc.merge_function, f"{where}.merge_function")
    raise SerializationError(
        f"unknown merge strategy {describe(doc.merge_strategy)}", f"{where}.merge_strategy"
    )


def build_routine(
    doc: RoutineDoc | StandaloneRoutineDoc, where: str, base: type[Routine] = Routine
) -> Routine:
    """A new routine from a routine document (``class``, ``config``, ``error_handler``,
    ``slots``, ``events``): created with its class's no-argument constructor, then
    given the stored config, error handler, slots and events.

    Raises:
        SerializationError: for anything wrong, naming where.
    """
    cls = resolve_class(doc.class_, base, f"{where}.class")
    routine = fresh_instance(cls, f"{where}.class")
    wired = wired_handlers(routine)
    config = decode_value(doc.config, f"{where}.config")
    if not isinstance(config, dict):
        raise SerializationError("config must be an object", f"{where}.config")
    routine._config = config
    routine._error_handler = error_handler_from_doc(doc.error_handler, f"{where}.error_handler")
    for index, slot_doc in enumerate(doc.slots):
        slot_where = f"{where}.slots[{index}]"
        handler = handler_from_doc(slot_doc, routine, wired, slot_where)
        merge = merge_from_doc(slot_doc, slot_where)
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
    except Exception as exc:
        raise SerializationError(
            f"{cls.__qualname__} refused the stored config: {describe_exception(exc)}",
            f"{where}.config",
        ) from exc
    return routine


def populate_flow(flow: Flow, data: Any) -> None:
    """Fill the empty ``flow`` from a ``routilux.flow`` document.

    Raises:
        SerializationError: for anything wrong with the document, and only that (an
            exception from a routine's constructor or config check is chained to it);
            ``flow`` may then be partly filled, so callers fill a fresh flow first.
    """
    try:
        _populate_flow(flow, data)
    except SerializationError:
        raise
    except RecursionError:
        raise SerializationError("flow document nested too deeply", "$") from None
    except Exception as exc:  # a check this module lacks: still the document's fault
        raise SerializationError(f"invalid flow document: {describe_exception(exc)}") from exc


def _populate_flow(flow: Flow, data: Any) -> None:
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
        routine = build_routine(routine_doc, where)
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
