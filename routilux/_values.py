"""How job data (payloads, states, shared data) is written to JSON and read back.

JSON has no tuples, sets, datetimes or non-string keys, and silently turning them
into lists or strings is a trap (a tuple that comes back as a list no longer equals
the original). Values JSON cannot hold are written as one-key objects whose key
starts with ``$``:

========================  ===========================================
``{"$tuple": [...]}``     a tuple
``{"$set": [...]}``       a set (``"$frozenset"`` for a frozenset)
``{"$dict": [[k, v]]}``   a dict with non-string keys or keys starting with ``$``
``{"$datetime": iso}``    a datetime (also ``$date``, ``$time``)
``{"$timedelta": [d, s,   a timedelta: days, seconds, microseconds
  us]}``
``{"$float": "nan"}``     nan, inf and -inf
``{"$bytes": base64}``    bytes
``{"$decimal": "1.5"}``   a Decimal (also ``$uuid``)
``{"$object": name,       an instance of a registered attrs class, dataclass or
  "fields": {...}}``      named tuple
``{"$enum": name,         a member of a registered Enum
  "member": "RED"}``
``{"$function": name}``   a registered function
========================  ===========================================

Subclasses of dict, list, str, int and float are written as their base type. Any other
value raises :class:`~routilux.exceptions.SerializationError` naming where it is:
nothing is ever pickled.

Limits, the same both ways so that whatever is written can be read back: data may be
nested at most :data:`MAX_DEPTH` levels deep, an integer must be convertible to text
under the interpreter's limit (:func:`sys.get_int_max_str_digits`, 4300 digits by
default), and a plain float in stored data must be finite (``nan`` and the infinities
are written tagged). Reading never lets anything but
:class:`~routilux.exceptions.SerializationError` out: an exception raised by a
registered class's constructor (or its ``__hash__``/``__eq__`` while rebuilding a set
or dict) becomes one naming the class and the path, with the original chained.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs

from routilux.exceptions import SerializationError
from routilux.registry import name_of, registered

__all__ = ["MAX_DEPTH", "decode_value", "describe", "encode_payload", "encode_value"]

#: How many containers (lists, dicts, tuples, sets, records) data may nest, written or
#: read. Deeper data, and data that contains itself, is refused with a
#: SerializationError instead of exhausting the interpreter's stack.
MAX_DEPTH = 200

# An int with fewer bits than this has fewer than 4300 decimal digits, the default
# limit of int <-> str conversion; only bigger ones need the (slower) exact check.
_SAFE_INT_BITS = 14_000


def describe(value: Any, limit: int = 60) -> str:
    """A short ``repr`` of ``value`` for an error message, that never raises (an
    int too long to convert to text, or a ``__repr__`` that fails, is described by
    its type)."""
    try:
        text = repr(value)
    except Exception:
        if type(value) is int:
            return f"<an integer of {value.bit_length()} bits>"
        return f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_exception(exc: BaseException) -> str:
    """``"TypeName: message"`` of ``exc``, without raising if its ``__str__`` does."""
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable message>"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _check_int(value: int, path: str) -> None:
    """Refuse an int JSON text cannot hold under the interpreter's digit limit."""
    if value.bit_length() >= _SAFE_INT_BITS:
        try:
            str(value)
        except ValueError:
            raise SerializationError(
                f"an integer of {value.bit_length()} bits has too many digits to store as "
                "JSON text (see sys.set_int_max_str_digits)",
                path,
            ) from None


def _too_deep(path: str) -> SerializationError:
    return SerializationError(
        f"data nested more than {MAX_DEPTH} levels deep (or containing itself)", path
    )


def encode_value(value: Any, path: str = "$") -> Any:
    """``value`` as new JSON-compatible data (see the module documentation).

    The result shares no dict or list with ``value``.

    Raises:
        SerializationError: for a value that cannot be stored, naming where it is.
    """
    try:
        return _encode(value, path, 0)
    except RecursionError:
        raise _too_deep(path) from None


