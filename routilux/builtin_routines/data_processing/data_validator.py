"""DataValidator: checks data against rules and routes it to ``valid`` or ``invalid``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routilux.builtin_routines._inputs import payload
from routilux.routine import Routine

__all__ = ["BUILTIN_VALIDATORS", "DataValidator"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: The builtin validators by name.
BUILTIN_VALIDATORS: dict[str, Callable[[Any], bool]] = {
    "not_empty": lambda value: value is not None and value != "",
    "is_string": lambda value: isinstance(value, str),
    "is_int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "is_float": lambda value: isinstance(value, float),
    "is_number": _is_number,
    "is_dict": lambda value: isinstance(value, dict),
    "is_list": lambda value: isinstance(value, list),
    "is_positive": lambda value: _is_number(value) and value > 0,
    "is_non_negative": lambda value: _is_number(value) and value >= 0,
}


class DataValidator(Routine):
    """Validates its input and emits ``valid`` or ``invalid``.

    Slot ``input`` (handler arguments ``data``, ``rules``); events ``valid`` with
    ``validated_data`` and ``invalid`` with ``errors`` and ``data``.

    Config: ``rules`` ({}: field -> validator; ``"items"`` for list items, ``"value"``
    for anything else), ``strict_mode`` (False: collect every error; True: stop at the
    first error of each pass), ``required_fields`` ([]), ``allow_extra_fields`` (True).

    A validator is a builtin name (``not_empty``, ``is_string``, ``is_int``,
    ``is_float``, ``is_number``, ``is_dict``, ``is_list``, ``is_positive``,
    ``is_non_negative``), a name added with :meth:`register_validator`, or a callable
    returning a bool or ``(ok, message)``. The payload is validated as it arrives: a
    delivery ``{"name": "x"}`` is a dict with a field ``name`` (0.9 validated the bare
    ``"x"``). Validators added with :meth:`register_validator` are kept in the config
    (``custom_validators``); to save a flow they must be registered functions.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(rules={}, strict_mode=False, required_fields=[], allow_extra_fields=True)
        self.input_slot = self.define_slot("input", handler=self.validate)
        self.valid_event = self.define_event("valid", ["validated_data"])
        self.invalid_event = self.define_event("invalid", ["errors", "data"])

    def register_validator(self, name: str, validator: Callable[[Any], Any]) -> None:
        """Make ``validator`` available under ``name``."""
        custom = dict(self.get_config("custom_validators") or {})
        custom[name] = validator
        self.set_config(custom_validators=custom)

    def validate(self, data: Any = None, rules: Any = None, **kwargs: Any) -> None:
        """The ``input`` handler: emit ``valid`` or ``invalid`` for the delivery."""
        value = payload(data, kwargs)
        errors = self.check(value, rules or self.get_config("rules") or {})
        if errors:
            self.emit("invalid", errors=errors, data=value)
        else:
            self.emit("valid", validated_data=value)

    def check(self, value: Any, rules: dict[str, Any]) -> list[str]:
        """The error messages for ``value`` under ``rules`` (empty when valid)."""
        strict = self.get_config("strict_mode", False)
        errors: list[str] = []
        if isinstance(value, dict):
            for field in self.get_config("required_fields") or []:
                if field not in value:
                    errors.append(f"Required field '{field}' is missing")
                    if strict:
                        break
            allow_extra = self.get_config("allow_extra_fields", True)
            for field, item in value.items():
                if field in rules:
                    error = self._apply(rules[field], item, field)
                elif not allow_extra:
                    error = f"Unexpected field '{field}'"
                else:
                    error = None
                if error:
                    errors.append(error)
                    if strict:
                        break
        elif isinstance(value, (list, tuple)):
            if "items" in rules:
                for index, item in enumerate(value):
                    error = self._apply(rules["items"], item, f"items[{index}]")
                    if error:
                        errors.append(error)
                        if strict:
                            break
        elif "value" in rules:
            error = self._apply(rules["value"], value, "value")
            if error:
                errors.append(error)
        return errors

    def _apply(self, validator: Any, value: Any, field: str) -> str | None:
        if isinstance(validator, str):
            custom = self.get_config("custom_validators") or {}
            function = custom.get(validator) or BUILTIN_VALIDATORS.get(validator)
            if function is None:
                return f"Unknown validator: {validator}"
        elif callable(validator):
            function = validator
        else:
            return f"Invalid validator for field '{field}': {validator!r}"
        try:
            outcome = function(value)
        except Exception as exc:
            return f"Validation error for field '{field}': {exc}"
        if isinstance(outcome, tuple) and len(outcome) == 2:
            ok, message = outcome
            return None if ok else str(message or f"Field '{field}' failed validation")
        return None if outcome else f"Field '{field}' failed validation"
