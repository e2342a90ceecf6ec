"""A job's execution history, stored in columns.

A job can write one history record per delivery, so the record store is on the hot
path and holds most of a long job's memory. Keeping the four fields in parallel
columns (timestamps as raw doubles) costs 32 bytes per record plus the data dict,
against about 90 for a record object; :class:`~routilux.ExecutionRecord` objects are
built only when somebody reads the history.
"""

from __future__ import annotations

import threading
from array import array
from collections import deque
from collections.abc import Callable, MutableSequence
from typing import Any

from routilux.exceptions import ConfigurationError
from routilux.execution_record import ExecutionRecord

__all__ = ["History"]

Row = tuple[str, str, Any, float]


class History:
    """Append-only record columns, optionally keeping only the newest ``limit``.

    ``append(routine_id, event_name, data, time)`` is an attribute holding a closure
    over the columns: it is called once per emitted event and skips attribute lookups.

    Thread safety: ``append`` and the readers take one lock, so rows never tear.
    """

    __slots__ = ("_columns", "_dropped", "_limit", "_lock", "append")

    append: Callable[[str, str, Any, float], None]

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ConfigurationError(f"history limit must be a positive int or None, not {limit!r}")
        self._lock = threading.Lock()
        self._limit = limit
        self._dropped = [0]
        self._reset()

    def _reset(self) -> None:
        limit = self._limit
        routines: MutableSequence[str]
        events: MutableSequence[str]
        data: MutableSequence[Any]
        times: MutableSequence[float]
        if limit is None:
            routines, events, data, times = [], [], [], array("d")
        else:
            routines, events = deque(maxlen=limit), deque(maxlen=limit)
            data, times = deque(maxlen=limit), deque(maxlen=limit)
        self._columns: tuple[
            MutableSequence[str], MutableSequence[str], MutableSequence[Any], MutableSequence[float]
        ] = (routines, events, data, times)
        lock = self._lock
        add_routine: Callable[[str], None] = routines.append
        add_event: Callable[[str], None] = events.append
        add_data: Callable[[Any], None] = data.append
        add_time: Callable[[float], None] = times.append
        dropped = self._dropped

        if limit is None:

            def append(routine_id: str, event_name: str, payload: Any, moment: float) -> None:
                with lock:
                    add_routine(routine_id)
                    add_event(event_name)
                    add_data(payload)
                    add_time(moment)

        else:

            def append(routine_id: str, event_name: str, payload: Any, moment: float) -> None:
                with lock:
                    if len(routines) == limit:
                        dropped[0] += 1
                    add_routine(routine_id)
                    add_event(event_name)
                    add_data(payload)
                    add_time(moment)

        self.append = append

    @property
    def limit(self) -> int | None:
        return self._limit

    @property
    def dropped(self) -> int:
        """How many records were discarded because of the limit."""
        return self._dropped[0]

    def rows(self) -> list[Row]:
        """The raw rows ``(routine_id, event_name, data, time)``, oldest first."""
        with self._lock:
            return list(zip(*self._columns, strict=True))

    def records(self, routine_id: str | None = None) -> list[ExecutionRecord]:
        """The records in the order they were written, optionally for one routine."""
        rows = self.rows()
        if routine_id is None:
            return [ExecutionRecord(r, e, d, t) for r, e, d, t in rows]
        return [ExecutionRecord(r, e, d, t) for r, e, d, t in rows if r == routine_id]

    def clear(self) -> None:
        with self._lock:
            self._dropped[0] = 0
            self._reset()

    def __len__(self) -> int:
        return len(self._columns[0])
