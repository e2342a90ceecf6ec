"""Tests for routilux._merge: the merge strategies and their validation."""

import copy

import pytest

from routilux import Routine
from routilux._merge import APPEND, OVERRIDE, merge, validate_merge_strategy
from routilux.exceptions import InvalidStrategyError, RoutiluxError


class Sink(Routine):
    """A routine with one slot whose handler snapshots what it receives."""

    def __init__(self, strategy):
        super().__init__()
        self.seen = []
        self.slot = self.define_slot("input", handler=self.handle, merge_strategy=strategy)

    def handle(self, data):
        self.seen.append(copy.deepcopy(data))


def test_constants():
    assert OVERRIDE == "override"
    assert APPEND == "append"


# -- override -------------------------------------------------------------------------


def test_override_returns_a_copy_of_new():
    new = {"a": 1, "b": [1]}
    stored, handler_data = merge(OVERRIDE, {"old": 0}, new)
    assert stored == {"a": 1, "b": [1]}
    assert stored is not new
    assert handler_data == new
    assert handler_data is not new
    assert stored["b"] is new["b"]  # shallow
    new["a"] = 2
    assert stored["a"] == 1


def test_override_ignores_old():
    old = {"x": 1}
    stored, handler_data = merge(OVERRIDE, old, {"y": 2})
    assert stored == {"y": 2}
    assert handler_data == {"y": 2}
    assert old == {"x": 1}


def test_override_through_a_slot():
    sink = Sink(OVERRIDE)
    sink.slot.receive({"a": 1})
    sink.slot.receive({"b": 2})
    assert sink.seen == [{"a": 1}, {"b": 2}]
    assert sink.slot._data == {"b": 2}


# -- append ---------------------------------------------------------------------------


def test_append_docstring_sequence_direct():
    buffer = {}
    buffer, seen1 = merge(APPEND, buffer, {"a": 1})
    snap1 = copy.deepcopy(seen1)
    buffer, seen2 = merge(APPEND, buffer, {"a": 2, "b": 3})
    snap2 = copy.deepcopy(seen2)
    buffer, seen3 = merge(APPEND, buffer, {"b": 4})
    assert snap1 == {"a": [1]}
    assert snap2 == {"a": [1, 2], "b": [3]}
    assert seen3 == {"b": [3, 4]}
    assert buffer == {"a": [1, 2], "b": [3, 4]}


def test_append_docstring_sequence_through_a_slot():
    sink = Sink(APPEND)
    sink.slot.receive({"a": 1})
    sink.slot.receive({"a": 2, "b": 3})
    sink.slot.receive({"b": 4})
    assert sink.seen == [{"a": [1]}, {"a": [1, 2], "b": [3]}, {"b": [3, 4]}]
    assert sink.slot._data == {"a": [1, 2], "b": [3, 4]}


def test_append_handler_sees_the_list_itself_which_keeps_growing():
    # documented: the list itself, not a copy (as in 0.9)
    buffer, first = merge(APPEND, {}, {"a": 1})
    buffer, second = merge(APPEND, buffer, {"a": 2})
    assert first["a"] is second["a"] is buffer["a"]
    assert first == {"a": [1, 2]}


def test_append_updates_old_buffer_in_place():
    old = {"a": [0]}
    stored, handler_data = merge(APPEND, old, {"a": 1, "c": 5})
    assert stored is old
    assert old == {"a": [0, 1], "c": [5]}
    assert handler_data == {"a": [0, 1], "c": [5]}


def test_append_handler_data_has_only_the_new_keys_in_new_order():
    old = {"z": [9], "a": [1]}
    _, handler_data = merge(APPEND, old, {"b": 2, "a": 3})
    assert list(handler_data) == ["b", "a"]
    assert "z" not in handler_data


def test_append_non_list_existing_value_becomes_old_new_list():
    old = {"a": 5, "b": (1, 2)}
    stored, handler_data = merge(APPEND, old, {"a": 6, "b": 3})
    assert stored == {"a": [5, 6], "b": [(1, 2), 3]}
    assert handler_data == {"a": [5, 6], "b": [(1, 2), 3]}
    stored, handler_data = merge(APPEND, stored, {"a": 7})
    assert handler_data == {"a": [5, 6, 7]}


def test_append_existing_list_gets_new_value_appended_as_one_item():
    # a list value stored by another strategy is appended to
    stored, _ = merge(APPEND, {"a": [1]}, {"a": [2]})
    assert stored == {"a": [1, [2]]}


def test_append_new_list_values_are_wrapped():
    stored, handler_data = merge(APPEND, {}, {"a": [1, 2]})
    assert handler_data == {"a": [[1, 2]]}
    assert stored == {"a": [[1, 2]]}


