"""Columnar JSON forms of history rows and pending activations, for stores.

A durable store writes a running job's new history rows and queued activations at
every checkpoint: hundreds of thousands of small items in a long job. Encoding them one
by one (a function call, a dict and a type check per value) cost several times the
job's own work. Here a batch is kept by column, one JSON list per field, and a column
whose values are JSON data already (scalars, or flat dicts of scalars with plain keys:
the usual payloads) is checked with a few C-level passes and written as it is; only
other columns are encoded value by value.

The forms are JSON objects tagged with ``"format"`` and ``"version"``; :func:`expand_history`
and :func:`expand_activations` turn them back into the rows of
:func:`routilux.documents.history_since` and the objects of
:func:`routilux.documents.encode_activations`.
"""

from __future__ import annotations

import array
import base64
import itertools
import math
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from routilux._activation_parts import ActivationParts
from routilux._history import OneKey, RecordName
from routilux._job_document import RECORD_MARK
from routilux._values import _SAFE_INT_BITS, describe, encode_value
from routilux.activation import Activations
from routilux.exceptions import SerializationError

if TYPE_CHECKING:
    from routilux.job_state import JobState

__all__ = [
    "ACTIVATIONS_FORMAT",
    "HISTORY_FORMAT",
    "compact_activations",
    "compact_history",
    "expand_activations",
    "expand_history",
]

HISTORY_FORMAT = "routilux.history-columns"
ACTIVATIONS_FORMAT = "routilux.activation-columns"
_VERSION = 1

_SCALARS = frozenset({str, int, float, bool, type(None)})
_SCALARS_OR_DICT = _SCALARS | {dict}


def _of_type(values: list[Any], kind: type) -> list[Any]:
    """The values of exactly the type ``kind`` (in C: half a list comprehension's time)."""
    return list(itertools.compress(values, map({kind}.__contains__, map(type, values))))


def _scalars_are_plain(values: list[Any], kinds: set[type]) -> bool:
    """Whether the ints and floats among ``values`` (of the types ``kinds``) are JSON
    data as they are: finite floats, ints short enough to write as text."""
    if float in kinds:
        floats = values if len(kinds) == 1 else _of_type(values, float)
        # A NaN or an infinity makes the sum one (so may an overflow, which only
        # sends the column down the slow path).
        total = sum(floats)
        if total != total or total in (math.inf, -math.inf):
            return False
    if int in kinds:
        ints = values if len(kinds) == 1 else _of_type(values, int)
        if max(ints).bit_length() >= _SAFE_INT_BITS or min(ints).bit_length() >= _SAFE_INT_BITS:
            return False
    return True


def _plain(values: list[Any], one_key: bool) -> Any:
    """``values`` as they are, if all are JSON data already: scalars, or dicts of
    scalars whose keys are str not starting with ``$`` (the codec's tags); with
    ``one_key``, dicts that all hold the same one key as ``{"key", "values"}`` (most
    payloads are one value). None if some value must be encoded."""
    kinds = set(map(type, values))
    if not kinds <= _SCALARS_OR_DICT or not _scalars_are_plain(values, kinds):
        return None
    if dict not in kinds:
        return values
    dicts = values if len(kinds) == 1 else _of_type(values, dict)
    keys = set(itertools.chain.from_iterable(dicts))
    for key in keys:
        if type(key) is not str or key[:1] == "$":
            return None
    inner = list(itertools.chain.from_iterable(map(dict.values, dicts)))
    inner_kinds = set(map(type, inner))
    if not inner_kinds <= _SCALARS or not _scalars_are_plain(inner, inner_kinds):
        return None
    if one_key and dicts is values and len(keys) == 1 and len(inner) == len(values):
        return {"key": keys.pop(), "values": inner}
    return values


def _encoded_column(
    values: list[Any], path: str, offset: int, suffix: str, *, one_key: bool = False
) -> Any:
    """``values`` as JSON data: the list itself when it is already (its dicts are the
    job's own: turn the batch into text before the job goes on), or a one-key column
    (see :func:`_plain`). A value that cannot be stored is named as ``path[offset +
    index]suffix``."""
    plain = _plain(values, one_key)
    if plain is not None:
        return plain
    return [
        encode_value(value, f"{path}[{offset + index}]{suffix}")
        for index, value in enumerate(values)
    ]


def _name_token(name: Any) -> Any:
    """How a history row's name is written: ``"event"`` for an emission, ``["event",
    key]`` for an emission whose data is ``{key: value}`` (the row holds the value),
    ``["name"]`` for a record that is not an emission."""
    if type(name) is str:
        return name
    if isinstance(name, RecordName):
        return [str(name)]
    if type(name) is OneKey:
        return [name.event_name, name.key]
    if isinstance(name, str):
        return str(name)
    return str(name.name)  # an event object


