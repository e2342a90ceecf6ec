"""DataFlattener: nested data to one flat dict (0.9 reference, section 2.13)."""

from __future__ import annotations

from typing import Any

import pytest
from builtin_helpers import build_flow, emitted, outputs, round_trip

from routilux import DataFlattener

VERIFIED = {"a": {"b": 1, "c": [2, 3]}, "d": {}}


def flattener(**config: Any) -> DataFlattener:
    routine = DataFlattener()
    routine.set_config(**config)
    return routine


class Record:
    """Not a dict, but serializes to one."""

    def __init__(self, **fields: Any) -> None:
        self.fields = fields

    def serialize(self) -> dict[str, Any]:
        return dict(self.fields)


# -- flatten_value --------------------------------------------------------------------


def test_verified_example():
    assert flattener().flatten_value(VERIFIED) == ({"a.b": 1, "a.c.0": 2, "a.c.1": 3}, 3)


@pytest.mark.parametrize("value", [5, "text", None, 2.5, True])
def test_a_scalar_at_the_top_is_keyed_value_at_depth_0(value):
    assert flattener().flatten_value(value) == ({"value": value}, 0)


@pytest.mark.parametrize("value", [{}, []])
def test_empty_containers_contribute_nothing(value):
    assert flattener().flatten_value(value) == ({}, 0)


def test_empty_nested_containers_contribute_nothing_but_count_as_a_level():
    assert flattener().flatten_value({"x": 1, "e": {}, "l": []}) == ({"x": 1}, 1)


def test_a_top_level_list_is_keyed_by_index():
    assert flattener().flatten_value([1, [2, [3]]]) == ({"0": 1, "1.0": 2, "1.1.0": 3}, 3)


def test_the_separator_is_configurable():
    flat, depth = flattener(separator="/").flatten_value(VERIFIED)
    assert flat == {"a/b": 1, "a/c/0": 2, "a/c/1": 3}
    assert depth == 3


def test_non_string_keys_are_converted():
    assert flattener().flatten_value({1: {2: "x"}, None: 0}) == ({"1.2": "x", "None": 0}, 2)


def test_without_preserve_lists_items_reuse_the_list_key_and_the_last_wins():
    routine = flattener(preserve_lists=False)
    assert routine.flatten_value({"a": [1, 2, 3], "b": 0}) == ({"a": 3, "b": 0}, 2)
    assert routine.flatten_value({"a": [{"x": 1}, {"x": 2, "y": 5}]}) == ({"a.x": 2, "a.y": 5}, 3)
    assert routine.flatten_value([1, 2]) == ({"value": 2}, 1)


def test_containers_at_max_depth_are_kept_as_their_str():
    value = {"a": {"b": {"c": 1}}, "top": 0}
    assert flattener(max_depth=1).flatten_value(value) == (
        {"a": str({"b": {"c": 1}}), "top": 0},
        1,
    )
    assert flattener(max_depth=2).flatten_value(value) == ({"a.b": str({"c": 1}), "top": 0}, 2)
    assert flattener(max_depth=3).flatten_value(value) == ({"a.b.c": 1, "top": 0}, 3)


def test_max_depth_zero_keeps_the_whole_container_as_text():
    assert flattener(max_depth=0).flatten_value({"a": [1]}) == ({"value": str({"a": [1]})}, 0)


def test_max_depth_applies_to_lists_too():
    assert flattener(max_depth=1).flatten_value({"l": [1, [2]]}) == ({"l": "[1, [2]]"}, 1)


def test_a_dict_containing_itself_gives_a_circular_reference_marker():
    looped: dict[str, Any] = {"name": "n"}
    looped["self"] = looped
    assert flattener().flatten_value(looped) == (
        {"name": "n", "self": "[Circular Reference]"},
        1,
    )


def test_a_list_containing_itself_gives_a_circular_reference_marker():
    looped: list[Any] = [1]
    looped.append({"back": looped})
    assert flattener().flatten_value(looped) == (
        {"0": 1, "1.back": "[Circular Reference]"},
        2,
    )


def test_a_shared_value_that_is_not_a_cycle_is_flattened_each_time():
    shared = {"x": 1}
    assert flattener().flatten_value({"a": shared, "b": shared}) == ({"a.x": 1, "b.x": 1}, 2)


def test_a_serializable_object_is_flattened_as_its_dict():
    assert flattener().flatten_value(Record(k={"j": 1}, m=2)) == ({"k.j": 1, "m": 2}, 2)
    nested = {"outer": Record(inner=[1])}
    assert flattener().flatten_value(nested) == ({"outer.inner.0": 1}, 3)


# -- in a flow ------------------------------------------------------------------------


def test_flattens_in_a_flow():
    assert emitted(flattener(), [{"data": VERIFIED}]) == [
        {"flattened_data": {"a.b": 1, "a.c.0": 2, "a.c.1": 3}, "original_type": "dict", "depth": 3}
    ]


def test_original_type_in_a_flow():
    out = emitted(flattener(), [{"data": [1, 2]}, {"data": 7}, {"data": "s"}])
    assert out == [
        {"flattened_data": {"0": 1, "1": 2}, "original_type": "list", "depth": 1},
        {"flattened_data": {"value": 7}, "original_type": "int", "depth": 0},
        {"flattened_data": {"value": "s"}, "original_type": "str", "depth": 0},
    ]


def test_a_serializable_object_reports_dict_as_its_type():
    (out,) = emitted(flattener(), [{"data": Record(k=1)}])
    assert out == {"flattened_data": {"k": 1}, "original_type": "dict", "depth": 1}


def test_a_payload_with_several_keys_is_flattened_as_a_dict():
    (out,) = emitted(flattener(), [{"x": {"y": 1}, "z": 2}])
    assert out == {"flattened_data": {"x.y": 1, "z": 2}, "original_type": "dict", "depth": 2}


def test_a_payload_with_one_key_flattens_its_value_as_documented():
    (out,) = emitted(flattener(), [{"only": {"y": 1}}])
    assert out == {"flattened_data": {"y": 1}, "original_type": "dict", "depth": 1}


def test_round_trip_keeps_the_config_and_the_outputs():
    flow = build_flow(flattener(separator="_", preserve_lists=False, max_depth=2))
    payloads = [{"data": VERIFIED}, {"data": {"a": {"b": {"c": 1}}}}, {"data": {"l": [1, 2]}}]
    before = outputs(flow, payloads)
    loaded = round_trip(flow)
    assert loaded.routines["subject"].config() == {
        "separator": "_",
        "preserve_lists": False,
        "max_depth": 2,
    }
    assert outputs(loaded, payloads) == before
    assert [o["flattened_data"] for o in before["output"]] == [
        {"a_b": 1, "a_c": "[2, 3]"},
        {"a_b": str({"c": 1})},
        {"l": 2},
    ]