@pytest.mark.parametrize("old", [None, "text", 3, ["a"]])
def test_append_non_dict_old_starts_fresh(old):
    stored, handler_data = merge(APPEND, old, {"a": 1})
    assert stored == {"a": [1]}
    assert handler_data == {"a": [1]}


def test_append_after_switch_from_override_on_a_slot():
    sink = Sink(OVERRIDE)
    sink.slot.receive({"a": 1})
    sink.slot.merge_strategy = APPEND
    sink.slot.receive({"a": 2})
    assert sink.seen == [{"a": 1}, {"a": [1, 2]}]


def test_append_empty_new():
    old = {"a": [1]}
    stored, handler_data = merge(APPEND, old, {})
    assert stored == {"a": [1]}
    assert handler_data == {}


# -- custom callable --------------------------------------------------------------------


def test_custom_callable_receives_old_and_a_copy_of_new():
    calls = []

    def strategy(old, new):
        calls.append((old, new))
        new["mutated"] = True
        return {"merged": True}

    old = {"prev": 1}
    new = {"a": 1}
    merge(strategy, old, new)
    got_old, got_new = calls[0]
    assert got_old is old
    assert got_new is not new
    assert got_new == {"a": 1, "mutated": True}
    assert new == {"a": 1}


def test_custom_callable_dict_result_stored_as_a_copy():
    result = {"total": 3}

    def strategy(old, new):
        return result

    stored, handler_data = merge(strategy, {}, {"x": 3})
    assert stored == {"total": 3}
    assert stored is not result
    assert handler_data is result  # the handler sees what the callable returned
    result["total"] = 99
    assert stored == {"total": 3}


@pytest.mark.parametrize("value", [42, "text", [1, 2], None, (1,)])
def test_custom_callable_non_dict_result_stored_as_is(value):
    stored, handler_data = merge(lambda old, new: value, {}, {"x": 1})
    assert stored is value
    assert handler_data is value


def test_custom_callable_accumulates_through_a_slot():
    def running_sum(old, new):
        total = (old or {}).get("total", 0)
        return {"total": total + new["x"]}

    sink = Sink(running_sum)
    for x in (1, 2, 3):
        sink.slot.receive({"x": x})
    assert sink.seen == [{"total": 1}, {"total": 3}, {"total": 6}]
    assert sink.slot._data == {"total": 6}


def test_custom_callable_first_old_is_empty_dict_on_a_slot():
    olds = []

    def strategy(old, new):
        olds.append(copy.deepcopy(old))
        return new

    sink = Sink(strategy)
    sink.slot.receive({"a": 1})
    sink.slot.receive({"b": 2})
    assert olds == [{}, {"a": 1}]


def test_custom_callable_exception_propagates():
    def strategy(old, new):
        raise ArithmeticError("nope")

    with pytest.raises(ArithmeticError):
        merge(strategy, {}, {"a": 1})


# -- validate_merge_strategy ----------------------------------------------------------


@pytest.mark.parametrize("strategy", [OVERRIDE, APPEND])
def test_validate_accepts_known_strings(strategy):
    assert validate_merge_strategy(strategy, "slot 'x'") == strategy


def test_validate_accepts_callables_and_returns_them():
    def fn(old, new):
        return new

    assert validate_merge_strategy(fn, "slot 'x'") is fn
    assert validate_merge_strategy(dict, "slot 'x'") is dict


@pytest.mark.parametrize("strategy", ["sum", "Override", "", "APPEND", "overwrite"])
def test_validate_rejects_unknown_strings(strategy):
    where = "slot 'input' of Sink[0xabc]"
    with pytest.raises(InvalidStrategyError) as info:
        validate_merge_strategy(strategy, where)
    message = str(info.value)
    assert where in message
    assert repr(strategy) in message
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, RoutiluxError)


@pytest.mark.parametrize("strategy", [None, 42, 1.5, ["override"], {"append": 1}, object()])
def test_validate_rejects_non_callables(strategy):
    where = "slot 'numbers'"
    with pytest.raises(ValueError, match="slot 'numbers'") as info:
        validate_merge_strategy(strategy, where)
    assert type(info.value) is InvalidStrategyError


def test_define_slot_with_bad_strategy_names_the_slot():
    class Bad(Routine):
        def __init__(self):
            super().__init__()
            self.define_slot("numbers", merge_strategy="sum")

    with pytest.raises(InvalidStrategyError, match="slot 'numbers'"):
        Bad()


def test_setting_bad_strategy_on_slot_keeps_the_old_one():
    sink = Sink(APPEND)
    with pytest.raises(InvalidStrategyError, match="slot 'input'"):
        sink.slot.merge_strategy = "bogus"
    assert sink.slot.merge_strategy == APPEND
