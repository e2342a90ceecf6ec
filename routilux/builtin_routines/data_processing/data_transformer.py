"""DataTransformer: applies a chain of named or callable transformations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routilux.registry import register_serializable
from routilux.routine import Routine

__all__ = ["BUILTIN_TRANSFORMATIONS", "DataTransformer"]


def _lowercase(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _uppercase(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _strip_whitespace(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _to_string(value: Any) -> str:
    return str(value)


def _to_int(value: Any) -> Any:
    return int(value) if isinstance(value, (int, float, str)) else value


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, (int, float, str)) else value


def _remove_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return value


#: The builtin transformations by name. They are registered functions, so a
#: transformer's config (which holds them) is saved with its flow by name.
BUILTIN_TRANSFORMATIONS: dict[str, Callable[[Any], Any]] = {
    name: register_serializable(function, name=f"routilux.transformations:{name}")
    for name, function in {
        "lowercase": _lowercase,
        "uppercase": _uppercase,
        "strip_whitespace": _strip_whitespace,
        "to_string": _to_string,
        "to_int": _to_int,
        "to_float": _to_float,
        "remove_none": _remove_none,
    }.items()
}


class DataTransformer(Routine):
    """Transforms its input with a list of transformations, in order.

    Slot ``input`` (handler arguments ``data``, ``transformations``); event ``output``
    with ``transformed_data``, ``transformation_applied`` (the names applied) and
    ``errors`` (None when there were none).

    Config: ``transformations`` ([]: used when a delivery names none),
    ``transformation_map`` (name -> function: the builtins ``lowercase``,
    ``uppercase``, ``strip_whitespace`` (strings only), ``to_string``, ``to_int``,
    ``to_float`` (numbers and strings), ``remove_none`` (dicts), plus those added
    with :meth:`register_transformation`), ``chain_transformations`` (True; kept for
    compatibility). A transformation is a name from the map or a callable; an unknown
    name or a failing transformation adds an error and leaves the value as it was.
    To save a flow, functions added to the map must be registered with
    :func:`~routilux.register_serializable`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(
            transformations=[],
            transformation_map=dict(BUILTIN_TRANSFORMATIONS),
            chain_transformations=True,
        )
        self.input_slot = self.define_slot("input", handler=self.transform)
        self.output_event = self.define_event(
            "output", ["transformed_data", "transformation_applied", "errors"]
        )

    def register_transformation(self, name: str, function: Callable[[Any], Any]) -> None:
        """Make ``function`` available under ``name``."""
        mapping = dict(self.get_config("transformation_map") or {})
        mapping[name] = function
        self.set_config(transformation_map=mapping)

    def transform(self, data: Any = None, transformations: Any = None, **kwargs: Any) -> None:
        """The ``input`` handler: apply the transformations and emit the result."""
        value = self._extract_input_data(data, **kwargs)
        steps = transformations or self.get_config("transformations") or []
        value, applied, errors = self.apply(value, steps)
        self.emit(
            "output",
            transformed_data=value,
            transformation_applied=applied,
            errors=errors or None,
        )

    def apply(self, value: Any, steps: list[Any]) -> tuple[Any, list[str], list[str]]:
        """Apply ``steps`` to ``value``: ``(result, names applied, errors)``."""
        mapping = self.get_config("transformation_map") or {}
        applied: list[str] = []
        errors: list[str] = []
        for step in steps:
            if isinstance(step, str):
                function = mapping.get(step)
                if function is None:
                    errors.append(f"Unknown transformation: {step}")
                    continue
                name = step
            elif callable(step):
                function, name = step, getattr(step, "__name__", "custom")
            else:
                errors.append(f"Invalid transformation: {step}")
                continue
            try:
                value = function(value)
            except Exception as exc:
                errors.append(f"Error applying {name}: {exc}")
                continue
            applied.append(name)
        return value, applied, errors
