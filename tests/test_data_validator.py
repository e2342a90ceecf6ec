"""DataValidator: checks data against rules, emits valid or invalid
(0.9 reference, section 2.13)."""

from __future__ import annotations

from typing import Any

import pytest
from builtin_helpers import (
    build_flow,
    outputs,
    restored_registry,
    round_trip,
    unique,
)

from routilux import DataValidator, register_serializable
from routilux.builtin_routines.data_processing.data_validator import BUILTIN_VALIDATORS
from routilux.exceptions import SerializationError

EVENTS = ("valid", "invalid")


@pytest.fixture(autouse=True)
def _restore_registry():
    with restored_registry():
        yield


def validator(**config: Any) -> DataValidator:
    routine = DataValidator()
    routine.set_config(**config)
    return routine


def validate(routine: DataValidator, *payloads: dict[str, Any]) -> dict[str, list[dict]]:
    return outputs(build_flow(routine, events=EVENTS), list(payloads), EVENTS)


def short_name(value: Any) -> Any:
    return (isinstance(value, str) and len(value) <= 3, f"'{value}' is longer than 3")


def is_even(value: Any) -> bool:
    return isinstance(value, int) and value % 2 == 0


# -- builtin validators ---------------------------------------------------------------


def test_the_builtin_validators_are_the_documented_ones():
    assert set(BUILTIN_VALIDATORS) == {
        "not_empty",
        "is_string",
        "is_int",
        "is_float",
        "is_number",
        "is_dict",
        "is_list",
        "is_positive",
        "is_non_negative",
    }


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("not_empty", ["x", 0, [], False], [None, ""]),
        ("is_string", ["", "x"], [1, None, b"x"]),
        ("is_int", [0, -3], [1.0, "1", None]),
        ("is_float", [1.0, -0.5], [1, "1.0"]),
        ("is_number", [1, 2.5, -1], ["1", None, [1]]),
        ("is_dict", [{}, {"a": 1}], [[], "{}"]),
        ("is_list", [[], [1]], [(), {}, "[]"]),
        ("is_positive", [1, 0.1], [0, -1, "5", None]),
        ("is_non_negative", [0, 0.0, 3], [-1, -0.5, "0", None]),
    ],
)
def test_builtin_validator(name, good, bad):
    routine = validator()
    for value in good:
        assert routine.check({"f": value}, {"f": name}) == [], value
    for value in bad:
        assert routine.check({"f": value}, {"f": name}) == ["Field 'f' failed validation"], value


# -- check ----------------------------------------------------------------------------


def test_a_valid_dict_gives_no_errors():
    rules = {"name": "is_string", "age": "is_positive"}
    assert validator().check({"name": "Ann", "age": 3}, rules) == []


def test_failed_fields_are_named_in_payload_order():
    rules = {"name": "is_string", "age": "is_positive"}
    assert validator().check({"age": -1, "name": 5}, rules) == [
        "Field 'age' failed validation",
        "Field 'name' failed validation",
    ]


def test_missing_required_fields_come_first():
    routine = validator(required_fields=["id", "name", "email"])
    assert routine.check({"name": 5}, {"name": "is_string"}) == [
        "Required field 'id' is missing",
        "Required field 'email' is missing",
        "Field 'name' failed validation",
    ]


def test_required_fields_are_checked_for_dicts_only():
    routine = validator(required_fields=["id"])
    assert routine.check([1, 2], {}) == []
    assert routine.check("text", {}) == []


def test_extra_fields_are_allowed_by_default():
    assert validator().check({"name": "a", "other": object()}, {"name": "is_string"}) == []


def test_unexpected_fields_when_extra_fields_are_not_allowed():
    routine = validator(allow_extra_fields=False)
    assert routine.check({"x": 1, "name": "a", "y": 2}, {"name": "is_string"}) == [
        "Unexpected field 'x'",
        "Unexpected field 'y'",
    ]


def test_an_unknown_validator_name():
    assert validator().check({"a": 1}, {"a": "is_tiny"}) == ["Unknown validator: is_tiny"]


def test_a_validator_that_is_neither_a_name_nor_callable_is_an_error():
    (error,) = validator().check({"a": 1}, {"a": 42})
    assert "'a'" in error


