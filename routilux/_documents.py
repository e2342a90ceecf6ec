"""The shape of saved documents, checked strictly when they are read.

Every document is a JSON object with ``"format"`` (``"routilux.flow"`` or
``"routilux.job"``) and ``"version"``. The outer structure is described by attrs
classes and checked with cattrs using strict hooks (a string where a number belongs is
an error, not a conversion); data values inside are decoded by :mod:`routilux._values`.
Errors become :class:`~routilux.exceptions.SerializationError` with the path of the
offending field.

Besides the two documents, each model class writes a small document of its own
(``routilux.routine``, ``routilux.slot``, ...; see :mod:`routilux._component_documents`)
with the same header and the same strictness.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory, mapping_structure_factory
from cattrs.gen import make_dict_structure_fn, override
from cattrs.v import format_exception

from routilux._values import describe, describe_exception
from routilux.exceptions import SerializationError

__all__ = [
    "CONNECTION_FORMAT",
    "ERROR_HANDLER_FORMAT",
    "EVENT_FORMAT",
    "EXECUTION_RECORD_FORMAT",
    "EXECUTION_TRACKER_FORMAT",
    "FLOW_FORMAT",
    "JOB_FORMAT",
    "MAX_RETRY_COUNT",
    "ROUTINE_FORMAT",
    "SLOT_FORMAT",
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
    "StandaloneConnectionDoc",
    "StandaloneErrorHandlerDoc",
    "StandaloneEventDoc",
    "StandaloneRecordDoc",
    "StandaloneRoutineDoc",
    "StandaloneSlotDoc",
    "StandaloneTrackerDoc",
    "TrackerDoc",
    "check_header",
    "load_file",
    "parse_json",
    "read_json",
    "structure",
    "write_json",
]

FLOW_FORMAT = "routilux.flow"
JOB_FORMAT = "routilux.job"
# The documents of single objects (``Routine.serialize()`` and the like).
ROUTINE_FORMAT = "routilux.routine"
SLOT_FORMAT = "routilux.slot"
EVENT_FORMAT = "routilux.event"
CONNECTION_FORMAT = "routilux.connection"
ERROR_HANDLER_FORMAT = "routilux.error_handler"
EXECUTION_RECORD_FORMAT = "routilux.execution_record"
EXECUTION_TRACKER_FORMAT = "routilux.execution_tracker"
#: The version this library writes.
VERSION = 1
#: The versions this library reads (older ones are upgraded on load).
SUPPORTED_VERSIONS = frozenset({1})
#: The most attempts a pending activation of a job document may record. The engine
#: counts attempts one by one, so a real count is tiny; a bigger one is a damaged file.
MAX_RETRY_COUNT = 2**31 - 1
# Structural integers (versions, counts, limits) must fit in 64 bits.
_MAX_STRUCTURAL_INT = 2**63 - 1

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
    activation_id: str = ""


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


# -- documents of single objects: a header, then the fields of the flow document's part


@attrs.frozen
class StandaloneRoutineDoc:
    format: str
    version: int
    class_: str
    config: Any
    error_handler: ErrorHandlerDoc | None
    slots: list[SlotDoc]
    events: list[EventDoc]


@attrs.frozen
class StandaloneSlotDoc:
    format: str
    version: int
    name: str
    handler: str | None
    handler_function: str | None
    merge_strategy: str
    merge_function: str | None
    data: Any  # the standalone merge buffer


@attrs.frozen
class StandaloneEventDoc:
    format: str
    version: int
    name: str
    output_params: list[str]


@attrs.frozen
class StandaloneConnectionDoc:
    format: str
    version: int
    source: str | None  # routine ids (None for a connection made outside a flow)
    event: str | None
    target: str | None
    slot: str | None
    param_mapping: dict[str, str]


@attrs.frozen
class StandaloneErrorHandlerDoc:
    format: str
    version: int
    strategy: str
    max_retries: int
    retry_delay: float
    retry_backoff: float
    retryable_exceptions: list[str]
    is_critical: bool
    retry_count: int


@attrs.frozen
class StandaloneRecordDoc:
    format: str
    version: int
    routine_id: str
    event_name: str
    data: Any
    timestamp: str


@attrs.frozen
class StandaloneTrackerDoc:
    format: str
    version: int
    flow_id: str
    routine_executions: Any
    performance_metrics: Any
    event_flow: Any


class _OutOfRange(ValueError):
    """A value of the right type that no document may hold; its message is shown."""


def _format_problem(exc: BaseException, kind: type | None) -> str:
    if isinstance(exc, _OutOfRange):
        return str(exc)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        # The keys may be anything when a dict (not JSON text) is deserialized.
        extra = sorted(describe(key) if type(key) is not str else key for key in exc.extra_fields)
        return f"extra fields found ({', '.join(extra)})"
    return format_exception(exc, kind)


def _strict(kind: type) -> Any:
    def check(value: Any, _: Any) -> Any:
        if type(value) is kind:
            if kind is int and abs(cast(int, value)) > _MAX_STRUCTURAL_INT:
                raise _OutOfRange("integer out of range (more than 64 bits)")
            return value
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")

    return check


def _number(value: Any, _: Any) -> float:
    if type(value) in (int, float):
        try:
            number = float(value)
        except OverflowError:
            raise _OutOfRange("number out of range") from None
        if not math.isfinite(number):
            raise _OutOfRange("expected a finite number")
        return number
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
    for with_class in (RoutineDoc, StandaloneRoutineDoc):
        converter.register_structure_hook(
            with_class,
            make_dict_structure_fn(
                with_class,
                converter,
                _cattrs_forbid_extra_keys=True,
                class_=override(rename="class"),
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
    except RecursionError:
        raise SerializationError(f"invalid {what}: nested too deeply", "$") from None
    except Exception as exc:
        try:
            problems = cattrs.transform_error(exc, format_exception=_format_problem)
        except Exception:
            problems = [describe_exception(exc)]
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
    if type(found) is not str or found != expected:
        raise SerializationError(
            f"expected a {expected} document, found format {describe(found)}", "$.format"
        )
    version = data.get("version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise SerializationError(
            f"unsupported {expected} version {describe(version)}; this routilux reads "
            f"version {supported}",
            "$.version",
        )


class _BadNumber(ValueError):
    """A number in JSON text that Python would read as something else."""


def _refuse_constant(name: str) -> Any:
    raise _BadNumber(f'{name} is not JSON (non-finite numbers are stored as {{"$float": ...}})')


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _BadNumber(f"the number {describe(text)} is too large for a float")
    return number


def parse_json(text: str, source: str) -> Any:
    """Parse document text strictly: standard JSON only (no ``NaN``/``Infinity``, no
    number too large for a float, no integer beyond the interpreter's digit limit).

    Raises:
        SerializationError: naming ``source`` and what is wrong.
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise SerializationError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except _BadNumber as exc:
        raise SerializationError(f"{source} holds an invalid number: {exc}") from None
    except ValueError as exc:  # an integer with more digits than int() may convert
        raise SerializationError(f"{source} holds an invalid number: {exc}") from None
    except RecursionError:
        raise SerializationError(f"{source} is nested too deeply to read") from None


def read_json(path: str | os.PathLike[str], expected: str) -> Any:
    """Read a document file.

    Only a regular file is read (a directory, a device or a pipe is refused, so that
    ``/dev/zero`` cannot make a load run for ever). A UTF-8 byte order mark is
    allowed.

    Raises:
        FileNotFoundError: if there is no such file.
        SerializationError: naming the file, if it cannot be read, is not UTF-8 JSON
            or not a supported ``expected`` document.
    """
    file = Path(path)
    try:
        # Non-blocking, so that opening a named pipe does not wait for a writer.
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(descriptor, "rb") as stream:
            mode = os.fstat(descriptor).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError
            if not stat.S_ISREG(mode):
                raise SerializationError(f"{file} is not a regular file")
            raw = stream.read()
    except SerializationError:
        raise
    except FileNotFoundError:
        raise FileNotFoundError(f"{expected} file not found: {file}") from None
    except IsADirectoryError:
        raise SerializationError(f"{file} is a directory, not a {expected} file") from None
    except OSError as exc:
        raise SerializationError(
            f"cannot read {file}: {exc.strerror or describe_exception(exc)}"
        ) from exc
    except ValueError as exc:  # a path the system cannot take (an embedded NUL)
        raise SerializationError(f"cannot read {str(file)!r}: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SerializationError(f"{file} is not UTF-8 text: {exc}") from None
    data = parse_json(text, str(file))
    try:
        check_header(data, expected)
    except SerializationError as exc:
        raise _naming(file, exc) from None
    return data


def _naming(file: Path, error: SerializationError) -> SerializationError:
    """``error`` again, with a message that starts with the file it came from."""
    named = SerializationError(f"cannot load {file}: {error}")
    named.path = error.path
    return named


def load_file(path: str | os.PathLike[str], expected: str, build: Callable[[Any], T]) -> T:
    """``build(document)`` for the ``expected`` document in the file ``path``.

    Every SerializationError names the file; the ``path`` attribute still tells where
    in the document the problem is, and the exception that caused it (a constructor
    that raised, say) stays chained.

    Raises:
        FileNotFoundError: if there is no such file.
        SerializationError: for anything wrong with the file or the document.
    """
    file = Path(path)
    data = read_json(file, expected)
    try:
        return build(data)
    except SerializationError as exc:
        raise _naming(file, exc) from exc.__cause__


def write_json(
    path: str | os.PathLike[str], document: dict[str, Any], *, indent: int | None
) -> None:
    """Write ``document`` atomically and durably: a reader sees the old file or the
    new one, never a mix, and once this returns the new file survives a power cut.

    The text goes to a new temporary file (a unique name in the same folder, so that
    concurrent saves to one path never share it), which is flushed to disk and then
    renamed over ``path``; the folder is then synced too where the system allows.
    Concurrent saves to one path all succeed and the file ends up as one of them. The
    temporary file is removed if anything fails. Parent folders are created.

    Raises:
        SerializationError: if the document cannot be written as JSON text (an
            integer beyond the interpreter's digit limit).
        OSError: if the file cannot be written.
    """
    file = Path(path)
    separators = None if indent else (",", ":")
    try:
        try:
            payload = json.dumps(
                document, indent=indent, ensure_ascii=False, separators=separators
            ).encode("utf-8")
        except UnicodeEncodeError:
            # Text that is not valid Unicode (lone surrogates): escape everything instead.
            payload = json.dumps(document, indent=indent, separators=separators).encode("ascii")
    except ValueError as exc:
        raise SerializationError(f"cannot write {file}: {describe_exception(exc)}") from None
    file.parent.mkdir(parents=True, exist_ok=True)
    partial, descriptor = _create_partial(file)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(partial, file)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _sync_folder(file.parent)


def _create_partial(file: Path) -> tuple[Path, int]:
    """A new, empty temporary file next to ``file`` and its descriptor. Created with
    ``O_EXCL`` and mode 0o666, so the saved file gets the permissions the umask
    gives any new file (as a plain ``open(path, "w")`` would)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        partial = file.with_name(f".{file.name}.{secrets.token_hex(8)}.partial")
        try:
            return partial, os.open(partial, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue


def _sync_folder(folder: Path) -> None:
    """Flush the folder entry of a renamed file to disk, where the system can (not on
    Windows, nor on every file system); a failure here loses no data that a crash
    would not have lost anyway, so it is not reported."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