def _encode(value: Any, path: str, depth: int) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if value.bit_length() >= _SAFE_INT_BITS:
            _check_int(value, path)
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if depth >= MAX_DEPTH:
        raise _too_deep(path)
    if kind is dict:
        return _encode_dict(value, path, depth + 1)
    if kind is list:
        items = []
        for index, item in enumerate(value):
            items.append(_encode(item, f"{path}[{index}]", depth + 1))
        return items
    return _encode_other(value, path, depth + 1)


def encode_payload(value: Any, path: str = "$") -> Any:
    """Like :func:`encode_value`, but a flat dict of JSON scalars (the usual payload) is
    returned as it is, not copied: for data that is turned into JSON text at once."""
    if type(value) is dict and _is_flat_json(value):
        return value
    return encode_value(value, path)


def _is_flat_json(value: dict[Any, Any]) -> bool:
    for key, item in value.items():
        if type(key) is not str or key[:1] == "$":
            return False
        kind = type(item)
        if not (
            kind is str
            or (kind is int and item.bit_length() < _SAFE_INT_BITS)
            or kind is bool
            or item is None
            or (kind is float and math.isfinite(item))
        ):
            return False
    return True


def _encode_dict(value: dict[Any, Any], path: str, depth: int) -> Any:
    plain = True
    for key, item in value.items():
        if type(key) is not str or key[:1] == "$":
            pairs = []
            for k, v in value.items():
                pairs.append(
                    [
                        _encode(k, f"{path}.<key>", depth),
                        _encode(v, f"{path}[{describe(k, 200)}]", depth),
                    ]
                )
            return {"$dict": pairs}
        if plain:
            kind = type(item)
            if not (
                kind is str
                or (kind is int and item.bit_length() < _SAFE_INT_BITS)
                or kind is bool
                or item is None
                or (kind is float and math.isfinite(item))
            ):
                plain = False
    if plain:
        return dict(value)  # JSON data already: a shallow copy is a full one
    encoded = {}
    for key, item in value.items():
        encoded[key] = _encode(item, f"{path}.{key}", depth)
    return encoded


def _encode_items(values: Any, path: str, depth: int) -> list[Any]:
    items = []
    for index, item in enumerate(values):
        items.append(_encode(item, f"{path}[{index}]", depth))
    return items


def _encode_other(value: Any, path: str, depth: int) -> Any:
    if isinstance(value, Enum):
        name = name_of(type(value))
        if name is None:
            raise SerializationError(
                f"cannot store {describe(value)}: register {type(value).__qualname__} with "
                "register_serializable",
                path,
            )
        return {"$enum": name, "member": value.name}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"$tuple": _encode_items(value, path, depth)}
    if isinstance(value, (set, frozenset)):
        tag = "$frozenset" if isinstance(value, frozenset) else "$set"
        return {tag: _in_stable_order(_encode_items(value, path, depth))}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return _encode(int(value), path, depth)
    if isinstance(value, float):
        return _encode(float(value), path, depth)
    if isinstance(value, dict):
        return _encode_dict(dict(value), path, depth)
    if isinstance(value, list):
        return _encode_items(value, path, depth)
    if isinstance(value, type):
        raise SerializationError(f"cannot store the class {value.__qualname__} as data", path)
    name = name_of(type(value))
    if name is not None and _is_record_class(type(value)):
        return {"$object": name, "fields": _encode_fields(value, path, depth)}
    if callable(value):
        function_name = name_of(value)
        if function_name is not None:
            return {"$function": function_name}
        raise SerializationError(
            f"cannot store the function {describe(getattr(value, '__qualname__', value), 200)}: "
            "register it with register_serializable",
            path,
        )
    raise SerializationError(
        f"cannot store a value of type {type(value).__qualname__}: use JSON-like data, or "
        "register an attrs class or dataclass with register_serializable",
        path,
    )


def _is_record_class(cls: type) -> bool:
    """attrs classes, dataclasses and named tuples: rebuilt with ``cls(**fields)``."""
    return attrs.has(cls) or dataclasses.is_dataclass(cls) or _is_named_tuple(cls)