def test_strict_mode_stops_each_pass_at_its_first_error():
    rules = {"a": "is_int", "b": "is_int", "c": "is_int"}
    data = {"a": "x", "b": "y", "c": "z"}
    lenient = validator(required_fields=["p", "q"])
    assert len(lenient.check(data, rules)) == 5
    strict = validator(required_fields=["p", "q"], strict_mode=True)
    assert strict.check(data, rules) == [
        "Required field 'p' is missing",
        "Field 'a' failed validation",
    ]
    strict_extra = validator(strict_mode=True, allow_extra_fields=False)
    assert strict_extra.check({"x": 1, "y": 2}, {}) == ["Unexpected field 'x'"]


def test_strict_mode_on_list_items():
    routine = validator(strict_mode=True)
    assert routine.check([1, "a", "b"], {"items": "is_int"}) == [
        "Field 'items[1]' failed validation"
    ]


def test_list_and_tuple_items_are_checked_with_the_items_rule():
    routine = validator()
    assert routine.check([1, "a", 2, None], {"items": "is_int"}) == [
        "Field 'items[1]' failed validation",
        "Field 'items[3]' failed validation",
    ]
    assert routine.check((1, "b"), {"items": "is_int"}) == ["Field 'items[1]' failed validation"]
    assert routine.check([], {"items": "is_int"}) == []
    assert routine.check(["a"], {"value": "is_int"}) == []


def test_other_values_are_checked_with_the_value_rule():
    routine = validator()
    assert routine.check(5, {"value": "is_positive"}) == []
    assert routine.check(-5, {"value": "is_positive"}) == ["Field 'value' failed validation"]
    assert routine.check(-5, {"items": "is_positive"}) == []


def test_a_callable_may_return_ok_and_a_message():
    routine = validator()
    assert routine.check({"n": "abc"}, {"n": short_name}) == []
    assert routine.check({"n": "abcd"}, {"n": short_name}) == ["'abcd' is longer than 3"]


def test_a_failed_check_without_a_message_gets_the_default_one():
    routine = validator()
    assert routine.check({"n": 1}, {"n": lambda v: (False, "")}) == ["Field 'n' failed validation"]
    assert routine.check({"n": 1}, {"n": lambda v: (False, None)}) == [
        "Field 'n' failed validation"
    ]


@pytest.mark.parametrize(
    ("outcome", "ok"),
    [
        (True, True),
        (False, False),
        ("yes", True),
        ("", False),
        (0, False),
        (1, True),
        (None, False),
    ],
)
def test_other_return_values_count_by_truthiness(outcome, ok):
    errors = validator().check({"n": 1}, {"n": lambda v: outcome})
    assert errors == ([] if ok else ["Field 'n' failed validation"])


def test_a_raising_validator_is_reported_with_its_error():
    def explode(value: Any) -> bool:
        raise KeyError("missing")

    assert validator().check({"n": 1}, {"n": explode}) == [
        "Validation error for field 'n': 'missing'"
    ]
    assert validator().check([1], {"items": lambda v: 1 / 0}) == [
        "Validation error for field 'items[0]': division by zero"
    ]


def test_register_validator_makes_a_name_available():
    routine = validator()
    routine.register_validator("is_even", is_even)
    assert routine.config()["custom_validators"] == {"is_even": is_even}
    assert routine.check({"n": 3, "m": 4}, {"n": "is_even", "m": "is_even"}) == [
        "Field 'n' failed validation"
    ]
    assert validator().check({"n": 4}, {"n": "is_even"}) == ["Unknown validator: is_even"]


def test_a_registered_validator_takes_precedence_over_a_builtin_of_the_same_name():
    routine = validator()
    routine.register_validator("is_int", is_even)
    assert routine.check({"n": 3}, {"n": "is_int"}) == ["Field 'n' failed validation"]


# -- in a flow ------------------------------------------------------------------------


def test_valid_data_goes_to_valid():
    routine = validator(rules={"name": "is_string", "age": "is_int"}, required_fields=["name"])
    assert validate(routine, {"name": "Ann", "age": 30}) == {
        "valid": [{"validated_data": {"name": "Ann", "age": 30}}],
        "invalid": [],
    }


