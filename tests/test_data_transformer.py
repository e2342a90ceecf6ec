"""DataTransformer: a chain of named or callable transformations
(0.9 reference, section 2.13)."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from builtin_helpers import (
    build_flow,
    emitted,
    outputs,
    restored_registry,
    round_trip,
    unique,
)

from routilux import DataTransformer, register_serializable
from routilux.builtin_routines.data_processing.data_transformer import BUILTIN_TRANSFORMATIONS
from routilux.exceptions import SerializationError

BUILTIN_NAMES = [
    "lowercase",
    "uppercase",
    "strip_whitespace",
    "to_string",
    "to_int",
    "to_float",
    "remove_none",
]


@pytest.fixture(autouse=True)
def _restore_registry():
    with restored_registry():
        yield


def transformer(**config: Any) -> DataTransformer:
    routine = DataTransformer()
    routine.set_config(**config)
    return routine


def apply(value: Any, *steps: Any) -> tuple[Any, list[str], list[str]]:
    return transformer().apply(value, list(steps))


def double(value: Any) -> Any:
    return value * 2


def reverse(value: Any) -> Any:
    return value[::-1]


def surround(value: Any, mark: str) -> Any:
    return f"{mark}{value}{mark}"


# -- the builtins ---------------------------------------------------------------------


def test_the_builtins_are_exactly_the_documented_ones():
    assert sorted(BUILTIN_TRANSFORMATIONS) == sorted(BUILTIN_NAMES)
    assert DataTransformer().config()["transformation_map"] == BUILTIN_TRANSFORMATIONS


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("lowercase", "MiXeD", "mixed"),
        ("uppercase", "MiXeD", "MIXED"),
        ("strip_whitespace", "  pad \n", "pad"),
        ("to_string", 12, "12"),
        ("to_string", None, "None"),
        ("to_string", [1], "[1]"),
        ("to_int", "42", 42),
        ("to_int", 4.9, 4),
        ("to_int", True, 1),
        ("to_float", "2.5", 2.5),
        ("to_float", 3, 3.0),
        ("remove_none", {"a": None, "b": 0, "c": ""}, {"b": 0, "c": ""}),
    ],
)
def test_builtin_transformation(name, value, expected):
    result, applied, errors = apply(value, name)
    assert result == expected
    assert type(result) is type(expected)
    assert applied == [name]
    assert errors == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lowercase", 5),
        ("uppercase", ["A"]),
        ("strip_whitespace", None),
        ("to_int", None),
        ("to_int", [1]),
        ("to_float", {"a": 1}),
        ("remove_none", [None, 1]),
        ("remove_none", "text"),
    ],
)
def test_builtins_leave_values_of_other_types_unchanged(name, value):
    assert apply(value, name) == (value, [name], [])


def test_transformations_are_applied_in_order():
    assert apply(" 4.5 ", "strip_whitespace", "to_float", "to_int", "to_string") == (
        "4",
        ["strip_whitespace", "to_float", "to_int", "to_string"],
        [],
    )


def test_a_failing_transformation_records_an_error_and_keeps_the_value():
    result, applied, errors = apply("4.5", "to_int", "to_float")
    assert result == 4.5
    assert applied == ["to_float"]
    assert errors == ["Error applying to_int: invalid literal for int() with base 10: '4.5'"]


def test_unknown_and_invalid_transformations():
    result, applied, errors = apply(" x ", "nope", "strip_whitespace", 3, None, "uppercase")
    assert result == "X"
    assert applied == ["strip_whitespace", "uppercase"]
    assert errors == [
        "Unknown transformation: nope",
        "Invalid transformation: 3",
        "Invalid transformation: None",
    ]


def test_callables_are_applied_and_named():
    result, applied, errors = apply(
        "ab", double, lambda v: v.upper(), functools.partial(surround, mark="*")
    )
    assert result == "*ABAB*"
    assert applied == ["double", "<lambda>", "custom"]
    assert errors == []


def test_a_failing_callable_is_reported_by_its_name():
    def explode(value: Any) -> Any:
        raise RuntimeError("no way")

    assert apply(1, explode, double) == (2, ["double"], ["Error applying explode: no way"])


def test_register_transformation_adds_a_name_to_the_map():
    routine = transformer()
    routine.register_transformation("double", double)
    assert routine.config()["transformation_map"]["double"] is double
    assert set(routine.config()["transformation_map"]) == {*BUILTIN_NAMES, "double"}
    assert routine.apply("ab", ["double", "uppercase"]) == ("ABAB", ["double", "uppercase"], [])
    # another transformer is not affected
    assert transformer().apply("ab", ["double"]) == ("ab", [], ["Unknown transformation: double"])


def test_register_transformation_can_replace_a_builtin():
    routine = transformer()
    routine.register_transformation("uppercase", reverse)
    assert routine.apply("abc", ["uppercase"]) == ("cba", ["uppercase"], [])


# -- in a flow ------------------------------------------------------------------------


def test_transforms_in_a_flow_with_the_delivery_transformations():
    out = emitted(
        transformer(transformations=["uppercase"]),
        [{"data": "  Hello ", "transformations": ["strip_whitespace", "lowercase"]}],
    )
    assert out == [
        {
            "transformed_data": "hello",
            "transformation_applied": ["strip_whitespace", "lowercase"],
            "errors": None,
        }
    ]


def test_absent_or_empty_delivery_transformations_fall_back_to_the_config():
    out = emitted(
        transformer(transformations=["strip_whitespace", "uppercase"]),
        [{"data": " a "}, {"data": " b ", "transformations": []}],
    )
    assert [o["transformed_data"] for o in out] == ["A", "B"]
    assert [o["transformation_applied"] for o in out] == [["strip_whitespace", "uppercase"]] * 2


def test_without_any_transformation_the_value_passes_unchanged():
    assert emitted(transformer(), [{"data": [1, None]}]) == [
        {"transformed_data": [1, None], "transformation_applied": [], "errors": None}
    ]


def test_errors_are_a_list_when_something_went_wrong():
    (out,) = emitted(transformer(), [{"data": "x", "transformations": ["to_int", "bogus"]}])
    assert out == {
        "transformed_data": "x",
        "transformation_applied": [],
        "errors": [
            "Error applying to_int: invalid literal for int() with base 10: 'x'",
            "Unknown transformation: bogus",
        ],
    }


def test_a_payload_of_several_keys_is_transformed_as_a_dict():
    (out,) = emitted(transformer(transformations=["remove_none"]), [{"a": None, "b": 1}])
    assert out == {
        "transformed_data": {"b": 1},
        "transformation_applied": ["remove_none"],
        "errors": None,
    }


def test_a_payload_of_one_key_is_transformed_as_its_value():
    (out,) = emitted(transformer(transformations=["uppercase"]), [{"word": "up"}])
    assert out["transformed_data"] == "UP"


# -- saving ---------------------------------------------------------------------------


def test_builtin_transformations_are_saved_by_name():
    flow = build_flow(transformer(transformations=["uppercase"]))
    (routine_doc,) = [r for r in flow.serialize()["routines"] if r["id"] == "subject"]
    saved_map = routine_doc["config"]["transformation_map"]
    assert saved_map == {
        name: {"$function": f"routilux.transformations:{name}"} for name in BUILTIN_NAMES
    }
    json.dumps(routine_doc)  # plain JSON


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("lowercase", "AB", "ab"),
        ("uppercase", "ab", "AB"),
        ("strip_whitespace", " a ", "a"),
        ("to_string", 5, "5"),
        ("to_int", "7", 7),
        ("to_float", "1.5", 1.5),
        ("remove_none", {"a": None, "b": 2}, {"b": 2}),
    ],
)
def test_every_builtin_works_after_a_round_trip(name, value, expected):
    loaded = round_trip(build_flow(transformer()))
    (out,) = outputs(loaded, [{"data": value, "transformations": [name]}])["output"]
    assert out == {"transformed_data": expected, "transformation_applied": [name], "errors": None}
    assert loaded.routines["subject"].config()["transformation_map"] == BUILTIN_TRANSFORMATIONS


def test_round_trip_with_a_registered_custom_transformation():
    register_serializable(double, name=unique("double"))
    register_serializable(reverse, name=unique("reverse"))
    routine = transformer(transformations=["strip_whitespace", "double", reverse])
    routine.register_transformation("double", double)
    flow = build_flow(routine)
    payloads = [{"data": " ab "}, {"data": "xy", "transformations": ["uppercase", "nope"]}]
    before = outputs(flow, payloads)
    loaded = round_trip(flow)
    assert loaded.routines["subject"].config() == routine.config()
    assert outputs(loaded, payloads) == before
    assert before["output"] == [
        {
            "transformed_data": "baba",
            "transformation_applied": ["strip_whitespace", "double", "reverse"],
            "errors": None,
        },
        {
            "transformed_data": "XY",
            "transformation_applied": ["uppercase"],
            "errors": ["Unknown transformation: nope"],
        },
    ]


def test_an_unregistered_transformation_in_the_map_cannot_be_saved():
    def shout(value: Any) -> Any:
        return value

    routine = transformer()
    routine.register_transformation("shout", shout)
    with pytest.raises(SerializationError, match="shout"):
        build_flow(routine).serialize()


def test_an_unregistered_callable_in_the_transformations_cannot_be_saved():
    def whisper(value: Any) -> Any:
        return value

    with pytest.raises(SerializationError, match="whisper"):
        build_flow(transformer(transformations=[whisper])).serialize()