def _is_named_tuple(cls: type) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def _init_fields(cls: type) -> list[tuple[str, str]]:
    """``(attribute, __init__ argument)`` for the fields a record's ``__init__`` takes."""
    if attrs.has(cls):
        return [(field.name, field.alias) for field in attrs.fields(cls) if field.init]
    if _is_named_tuple(cls):
        return [(name, name) for name in cls._fields]  # type: ignore[attr-defined]
    return [(field.name, field.name) for field in dataclasses.fields(cls) if field.init]


def _in_stable_order(encoded: list[Any]) -> list[Any]:
    """Encoded set members in an order that depends only on their values, so that
    equal sets are written identically: numbers or strings sorted as such, anything
    else by its JSON text (Python's own ordering is partial for sets and tuples of
    them, and ``repr`` may hold addresses)."""
    kinds = {type(member) for member in encoded}
    if kinds and (kinds <= {int, float} or kinds == {str}):
        return sorted(encoded)
    return sorted(encoded, key=lambda member: json.dumps(member, sort_keys=True))


def _encode_fields(value: Any, path: str, depth: int) -> dict[str, Any]:
    """The ``__init__`` arguments that rebuild ``value`` (fields with ``init=False``
    are left to ``__init__``)."""
    fields = {}
    for attribute, argument in _init_fields(type(value)):
        fields[argument] = _encode(getattr(value, attribute), f"{path}.{attribute}", depth)
    return fields


def decode_value(data: Any, path: str = "$") -> Any:
    """The value ``encode_value`` wrote as ``data``.

    Raises:
        SerializationError: for anything that is not valid encoded data (nothing
            else: a failing constructor of a registered class is reported as one, with
            the original exception chained).
    """
    try:
        return _decode(data, path, 0)
    except RecursionError:
        raise SerializationError("data nested too deeply", path) from None


def _decode(data: Any, path: str, depth: int) -> Any:
    # Containers recurse through at most one helper frame per level, so that
    # MAX_DEPTH levels fit well inside the interpreter's recursion limit.
    kind = type(data)
    if kind is str or kind is bool or data is None:
        return data
    if kind is int:
        if data.bit_length() >= _SAFE_INT_BITS:
            _check_int(data, path)
        return data
    if kind is float:
        if not math.isfinite(data):
            raise SerializationError(
                f'a number must be finite; {data!r} is stored as {{"$float": "{data!r}"}}', path
            )
        return data
    if depth >= MAX_DEPTH:
        raise SerializationError(f"data nested more than {MAX_DEPTH} levels deep", path)
    if kind is list:
        return _decode_items(data, path, depth + 1)
    if kind is dict:
        if len(data) == 1:
            (key,) = data
            if type(key) is str and key.startswith("$"):
                body = data[key]
                if key in _CONTAINER_TAGS:
                    return _decode_container(key, body, path, depth + 1)
                if key == "$object":
                    return _decode_object(body, path, depth + 1)
                if key == "$enum":
                    return _decode_enum(body, path)
                return _decode_scalar(key, body, path)
        elif "$object" in data:
            return _decode_object(data, path, depth + 1)
        elif "$enum" in data:
            return _decode_enum(data, path)
        decoded = {}
        for key, item in data.items():
            if type(key) is not str:
                raise SerializationError(f"object keys must be strings, not {describe(key)}", path)
            decoded[key] = _decode(item, f"{path}.{key}", depth + 1)
        return decoded
    raise SerializationError(f"unexpected {kind.__name__} in stored data", path)


def _decode_items(items: list[Any], path: str, depth: int) -> list[Any]:
    decoded = []
    for index, item in enumerate(items):
        decoded.append(_decode(item, f"{path}[{index}]", depth))
    return decoded


def _decode_text(body: Any, tag: str, path: str) -> str:
    if type(body) is not str:
        raise SerializationError(f"{tag} must hold a string", path)
    return body


_CONTAINER_TAGS = frozenset({"$tuple", "$set", "$frozenset", "$dict"})


