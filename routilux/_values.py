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

__all__ = ["decode_value", "encode_payload", "encode_value"]


def encode_value(value: Any, path: str = "$") -> Any:
    """``value`` as new JSON-compatible data (see the module documentation).

    The result shares no dict or list with ``value``.

    Raises:
        SerializationError: for a value that cannot be stored, naming where it is.
    """
    try:
        return _encode(value, path)
    except RecursionError:
        raise SerializationError("data nested too deeply (or containing itself)", path) from None


def _encode(value: Any, path: str) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if kind is dict:
        return _encode_dict(value, path)
    if kind is list:
        return [_encode(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return _encode_other(value, path)


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
            or kind is int
            or kind is bool
            or item is None
            or (kind is float and math.isfinite(item))
        ):
            return False
    return True


def _encode_dict(value: dict[Any, Any], path: str) -> Any:
    plain = True
    for key, item in value.items():
        if type(key) is not str or key[:1] == "$":
            return {
                "$dict": [
                    [_encode(k, f"{path}.<key>"), _encode(v, f"{path}[{k!r}]")]
                    for k, v in value.items()
                ]
            }
        if plain:
            kind = type(item)
            if not (
                kind is str
                or kind is int
                or kind is bool
                or item is None
                or (kind is float and math.isfinite(item))
            ):
                plain = False
    if plain:
        return dict(value)  # JSON data already: a shallow copy is a full one
    return {key: _encode(item, f"{path}.{key}") for key, item in value.items()}


def _encode_other(value: Any, path: str) -> Any:
    if isinstance(value, Enum):
        name = name_of(type(value))
        if name is None:
            raise SerializationError(
                f"cannot store {value!r}: register {type(value).__qualname__} with "
                "register_serializable",
                path,
            )
        return {"$enum": name, "member": value.name}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"$tuple": [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, (set, frozenset)):
        tag = "$frozenset" if isinstance(value, frozenset) else "$set"
        encoded = [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return {tag: _in_stable_order(encoded)}
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
        return int(value)
    if isinstance(value, float):
        return _encode(float(value), path)
    if isinstance(value, dict):
        return _encode_dict(dict(value), path)
    if isinstance(value, list):
        return _encode(list(value), path)
    if isinstance(value, type):
        raise SerializationError(f"cannot store the class {value.__qualname__} as data", path)
    name = name_of(type(value))
    if name is not None and _is_record_class(type(value)):
        return {"$object": name, "fields": _encode_fields(value, path)}
    if callable(value):
        function_name = name_of(value)
        if function_name is not None:
            return {"$function": function_name}
        raise SerializationError(
            f"cannot store the function {getattr(value, '__qualname__', value)!r}: register "
            "it with register_serializable",
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


def _encode_fields(value: Any, path: str) -> dict[str, Any]:
    """The ``__init__`` arguments that rebuild ``value`` (fields with ``init=False``
    are left to ``__init__``)."""
    return {
        argument: _encode(getattr(value, attribute), f"{path}.{attribute}")
        for attribute, argument in _init_fields(type(value))
    }


def decode_value(data: Any, path: str = "$") -> Any:
    """The value ``encode_value`` wrote as ``data``.

    Raises:
        SerializationError: for anything that is not valid encoded data.
    """
    try:
        return _decode(data, path)
    except RecursionError:
        raise SerializationError("data nested too deeply", path) from None


def _decode(data: Any, path: str) -> Any:
    kind = type(data)
    if kind is str or kind is int or kind is bool or data is None:
        return data
    if kind is float:
        return data
    if kind is list:
        return [_decode(item, f"{path}[{index}]") for index, item in enumerate(data)]
    if kind is dict:
        if len(data) == 1:
            (key,) = data
            if type(key) is str and key.startswith("$"):
                return _decode_tagged(key, data[key], path)
        elif "$object" in data or "$enum" in data:
            return _decode_tagged("$object" if "$object" in data else "$enum", data, path)
        for key in data:
            if type(key) is not str:
                raise SerializationError(f"object keys must be strings, not {key!r}", path)
        return {key: _decode(item, f"{path}.{key}") for key, item in data.items()}
    raise SerializationError(f"unexpected {kind.__name__} in stored data", path)


def _decode_list(body: Any, tag: str, path: str) -> list[Any]:
    if type(body) is not list:
        raise SerializationError(f"{tag} must hold a list", path)
    return [_decode(item, f"{path}[{index}]") for index, item in enumerate(body)]


def _decode_text(body: Any, tag: str, path: str) -> str:
    if type(body) is not str:
        raise SerializationError(f"{tag} must hold a string", path)
    return body


def _decode_tagged(tag: str, body: Any, path: str) -> Any:
    try:
        if tag == "$tuple":
            return tuple(_decode_list(body, tag, path))
        if tag == "$set":
            return set(_decode_list(body, tag, path))
        if tag == "$frozenset":
            return frozenset(_decode_list(body, tag, path))
        if tag == "$dict":
            pairs = _decode_list(body, tag, path)
            if not all(type(pair) is list and len(pair) == 2 for pair in pairs):
                raise SerializationError("$dict must hold [key, value] pairs", path)
            return {_hashable(k, path): v for k, v in pairs}
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
                raise SerializationError(f"$float must be nan, inf or -inf, not {text!r}", path)
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
        if tag == "$object":
            return _decode_object(body, path)
        if tag == "$enum":
            return _decode_enum(body, path)
    except SerializationError:
        raise
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise SerializationError(f"invalid {tag} value: {exc}", path) from None
    raise SerializationError(f"unknown tag {tag!r} in stored data", path)


def _hashable(key: Any, path: str) -> Any:
    try:
        hash(key)
    except TypeError:
        raise SerializationError(f"dict key {key!r} is not hashable", path) from None
    return key


def _decode_object(body: Any, path: str) -> Any:
    if type(body) is not dict or set(body) != {"$object", "fields"}:
        raise SerializationError("$object must have exactly '$object' and 'fields'", path)
    cls = registered(body["$object"]) if type(body["$object"]) is str else None
    if not isinstance(cls, type) or not _is_record_class(cls):
        raise SerializationError(
            f"no attrs class, dataclass or named tuple is registered as {body['$object']!r}",
            path,
        )
    fields = body["fields"]
    if type(fields) is not dict:
        raise SerializationError("$object fields must be an object", path)
    values = {key: _decode(item, f"{path}.{key}") for key, item in fields.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise SerializationError(f"cannot rebuild {body['$object']}: {exc}", path) from None


def _decode_enum(body: Any, path: str) -> Any:
    if type(body) is not dict or set(body) != {"$enum", "member"}:
        raise SerializationError("$enum must have exactly '$enum' and 'member'", path)
    cls = registered(body["$enum"]) if type(body["$enum"]) is str else None
    if not (isinstance(cls, type) and issubclass(cls, Enum)):
        raise SerializationError(f"no Enum is registered as {body['$enum']!r}", path)
    member = body["member"]
    if type(member) is not str or member not in cls.__members__:
        raise SerializationError(f"{body['$enum']} has no member {member!r}", path)
    return cls[member]
