"""Log records with the job, routine and slot they are about.

Every record Routilux logs (loggers ``routilux`` and ``routilux.*``) has three
attributes, ``job_id``, ``routine_id`` and ``slot``: set where it is about a job or an
activation, None where it is not. So a format can show them::

    logging.basicConfig(format="%(levelname)s [%(job_id)s %(routine_id)s.%(slot)s] %(message)s")

A record of a handler's failure also carries the handler's traceback (``exc_info``).

Your own records get the same attributes with one line: add a :class:`ContextFilter`
to your handler (it sees every record the handler writes, of any logger) or to your
logger::

    handler.addFilter(routilux.log.ContextFilter())

structlog users add :func:`add_job_context` to their processors; it is a plain
function and needs nothing but structlog's processor protocol.

How the context is found: while a slot handler runs, the engine sets the current
activation in a :mod:`contextvars` variable. Code the handler calls, threads it starts
with a copy of its context (``contextvars.copy_context().run``), tasks it creates, and
receivers of :mod:`routilux.signals` about an activation see it; other threads do not.
Nothing is kept between records: the filter and the processor read the variable each
time (thread safe).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import routilux._observe_log as _observe_log

__all__ = ["ContextFilter", "add_job_context", "current_context"]


class ContextFilter(logging.Filter):
    """A :class:`logging.Filter` that gives each record ``job_id``, ``routine_id``
    and ``slot``: those of the activation running where the record was made, or None
    outside one. Attributes a record already has (given with ``extra``, or by
    Routilux) are kept; a record given only a ``job_id`` (``extra={"job_id": ...}``)
    gets the routine and slot of the running activation only if it is of that job. It
    never drops a record.

    Add it to a handler (every record the handler writes) or to a logger (records
    made with that logger only; records of its child loggers are not filtered by it).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _observe_log.fill(record)
        return True


def current_context() -> dict[str, str]:
    """``{"job_id": ..., "routine_id": ..., "slot": ...}`` of the activation running
    in this context; empty outside one."""
    found = _observe_log.current()
    if found is None:
        return {}
    return dict(zip(_observe_log.FIELDS, found, strict=True))


def add_job_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: adds ``job_id``, ``routine_id`` and ``slot`` of the
    current activation to the event (keys it already has are kept); outside an
    activation it adds nothing.

    Use it like any processor::

        structlog.configure(processors=[routilux.log.add_job_context, ...])
    """
    found = _observe_log.current()
    if found is not None:
        for key, value in zip(_observe_log.FIELDS, found, strict=True):
            event_dict.setdefault(key, value)
    return event_dict