def _decode_container(tag: str, body: Any, path: str, depth: int) -> Any:
    if type(body) is not list:
        raise SerializationError(f"{tag} must hold a list", path)
    items = []
    for index, item in enumerate(body):
        items.append(_decode(item, f"{path}[{index}]", depth))
    try:
        if tag == "$tuple":
            return tuple(items)
        if tag == "$set":
            return set(items)
        if tag == "$frozenset":
            return frozenset(items)
        if not all(type(pair) is list and len(pair) == 2 for pair in items):
            raise SerializationError("$dict must hold [key, value] pairs", path)
        result = {}
        for key, value in items:
            result[_hashable(key, path)] = value
        return result
    except SerializationError:
        raise
    except Exception as exc:
        # Building it ran code of the items: a __hash__ or __eq__ that raised. The
        # stored value is what is wrong.
        raise SerializationError(f"invalid {tag} value: {describe_exception(exc)}", path) from exc


def _decode_scalar(tag: str, body: Any, path: str) -> Any:
    """A tagged value without stored children (a datetime, bytes, a function...)."""
    try:
        if tag == "$datetime":
            return datetime.fromisoformat(_decode_text(body, tag, path))
        if tag == "$date":
            return date.fromisoformat(_decode_text(body, tag, path))
        if tag == "$time":
            return time.fromisoformat(_decode_text(body, tag, path))
        if tag == "$timedelta":
            if type(body) is not list or len(body) != 3 or any(type(p) is not int for p in body):
                raise SerializationError("$timedelta must hold [days, seconds, microseconds]", path)
            return timedelta(days=body[0], seconds=body[1], microseconds=body[2])
        if tag == "$float":
            text = _decode_text(body, tag, path)
            if text not in ("nan", "inf", "-inf"):
                raise SerializationError(
                    f"$float must be nan, inf or -inf, not {describe(text)}", path
                )
            return float(text)
        if tag == "$bytes":
            return base64.b64decode(_decode_text(body, tag, path).encode("ascii"), validate=True)
        if tag == "$decimal":
            return Decimal(_decode_text(body, tag, path))
        if tag == "$uuid":
            return uuid.UUID(_decode_text(body, tag, path))
        if tag == "$function":
            from routilux.registry import resolve_function

            return resolve_function(body, path)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(f"invalid {tag} value: {describe_exception(exc)}", path) from exc
    raise SerializationError(f"unknown tag {describe(tag)} in stored data", path)


def _hashable(key: Any, path: str) -> Any:
    try:
        hash(key)
    except TypeError:
        raise SerializationError(f"dict key {describe(key)} is not hashable", path) from None
    return key


def _decode_object(body: Any, path: str, depth: int) -> Any:
    if type(body) is not dict or set(body) != {"$object", "fields"}:
        raise SerializationError("$object must have exactly '$object' and 'fields'", path)
    name = body["$object"]
    cls = registered(name) if type(name) is str else None
    if not isinstance(cls, type) or not _is_record_class(cls):
        raise SerializationError(
            f"no attrs class, dataclass or named tuple is registered as {describe(name)}", path
        )
    fields = body["fields"]
    if type(fields) is not dict:
        raise SerializationError("$object fields must be an object", path)
    values = {}
    for key, item in fields.items():
        if type(key) is not str:
            raise SerializationError(f"field names must be strings, not {describe(key)}", path)
        values[key] = _decode(item, f"{path}.{key}", depth)
    try:
        return cls(**values)
    except Exception as exc:
        # The class's own checks (validators, __post_init__, __new__) refused the
        # stored fields: the document is wrong, not the program.
        raise SerializationError(
            f"cannot rebuild {name} ({cls.__qualname__}) from the stored fields: "
            f"{describe_exception(exc)}",
            path,
        ) from exc


def _decode_enum(body: Any, path: str) -> Any:
    if type(body) is not dict or set(body) != {"$enum", "member"}:
        raise SerializationError("$enum must have exactly '$enum' and 'member'", path)
    name = body["$enum"]
    cls = registered(name) if type(name) is str else None
    if not (isinstance(cls, type) and issubclass(cls, Enum)):
        raise SerializationError(f"no Enum is registered as {describe(name)}", path)
    member = body["member"]
    if type(member) is not str or member not in cls.__members__:
        raise SerializationError(f"{name} has no member {describe(member)}", path)
    return cls.__members__[member]
