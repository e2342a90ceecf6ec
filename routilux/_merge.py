"""Merge strategies: how a slot combines what it receives with what it received before.

- ``"override"``: the new data replaces the old; the handler sees the new data.
- ``"append"``: each key accumulates a list. The handler sees only the keys present
  in the new data, each mapped to the whole list collected so far (the list itself,
  not a copy, as in 0.9: it keeps growing with later deliveries).
- a callable ``merge(old, new) -> merged``: the handler sees what it returns; a dict
  result is stored as a shallow copy, anything else as is.

Inside a job the buffer belongs to the job (see :mod:`routilux._job_run`); outside
any job it is the slot's own ``_data``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routilux.exceptions import InvalidStrategyError

__all__ = [
    "APPEND",
    "OVERRIDE",
    "MergeStrategy",
    "append_into",
    "merge",
    "validate_merge_strategy",
]

OVERRIDE = "override"
APPEND = "append"

MergeStrategy = str | Callable[[Any, dict[str, Any]], Any]


def validate_merge_strategy(strategy: Any, where: str) -> MergeStrategy:
    """Return ``strategy`` if it is valid, else raise :class:`InvalidStrategyError`.

    ``where`` names the slot in the error message.
    """
    if strategy in (OVERRIDE, APPEND) or callable(strategy):
        return strategy  # type: ignore[no-any-return]
    raise InvalidStrategyError(
        f"Invalid merge strategy {strategy!r} for {where}: use 'override', 'append' "
        "or a callable (old, new) -> merged"
    )


def merge(strategy: MergeStrategy, old: Any, new: dict[str, Any]) -> tuple[Any, Any]:
    """Merge ``new`` into ``old`` and return ``(stored, handler_data)``.

    ``old`` is the buffer from the previous delivery (``{}`` at first). For
    ``"append"`` the buffer is updated in place.
    """
    if strategy == OVERRIDE:
        stored = dict(new)
        return stored, stored
    if strategy == APPEND:
        buffer = old if isinstance(old, dict) else {}
        return buffer, append_into(buffer, new)
    result = strategy(old, dict(new))  # type: ignore[operator]
    stored = dict(result) if isinstance(result, dict) else result
    return stored, result


def append_into(buffer: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The ``"append"`` strategy: append each value of ``new`` to ``buffer`` in place.

    Returns the handler data: the keys of ``new``, each with its whole (live) list. A
    value already in the buffer that is not a list becomes the first item of one.
    """
    merged = {}
    for key, value in new.items():
        existing = buffer.get(key, _MISSING)
        if type(existing) is list:
            existing.append(value)
        elif existing is _MISSING:
            existing = buffer[key] = [value]
        else:
            existing = buffer[key] = [existing, value]
        merged[key] = existing
    return merged


_MISSING: Any = object()
