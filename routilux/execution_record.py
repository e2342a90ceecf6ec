"""One entry of a job's execution history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import routilux._codecs as _codecs
from routilux._hybrid import hybridmethod

__all__ = ["ExecutionRecord"]


class ExecutionRecord:
    """One history entry: ``routine_id`` did ``event_name`` with ``data`` at ``timestamp``.

    The framework writes ``"start"`` and ``"completed"`` for the entry routine, one
    record per emitted event (``event_name`` is the event, ``data`` what was emitted,
    before any parameter mapping), ``"error"`` and ``"error_continued"`` for failures
    and ``"retry"`` for an attempt that will be retried.

    ``timestamp`` is a :class:`~datetime.datetime` in local time. Records returned by
    :meth:`JobState.get_execution_history` are new objects built from the job's
    compact history; changing them does not change the job.
    """

    __slots__ = ("_time", "data", "event_name", "routine_id")

    def __init__(
        self,
        routine_id: str = "",
        event_name: str = "",
        data: dict[str, Any] | None = None,
        timestamp: datetime | float | None = None,
    ) -> None:
        self.routine_id = routine_id
        self.event_name = event_name
        self.data: dict[str, Any] = {} if data is None else data
        if timestamp is None:
            self._time: datetime | float = datetime.now()
        else:
            self._time = timestamp

    @property
    def timestamp(self) -> datetime:
        """When the record was written (local time)."""
        moment = self._time
        if isinstance(moment, datetime):
            return moment
        return datetime.fromtimestamp(moment)

    @timestamp.setter
    def timestamp(self, value: datetime) -> None:
        self._time = value

    @property
    def time(self) -> float:
        """The timestamp as seconds since the epoch (as :func:`time.time` gives)."""
        moment = self._time
        if isinstance(moment, datetime):
            return moment.timestamp()
        return moment

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecutionRecord):
            return NotImplemented
        return (
            self.routine_id == other.routine_id
            and self.event_name == other.event_name
            and self.data == other.data
            and self.time == other.time
        )

    __hash__ = None  # type: ignore[assignment]

    # -- saving and loading (the 0.9 API, in routilux's own safe format) ---------------

    def serialize(self) -> dict[str, Any]:
        """This record as a ``routilux.execution_record`` document:
        ``routine_id``, ``event_name``, ``data`` and ``timestamp`` (ISO).

        Raises:
            SerializationError: for data that cannot be stored, naming where it is.
        """
        return _codecs.to_document("record", self)

    @hybridmethod
    def deserialize(
        cls: type[ExecutionRecord], instance: ExecutionRecord | None, data: Any
    ) -> ExecutionRecord:
        """Build a record from a ``routilux.execution_record`` document.

        ``ExecutionRecord.deserialize(data)`` returns a new record;
        ``record.deserialize(data)`` fills that record and returns it.

        Raises:
            SerializationError: for anything wrong with the document; nothing changes.
        """
        return _codecs.from_document("record", cls, instance, data)

    def __repr__(self) -> str:
        return f"ExecutionRecord[{self.routine_id}.{self.event_name}@{self.timestamp}]"
