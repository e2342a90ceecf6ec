"""The shape of saved documents, checked strictly when they are read.

Every document is a JSON object with ``"format"`` (``"routilux.flow"`` or
``"routilux.job"``) and ``"version"``. The outer structure is described by attrs
classes and checked with cattrs using strict hooks (a string where a number belongs is
an error, not a conversion); data values inside are decoded by :mod:`routilux._values`.
Errors become :class:`~routilux.exceptions.SerializationError` with the path of the
offending field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory, mapping_structure_factory
from cattrs.gen import make_dict_structure_fn, override

from routilux.exceptions import SerializationError

__all__ = [
    "FLOW_FORMAT",
    "JOB_FORMAT",
    "SUPPORTED_VERSIONS",
    "VERSION",
    "ConnectionDoc",
    "DeferredDoc",
    "ErrorHandlerDoc",
    "EventDoc",
    "FlowDoc",
    "JobDoc",
    "PendingDoc",
    "RoutineDoc",
    "SlotDoc",
    "TrackerDoc",
    "check_header",
    "read_json",
    "structure",
    "write_json",
]

FLOW_FORMAT = "routilux.flow"
JOB_FORMAT = "routilux.job"
#: The version this library writes.
VERSION = 1
#: The versions this library reads (older ones are upgraded on load).
SUPPORTED_VERSIONS = frozenset({1})

T = TypeVar("T")


@attrs.frozen
class ErrorHandlerDoc:
    strategy: str
    max_retries: int
    retry_delay: float
    retry_backoff: float
    retryable_exceptions: list[str]
    is_critical: bool


@attrs.frozen
class SlotDoc:
    name: str
    handler: str | None  # a method of the routine, by name
    handler_function: str | None  # or a registered function
    merge_strategy: str  # "override", "append" or "function"
    merge_function: str | None


@attrs.frozen
class EventDoc:
    name: str
    output_params: list[str]


@attrs.frozen
class RoutineDoc:
    id: str
    class_: str
    config: Any
    error_handler: ErrorHandlerDoc | None
    slots: list[SlotDoc]
    events: list[EventDoc]


@attrs.frozen
class ConnectionDoc:
    source: str
    event: str
    target: str
    slot: str
    param_mapping: dict[str, str]


@attrs.frozen
class FlowDoc:
    format: str
    version: int
    flow_id: str
    execution_strategy: str
    max_workers: int
    history_limit: int | None
    error_handler: ErrorHandlerDoc | None
    routines: list[RoutineDoc]
    connections: list[ConnectionDoc]


@attrs.frozen
class PendingDoc:
    slot_routine_id: str
    slot_name: str
    data: Any
    retry_count: int
    merged: bool
    is_entry: bool


@attrs.frozen
class DeferredDoc:
    routine_id: str
    event_name: str
    data: Any
    timestamp: str


@attrs.frozen
class TrackerDoc:
    routine_executions: Any
    performance_metrics: Any
    recorded_events: Any


@attrs.frozen
class JobDoc:
    format: str
    version: int
    job_id: str
    flow_id: str
    status: str
    current_routine_id: str | None
    created_at: str
    updated_at: str
    routine_states: Any  # decoded as data: routine ids may need the "$dict" form
    shared_data: Any
    shared_log: list[Any]
    output_log: list[Any]
    errors: list[Any]
    pause_points: list[Any]
    deferred_events: list[DeferredDoc]
    pending_tasks: list[PendingDoc]
    merge_buffers: Any
    results: Any
    history_limit: int | None
    history_dropped: int
    execution_history: list[Any]  # [routine_id, event_name, data, iso time] rows
    execution_tracker: TrackerDoc


def _strict(kind: type) -> Any:
    def check(value: Any, _: Any) -> Any:
        if type(value) is kind:
            return value
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")

    return check


def _number(value: Any, _: Any) -> float:
    if type(value) in (int, float):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _origin(kind: Any) -> Any:
    return get_origin(kind)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    for kind in (str, int, bool):
        converter.register_structure_hook(kind, _strict(kind))
    converter.register_structure_hook(float, _number)
    converter.register_structure_hook(Any, lambda value, _: value)

    # cattrs builds a list from any iterable and a dict from any mapping; a document
    # must hold a JSON array or object there (a string is not a list of letters).
    def exact(kind: type, name: str, build: Any) -> Any:
        def check(value: Any, annotation: Any) -> Any:
            if type(value) is not kind:
                raise TypeError(f"expected {name}, got {type(value).__name__}")
            return build(value, annotation)

        return check

    converter.register_structure_hook_factory(
        lambda kind: _origin(kind) is list,
        lambda kind, conv: exact(list, "a list", list_structure_factory(kind, conv)),
    )
    converter.register_structure_hook_factory(
        lambda kind: _origin(kind) is dict,
        lambda kind, conv: exact(dict, "an object", mapping_structure_factory(kind, conv)),
    )
    converter.register_structure_hook(
        RoutineDoc,
        make_dict_structure_fn(
            RoutineDoc, converter, _cattrs_forbid_extra_keys=True, class_=override(rename="class")
        ),
    )
    return converter


_converter = _make_converter()


def structure(data: Any, kind: type[T], what: str) -> T:
    """Check ``data`` against ``kind`` and build it.

    Raises:
        SerializationError: listing every problem with its path.
    """
    try:
        return _converter.structure(data, kind)
    except Exception as exc:
        try:
            problems = cattrs.transform_error(exc)
        except Exception:
            problems = [str(exc)]
        path = None
        if problems and " @ " in problems[0]:
            path = problems[0].rsplit(" @ ", 1)[1]
            if len(problems) == 1:  # the path is added once, by SerializationError
                problems = [problems[0].rsplit(" @ ", 1)[0]]
        raise SerializationError(f"invalid {what}: " + "; ".join(problems), path) from None


def check_header(data: Any, expected: str) -> None:
    """Refuse anything but a supported version of an ``expected`` document."""
    if not isinstance(data, dict):
        raise SerializationError(
            f"a {expected} document must be a JSON object, not {type(data).__name__}", "$"
        )
    found = data.get("format")
    if found != expected:
        raise SerializationError(
            f"expected a {expected} document, found format {found!r}", "$.format"
        )
    version = data.get("version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise SerializationError(
            f"unsupported {expected} version {version!r}; this routilux reads version {supported}",
            "$.version",
        )


def read_json(path: str | os.PathLike[str], expected: str) -> Any:
    """Read a document file.

    Raises:
        FileNotFoundError: if there is no such file.
        SerializationError: if it is not JSON or not a supported ``expected`` document.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{expected} file not found: {file}") from None
    except UnicodeDecodeError as exc:
        raise SerializationError(f"{file} is not UTF-8 text: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SerializationError(
            f"{file} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise SerializationError(f"{file} is nested too deeply to read") from None
    check_header(data, expected)
    return data


def write_json(
    path: str | os.PathLike[str], document: dict[str, Any], *, indent: int | None
) -> None:
    """Write ``document`` atomically: a reader sees the old file or the new one."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.partial")
    separators = None if indent else (",", ":")
    try:
        payload = json.dumps(
            document, indent=indent, ensure_ascii=False, separators=separators
        ).encode("utf-8")
    except UnicodeEncodeError:
        # Text that is not valid Unicode (lone surrogates): escape everything instead.
        payload = json.dumps(document, indent=indent, separators=separators).encode("ascii")
    try:
        partial.write_bytes(payload)
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