# Column shapes. Indexes into a small table and times are written as base64 text of
# little-endian binary numbers: a JSON number costs the encoder as much as a small
# dict, and a float's text three times an int's.
def _packed(numbers: list[int] | list[float], typecode: str) -> str:
    packed = array.array(typecode, numbers)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _unpacked(text: Any, typecode: str, count: int, what: str) -> list[Any]:
    if type(text) is not str:
        raise SerializationError(f"{what} is {describe(text)}, not base64 text")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise SerializationError(f"{what} is not valid base64 text") from None
    unpacked = array.array(typecode)
    if len(raw) != count * unpacked.itemsize:
        raise SerializationError(f"{what} holds {len(raw)} bytes, not {count} numbers")
    unpacked.frombytes(raw)
    if sys.byteorder == "big":
        unpacked.byteswap()
    return unpacked.tolist()


def _index_typecode(size: int) -> str:
    return "B" if size <= 0xFF else "H" if size <= 0xFFFF else "I"


def _table_column(table: list[Any], index: list[int]) -> dict[str, Any]:
    """A column of values taken from ``table`` by ``index``."""
    return {"table": table, "index": _packed(index, _index_typecode(len(table)))}


def _by_value(values: list[Any]) -> Any:
    """A column of few distinct (hashable) values as a table and indexes."""
    try:
        table = list(dict.fromkeys(values))
    except TypeError:  # not hashable: written as it is, for the loader to refuse
        return values
    position = {value: index for index, value in enumerate(table)}
    return _table_column(table, list(map(position.__getitem__, values)))


def _times(times: list[Any]) -> Any:
    """Seconds since the epoch, exactly, as binary doubles."""
    if set(map(type, times)) <= {float}:
        return {"doubles": _packed(times, "d")}
    return [float(moment) for moment in times]


def compact_history(job: JobState, index: int) -> tuple[int, int, dict[str, Any]]:
    """``(first position, count, columns)`` of the job's history rows from ``index``
    on (see :func:`routilux.documents.compact_history`)."""
    first, flat = job._history.flat_since(index)
    names = flat[1::4]
    # Names are told apart by identity: a RecordName equals the plain str.
    by_id = dict(zip(map(id, names), names, strict=True))
    position = {key: index for index, key in enumerate(by_id)}
    columns = {
        "format": HISTORY_FORMAT,
        "version": _VERSION,
        "count": len(names),
        "routine_ids": _by_value(flat[0::4]),
        "names": _table_column(
            [_name_token(name) for name in by_id.values()],
            list(map(position.__getitem__, map(id, names))),
        ),
        "data": _encoded_column(flat[2::4], "$.execution_history", first, "[2]"),
        "times": _times(flat[3::4]),
    }
    return first, len(names), columns


def _count(value: Any, form: str, what: str) -> int:
    if type(value) is not dict or value.get("format") != form:
        raise SerializationError(f"{what} are {describe(value)}, not a {form!r} object")
    if value.get("version") != _VERSION:
        raise SerializationError(f"{what} have version {describe(value.get('version'))}")
    count = value.get("count")
    if type(count) is not int or count < 0:
        raise SerializationError(f"{what}: the count is {describe(count)}")
    return count


def _column(value: Any, name: str, count: int, what: str) -> list[Any]:
    """A column as a list of ``count`` values, from any of the shapes written here."""
    column = value.get(name)
    where = f"{what}: column {name!r}"
    if type(column) is dict:
        column = _expanded(column, count, where)
    if type(column) is not list:
        raise SerializationError(f"{where} is {describe(column)}, not a list")
    if len(column) != count:
        raise SerializationError(f"{where} holds {len(column)} values, not {count}")
    return column


def _expanded(column: dict[str, Any], count: int, what: str) -> list[Any]:
    if "table" in column:
        table = column["table"]
        if type(table) is not list:
            raise SerializationError(f"{what} has a damaged table")
        index = _unpacked(column.get("index"), _index_typecode(len(table)), count, what)
        if index and max(index) >= len(table):
            raise SerializationError(f"{what} points outside its table")
        return list(map(table.__getitem__, index))
    if "doubles" in column:
        return _unpacked(column["doubles"], "d", count, what)
    if "key" in column:
        key, values = column["key"], column.get("values")
        if type(key) is not str or type(values) is not list:
            raise SerializationError(f"{what} has a damaged key or values")
        return [{key: value} for value in values]
    if "prefix" in column:
        return _numbered(column, count, what)
    raise SerializationError(f"{what} is {describe(column)}")


