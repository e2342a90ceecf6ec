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
from collections.abc import MutableSequence
from typing import Any

from routilux.execution_record import ExecutionRecord

__all__ = ["History"]


class History:
    """Append-only record columns, optionally keeping only the newest ``limit``.

    Thread safety: ``append`` and the readers take one lock, so rows never tear.
    """

    __slots__ = ("_data", "_events", "_limit", "_lock", "_routines", "_times", "dropped")

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"history limit must be a positive int or None, not {limit!r}")
        self._lock = threading.Lock()
        self._limit = limit
        self._routines: MutableSequence[str]
        self._events: MutableSequence[str]
        self._data: MutableSequence[Any]
        self._times: MutableSequence[float]
        if limit is None:
            self._routines, self._events, self._data = [], [], []
            self._times = array("d")
        else:
            self._routines = deque(maxlen=limit)
            self._events = deque(maxlen=limit)
            self._data = deque(maxlen=limit)
            self._times = deque(maxlen=limit)
        #: How many records were discarded because of the limit.
        self.dropped = 0

    @property
    def limit(self) -> int | None:
        return self._limit

    def append(self, routine_id: str, event_name: str, data: Any, moment: float) -> None:
        with self._lock:
            if self._limit is not None and len(self._routines) == self._limit:
                self.dropped += 1
            self._routines.append(routine_id)
            self._events.append(event_name)
            self._data.append(data)
            self._times.append(moment)

    def records(self, routine_id: str | None = None) -> list[ExecutionRecord]:
        """The records in the order they were written, optionally for one routine."""
        with self._lock:
            rows = list(zip(self._routines, self._events, self._data, self._times, strict=True))
        if routine_id is None:
            return [ExecutionRecord(r, e, d, t) for r, e, d, t in rows]
        return [ExecutionRecord(r, e, d, t) for r, e, d, t in rows if r == routine_id]

    def rows(self) -> list[tuple[str, str, Any, float]]:
        """The raw rows ``(routine_id, event_name, data, time)``, oldest first."""
        with self._lock:
            return list(zip(self._routines, self._events, self._data, self._times, strict=True))

    def clear(self) -> None:
        with self._lock:
            for column in (self._routines, self._events, self._data):
                column.clear()  # type: ignore[attr-defined]
            if self._limit is None:
                self._times = array("d")
            else:
                self._times.clear()  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._routines)