def test_invalid_data_goes_to_invalid_with_errors_and_data():
    routine = validator(rules={"name": "is_string"}, required_fields=["age"])
    assert validate(routine, {"name": 1, "x": 2}) == {
        "valid": [],
        "invalid": [
            {
                "errors": ["Required field 'age' is missing", "Field 'name' failed validation"],
                "data": {"name": 1, "x": 2},
            }
        ],
    }


def test_a_one_key_payload_is_validated_as_a_dict():
    # 0.9 collapsed {"name": "x"} to "x" and checked it against rules["value"].
    routine = validator(
        rules={"name": "is_string", "value": "is_int"},
        required_fields=["name"],
        allow_extra_fields=False,
    )
    assert validate(routine, {"name": "x"}, {"name": 5}) == {
        "valid": [{"validated_data": {"name": "x"}}],
        "invalid": [{"errors": ["Field 'name' failed validation"], "data": {"name": 5}}],
    }


def test_the_data_key_carries_lists_and_scalars():
    routine = validator(rules={"items": "is_int", "value": "is_positive"})
    result = validate(routine, {"data": [1, 2]}, {"data": [1, "x"]}, {"data": 3}, {"data": -3})
    assert result == {
        "valid": [{"validated_data": [1, 2]}, {"validated_data": 3}],
        "invalid": [
            {"errors": ["Field 'items[1]' failed validation"], "data": [1, "x"]},
            {"errors": ["Field 'value' failed validation"], "data": -3},
        ],
    }


def test_rules_of_the_delivery_override_the_config():
    routine = validator(rules={"a": "is_string"})
    result = validate(
        routine,
        {"data": {"a": 1}, "rules": {"a": "is_int"}},
        {"data": {"a": 1}},
    )
    assert result == {
        "valid": [{"validated_data": {"a": 1}}],
        "invalid": [{"errors": ["Field 'a' failed validation"], "data": {"a": 1}}],
    }


def test_an_empty_payload_is_a_valid_empty_dict_unless_fields_are_required():
    assert validate(validator(), {}) == {"valid": [{"validated_data": {}}], "invalid": []}
    assert validate(validator(required_fields=["id"]), {}) == {
        "valid": [],
        "invalid": [{"errors": ["Required field 'id' is missing"], "data": {}}],
    }


# -- saving ---------------------------------------------------------------------------


def test_round_trip_with_registered_custom_validators():
    register_serializable(is_even, name=unique("is_even"))
    register_serializable(short_name, name=unique("short_name"))
    routine = validator(
        rules={"n": "is_even", "code": short_name, "tag": "not_empty"},
        strict_mode=True,
        required_fields=["n"],
        allow_extra_fields=False,
    )
    routine.register_validator("is_even", is_even)
    flow = build_flow(routine, events=EVENTS)
    payloads = [
        {"n": 2, "code": "ab", "tag": "t"},
        {"n": 3, "code": "abcd"},
        {"code": "abcd", "zzz": 1},
    ]
    before = outputs(flow, payloads, EVENTS)
    loaded = round_trip(flow)
    assert loaded.routines["subject"].config() == routine.config()
    assert outputs(loaded, payloads, EVENTS) == before
    assert before == {
        "valid": [{"validated_data": {"n": 2, "code": "ab", "tag": "t"}}],
        "invalid": [
            {"errors": ["Field 'n' failed validation"], "data": {"n": 3, "code": "abcd"}},
            {
                "errors": ["Required field 'n' is missing", "'abcd' is longer than 3"],
                "data": {"code": "abcd", "zzz": 1},
            },
        ],
    }


def test_an_unregistered_custom_validator_cannot_be_saved():
    def is_odd(value: Any) -> bool:
        return bool(value % 2)

    routine = validator()
    routine.register_validator("is_odd", is_odd)
    with pytest.raises(SerializationError, match="is_odd"):
        build_flow(routine, events=EVENTS).serialize()


def test_an_unregistered_callable_rule_cannot_be_saved():
    def is_small(value: Any) -> bool:
        return value < 10

    with pytest.raises(SerializationError, match="is_small"):
        build_flow(validator(rules={"n": is_small}), events=EVENTS).serialize()
