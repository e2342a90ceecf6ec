"""Where :meth:`Routine.send_output` delivers output while a job runs.

A job forwards every ``send_output`` call to its output handler (if any) and always
appends the entry to :attr:`JobState.output_log`. Attach a handler with
``flow.execute(..., output_handler=...)`` or :meth:`JobState.set_output_handler`.

Handlers are called synchronously in the thread of the handler that sent the output;
under the ``concurrent`` strategy they are called from several threads at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "CallbackOutputHandler",
    "NullOutputHandler",
    "OutputHandler",
    "QueueOutputHandler",
]


class _Putter(Protocol):
    def put(self, item: Any) -> Any: ...


class OutputHandler(ABC):
    """Receives the outputs a job's routines send. Subclass and implement ``handle``."""

    @abstractmethod
    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        """Handle one output. Exceptions are reported as warnings, never raised."""


class QueueOutputHandler(OutputHandler):
    """Puts each output as a dict on a queue (anything with a ``put`` method).

    The dict has the keys ``job_id``, ``routine_id``, ``output_type``, ``data`` and
    ``timestamp`` (an ISO string). :class:`queue.Queue` is thread safe; a plain list
    wrapper is not.
    """

    def __init__(self, queue: _Putter) -> None:
        self.queue = queue

    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        self.queue.put(
            {
                "job_id": job_id,
                "routine_id": routine_id,
                "output_type": output_type,
                "data": data,
                "timestamp": (timestamp or datetime.now()).isoformat(),
            }
        )


class CallbackOutputHandler(OutputHandler):
    """Calls ``callback(job_id, routine_id, output_type, data, timestamp)``.

    The arguments are positional and ``timestamp`` is a :class:`~datetime.datetime`.
    """

    def __init__(self, callback: Callable[[str, str, str, dict[str, Any], datetime], Any]) -> None:
        self.callback = callback

    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        self.callback(job_id, routine_id, output_type, data, timestamp or datetime.now())


class NullOutputHandler(OutputHandler):
    """Discards every output (the output log still records it)."""

    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        return None
