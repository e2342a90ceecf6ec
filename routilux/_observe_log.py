"""The job, routine and slot of log records (see routilux.log).

Every record a Routilux logger (``routilux`` and ``routilux.*``) makes carries three
attributes, ``job_id``, ``routine_id`` and ``slot``: given by the engine where it logs
about a job or an activation (``extra``), else read from the activation running in the
logging code's context (:data:`routilux._context.current_frame`), else None. A filter
on each of the library's loggers fills them in; :class:`routilux.log.ContextFilter`
does the same for any logger or handler.
"""

from __future__ import annotations

import logging
from typing import Any

from routilux._context import current_frame

__all__ = ["FIELDS", "current", "extra", "fill", "install"]

#: The record attributes (and structlog keys) of an activation's context.
FIELDS = ("job_id", "routine_id", "slot")

#: The library's loggers (a module that adds one must be listed here).
LIBRARY_LOGGERS = (
    "routilux",
    "routilux.redis",
    "routilux.stores.redis",
    "routilux.stores.sqlite",
)


def current() -> tuple[str, str, str] | None:
    """``(job_id, routine_id, slot)`` of the activation running in this context (its
    handler, a thread or task it started with a copy of its context, or a signal
    receiver), or None."""
    frame = current_frame.get()
    if frame is None:
        return None
    info = frame.info
    try:
        return str(info.job.job_state.job_id), info.routine_id, info.slot.name
    except AttributeError:  # a driver's frame before its first activation (info None)
        return None


def extra(
    job_id: str | None, routine_id: str | None = None, slot: str | None = None
) -> dict[str, Any]:
    """The ``extra`` of a record the engine logs about a job or an activation."""
    return {"job_id": job_id, "routine_id": routine_id, "slot": slot}


def fill(record: logging.LogRecord) -> None:
    """Give ``record`` the attributes of :data:`FIELDS` it lacks: from the current
    activation, else None. A record given only its ``job_id`` (``extra={"job_id":
    ...}``, as stores and runtimes log about a job) gets the routine and slot of the
    current activation only if that activation is of the same job."""
    attributes = record.__dict__
    if "job_id" in attributes and "routine_id" in attributes and "slot" in attributes:
        return
    found = current()
    if found is not None and "job_id" in attributes and str(attributes["job_id"]) != found[0]:
        found = None  # about another job than the activation running here
    values: tuple[str | None, ...] = found if found is not None else (None, None, None)
    for name, value in zip(FIELDS, values, strict=True):
        attributes.setdefault(name, value)


class _LibraryFilter(logging.Filter):
    """Fills in the context of every record of a library logger (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fill(record)
        return True


_FILTER = _LibraryFilter()


def install() -> None:
    """Put the filter on the library's loggers (those named in :data:`LIBRARY_LOGGERS`
    and any ``routilux.*`` logger made so far); idempotent."""
    names = set(LIBRARY_LOGGERS)
    names.update(
        name
        for name in list(logging.Logger.manager.loggerDict)
        if isinstance(name, str) and name.startswith("routilux.")
    )
    for name in sorted(names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


install()
