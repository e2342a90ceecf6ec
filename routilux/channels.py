"""Channels: a job's shared key-value store, seen from handlers.

Inside a handler, ``self.get_execution_context().get_channel()`` returns the job's
:class:`Channel`; from outside, ``job_state.get_channel()`` returns the same one. A
channel is a view of ``job_state.shared_data``: a value set through the channel is
in the shared data and the other way round. Each job has its own; nothing is shared
between jobs.

``ctx.get_typed_channel(Schema)`` returns a :class:`TypedChannel`, which checks every
value it stores or reads against a ``TypedDict`` (deeply: nested TypedDicts,
``list[...]``, ``dict[...]``, ``tuple[...]``, ``Optional``, ``Literal``,
``NotRequired``/``total=False``) and raises :class:`~routilux.exceptions.ChannelTypeError`
(a ``TypeError``) naming the key and the path of the wrong value. It never hands back
``None`` for a value that does not fit.
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from collections import abc
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

from routilux.exceptions import ChannelTypeError

if TYPE_CHECKING:
    from routilux.job_state import JobState

__all__ = ["Channel", "TypedChannel"]

T = TypeVar("T")

_MISSING: Any = object()


class Channel:
    """A job's shared data as a key-value store.

    Thread safety: every method takes the job's lock, so handlers running at once
    (under the concurrent strategy, or in threads they start) can share a channel;
    ``increment`` and ``append`` are atomic read-modify-writes. Values are stored by
    reference: change them only through the channel if other handlers may read them.
    """

    __slots__ = ("_job",)

    def __init__(self, job_state: JobState) -> None:
        self._job = job_state

    @property
    def job_state(self) -> JobState:
        """The job whose shared data this channel is."""
        return self._job

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        self._job.update_shared_data(key, value)

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default``."""
        with self._job._lock:
            return self._job.shared_data.get(key, default)

    def keys(self) -> list[str]:
        """The keys, in the order they were first set (a new list)."""
        with self._job._lock:
            return list(self._job.shared_data)

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value."""
        with self._job._lock:
            return key in self._job.shared_data

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was there."""
        job = self._job
        with job._lock:
            found = job.shared_data.pop(key, _MISSING) is not _MISSING
        job._touch()
        return found

    def append(self, key: str, value: Any) -> list[Any]:
        """Append ``value`` to the list under ``key`` (created if missing); atomic.

        Returns the list.

        Raises:
            ChannelTypeError: if ``key`` holds something that is not a list.
        """
        job = self._job
        with job._lock:
            current = job.shared_data.get(key, _MISSING)
            if current is _MISSING:
                current = job.shared_data[key] = []
            elif not isinstance(current, list):
                raise ChannelTypeError(
                    f"channel key '{key}' holds a {type(current).__name__}, not a list"
                )
            current.append(value)
        job._touch()
        return current

    def increment(self, key: str, amount: int | float = 1) -> int | float:
        """Add ``amount`` to the number under ``key`` (0 if missing); atomic.

        Returns the new value.

        Raises:
            ChannelTypeError: if ``key`` holds something that is not a number.
        """
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise ChannelTypeError(
                f"increment of channel key '{key}' needs a number, not {amount!r}"
            )
        job = self._job
        with job._lock:
            current = job.shared_data.get(key, 0)
            if isinstance(current, bool) or not isinstance(current, (int, float)):
                raise ChannelTypeError(
                    f"channel key '{key}' holds a {type(current).__name__}, not a number"
                )
            current = job.shared_data[key] = current + amount
        job._touch()
        return current

    def __contains__(self, key: object) -> bool:
        with self._job._lock:
            return key in self._job.shared_data

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._job.shared_data)

    def __repr__(self) -> str:
        return f"Channel[{self._job.job_id}]"