def _numbered(column: dict[str, Any], count: int, what: str) -> list[Any]:
    prefix, start, changed = column["prefix"], column.get("start"), column.get("except")
    if type(prefix) is not str or type(start) is not int or type(changed) is not list:
        raise SerializationError(f"{what} has a damaged id scheme")
    ids: list[Any] = [f"{prefix}{seq}" for seq in range(start, start + count)]
    for pair in changed:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not int:
            raise SerializationError(f"{what} has a damaged id exception {describe(pair)}")
        if not 0 <= pair[0] < count:
            raise SerializationError(f"{what} has an id exception out of range")
        ids[pair[0]] = pair[1]
    return ids


def _one_key_data(key: Any, value: Any) -> Any:
    if key is None:
        return {}
    if type(key) is not str:
        raise SerializationError(f"history columns: a one-key name has the key {describe(key)}")
    if key[:1] == "$":  # a plain dict would read as one of the codec's tags
        return {"$dict": [[key, value]]}
    return {key: value}


def expand_history(value: Any) -> list[list[Any]]:
    """The rows of :func:`compact_history`'s columns, as
    :func:`routilux.documents.history_since` gives them."""
    what = "history columns"
    count = _count(value, HISTORY_FORMAT, what)
    routine_ids, names, data, times = (
        _column(value, name, count, what) for name in ("routine_ids", "names", "data", "times")
    )
    rows: list[list[Any]] = []
    append = rows.append
    for routine_id, name, item, moment in zip(routine_ids, names, data, times, strict=True):
        if type(name) is str:
            append([routine_id, name, item, moment])
        elif type(name) is list and len(name) == 2:
            append([routine_id, name[0], _one_key_data(name[1], item), moment])
        elif type(name) is list and len(name) == 1:
            append([routine_id, name[0], item, moment, RECORD_MARK])
        else:
            raise SerializationError(f"{what}: a row's name is {describe(name)}")
    return rows


def _ids(parts: ActivationParts) -> Any:
    if parts.given_ids is not None:
        return parts.given_ids
    start, count = parts.first_seq, len(parts.datas)
    kept = parts.kept_ids
    changed = [[seq - start, kept[seq]] for seq in sorted(kept) if start <= seq < start + count]
    return {"prefix": parts.id_prefix, "start": start, "except": changed}


def compact_activations(activations: Iterable[Any]) -> dict[str, Any]:
    """Activations as columns (see :func:`routilux.documents.compact_activations`)."""
    if not isinstance(activations, Activations):
        activations = Activations(
            [
                (
                    item["slot_routine_id"],
                    item["slot_name"],
                    item["data"],
                    str(
                        getattr(item, "activation_id", None)
                        or item.get("activation_id")
                        or f"p{index}"
                    ),
                    int(item["retry_count"] or 0),
                    bool(item["is_entry"]),
                    bool(item["merged"]),
                )
                for index, item in enumerate(activations)
            ]
        )
    try:
        parts = activations._parts_of()
    except TypeError:  # a routine id or slot name that cannot be a dict key
        raise SerializationError(
            "pending activations must name their routine and slot by str", "$.pending_tasks"
        ) from None
    kinds = _table_column([list(kind) for kind in parts.kinds], parts.kind_of)
    return {
        "format": ACTIVATIONS_FORMAT,
        "version": _VERSION,
        "count": len(parts.datas),
        "kinds": kinds,
        "data": _encoded_column(parts.datas, "$.pending_tasks", 0, ".data", one_key=True),
        "ids": _ids(parts),
    }


def expand_activations(value: Any) -> list[dict[str, Any]]:
    """The ``pending_tasks`` objects of :func:`compact_activations`'s columns."""
    what = "activation columns"
    count = _count(value, ACTIVATIONS_FORMAT, what)
    kinds, data, ids = (_column(value, name, count, what) for name in ("kinds", "data", "ids"))
    expanded = []
    for kind, item, activation_id in zip(kinds, data, ids, strict=True):
        if type(kind) is not list or len(kind) != 5:
            raise SerializationError(f"{what}: an activation's kind is {describe(kind)}")
        routine_id, slot, attempt, entry, merged = kind
        expanded.append(
            {
                "slot_routine_id": routine_id,
                "slot_name": slot,
                "data": item,
                "retry_count": attempt,
                "merged": merged,
                "is_entry": entry,
                "activation_id": activation_id,
            }
        )
    return expanded
