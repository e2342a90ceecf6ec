"""DataFlattener: nested data to one flat dict with joined keys."""

from __future__ import annotations

from typing import Any

from routilux.routine import Routine

__all__ = ["DataFlattener"]


class DataFlattener(Routine):
    """Flattens nested dicts and lists into ``{"a.b.0": value}``.

    Slot ``input``; event ``output`` with ``flattened_data``, ``original_type`` and
    ``depth`` (the deepest level reached; a scalar at the top is level 0).

    Config: ``separator`` (``"."``), ``preserve_lists`` (True: items are keyed by
    index; False: every item reuses its list's key, so the last one wins),
    ``max_depth`` (100: a container at that depth is kept as its ``str``, so an
    empty one there reads ``"{}"`` or ``"[]"``).

    A scalar at the top becomes ``{"value": x}``; above ``max_depth``, empty
    containers contribute nothing;
    a cycle gives ``"[Circular Reference]"``; an object with a ``serialize()`` method
    returning a dict is flattened as that dict (its type then reads ``"dict"``). The
    input is picked as by :meth:`Routine._extract_input_data`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(separator=".", preserve_lists=True, max_depth=100)
        self.input_slot = self.define_slot("input", handler=self.flatten)
        self.output_event = self.define_event(
            "output", ["flattened_data", "original_type", "depth"]
        )

    def flatten(self, data: Any = None, **kwargs: Any) -> None:
        """The ``input`` handler: emit the delivery flattened."""
        value = _as_plain(self._extract_input_data(data, **kwargs))
        flattened, depth = self.flatten_value(value)
        self.emit(
            "output", flattened_data=flattened, original_type=type(value).__name__, depth=depth
        )

    def flatten_value(self, value: Any) -> tuple[dict[str, Any], int]:
        """``(flattened dict, depth)`` for ``value``."""
        result: dict[str, Any] = {}
        depth = self._walk(value, "", 0, result, ())
        return result, depth

    def _walk(
        self, value: Any, prefix: str, level: int, out: dict[str, Any], path: tuple[int, ...]
    ) -> int:
        separator = str(self.get_config("separator", "."))
        value = _as_plain(value)
        if isinstance(value, (dict, list, tuple)):
            if id(value) in path:
                out[prefix or "value"] = "[Circular Reference]"
                return level
            if level >= int(self.get_config("max_depth", 100)):
                out[prefix or "value"] = str(value)
                return level
            path = (*path, id(value))
            deepest = level
            if isinstance(value, dict):
                items = [(str(key), item) for key, item in value.items()]
            elif self.get_config("preserve_lists", True):
                items = [(str(index), item) for index, item in enumerate(value)]
            else:
                items = [("", item) for item in value]
            for key, item in items:
                child = prefix
                if key:
                    child = f"{prefix}{separator}{key}" if prefix else key
                deepest = max(deepest, self._walk(item, child, level + 1, out, path))
            return deepest
        out[prefix or "value"] = value
        return level


def _as_plain(value: Any) -> Any:
    serialize = getattr(value, "serialize", None)
    if callable(serialize) and not isinstance(value, (dict, list, tuple, str, type)):
        try:
            serialized = serialize()
        except Exception:
            return value
        if isinstance(serialized, dict):
            return serialized
    return value
