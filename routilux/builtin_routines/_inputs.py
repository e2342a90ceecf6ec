"""How builtin routines pick their input out of a delivery."""

from __future__ import annotations

from typing import Any

__all__ = ["payload"]


def payload(data: Any, extra: dict[str, Any]) -> Any:
    """The input of a routine that works on whole payloads.

    ``data`` if given, else ``extra["data"]``, else all keyword arguments as a dict.
    Unlike :meth:`Routine._extract_input_data` a payload with one key stays a dict:
    ``{"name": "x"}`` is validated or routed as a dict, not as the bare ``"x"`` (0.9
    collapsed it, which changed what DataValidator, TextClipper and ConditionalRouter
    saw depending on how many keys a payload had).
    """
    if data is not None:
        return data
    if "data" in extra:
        return extra["data"]
    return dict(extra)