class TypedChannel(Generic[T]):
    """A :class:`Channel` whose values must match the TypedDict ``schema``.

    ``set`` checks the value before storing it; ``get`` checks the stored value before
    returning it (another handler may have stored something else under the key
    through the plain channel). Both raise :class:`~routilux.exceptions.ChannelTypeError`.
    """

    __slots__ = ("_channel", "_schema")

    def __init__(self, channel: Channel, schema: type[T]) -> None:
        if not _is_typeddict(schema):
            raise ChannelTypeError(f"get_typed_channel needs a TypedDict class, not {schema!r}")
        self._channel = channel
        self._schema = schema

    @property
    def schema(self) -> type[T]:
        """The TypedDict values are checked against."""
        return self._schema

    def set(self, key: str, value: T) -> None:
        """Check ``value`` against the schema and store it under ``key``."""
        check_value(value, self._schema, key, key)
        self._channel.set(key, value)

    def get(self, key: str, default: T | None = None) -> T | None:
        """The value under ``key`` (checked against the schema), or ``default``."""
        value = self._channel.get(key, _MISSING)
        if value is _MISSING:
            return default
        check_value(value, self._schema, key, key)
        return value  # type: ignore[no-any-return]

    def keys(self) -> list[str]:
        """As :meth:`Channel.keys` (every key of the job, typed or not)."""
        return self._channel.keys()

    def exists(self, key: str) -> bool:
        """As :meth:`Channel.exists`."""
        return self._channel.exists(key)

    def delete(self, key: str) -> bool:
        """As :meth:`Channel.delete`."""
        return self._channel.delete(key)

    def __repr__(self) -> str:
        return f"TypedChannel[{self._schema.__qualname__}]"


# -- deep checks ----------------------------------------------------------------------

_NOT_REQUIRED = {
    getattr(module, name)
    for module in (typing, sys.modules.get("typing_extensions"))
    if module is not None
    for name in ("NotRequired", "Required", "ReadOnly")
    if hasattr(module, name)
}


def _describe(kind: Any) -> str:
    if isinstance(kind, type):
        return kind.__qualname__
    return repr(kind).replace("typing.", "")


def _fail(key: str, path: str, expected: str, value: Any) -> ChannelTypeError:
    return ChannelTypeError(
        f"channel key '{key}': the value at {path} must be {expected}, "
        f"got {type(value).__name__} {value!r:.80}"
    )


def check_value(value: Any, kind: Any, key: str, path: str) -> None:
    """Raise :class:`ChannelTypeError` unless ``value`` matches the annotation ``kind``."""
    origin = get_origin(kind)
    if kind is Any or kind is object:
        return
    if origin in _NOT_REQUIRED or origin is typing.Annotated:
        check_value(value, get_args(kind)[0], key, path)
        return
    if kind is None or kind is type(None):
        if value is not None:
            raise _fail(key, path, "None", value)
        return
    if _is_typeddict(kind):
        _check_typeddict(value, kind, key, path)
        return
    if origin is Union or origin is types.UnionType:
        for option in get_args(kind):
            try:
                check_value(value, option, key, path)
                return
            except ChannelTypeError:
                continue
        raise _fail(key, path, " or ".join(_describe(a) for a in get_args(kind)), value)
    if origin is Literal:
        for allowed in get_args(kind):
            if value == allowed and type(value) is type(allowed):
                return
        raise _fail(key, path, f"one of {list(get_args(kind))!r}", value)
    if origin in (list, set, frozenset, abc.Sequence):
        _check_collection(value, origin, kind, key, path)
        return
    if origin is tuple:
        _check_tuple(value, kind, key, path)
        return
    if origin in (dict, abc.Mapping):
        if not isinstance(value, dict):
            raise _fail(key, path, "a dict", value)
        key_kind, item_kind = get_args(kind) or (Any, Any)
        for item_key, item in value.items():
            check_value(item_key, key_kind, key, f"{path}[{item_key!r}] (key)")
            check_value(item, item_kind, key, f"{path}[{item_key!r}]")
        return
    if origin is not None:
        check_value(value, origin, key, path)
        return
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(key, path, "float", value)
        return
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, path, "int", value)
        return
    if isinstance(kind, type):
        if not isinstance(value, kind):
            raise _fail(key, path, kind.__qualname__, value)
        return
    raise ChannelTypeError(f"channel key '{key}': cannot check values against {kind!r}")


