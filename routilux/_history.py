"""A job's execution history, stored flat.

A job can write one history record per delivery, so the record store is on the hot
path and holds most of a long job's memory. Records are kept as four consecutive
items of one list (routine id, event name, data, time): 56 bytes per record plus the
data dict, against about 100 for a record object, and one ``list.extend`` of a tuple
per record, which is atomic under the interpreter's lock, so concurrent writers need
no lock of ours and a row can never tear. :class:`~routilux.ExecutionRecord` objects
are built only when somebody reads the history.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from routilux.exceptions import ConfigurationError
from routilux.execution_record import ExecutionRecord

__all__ = ["MAX_HISTORY_LIMIT", "History", "OneKey", "RecordName", "record_name"]

Row = tuple[str, str, Any, float]


class RecordName(str):
    """The event name of a history row that is not an emission.

    ``JobState.record_execution`` (the engine's ``start``, ``completed``, ``error``,
    ``retry`` records, and any a handler writes) stores its name as a ``RecordName``;
    emissions store the event's plain ``str`` name. It compares, hashes and prints as
    the plain string, so records read as before; the type alone keeps a routine's event
    called ``"error"`` apart from the engine's ``"error"`` record (the tracker's
    ``event_flow`` lists emissions only). Saved documents mark such rows.
    """

    __slots__ = ()


_record_names: dict[str, RecordName] = {}


def record_name(name: str) -> RecordName:
    """``name`` as a :class:`RecordName` (one shared object per name)."""
    marked = _record_names.get(name)
    if marked is None:
        if len(_record_names) >= _RECORD_NAME_CACHE:
            return RecordName(name)  # unusual names are not cached forever
        marked = _record_names.setdefault(name, RecordName(name))
    return marked


_RECORD_NAME_CACHE = 256


class OneKey:
    """The event name of a history row whose data had at most one key.

    Most emissions carry one value (``emit("output", value=v)``); the engine stores
    such a row as ``(routine_id, OneKey(event name, key), value, time)`` rather than
    keeping the emission's dict, which is most of a record's memory. Reading the row
    gives ``(routine_id, event name, {key: value}, time)`` again, a new dict each time
    (``{}`` for ``key`` None). One object per event and key, kept by the event.
    """

    __slots__ = ("event_name", "key")

    def __init__(self, event_name: str, key: str | None) -> None:
        self.event_name = event_name
        self.key = key

    def data(self, value: Any) -> dict[str, Any]:
        return {} if self.key is None else {self.key: value}


_WIDTH = 4  # items per record in the flat store
#: The largest ``history_limit`` (far more records than fit in memory).
MAX_HISTORY_LIMIT = 2**40


def _rows(flat: list[Any]) -> list[Row]:
    """Rows from the flat store. An emission is written with its event object in the
    name's place (the engine's commit stores what the handler held, as it is), or with
    a :class:`OneKey` and the value of its one key; it is read back as the event's name
    and data."""
    items = iter(flat)
    return [
        (routine_id, name, data, moment)
        if isinstance(name, str)
        else (routine_id, name.event_name, name.data(data), moment)
        if type(name) is OneKey
        else (routine_id, name.name, data, moment)
        for routine_id, name, data, moment in zip(items, items, items, items, strict=True)
    ]


class History:
    """Append-only records, optionally keeping only the newest ``limit``.

    ``write(row)`` stores one ``(routine_id, event_name, data, time)`` row (the engine
    writes an emission's event object, with a ``name``, in the name's place); for an
    unbounded history it is the flat list's own ``extend``, a single C call.

    Thread safety: writers and readers may run in any threads at once.
    """

    __slots__ = ("_appended", "_flat", "_limit", "_lock", "write")

    write: Callable[[Row], None]

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ConfigurationError(f"history limit must be a positive int or None, not {limit!r}")
        self._limit = limit
        self._lock = threading.Lock()
        self._appended = 0
        if limit is None:
            self._flat: list[Any] | deque[Any] = []
            self.write = self._flat.extend
        else:
            self._flat = deque(maxlen=limit * _WIDTH)
            self.write = self._write_bounded

    def _write_bounded(self, row: Row) -> None:
        with self._lock:
            self._flat.extend(row)
            self._appended += 1

    def append(self, routine_id: str, event_name: str, data: Any, moment: float) -> None:
        """Store one record (``moment`` in seconds since the epoch)."""
        self.write((routine_id, event_name, data, float(moment)))

    @property
    def limit(self) -> int | None:
        return self._limit

    @property
    def dropped(self) -> int:
        """How many records were discarded because of the limit."""
        if self._limit is None:
            return 0
        with self._lock:
            return self._appended - len(self._flat) // _WIDTH

    def rows(self) -> list[Row]:
        """The rows ``(routine_id, event_name, data, time)``, oldest first."""
        if self._limit is None:
            flat = self._flat[:]  # type: ignore[index]  # one atomic copy
        else:
            with self._lock:
                flat = list(self._flat)
        return _rows(flat)

    def rows_since(self, index: int) -> tuple[int, list[Row]]:
        """The rows from absolute position ``index`` on (0 is the first record ever
        written), and the position of the first one returned (later than ``index`` if
        the limit discarded some)."""
        first, flat = self.flat_since(index)
        return first, _rows(flat)

    def flat_since(self, index: int) -> tuple[int, list[Any]]:
        """Like :meth:`rows_since`, but the records as they are stored: four items
        each (routine id, name, data, time), a name being a ``str``, a
        :class:`RecordName`, a :class:`OneKey` (the data is then its key's value) or an
        event object (with a ``name``). A new list."""
        with self._lock:
            dropped = self._appended - len(self._flat) // _WIDTH if self._limit else 0
            first = max(index, dropped)
            skip = (first - dropped) * _WIDTH
            if isinstance(self._flat, list):
                flat = self._flat[skip:]  # one atomic copy of the tail
            else:
                flat = list(itertools.islice(self._flat, skip, None))
        return first, flat

    def records(self, routine_id: str | None = None) -> list[ExecutionRecord]:
        """The records in the order they were written, optionally for one routine."""
        rows = self.rows()
        if routine_id is None:
            return [ExecutionRecord(r, e, d, t) for r, e, d, t in rows]
        return [ExecutionRecord(r, e, d, t) for r, e, d, t in rows if r == routine_id]

    def load(self, rows: list[Row], dropped: int = 0) -> None:
        """Replace the records with ``rows`` (a loaded job's history)."""
        with self._lock:
            self._flat.clear()
            for row in rows:
                self._flat.extend(row)
            self._appended = dropped + len(self._flat) // _WIDTH

    def clear(self) -> None:
        with self._lock:
            self._flat.clear()
            self._appended = 0

    def __len__(self) -> int:
        return len(self._flat) // _WIDTH