def _is_typeddict(kind: Any) -> bool:
    # typing.is_typeddict misses typing_extensions' TypedDict on older Pythons.
    return (
        isinstance(kind, type)
        and issubclass(kind, dict)
        and hasattr(kind, "__required_keys__")
        and hasattr(kind, "__total__")
    )


@functools.lru_cache(maxsize=256)
def _schema_keys(schema: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """The annotations of a TypedDict, and which keys are required.

    Requiredness is read from ``Required``/``NotRequired`` in the resolved hints as
    well as from ``__required_keys__``: with postponed annotations (``from __future__
    import annotations``) Python 3.10 and 3.11 cannot see those wrappers when they build
    ``__required_keys__``.
    """
    try:
        hints = typing.get_type_hints(schema, include_extras=True)
    except Exception as exc:
        raise ChannelTypeError(
            f"cannot read the annotations of {schema.__qualname__}: {exc} (a TypedDict "
            "referring to names defined inside a function cannot be resolved)"
        ) from None
    required = set()
    for name, hint in hints.items():
        marker = _requiredness(hint)
        if marker == "NotRequired":
            continue
        if marker == "Required" or name in schema.__required_keys__:
            required.add(name)
    return hints, frozenset(required)


def _requiredness(hint: Any) -> str | None:
    """ "Required", "NotRequired" or None, looking through Annotated[...] wrappers."""
    while True:
        origin = get_origin(hint)
        if origin is typing.Annotated:
            hint = get_args(hint)[0]
            continue
        if origin in _NOT_REQUIRED:
            name = getattr(origin, "_name", None) or getattr(origin, "__name__", "")
            if name in ("Required", "NotRequired"):
                return str(name)
            hint = get_args(hint)[0]  # ReadOnly[...]
            continue
        return None


def _check_typeddict(value: Any, schema: Any, key: str, path: str) -> None:
    if not isinstance(value, dict):
        raise _fail(key, path, f"a {schema.__qualname__} (a dict)", value)
    hints, required = _schema_keys(schema)
    missing = [name for name in required if name not in value]
    if missing:
        raise ChannelTypeError(
            f"channel key '{key}': the {schema.__qualname__} at {path} lacks "
            f"required key(s) {', '.join(repr(m) for m in sorted(missing))}"
        )
    extra = [name for name in value if name not in hints]
    if extra:
        raise ChannelTypeError(
            f"channel key '{key}': the {schema.__qualname__} at {path} has unknown "
            f"key(s) {', '.join(repr(e) for e in extra)}"
        )
    for name, item in value.items():
        check_value(item, hints[name], key, f"{path}.{name}")


def _check_collection(value: Any, origin: Any, kind: Any, key: str, path: str) -> None:
    expected: Any = {list: list, set: set, frozenset: frozenset}.get(origin, (list, tuple))
    if not isinstance(value, expected):
        raise _fail(key, path, _describe(kind), value)
    (item_kind,) = get_args(kind) or (Any,)
    for index, item in enumerate(value):
        check_value(item, item_kind, key, f"{path}[{index}]")


def _check_tuple(value: Any, kind: Any, key: str, path: str) -> None:
    if not isinstance(value, tuple):
        raise _fail(key, path, _describe(kind), value)
    arguments = get_args(kind)
    if not arguments:  # tuple[()]: the empty tuple
        if value:
            raise _fail(key, path, "an empty tuple", value)
        return
    if len(arguments) == 2 and arguments[1] is Ellipsis:
        for index, item in enumerate(value):
            check_value(item, arguments[0], key, f"{path}[{index}]")
        return
    if len(arguments) != len(value):
        raise _fail(key, path, f"a tuple of {len(arguments)} items", value)
    for index, (item, item_kind) in enumerate(zip(value, arguments, strict=False)):
        check_value(item, item_kind, key, f"{path}[{index}]")
